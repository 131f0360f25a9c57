#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace server {

/// A monotonically increasing count. Lock-free; safe from any thread.
class Counter {
 public:
  void inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t value() const noexcept {
    return value_.load(std::memory_order_relaxed);
  }

 private:
  std::atomic<std::uint64_t> value_{0};
};

/// A value that goes up and down (open connections, queue depth). Lock-free.
class Gauge {
 public:
  void add(std::int64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  void sub(std::int64_t n = 1) noexcept { value_.fetch_sub(n, std::memory_order_relaxed); }
  void set(std::int64_t v) noexcept { value_.store(v, std::memory_order_relaxed); }
  [[nodiscard]] std::int64_t value() const noexcept {
    return value_.load(std::memory_order_relaxed);
  }

 private:
  std::atomic<std::int64_t> value_{0};
};

/// A latency histogram in seconds with Prometheus' default buckets
/// (5 ms ... 10 s). observe() is lock-free: one relaxed add per bucket hit, count and sum.
class Histogram {
 public:
  static constexpr std::array<double, 11> kBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                     0.5,   1.0,  2.5,   5.0,  10.0};

  void observe(std::chrono::nanoseconds elapsed) noexcept;

  /// Prometheus lines for this histogram: `<name>_bucket{<labels>,le="..."}`, `_sum`, `_count`.
  /// `labels` is already rendered (`route="token"`), may be empty.
  void render(std::string& out, std::string_view name, std::string_view labels) const;

  [[nodiscard]] std::uint64_t count() const noexcept {
    return count_.load(std::memory_order_relaxed);
  }

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets_{};  // last = +Inf
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_ns_{0};
};

/// The process' metrics registry, rendered for Prometheus by render().
///
/// HTTP metrics (recorded by HttpServer for every response):
///   http_requests_total{route,method,status}        counter
///   http_request_duration_seconds{route}            histogram
///   http_connections_open                           gauge
///
/// The route label is a name the application chose (see HttpServer: the handler tags its
/// response with set_route()), never the request path, so cardinality stays bounded: at most
/// kMaxRoutes distinct names, names must match [A-Za-z0-9_.:/{}-]{1,64}, and anything else is
/// counted as "other". The method label is one of GET HEAD POST PUT DELETE PATCH OPTIONS or
/// OTHER; the status is clamped to 100..599. Recording a request is lock-free (a linear scan
/// of at most kMaxRoutes names, then relaxed atomic adds).
///
/// Application counters and gauges, by name and at most one label pair:
///
///   metrics.describe("infobank_tokens_issued_total", "Access tokens issued, by grant type.");
///   metrics.counter("infobank_tokens_issued_total", "grant_type", "client_credentials").inc();
///   metrics.counter("infobank_logins_total").inc();
///   metrics.gauge("infobank_sessions_active").add();
///
/// counter()/gauge() take a mutex to find or create the series; the returned reference stays
/// valid for the registry's lifetime, so hot paths can look it up once and keep it. Names must
/// be valid Prometheus names ([a-zA-Z_:][a-zA-Z0-9_:]*, label names without ':') or the call
/// throws std::invalid_argument (a programming error). Label values must come from a bounded set
/// chosen by the code, never from request input; past kMaxSeries application series further
/// new series are not rendered (the call returns a shared overflow counter).
class Metrics {
 public:
  static constexpr std::size_t kMaxRoutes = 64;
  static constexpr std::size_t kMaxSeries = 1024;
  static constexpr std::string_view kOtherRoute = "other";

  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  /// Records one HTTP exchange. `route` outside the bounded set becomes "other".
  void record_request(std::string_view route, std::string_view method, unsigned status,
                      std::chrono::nanoseconds elapsed) noexcept;

  /// Count recorded for one HTTP series (for tests and health checks).
  [[nodiscard]] std::uint64_t request_count(std::string_view route, std::string_view method,
                                            unsigned status) const noexcept;

  /// Open connections, maintained by HttpServer.
  Gauge& connections_open() noexcept { return connections_open_; }
  /// Connections accepted since start, maintained by HttpServer (with requests, it shows how
  /// well clients reuse their connections).
  Counter& connections_accepted() noexcept { return connections_accepted_; }

  /// The route label `route` is recorded under ("other" when not acceptable or the set is full).
  [[nodiscard]] std::string_view route_label(std::string_view route) noexcept;

  Counter& counter(std::string_view name, std::string_view label_name = {},
                   std::string_view label_value = {});
  Gauge& gauge(std::string_view name, std::string_view label_name = {},
               std::string_view label_value = {});
  /// HELP text for an application metric (optional; defaults to the name).
  void describe(std::string_view name, std::string_view help);

  /// Prometheus text exposition format 0.0.4
  /// (Content-Type: text/plain; version=0.0.4; charset=utf-8).
  [[nodiscard]] std::string render() const;

 private:
  struct Route;
  struct Family;

  Route* find_route(std::string_view name) const noexcept;
  Route* route_slot(std::string_view name) noexcept;
  Family& family(std::string_view name, bool is_counter);

  // Routes: slots_[0 .. route_count_) are published; a slot is written once, before the
  // release store of the count that makes it visible, and never changes afterwards.
  std::array<std::unique_ptr<Route>, kMaxRoutes + 1> routes_;
  std::atomic<std::size_t> route_count_{0};
  std::mutex route_mutex_;

  Gauge connections_open_;
  Counter connections_accepted_;

  mutable std::mutex app_mutex_;
  std::map<std::string, std::unique_ptr<Family>, std::less<>> families_;
  std::size_t series_ = 0;
  Counter overflow_counter_;
  Gauge overflow_gauge_;
};

}  // namespace server
