#include "backchannel.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <string>
#include <utility>

namespace server {

namespace {

constexpr std::size_t kMaxAnswerBytes = 64 * 1024;  // an RP's answer is read and dropped

}  // namespace

BackchannelSettings backchannel_settings(const Config& config) {
  BackchannelSettings s;
  s.max_attempts = config.backchannel_max_attempts;
  s.first_retry_seconds = config.backchannel_first_retry_seconds;
  s.lease_seconds = config.backchannel_lease_seconds;
  s.request_timeout = std::chrono::milliseconds(config.backchannel_request_timeout_ms);
  s.concurrency = config.backchannel_concurrency;
  s.poll = std::chrono::milliseconds(config.backchannel_poll_ms);
  return s;
}

BackchannelSender::BackchannelSender(authz::AuthorizationServer& server, storage::Store& store,
                                     const authz::Clock& clock, portability::HttpClient& http,
                                     Logger& logger, BackchannelSettings settings)
    : server_(server),
      store_(store),
      clock_(clock),
      http_(http),
      logger_(logger),
      settings_(settings),
      pool_(static_cast<std::size_t>(std::max(1, settings.concurrency))) {}

BackchannelSender::~BackchannelSender() { stop(); }

int BackchannelSender::run_once() {
  bool full = false;
  const int claimed = dispatch(full);
  drain();
  return claimed;
}

int BackchannelSender::dispatch(bool& full) {
  int free = 0;
  {
    std::lock_guard lock(mutex_);
    free = std::max(1, settings_.concurrency) - in_flight_;
  }
  // Only this (the sender's) thread claims, and in_flight_ only falls meanwhile: the slots
  // counted free stay free.
  full = true;
  if (free <= 0) return 0;
  const auto now = clock_.now();
  const auto due = store_.claim_logout_deliveries(now, now + settings_.lease_seconds, free);
  full = static_cast<int>(due.size()) == free;
  {
    std::lock_guard lock(mutex_);
    in_flight_ += static_cast<int>(due.size());
  }
  for (const auto& delivery : due) {
    boost::asio::post(pool_, [this, delivery] {
      deliver(delivery);
      {
        std::lock_guard lock(mutex_);
        --in_flight_;
      }
      wakeup_.notify_all();
    });
  }
  return static_cast<int>(due.size());
}

void BackchannelSender::deliver(const storage::LogoutDelivery& delivery) {
  try {
    const auto request = server_.backchannel_logout(delivery);
    // A claim taken over by another (this one's lease ran out meanwhile) settles nothing and
    // logs nothing: the other claimant does both.
    if (!request) {
      if (store_.settle_logout_delivery(delivery, 0))
        server_.backchannel_logout_ended(delivery, false, "the client has no backchannel_logout_uri");
      return;
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
      if (store_.settle_logout_delivery(delivery, 0))
        server_.backchannel_logout_ended(delivery, delivered, why);
    } else {
      const int shift = std::min(delivery.attempts - 1, 20);
      store_.settle_logout_delivery(delivery,
                                    clock_.now() + (settings_.first_retry_seconds << shift));
    }
  } catch (const std::exception& e) {
    // Storage unavailable for a moment: the delivery stays claimed and is tried again once its
    // lease ends, here or on another node.
    logger_.error("back-channel logout failed",
                  {{"client_id", delivery.client_id}, {"error", e.what()}});
  }
}

void BackchannelSender::drain() {
  std::unique_lock lock(mutex_);
  wakeup_.wait(lock, [this] { return in_flight_ == 0; });
}

void BackchannelSender::start() {
  thread_ = std::jthread([this](const std::stop_token& stop) { loop(stop); });
}

void BackchannelSender::stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
  // What is in flight is let finish (each call ends by its timeout): settled now, a delivery
  // is not sent again by whoever claims it after its lease.
  drain();
}

void BackchannelSender::wake() {
  {
    std::lock_guard lock(mutex_);
    ++wakes_;
  }
  wakeup_.notify_all();
}

void BackchannelSender::loop(const std::stop_token& stop) {
  const int slots = std::max(1, settings_.concurrency);
  while (!stop.stop_requested()) {
    std::uint64_t seen = 0;
    {
      std::lock_guard lock(mutex_);
      seen = wakes_;
    }
    bool full = false;
    try {
      (void)dispatch(full);
    } catch (const std::exception& e) {
      // Storage unavailable for a moment: the deliveries stay queued; tried at the next poll.
      logger_.error("back-channel logout failed", {{"error", e.what()}});
      full = false;
    }
    std::unique_lock lock(mutex_);
    if (full) {
      // Every slot taken and perhaps more due: claim again as soon as one is free, however
      // long the slowest delivery in flight takes.
      wakeup_.wait(lock, stop, [&] { return in_flight_ < slots; });
    } else {
      wakeup_.wait_for(lock, stop, settings_.poll, [&] { return wakes_ != seen; });
    }
  }
}

}  // namespace server
