// HttpServer driven over loopback by real Beast clients, plus the Logger it writes to.

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>

#include "http_server.hpp"
#include "log.hpp"
#include "metrics.hpp"

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
namespace fs = std::filesystem;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// ---- helpers ---------------------------------------------------------------------------------

fs::path make_temp_dir() {
  const char* base = std::getenv("INFOBANK_TEST_TMP");
  fs::path root = base != nullptr ? fs::path(base) : fs::temp_directory_path();
  fs::create_directories(root);
  std::string tmpl = (root / "http-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

// A one-shot event the test thread can wait for with a deadline.
class Event {
 public:
  void set() {
    std::lock_guard lock(mutex_);
    set_ = true;
    cv_.notify_all();
  }
  bool wait_for(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [this] { return set_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool set_ = false;
};

// A blocking test client over Beast's async API: every operation runs the client's own
// io_context until it completes, bounded by the stream's timeout, so no test can hang.
template <class Stream>
class BasicClient {
 public:
  template <class... Args>
  explicit BasicClient(Args&... args) : stream(ioc, args...) {}

  beast::error_code connect(std::uint16_t port) {
    beast::error_code result;
    lowest().expires_after(5s);
    lowest().async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port),
                           [&](beast::error_code ec) { result = ec; });
    run();
    return result;
  }

  beast::error_code write_raw(std::string_view data) {
    beast::error_code result;
    lowest().expires_after(5s);
    net::async_write(stream, net::buffer(data),
                     [&](beast::error_code ec, std::size_t) { result = ec; });
    run();
    return result;
  }

  beast::error_code send(server::Request& req) {
    beast::error_code result;
    lowest().expires_after(5s);
    http::async_write(stream, req, [&](beast::error_code ec, std::size_t) { result = ec; });
    run();
    return result;
  }

  std::pair<beast::error_code, server::Response> read(std::chrono::milliseconds timeout = 5s) {
    beast::error_code result;
    server::Response res;
    lowest().expires_after(timeout);
    http::async_read(stream, buffer, res, [&](beast::error_code ec, std::size_t) { result = ec; });
    run();
    return {result, std::move(res)};
  }

  server::Response roundtrip(server::Request req) {
    req.prepare_payload();
    EXPECT_FALSE(send(req));
    auto [ec, res] = read();
    EXPECT_FALSE(ec) << ec.message();
    return res;
  }

  // Reads until the server ends the connection; returns what ended it (eof, reset, or
  // beast::error::timeout if the server kept it open for `timeout`).
  beast::error_code read_until_closed(std::chrono::milliseconds timeout) {
    beast::error_code result;
    lowest().expires_after(timeout);
    std::function<void()> next;
    std::array<char, 1024> scratch{};
    next = [&] {
      stream.async_read_some(net::buffer(scratch), [&](beast::error_code ec, std::size_t) {
        if (ec) {
          result = ec;
          return;
        }
        next();
      });
    };
    next();
    run();
    return result;
  }

  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream); }

  net::io_context ioc;
  Stream stream;
  beast::flat_buffer buffer;

 private:
  void run() {
    ioc.restart();
    ioc.run();
  }
};

using Client = BasicClient<beast::tcp_stream>;
using TlsClient = BasicClient<beast::ssl_stream<beast::tcp_stream>>;

server::Request get(std::string target) {
  server::Request req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1");
  return req;
}

// Metrics and the access log are recorded once a response has been written, so the client
// may see the response first: poll for the expected state, with a deadline.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

bool closed_by_peer(const beast::error_code& ec) {
  return ec == net::error::eof || ec == net::error::connection_reset ||
         ec == net::ssl::error::stream_truncated || ec == http::error::end_of_stream;
}

// ---- fixture ---------------------------------------------------------------------------------

class HttpServerTest : public ::testing::Test {
 protected:
  HttpServerTest() {
    config.address = "127.0.0.1";
    config.port = 0;
    config.io_threads = 2;
    config.worker_threads = 2;
    config.read_timeout = 5;
    config.idle_timeout = 30;
    config.max_body_bytes = 1024;
    config.max_header_bytes = 2048;
  }

  ~HttpServerTest() override {
    if (server) {
      server->stop();
      server->wait();
    }
    for (auto& t : later_threads) t.join();
    std::error_code ec;
    if (!dir.empty()) fs::remove_all(dir, ec);
  }

  // The application under test: routes by path, tags each response with its route.
  server::Handler handler() {
    return [this](server::Request&& req, const server::RequestContext& ctx)
               -> net::awaitable<server::Response> {
      ++handler_calls;
      const std::string target(req.target());
      server::Response res{http::status::ok, req.version()};
      res.set(http::field::content_type, "text/plain");
      if (target == "/hello" || target.starts_with("/hello?")) {
        server::set_route(res, "hello");
        res.body() = "hello";
      } else if (target == "/echo") {
        server::set_route(res, "echo");
        res.body() = req.body();
      } else if (target == "/ctx") {
        server::set_route(res, "ctx");
        res.body() = nlohmann::json{{"request_id", ctx.request_id},
                                    {"remote_addr", ctx.remote_addr},
                                    {"tls", ctx.tls}}
                         .dump();
      } else if (target == "/slow" || target == "/forever") {
        server::set_route(res, "slow");
        slow_entered.set();
        net::steady_timer timer(co_await net::this_coro::executor);
        timer.expires_after(target == "/slow" ? 500ms : 60s);
        co_await timer.async_wait(net::use_awaitable);
        res.body() = "slow done";
      } else if (target == "/offload") {
        server::set_route(res, "offload");
        auto job = [] { return std::string("pooled"); };  // named: offload takes F&
        res.body() = co_await server::offload(server->workers(), job);
      } else if (target == "/offload-throw") {
        auto job = []() -> std::string { throw std::runtime_error("pool job failed"); };
        res.body() = co_await server::offload(server->workers(), job);
      } else if (target == "/later" || target == "/later-fail") {
        // Work finished by a thread of its own (as a storage commit is), not by the pool.
        server::set_route(res, "later");
        const bool fail = target == "/later-fail";
        auto start = [this, fail](server::Done done) {
          std::lock_guard lock(later_mutex);
          later_threads.emplace_back([this, fail, done = std::move(done)] {
            later_entered.set();
            std::this_thread::sleep_for(300ms);  // the work being waited for, not a test wait
            done(fail ? std::make_exception_ptr(std::runtime_error("commit failed")) : nullptr);
          });
        };
        co_await server::until_done(start);
        res.body() = "later done";
      } else if (target == "/throw") {
        throw std::runtime_error("boom");
      } else if (target.starts_with("/leaky")) {
        // An application mistake: the route label taken from the request. The transport must
        // not turn it into a label (nor into a log field).
        server::set_route(res, target);
      } else if (target == "/close") {
        server::set_route(res, "close");
        res.keep_alive(false);
      } else {
        res.result(http::status::not_found);
      }
      co_return res;
    };
  }

  std::uint16_t start() {
    server = std::make_unique<server::HttpServer>(config, handler(), metrics, logger);
    port = server->start();
    return port;
  }

  // Stops the server and returns how long wait() took.
  std::chrono::milliseconds stop_and_wait() {
    const auto t0 = Clock::now();
    server->stop();
    server->wait();
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    server.reset();
    return took;
  }

  server::Config config;
  server::Metrics metrics;
  std::ostringstream log_lines;  // read only after the server has stopped
  server::Logger logger{server::LogLevel::debug, log_lines};
  std::unique_ptr<server::HttpServer> server;
  std::uint16_t port = 0;
  std::atomic<int> handler_calls{0};
  Event slow_entered;
  Event later_entered;
  std::mutex later_mutex;
  std::vector<std::thread> later_threads;
  fs::path dir;
};

// ---- plain HTTP ------------------------------------------------------------------------------

TEST_F(HttpServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  start();
  Client c;
  ASSERT_FALSE(c.connect(port));
  const auto a = c.roundtrip(get("/hello"));
  const auto b = c.roundtrip(get("/hello"));
  EXPECT_EQ(a.result(), http::status::ok);
  EXPECT_EQ(b.result(), http::status::ok);
  EXPECT_EQ(a.body(), "hello");
  EXPECT_TRUE(a.keep_alive());
  EXPECT_EQ(a[http::field::content_length], "5");

  // A fresh random id per request, and the internal route header never leaves the server.
  const std::regex hex32("[0-9a-f]{32}");
  EXPECT_TRUE(std::regex_match(std::string(a["X-Request-Id"]), hex32));
  EXPECT_NE(a["X-Request-Id"], b["X-Request-Id"]);
  EXPECT_EQ(a.count(server::kRouteHeader), 0u);

  EXPECT_TRUE(eventually([&] { return metrics.request_count("hello", "GET", 200) == 2; }));
  const auto text = metrics.render();
  EXPECT_NE(text.find("http_requests_total{route=\"hello\",method=\"GET\",status=\"200\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("http_request_duration_seconds_count{route=\"hello\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("http_connections_open 1\n"), std::string::npos);
  // Two requests on one kept-alive connection: one connection accepted.
  EXPECT_NE(text.find("http_connections_accepted_total 1\n"), std::string::npos) << text;
  EXPECT_EQ(metrics.connections_accepted().value(), 1u);
}

TEST_F(HttpServerTest, RequestContextAndWorkers) {
  start();
  Client c;
  ASSERT_FALSE(c.connect(port));
  const auto res = c.roundtrip(get("/ctx"));
  const auto j = nlohmann::json::parse(res.body());
  EXPECT_EQ(j["remote_addr"], "127.0.0.1");
  EXPECT_EQ(j["tls"], false);
  EXPECT_EQ(j["request_id"], std::string(res["X-Request-Id"]));
  // Every request gets its own id, 32 hex digits, on each I/O thread.
  std::set<std::string> ids{std::string(res["X-Request-Id"])};
  for (int i = 0; i < 20; ++i) {
    Client other;
    ASSERT_FALSE(other.connect(port));
    const auto r = other.roundtrip(get("/hello"));
    const std::string id(r["X-Request-Id"]);
    EXPECT_TRUE(std::regex_match(id, std::regex("[0-9a-f]{32}"))) << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 21U);

  EXPECT_EQ(c.roundtrip(get("/offload")).body(), "pooled");
}

// A pool job that throws, and work finished elsewhere that reports an error, end as the
// handler's own exceptions do: 500, and the connection goes on.
TEST_F(HttpServerTest, OffloadedAndAwaitedWorkReportResultsAndErrors) {
  start();
  Client c;
  ASSERT_FALSE(c.connect(port));
  EXPECT_EQ(c.roundtrip(get("/offload-throw")).result(), http::status::internal_server_error);
  const auto ok = c.roundtrip(get("/later"));
  EXPECT_EQ(ok.result(), http::status::ok);
  EXPECT_EQ(ok.body(), "later done");
  EXPECT_EQ(c.roundtrip(get("/later-fail")).result(), http::status::internal_server_error);
  EXPECT_EQ(c.roundtrip(get("/hello")).body(), "hello");
}

// A request waiting for work done elsewhere counts as in flight: a graceful stop lets it
// finish and answer.
TEST_F(HttpServerTest, GracefulStopWaitsForAwaitedWork) {
  start();
  server->set_shutdown_timeout(5s);
  Client busy;
  ASSERT_FALSE(busy.connect(port));
  auto req = get("/later");
  ASSERT_FALSE(busy.send(req));
  ASSERT_TRUE(later_entered.wait_for(5s));
  server->stop();
  auto [ec, res] = busy.read(5s);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res.body(), "later done");
  server->wait();
}

TEST_F(HttpServerTest, BodyTooLargeGets413WithoutCallingTheHandler) {
  start();
  Client c;
  ASSERT_FALSE(c.connect(port));
  server::Request req{http::verb::post, "/echo", 11};
  req.set(http::field::host, "127.0.0.1");
  req.body() = std::string(4096, 'x');
  req.prepare_payload();
  ASSERT_FALSE(c.send(req));
  auto [ec, res] = c.read();
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.result(), http::status::payload_too_large);
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_EQ(nlohmann::json::parse(res.body()),
            nlohmann::json::parse(
                R"({"error":"invalid_request","error_description":"request body too large"})"));
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(closed_by_peer(c.read_until_closed(5s)));
  EXPECT_EQ(handler_calls.load(), 0);
  EXPECT_TRUE(eventually([&] { return metrics.request_count("other", "POST", 413) == 1; }));

  // A body within the limit is fine on a new connection.
  Client ok;
  ASSERT_FALSE(ok.connect(port));
  server::Request small{http::verb::post, "/echo", 11};
  small.set(http::field::host, "127.0.0.1");
  small.body() = "abc";
  EXPECT_EQ(ok.roundtrip(small).body(), "abc");
}

TEST_F(HttpServerTest, ChunkedBodyTooLargeGets413) {
  start();
  Client c;
  ASSERT_FALSE(c.connect(port));
  std::string raw = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 4; ++i) raw += "200\r\n" + std::string(512, 'y') + "\r\n";
  raw += "0\r\n\r\n";
  ASSERT_FALSE(c.write_raw(raw));
  auto [ec, res] = c.read();
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.result(), http::status::payload_too_large);
  EXPECT_EQ(handler_calls.load(), 0);
}

TEST_F(HttpServerTest, ExpectContinue) {
  start();
  // Too large: refused before the client sends the body.
  {
    Client c;
    ASSERT_FALSE(c.connect(port));
    ASSERT_FALSE(c.write_raw(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n"));
    auto [ec, res] = c.read();
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(res.result(), http::status::payload_too_large);
  }
  // Acceptable: 100 Continue, then the body, then the answer.
  {
    Client c;
    ASSERT_FALSE(c.connect(port));
    ASSERT_FALSE(c.write_raw(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
    auto [ec1, interim] = c.read();
    ASSERT_FALSE(ec1) << ec1.message();
    EXPECT_EQ(interim.result(), http::status::continue_);
    ASSERT_FALSE(c.write_raw("12345"));
    auto [ec2, res] = c.read();
    ASSERT_FALSE(ec2) << ec2.message();
    EXPECT_EQ(res.result(), http::status::ok);
    EXPECT_EQ(res.body(), "12345");
  }
  // An expectation we do not know: 417.
  {
    Client c;
    ASSERT_FALSE(c.connect(port));
    ASSERT_FALSE(c.write_raw("GET /hello HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n"));
    auto [ec, res] = c.read();
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(res.result(), http::status::expectation_failed);
  }
  EXPECT_EQ(handler_calls.load(), 1);
}

TEST_F(HttpServerTest, HeaderTooLargeGets431) {
  start();
  Client c;
  ASSERT_FALSE(c.connect(port));
  auto req = get("/hello");
  req.set("X-Padding", std::string(4096, 'p'));
  ASSERT_FALSE(c.send(req));
  auto [ec, res] = c.read();
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.result(), http::status::request_header_fields_too_large);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_EQ(handler_calls.load(), 0);
}

TEST_F(HttpServerTest, MalformedRequestGets400AndClose) {
  start();
  Client c;
  ASSERT_FALSE(c.connect(port));
  ASSERT_FALSE(c.write_raw("GET /hello HTTP/1.1\r\nHost: x\r\nContent-Length: banana\r\n\r\n"));
  auto [ec, res] = c.read();
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.result(), http::status::bad_request);
  EXPECT_EQ(nlohmann::json::parse(res.body())["error"], "invalid_request");
  EXPECT_TRUE(closed_by_peer(c.read_until_closed(5s)));
  EXPECT_EQ(handler_calls.load(), 0);
}

TEST_F(HttpServerTest, HandlerExceptionGets500) {
  start();
  Client c;
  ASSERT_FALSE(c.connect(port));
  const auto res = c.roundtrip(get("/throw"));
  EXPECT_EQ(res.result(), http::status::internal_server_error);
  EXPECT_EQ(nlohmann::json::parse(res.body())["error"], "server_error");
  EXPECT_EQ(c.roundtrip(get("/hello")).result(), http::status::ok);  // connection survives
}

TEST_F(HttpServerTest, HandlerCanCloseAndHeadHasNoBody) {
  start();
  {
    Client c;
    ASSERT_FALSE(c.connect(port));
    const auto res = c.roundtrip(get("/close"));
    EXPECT_FALSE(res.keep_alive());
    EXPECT_TRUE(closed_by_peer(c.read_until_closed(5s)));
  }
  {
    Client c;
    ASSERT_FALSE(c.connect(port));
    server::Request req{http::verb::head, "/hello", 11};
    req.set(http::field::host, "x");
    ASSERT_FALSE(c.send(req));
    http::response_parser<http::string_body> parser;
    parser.skip(true);  // a response to HEAD has no body, whatever Content-Length says
    beast::error_code result;
    c.lowest().expires_after(5s);
    http::async_read(c.stream, c.buffer, parser, [&](beast::error_code ec, std::size_t) { result = ec; });
    c.ioc.restart();
    c.ioc.run();
    ASSERT_FALSE(result) << result.message();
    EXPECT_EQ(parser.get()[http::field::content_length], "5");
    EXPECT_EQ(c.buffer.size(), 0u);
    // The connection is still in sync: the next response is parsed from its first byte.
    EXPECT_EQ(c.roundtrip(get("/hello")).body(), "hello");
  }
}

TEST_F(HttpServerTest, SlowClientIsCutOffWhileOthersAreServed) {
  config.read_timeout = 1;
  start();

  Client slow;
  ASSERT_FALSE(slow.connect(port));
  const auto t0 = Clock::now();
  ASSERT_FALSE(slow.write_raw("GET /hello HTTP/1.1\r\nHost: x\r\n"));  // and never the rest

  // Meanwhile, another client is served promptly.
  Client fast;
  ASSERT_FALSE(fast.connect(port));
  EXPECT_EQ(fast.roundtrip(get("/hello")).result(), http::status::ok);
  EXPECT_LT(Clock::now() - t0, 900ms);

  // The slow one is disconnected once read_timeout has passed (the deadline here is only a
  // bound on the test, not a sleep).
  const auto ec = slow.read_until_closed(5s);
  const auto elapsed = Clock::now() - t0;
  EXPECT_TRUE(closed_by_peer(ec)) << ec.message();
  EXPECT_GE(elapsed, 900ms);
  EXPECT_LT(elapsed, 4s);
  EXPECT_EQ(handler_calls.load(), 1);
}

TEST_F(HttpServerTest, IdleKeepAliveConnectionIsClosed) {
  config.idle_timeout = 1;
  start();
  Client c;
  ASSERT_FALSE(c.connect(port));
  EXPECT_EQ(c.roundtrip(get("/hello")).result(), http::status::ok);
  const auto t0 = Clock::now();
  EXPECT_TRUE(closed_by_peer(c.read_until_closed(5s)));
  EXPECT_GE(Clock::now() - t0, 900ms);
}

TEST_F(HttpServerTest, GracefulStopFinishesInFlightRequest) {
  start();
  server->set_shutdown_timeout(5s);

  Client idle;  // a keep-alive connection with nothing in flight
  ASSERT_FALSE(idle.connect(port));
  EXPECT_EQ(idle.roundtrip(get("/hello")).result(), http::status::ok);

  Client busy;
  ASSERT_FALSE(busy.connect(port));
  auto req = get("/slow");
  ASSERT_FALSE(busy.send(req));
  ASSERT_TRUE(slow_entered.wait_for(5s));

  std::thread stopper([this] { server->stop(); });

  // The idle connection is closed at once, long before idle_timeout (30 s).
  EXPECT_TRUE(closed_by_peer(idle.read_until_closed(3s)));

  // The in-flight request completes and its response arrives, marked as the last one.
  auto [ec, res] = busy.read(5s);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res.body(), "slow done");
  EXPECT_FALSE(res.keep_alive());

  // And wait() returns because the work drained, well before the 5 s deadline.
  const auto t0 = Clock::now();
  server->wait();
  EXPECT_LT(Clock::now() - t0, 3s);
  stopper.join();
  server.reset();

  // No longer listening.
  Client late;
  EXPECT_TRUE(late.connect(port));
}

TEST_F(HttpServerTest, ShutdownDeadlineAbandonsStuckRequests) {
  start();
  server->set_shutdown_timeout(300ms);
  Client c;
  ASSERT_FALSE(c.connect(port));
  auto req = get("/forever");
  ASSERT_FALSE(c.send(req));
  ASSERT_TRUE(slow_entered.wait_for(5s));
  const auto took = stop_and_wait();
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 3s);
}

TEST_F(HttpServerTest, SigtermStopsTheServer) {
  start();
  server->handle_signals();
  Client c;
  ASSERT_FALSE(c.connect(port));
  EXPECT_EQ(c.roundtrip(get("/hello")).result(), http::status::ok);
  ASSERT_EQ(std::raise(SIGTERM), 0);
  const auto t0 = Clock::now();
  server->wait();
  EXPECT_LT(Clock::now() - t0, 3s);
  server.reset();
}

TEST_F(HttpServerTest, PortFileIsWritten) {
  dir = make_temp_dir();
  config.port_file = (dir / "port").string();
  start();
  std::ifstream in(config.port_file);
  int written = 0;
  in >> written;
  EXPECT_EQ(written, port);
  EXPECT_FALSE(fs::exists(config.port_file + ".tmp." + std::to_string(::getpid())));
}

TEST_F(HttpServerTest, BindFailureThrows) {
  start();
  server::Config taken = config;
  taken.port = port;
  server::HttpServer second(taken, handler(), metrics, logger);
  EXPECT_THROW(second.start(), std::runtime_error);
}

TEST_F(HttpServerTest, AccessLogCarriesNoSecrets) {
  start();
  Client c;
  ASSERT_FALSE(c.connect(port));
  auto req = get("/hello?code=SECRET_CODE&state=SECRET_STATE");
  req.set(http::field::authorization, "Bearer SECRET_TOKEN");
  req.set(http::field::cookie, "sid=SECRET_COOKIE");
  req.set("DPoP", "SECRET_DPOP");
  EXPECT_EQ(c.roundtrip(req).result(), http::status::ok);
  server::Request post{http::verb::post, "/leaky?client_secret=SECRET_QUERY", 11};
  post.set(http::field::host, "x");
  post.body() = "client_secret=SECRET_BODY";
  EXPECT_EQ(c.roundtrip(post).result(), http::status::ok);
  stop_and_wait();

  const std::string log = log_lines.str();
  EXPECT_EQ(log.find("SECRET"), std::string::npos) << log;
  // The leaky route name became "other", in the log and in the metrics.
  EXPECT_EQ(metrics.request_count("other", "POST", 200), 1u);
  EXPECT_EQ(metrics.render().find("SECRET"), std::string::npos);

  // One access line per request, with the documented fields.
  int access_lines = 0;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    const auto j = nlohmann::json::parse(line);  // every line is one JSON object
    if (j["msg"] != "request") continue;
    ++access_lines;
    for (const char* key : {"ts", "level", "request_id", "method", "route", "status",
                            "duration_ms", "remote"}) {
      EXPECT_TRUE(j.contains(key)) << key << " missing in " << line;
    }
  }
  EXPECT_EQ(access_lines, 2);
}

// ---- TLS -------------------------------------------------------------------------------------

// Writes a self-signed P-256 certificate for 127.0.0.1/localhost and its key as PEM files.
void make_self_signed(const fs::path& cert_path, const fs::path& key_path) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  ASSERT_TRUE(key);
  std::unique_ptr<X509, decltype(&X509_free)> x509(X509_new(), X509_free);
  ASSERT_TRUE(x509);
  X509_set_version(x509.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x509.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(x509.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x509.get()), 24 * 3600);
  X509_set_pubkey(x509.get(), key.get());
  X509_NAME* name = X509_get_subject_name(x509.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(x509.get(), name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x509.get(), x509.get(), nullptr, nullptr, 0);
  X509_EXTENSION* san =
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
  ASSERT_NE(san, nullptr);
  X509_add_ext(x509.get(), san, -1);
  X509_EXTENSION_free(san);
  ASSERT_GT(X509_sign(x509.get(), key.get(), EVP_sha256()), 0);

  std::unique_ptr<BIO, decltype(&BIO_free)> cert_out(BIO_new_file(cert_path.c_str(), "w"), BIO_free);
  ASSERT_TRUE(cert_out);
  ASSERT_EQ(PEM_write_bio_X509(cert_out.get(), x509.get()), 1);
  std::unique_ptr<BIO, decltype(&BIO_free)> key_out(BIO_new_file(key_path.c_str(), "w"), BIO_free);
  ASSERT_TRUE(key_out);
  ASSERT_EQ(PEM_write_bio_PrivateKey(key_out.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr),
            1);
}

TEST_F(HttpServerTest, ServesTls) {
  dir = make_temp_dir();
  const auto cert = dir / "cert.pem";
  const auto key = dir / "key.pem";
  ASSERT_NO_FATAL_FAILURE(make_self_signed(cert, key));
  config.tls_cert = cert.string();
  config.tls_key = key.string();
  start();

  ssl::context client_ctx{ssl::context::tls_client};
  client_ctx.load_verify_file(cert.string());
  client_ctx.set_verify_mode(ssl::verify_peer);
  TlsClient c(client_ctx);
  c.stream.set_verify_callback(ssl::host_name_verification("127.0.0.1"));
  ASSERT_FALSE(c.connect(port));
  beast::error_code hs;
  c.lowest().expires_after(5s);
  c.stream.async_handshake(ssl::stream_base::client, [&](beast::error_code ec) { hs = ec; });
  c.ioc.restart();
  c.ioc.run();
  ASSERT_FALSE(hs) << hs.message();
  EXPECT_GE(SSL_version(c.stream.native_handle()), TLS1_2_VERSION);

  const auto res = c.roundtrip(get("/ctx"));
  EXPECT_EQ(nlohmann::json::parse(res.body())["tls"], true);
  EXPECT_EQ(c.roundtrip(get("/hello")).body(), "hello");  // keep-alive over TLS

  // Plain HTTP to the TLS port gets no HTTP answer.
  Client plain;
  ASSERT_FALSE(plain.connect(port));
  auto req = get("/hello");
  ASSERT_FALSE(plain.send(req));
  auto [ec, ignored] = plain.read(5s);
  EXPECT_TRUE(ec);
  EXPECT_EQ(handler_calls.load(), 2);
}

TEST_F(HttpServerTest, TlsRejectsOldProtocolVersions) {
  dir = make_temp_dir();
  const auto cert = dir / "cert.pem";
  const auto key = dir / "key.pem";
  ASSERT_NO_FATAL_FAILURE(make_self_signed(cert, key));
  config.tls_cert = cert.string();
  config.tls_key = key.string();
  start();

  ssl::context client_ctx{ssl::context::tls_client};
  SSL_CTX_set_security_level(client_ctx.native_handle(), 0);  // let the client offer TLS 1.1
  SSL_CTX_set_min_proto_version(client_ctx.native_handle(), TLS1_1_VERSION);
  SSL_CTX_set_max_proto_version(client_ctx.native_handle(), TLS1_1_VERSION);
  TlsClient c(client_ctx);
  ASSERT_FALSE(c.connect(port));
  beast::error_code hs;
  c.lowest().expires_after(5s);
  c.stream.async_handshake(ssl::stream_base::client, [&](beast::error_code ec) { hs = ec; });
  c.ioc.restart();
  c.ioc.run();
  EXPECT_TRUE(hs);
}

TEST_F(HttpServerTest, TlsConfigErrorsAreReported) {
  config.tls_cert = "/nonexistent/cert.pem";
  config.tls_key = "/nonexistent/key.pem";
  server::HttpServer s(config, handler(), metrics, logger);
  EXPECT_THROW(s.start(), std::runtime_error);
}

// ---- Logger ----------------------------------------------------------------------------------

TEST(Logger, WritesOneJsonObjectPerLine) {
  std::ostringstream out;
  server::Logger log(server::LogLevel::info, out);
  log.debug("not shown");
  log.info("hello \"world\"\n", {{"port", 8080}, {"ratio", 0.5}, {"tls", true}, {"who", "me"}});
  log.log(server::LogLevel::warn, "with id", {}, "abc123");

  std::istringstream lines(out.str());
  std::string first;
  std::string second;
  std::string extra;
  ASSERT_TRUE(std::getline(lines, first));
  ASSERT_TRUE(std::getline(lines, second));
  EXPECT_FALSE(std::getline(lines, extra));

  const auto a = nlohmann::json::parse(first);
  EXPECT_EQ(a["level"], "info");
  EXPECT_EQ(a["msg"], "hello \"world\"\n");
  EXPECT_EQ(a["port"], 8080);
  EXPECT_EQ(a["ratio"], 0.5);
  EXPECT_EQ(a["tls"], true);
  EXPECT_EQ(a["who"], "me");
  EXPECT_FALSE(a.contains("request_id"));
  EXPECT_TRUE(std::regex_match(a["ts"].get<std::string>(),
                               std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)")));
  EXPECT_EQ(first.rfind("{\"ts\":", 0), 0u);  // ts, level, msg come first

  const auto b = nlohmann::json::parse(second);
  EXPECT_EQ(b["level"], "warn");
  EXPECT_EQ(b["request_id"], "abc123");
}

TEST(Logger, RedactsSecretsByKey) {
  std::ostringstream out;
  server::Logger log(server::LogLevel::debug, out);
  log.info("x", {{"access_token", "SECRET1"},
                 {"Authorization", "Bearer SECRET2"},
                 {"client_secret", "SECRET3"},
                 {"code", "SECRET4"},
                 {"DPoP", "SECRET5"},
                 {"refresh-token", "SECRET6"},
                 {"value", server::redact("SECRET7")},
                 {"path", server::redact_target("/cb?code=SECRET8")},
                 {"client_id", "visible"}});
  const auto line = out.str();
  EXPECT_EQ(line.find("SECRET"), std::string::npos) << line;
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["access_token"], "[REDACTED]");
  EXPECT_EQ(j["path"], "/cb");
  EXPECT_EQ(j["client_id"], "visible");
}

TEST(Logger, InvalidUtf8IsReplacedNotEmitted) {
  std::ostringstream out;
  server::Logger log(server::LogLevel::info, out);
  log.info("bad \xff byte");
  EXPECT_TRUE(nlohmann::json::accept(out.str()));
}

TEST(Logger, ParsesLevels) {
  EXPECT_EQ(server::parse_log_level("warn"), server::LogLevel::warn);
  EXPECT_FALSE(server::parse_log_level("verbose"));
}

}  // namespace
