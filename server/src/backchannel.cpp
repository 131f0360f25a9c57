#include "backchannel.hpp"

#include <algorithm>
#include <string>
#include <utility>

namespace server {

namespace {

constexpr std::size_t kMaxAnswerBytes = 64 * 1024;  // an RP's answer is read and dropped

}  // namespace

BackchannelSender::BackchannelSender(authz::AuthorizationServer& server, storage::Store& store,
                                     const authz::Clock& clock, portability::HttpClient& http,
                                     Logger& logger, BackchannelSettings settings)
    : server_(server),
      store_(store),
      clock_(clock),
      http_(http),
      logger_(logger),
      settings_(settings) {}

BackchannelSender::~BackchannelSender() { stop(); }

int BackchannelSender::run_once() {
  const auto now = clock_.now();
  const auto due =
      store_.claim_logout_deliveries(now, now + settings_.lease_seconds, settings_.batch);
  for (const auto& delivery : due) {
    const auto request = server_.backchannel_logout(delivery);
    if (!request) {
      store_.settle_logout_delivery(delivery.sid, delivery.client_id, 0);
      server_.backchannel_logout_ended(delivery, false, "the client has no backchannel_logout_uri");
      continue;
    }
    std::string why;
    bool delivered = false;
    bool retry = true;
    try {
      // §2.5: a form POST with the one parameter logout_token.
      const auto answer = http_.send(
          {"POST",
           request->uri,
           {{"Content-Type", "application/x-www-form-urlencoded"}},
           "logout_token=" + request->logout_token},
          settings_.request_timeout, kMaxAnswerBytes);
      why = "HTTP " + std::to_string(answer.status);
      // §2.8: 200 when the logout succeeded (any 2xx is taken as that); 400 when it did not,
      // which another try of the same logout will not change. 5xx and 429 are tried again.
      delivered = answer.status >= 200 && answer.status < 300;
      retry = answer.status >= 500 || answer.status == 429;
    } catch (const portability::TransportError& e) {
      why = e.what();
    }
    if (delivered || !retry || delivery.attempts >= settings_.max_attempts) {
      store_.settle_logout_delivery(delivery.sid, delivery.client_id, 0);
      server_.backchannel_logout_ended(delivery, delivered, why);
    } else {
      const int shift = std::min(delivery.attempts - 1, 20);
      store_.settle_logout_delivery(delivery.sid, delivery.client_id,
                                    clock_.now() + (settings_.first_retry_seconds << shift));
    }
  }
  return static_cast<int>(due.size());
}

void BackchannelSender::start() {
  thread_ = std::jthread([this](const std::stop_token& stop) { loop(stop); });
}

void BackchannelSender::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  thread_.join();
}

void BackchannelSender::wake() {
  {
    std::lock_guard lock(mutex_);
    ++wakes_;
  }
  wakeup_.notify_all();
}

void BackchannelSender::loop(const std::stop_token& stop) {
  while (!stop.stop_requested()) {
    std::uint64_t seen = 0;
    {
      std::lock_guard lock(mutex_);
      seen = wakes_;
    }
    int claimed = 0;
    try {
      claimed = run_once();
    } catch (const std::exception& e) {
      // Storage unavailable for a moment: the deliveries stay queued; tried at the next poll.
      logger_.error("back-channel logout failed", {{"error", e.what()}});
    }
    if (claimed == settings_.batch) continue;  // perhaps more are due
    std::unique_lock lock(mutex_);
    wakeup_.wait_for(lock, stop, settings_.poll, [&] { return wakes_ != seen; });
  }
}

}  // namespace server
