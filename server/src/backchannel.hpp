#pragma once

// OpenID Connect Back-Channel Logout 1.0 (§2.5-2.8), the sending side: when a resident's
// session ends, every client that signed them in within it and registered a
// backchannel_logout_uri is sent a logout token, server to server. The deliveries are queued in
// storage in the transaction that ends the session, so a process killed before sending sends
// after its restart (or another node does); each is retried with backoff until the client
// answers 2xx or the sender gives up, and the outcome is in the audit log. Deliveries are
// sent several at once, on the sender's own threads (never the server's I/O threads): a client
// that hangs until the timeout holds one of them, and every other client is told meanwhile.

#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stop_token>
#include <thread>

#include "authz/clock.hpp"
#include "authz/oauth.hpp"
#include "config.hpp"
#include "log.hpp"
#include "portability/broker.hpp"
#include "storage/store.hpp"

namespace server {

struct BackchannelSettings {
  /// Attempts before giving up; the n-th failure waits 2^(n-1) * first_retry.
  int max_attempts = 6;
  std::int64_t first_retry_seconds = 1;
  /// A claimed delivery is not claimed again (by a node that died sending it, say) before this.
  /// Longer than a call can last, with room: config requires more than twice request_timeout
  /// (the deadline does not bound the name lookup before connecting, nor settling).
  std::int64_t lease_seconds = 30;
  std::chrono::milliseconds request_timeout{5000};
  /// Deliveries in flight at once on this node, each on a thread of the sender's own pool, so
  /// that a client that hangs until the timeout holds one of them and delays no other.
  int concurrency = 16;
  /// How often queued deliveries are looked for when nobody wakes the sender (those queued by
  /// another node, or due for a retry).
  std::chrono::milliseconds poll{1000};
};

/// The [backchannel] section of the configuration (validated by load_config).
BackchannelSettings backchannel_settings(const Config& config);

class BackchannelSender {
 public:
  BackchannelSender(authz::AuthorizationServer& server, storage::Store& store,
                    const authz::Clock& clock, portability::HttpClient& http, Logger& logger,
                    BackchannelSettings settings = {});
  ~BackchannelSender();
  BackchannelSender(const BackchannelSender&) = delete;
  BackchannelSender& operator=(const BackchannelSender&) = delete;

  /// Claims what is due now (up to `concurrency` deliveries), sends them at once and returns
  /// when every one has been settled; returns the number claimed. For tests, stepping without
  /// the thread (never while it runs).
  int run_once();

  /// Starts the sending thread; stop() (or the destructor) ends it and waits for the deliveries
  /// in flight (at most about one request_timeout).
  void start();
  void stop();
  /// Tells the thread that a delivery may have been queued.
  void wake();

 private:
  /// Claims up to the free share of `concurrency` and hands each delivery to the pool; returns
  /// the number claimed and sets `full` when every free slot was filled (more may be due).
  int dispatch(bool& full);
  /// One delivery, on a pool thread: POST, then settle (remove, or due again after backoff).
  void deliver(const storage::LogoutDelivery& delivery);
  void loop(const std::stop_token& stop);
  /// Waits until no delivery is in flight.
  void drain();

  authz::AuthorizationServer& server_;
  storage::Store& store_;
  const authz::Clock& clock_;
  portability::HttpClient& http_;
  Logger& logger_;
  BackchannelSettings settings_;
  std::mutex mutex_;
  std::condition_variable_any wakeup_;  ///< wake() and every settled delivery notify it
  std::uint64_t wakes_ = 0;             ///< bumped by wake(), under mutex_
  int in_flight_ = 0;                   ///< claimed and not yet settled, under mutex_
  std::jthread thread_;
  /// Declared last: destroyed (joined) first, while everything its tasks use still exists.
  boost::asio::thread_pool pool_;
};

}  // namespace server
