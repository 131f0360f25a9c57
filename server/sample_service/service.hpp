#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <string_view>

#include "http_server.hpp"
#include "log.hpp"
#include "metrics.hpp"
#include "portability/formats.hpp"
#include "store.hpp"
#include "token_verifier.hpp"

namespace sample_service {

/// Injected failures, for the broker's tests. Decided per /portability/v1 request by a PRNG
/// seeded with `seed`, so a run is reproducible: every request draws the same three numbers
/// whatever the rates, hence the n-th request meets the same faults in every run.
struct Faults {
  double fail_rate = 0;   ///< answer 500 before doing anything
  double delay_rate = 0;  ///< answer after delay_ms
  int delay_ms = 0;
  double cut_rate = 0;    ///< send the headers and half the body, then close
  bool unauthorized_once = false;  ///< the first request with a good token gets 401
  /// When > 0, every export page holding the item with row id `corrupt_item` (the N-th item
  /// stored) is sent broken at that item, so the document no longer parses: its iCalendar
  /// VEVENT loses END:VEVENT, its XML gets an unclosed tag, its JSON a stray '{'. Not drawn.
  std::int64_t corrupt_item = 0;
  /// When > 0, every export page holding the item with row id `miscount_item` says in its
  /// Portability-Item-Count one item more than it holds, as a source would that counts a part
  /// of its export that the format's split skips (and would delete it). Not drawn.
  std::int64_t miscount_item = 0;
  std::uint64_t seed = 0;
};

/// The third-party service's portability API, version 1 (docs/portability-api.md): one format,
/// one dataset, residents identified by the access token's `sub`. Owns no socket; every
/// SQLite call and every parse of a document runs on the worker pool.
class Service {
 public:
  Service(const portability::Format& format, Store& store, TokenVerifier& verifier,
          const Faults& faults, boost::asio::thread_pool& workers, server::Logger& logger,
          const server::Metrics& metrics);

  boost::asio::awaitable<server::Response> handle(server::Request&& request,
                                                  const server::RequestContext& context);

 private:
  struct Draw {
    bool fail = false;
    bool delay = false;
    bool cut = false;
  };
  Draw draw();

  boost::asio::awaitable<server::Response> api(server::Request&& req, std::string_view& route);

  const portability::Format& format_;
  Store& store_;
  TokenVerifier& verifier_;
  const Faults faults_;
  boost::asio::thread_pool& workers_;
  server::Logger& logger_;
  const server::Metrics& metrics_;  // GET /metrics (Prometheus text)
  std::mutex random_mutex_;
  std::mt19937_64 random_;
  std::atomic<bool> unauthorized_pending_;
};

}  // namespace sample_service
