#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "authz/client_certificate.hpp"
#include "config.hpp"

namespace server {

class Logger;
class Metrics;

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

/// Per-request facts the transport knows and the handlers need.
struct RequestContext {
  std::string request_id;   ///< random, also sent back as X-Request-Id
  std::string remote_addr;  ///< peer IP address
  bool tls = false;
  /// Came in on the mutual-TLS listener (Config::mtls_port).
  bool mtls = false;
  /// The certificate the client presented there, if any, read once for the connection;
  /// `trusted` when its chain verified to one of Config::mtls_client_ca's authorities.
  std::shared_ptr<const authz::ClientCertificate> client_cert;
};

/// The seam between transport and application: the code that decides the answer never sees
/// the socket. Called on the connection's I/O thread; must not block (use offload()).
///
/// The transport owns framing: it sets the response's HTTP version, Content-Length,
/// Connection/keep-alive (closing when the request asked to, when the handler set
/// `Connection: close`, or when the server is stopping) and X-Request-Id. A response to HEAD is
/// sent without its body (Content-Length still describes the body the handler returned). An
/// exception escaping the handler is a bug: it is logged and answered with 500 server_error.
using Handler = std::function<boost::asio::awaitable<Response>(Request&&, const RequestContext&)>;

/// Internal response header naming the route that answered, e.g. "token" or "authorize".
/// HttpServer reads it for the route label of metrics and the access log and removes it
/// before the response is written, so it never reaches the client. A response without it (or
/// with a name Metrics does not accept) is labelled "other". The name must come from the
/// router's fixed table, never from the request path, so label cardinality stays bounded.
inline constexpr std::string_view kRouteHeader = "X-Infobank-Route";

/// Tags `res` with the route that produced it (see kRouteHeader).
inline void set_route(Response& res, std::string_view route) { res.set(kRouteHeader, route); }

/// Internal response header for fault injection (the sample service's `--cut-rate`): when a
/// handler sets it to a byte count N, HttpServer removes it, sends the status line and headers
/// with the full Content-Length, then only the first N bytes of the body, and closes the
/// connection: the peer sees a response cut mid-body. Never set it on a real response.
inline constexpr std::string_view kCutBodyHeader = "X-Infobank-Cut-Body";

/// Called once, from any thread, when work started elsewhere has finished: null, or what it
/// threw.
using Done = std::function<void(std::exception_ptr)>;

/// Suspends the calling coroutine until the work that `start(done)` begins (on another thread
/// or in another component) calls `done`, then resumes it on its own executor and rethrows
/// what was passed to `done`, if anything. `start` runs once, on the caller's thread. The
/// awaiting coroutine counts as work of its io_context meanwhile, so a draining server waits
/// for it. Taken by lvalue reference for the reason given at offload().
template <class Start>
auto until_done(Start& start) {
  namespace net = boost::asio;
  return net::async_initiate<const net::use_awaitable_t<>, void(std::exception_ptr)>(
      [&start](auto handler) {
        auto work = net::prefer(net::get_associated_executor(handler),
                                net::execution::outstanding_work.tracked);
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        start(Done([shared, work](std::exception_ptr error) {
          net::post(work, [shared, error] { std::move(*shared)(error); });
        }));
      },
      net::use_awaitable);
}

/// Runs `fn` on the blocking-work pool and resumes the caller with its result.
///
/// `fn` is taken by lvalue reference on purpose: callers name the lambda in their own frame
/// (`auto job = [...] {...}; co_await offload(pool, job);`). GCC 12 destroys temporaries
/// that appear inside a co_await expression twice when they are passed to a coroutine by
/// value (seen as a double free of captured strings), so no temporary may cross this call.
template <class F>
auto offload(boost::asio::thread_pool& pool, F& fn) -> boost::asio::awaitable<decltype(fn())> {
  using Result = decltype(fn());
  // The frame outlives the job: the coroutine stays suspended until the job has called done.
  std::conditional_t<std::is_void_v<Result>, bool, std::optional<Result>> result{};
  auto start = [&pool, &fn, &result](Done done) {
    boost::asio::post(pool, [&fn, &result, done = std::move(done)] {
      std::exception_ptr error;
      try {
        if constexpr (std::is_void_v<Result>) {
          fn();
        } else {
          result.emplace(fn());
        }
      } catch (...) {
        error = std::current_exception();
      }
      done(error);
    });
  };
  co_await until_done(start);
  if constexpr (!std::is_void_v<Result>) co_return std::move(*result);
}

/// Process-wide allocator settings for a server process; call once at the start of main.
/// glibc's malloc gives freed memory at the top of a thread's heap back to the kernel as soon
/// as 128 KiB are free (madvise), and serves blocks from 128 KiB up with mmap: a server that
/// allocates and frees page-sized buffers (transfer pages, request bodies) then pays page
/// faults and TLB shootdowns on every request. Freed memory is kept for reuse instead (up to
/// 64 MiB beyond what is in use) and blocks up to 32 MiB come from the heap. Peak memory is
/// unchanged: only what was once in use is kept. This tunes glibc's malloc, which builds with
/// INFOBANK_MALLOC=system use; jemalloc (the default) keeps freed pages and returns them on
/// its own decay schedule, and these settings do not reach it.
void tune_allocator();

/// The HTTP/1.1 server: plain TCP, or TLS (1.2 minimum) when config.tls_enabled(); with
/// config.mtls_enabled(), a second TLS listener that asks each client for a certificate and
/// accepts any (self-signed too: RFC 8705 §2.2), telling the handler what it got and whether
/// its chain verified to config.mtls_client_ca.
///
/// One io_context per I/O thread (config.io_threads); connections are dealt to them in turn
/// and each runs as one coroutine on its thread. Per request a fresh parser limited to
/// config.max_header_bytes (431 beyond) and config.max_body_bytes (413 beyond), the whole
/// request within config.read_timeout seconds, and at most config.idle_timeout seconds of
/// silence between keep-alive requests. Malformed requests get 400 and the connection closes.
///
/// Lifecycle, from one controlling thread:
///
///   HttpServer server(config, handler, metrics, logger);
///   server.handle_signals();           // optional: SIGINT/SIGTERM -> stop()
///   std::uint16_t port = server.start();
///   server.wait();                     // returns once stopped and drained
///
/// `metrics` and `logger` must outlive the server. Destroying a running server stops it and
/// waits.
class HttpServer {
 public:
  HttpServer(const Config& config, Handler handler, Metrics& metrics, Logger& logger);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds config.address:config.port (0 = any free port), listens, writes the bound port to
  /// config.port_file if set (temp file + rename, so readers never see a partial file), and
  /// starts config.io_threads threads. Returns the bound port. Throws std::runtime_error when
  /// the certificate/key cannot be loaded or the address cannot be bound. Call once.
  std::uint16_t start();

  /// Installs SIGINT/SIGTERM handling: the first signal calls stop(), a second one during the
  /// drain abandons it (immediate stop). Call before or after start(), before wait().
  void handle_signals();

  /// Begins graceful shutdown; thread-safe and idempotent, callable from handlers. Stops
  /// accepting, closes idle keep-alive connections, lets requests already being read or
  /// handled finish (their responses carry `Connection: close`), then lets wait() return.
  /// Whatever is still running after the shutdown deadline is abandoned.
  void stop();

  /// Blocks until shutdown has completed, then joins the worker pool. Returns at once if
  /// start() was never called.
  void wait();

  /// Pool of config.worker_threads threads for blocking work: `co_await offload(workers(), fn)`.
  /// Joined by wait() after the connections are done.
  boost::asio::thread_pool& workers();

  /// The bound port (0 before start()).
  [[nodiscard]] std::uint16_t port() const;
  /// The mutual-TLS listener's bound port (0 before start() or without one).
  [[nodiscard]] std::uint16_t mtls_port() const;

  /// Grace period for stop() (default 10 s). Set before stop().
  void set_shutdown_timeout(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace server
