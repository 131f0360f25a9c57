#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "metrics.hpp"

namespace {

using namespace std::chrono_literals;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(Metrics, RendersRequestCountersAndHistogram) {
  server::Metrics m;
  m.record_request("token", "POST", 200, 3ms);
  m.record_request("token", "POST", 200, 30ms);
  m.record_request("token", "POST", 400, 2s);
  m.record_request("authorize", "GET", 302, 1ms);

  const auto text = m.render();
  EXPECT_TRUE(contains(text, "# HELP http_requests_total "));
  EXPECT_TRUE(contains(text, "# TYPE http_requests_total counter\n"));
  EXPECT_TRUE(contains(text, "http_requests_total{route=\"token\",method=\"POST\",status=\"200\"} 2\n"));
  EXPECT_TRUE(contains(text, "http_requests_total{route=\"token\",method=\"POST\",status=\"400\"} 1\n"));
  EXPECT_TRUE(contains(text, "http_requests_total{route=\"authorize\",method=\"GET\",status=\"302\"} 1\n"));

  EXPECT_TRUE(contains(text, "# TYPE http_request_duration_seconds histogram\n"));
  // Cumulative buckets: 3 ms <= 0.005; 30 ms <= 0.05; 2 s <= 2.5.
  EXPECT_TRUE(contains(text, "http_request_duration_seconds_bucket{route=\"token\",le=\"0.005\"} 1\n"));
  EXPECT_TRUE(contains(text, "http_request_duration_seconds_bucket{route=\"token\",le=\"0.05\"} 2\n"));
  EXPECT_TRUE(contains(text, "http_request_duration_seconds_bucket{route=\"token\",le=\"1\"} 2\n"));
  EXPECT_TRUE(contains(text, "http_request_duration_seconds_bucket{route=\"token\",le=\"2.5\"} 3\n"));
  EXPECT_TRUE(contains(text, "http_request_duration_seconds_bucket{route=\"token\",le=\"+Inf\"} 3\n"));
  EXPECT_TRUE(contains(text, "http_request_duration_seconds_count{route=\"token\"} 3\n"));
  EXPECT_TRUE(contains(text, "http_request_duration_seconds_sum{route=\"token\"} 2.033\n"));
  EXPECT_EQ(m.request_count("token", "POST", 200), 2u);
}

TEST(Metrics, RouteLabelIsBounded) {
  server::Metrics m;
  // Anything that is not a plain name is "other": a path with a query must never be a label.
  m.record_request("/authorize?code=secret", "GET", 200, 1ms);
  m.record_request("", "GET", 200, 1ms);
  m.record_request(std::string(65, 'a'), "GET", 200, 1ms);
  EXPECT_EQ(m.request_count("other", "GET", 200), 3u);

  // The set of names is capped; later names fold into "other".
  for (std::size_t i = 0; i < server::Metrics::kMaxRoutes + 10; ++i) {
    m.record_request("r" + std::to_string(i), "GET", 200, 1ms);
  }
  EXPECT_EQ(m.route_label("r0"), "r0");
  EXPECT_EQ(m.route_label("r" + std::to_string(server::Metrics::kMaxRoutes + 5)), "other");
  EXPECT_GT(m.request_count("other", "GET", 200), 3u);
}

TEST(Metrics, MethodAndStatusAreBounded) {
  server::Metrics m;
  m.record_request("x", "BREW", 200, 1ms);
  m.record_request("x", "GET", 999, 1ms);
  const auto text = m.render();
  EXPECT_TRUE(contains(text, "method=\"OTHER\""));
  EXPECT_TRUE(contains(text, "status=\"599\""));
  EXPECT_FALSE(contains(text, "BREW"));
}

TEST(Metrics, ApplicationCounters) {
  server::Metrics m;
  m.describe("infobank_tokens_issued_total", "Access tokens issued, by grant type.");
  auto& cc = m.counter("infobank_tokens_issued_total", "grant_type", "client_credentials");
  cc.inc();
  cc.inc(2);
  m.counter("infobank_tokens_issued_total", "grant_type", "authorization_code").inc();
  m.counter("infobank_logins_total").inc();
  m.gauge("infobank_sessions_active").add(4);
  m.gauge("infobank_sessions_active").sub();
  m.counter("infobank_weird_total", "k", "a\"b\\c\nd").inc();

  // Same series, same object.
  EXPECT_EQ(&cc, &m.counter("infobank_tokens_issued_total", "grant_type", "client_credentials"));

  const auto text = m.render();
  EXPECT_TRUE(contains(text, "# HELP infobank_tokens_issued_total Access tokens issued, by grant type.\n"));
  EXPECT_TRUE(contains(text, "# TYPE infobank_tokens_issued_total counter\n"));
  EXPECT_TRUE(contains(text, "infobank_tokens_issued_total{grant_type=\"client_credentials\"} 3\n"));
  EXPECT_TRUE(contains(text, "infobank_tokens_issued_total{grant_type=\"authorization_code\"} 1\n"));
  EXPECT_TRUE(contains(text, "# TYPE infobank_logins_total counter\ninfobank_logins_total 1\n"));
  EXPECT_TRUE(contains(text, "# TYPE infobank_sessions_active gauge\ninfobank_sessions_active 3\n"));
  EXPECT_TRUE(contains(text, "infobank_weird_total{k=\"a\\\"b\\\\c\\nd\"} 1\n"));
}

TEST(Metrics, InvalidNamesAreProgrammingErrors) {
  server::Metrics m;
  EXPECT_THROW(m.counter("bad name"), std::invalid_argument);
  EXPECT_THROW(m.counter("9lives"), std::invalid_argument);
  EXPECT_THROW(m.counter("ok_total", "bad-label", "v"), std::invalid_argument);
  EXPECT_THROW(m.counter("ok_total", "__reserved", "v"), std::invalid_argument);
  m.counter("typed_total");
  EXPECT_THROW(m.gauge("typed_total"), std::invalid_argument);
}

TEST(Metrics, SeriesAreCapped) {
  server::Metrics m;
  for (std::size_t i = 0; i < server::Metrics::kMaxSeries + 5; ++i) {
    m.counter("many_total", "i", std::to_string(i)).inc();
  }
  const auto text = m.render();
  EXPECT_TRUE(contains(text, "many_total{i=\"0\"} 1\n"));
  EXPECT_FALSE(contains(text, "many_total{i=\"" + std::to_string(server::Metrics::kMaxSeries) + "\"}"));
}

TEST(Metrics, ConcurrentRecordingIsExact) {
  server::Metrics m;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&m, t] {
      auto& c = m.counter("infobank_things_total");
      for (int i = 0; i < kPerThread; ++i) {
        // New routes appear while others are being recorded.
        m.record_request("route" + std::to_string(i % 8), "GET", 200, 1ms);
        m.record_request("t" + std::to_string(t), "POST", 201, 1ms);
        c.inc();
      }
    });
  }
  for (auto& th : threads) th.join();
  std::uint64_t total = 0;
  for (int r = 0; r < 8; ++r) total += m.request_count("route" + std::to_string(r), "GET", 200);
  EXPECT_EQ(total, static_cast<std::uint64_t>(kThreads * kPerThread));
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(m.request_count("t" + std::to_string(t), "POST", 201),
              static_cast<std::uint64_t>(kPerThread));
  }
  EXPECT_EQ(m.counter("infobank_things_total").value(),
            static_cast<std::uint64_t>(kThreads * kPerThread));
}

}  // namespace
