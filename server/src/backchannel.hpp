#pragma once

// OpenID Connect Back-Channel Logout 1.0 (§2.5-2.8), the sending side: when a resident's
// session ends, every client that signed them in within it and registered a
// backchannel_logout_uri is sent a logout token, server to server. The deliveries are queued in
// storage in the transaction that ends the session, so a process killed before sending sends
// after its restart (or another node does); each is retried with backoff until the client
// answers 2xx or the sender gives up, and the outcome is in the audit log.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stop_token>
#include <thread>

#include "authz/clock.hpp"
#include "authz/oauth.hpp"
#include "log.hpp"
#include "portability/broker.hpp"
#include "storage/store.hpp"

namespace server {

struct BackchannelSettings {
  /// Attempts before giving up; the n-th failure waits 2^(n-1) * first_retry.
  int max_attempts = 6;
  std::int64_t first_retry_seconds = 1;
  /// A claimed delivery is not claimed again (by a node that died sending it, say) before this.
  std::int64_t lease_seconds = 30;
  std::chrono::milliseconds request_timeout{5000};
  int batch = 16;
  /// How often queued deliveries are looked for when nobody wakes the sender (those queued by
  /// another node, or due for a retry).
  std::chrono::milliseconds poll{1000};
};

class BackchannelSender {
 public:
  BackchannelSender(authz::AuthorizationServer& server, storage::Store& store,
                    const authz::Clock& clock, portability::HttpClient& http, Logger& logger,
                    BackchannelSettings settings = {});
  ~BackchannelSender();
  BackchannelSender(const BackchannelSender&) = delete;
  BackchannelSender& operator=(const BackchannelSender&) = delete;

  /// Sends what is due now, one batch; returns the number of deliveries it claimed. What the
  /// thread does; tests call it to step without one.
  int run_once();

  /// Starts the sending thread; stop() (or the destructor) ends it between two deliveries.
  void start();
  void stop();
  /// Tells the thread that a delivery may have been queued.
  void wake();

 private:
  void loop(const std::stop_token& stop);

  authz::AuthorizationServer& server_;
  storage::Store& store_;
  const authz::Clock& clock_;
  portability::HttpClient& http_;
  Logger& logger_;
  BackchannelSettings settings_;
  std::mutex mutex_;
  std::condition_variable_any wakeup_;
  std::uint64_t wakes_ = 0;  ///< bumped by wake(), under mutex_
  std::jthread thread_;
};

}  // namespace server
