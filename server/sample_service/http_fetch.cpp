#include "http_fetch.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url.hpp>

namespace sample_service {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

constexpr auto kNoThrow = net::as_tuple(net::use_awaitable);

struct Target {
  std::string host;
  std::string port;
  std::string path;  // origin-form request target
  std::string host_header;
};

authz::Expected<Target> parse_target(const std::string& url) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) return authz::make_error("server_error", "not an absolute URI: " + url);
  if (parsed->scheme() != "http") {
    // The sample service only talks to test issuers on loopback; TLS is out of its scope.
    return authz::make_error("server_error", "only http:// URLs are supported: " + url);
  }
  Target t;
  t.host = std::string(parsed->host_address());
  if (parsed->host_type() == boost::urls::host_type::ipv6) {
    t.host = std::string(parsed->encoded_host_address());
    if (t.host.size() > 2 && t.host.front() == '[') t.host = t.host.substr(1, t.host.size() - 2);
  }
  t.port = parsed->has_port() ? std::string(parsed->port()) : "80";
  t.path = std::string(parsed->encoded_path());
  if (t.path.empty()) t.path = "/";
  if (parsed->has_query()) t.path += "?" + std::string(parsed->encoded_query());
  t.host_header = std::string(parsed->encoded_host_and_port());
  if (t.host.empty()) return authz::make_error("server_error", "no host in " + url);
  return t;
}

net::awaitable<void> exchange(const Target& target, std::chrono::milliseconds timeout,
                              std::size_t max_body, authz::Expected<FetchResult>& out) {
  auto executor = co_await net::this_coro::executor;
  tcp::resolver resolver(executor);
  beast::tcp_stream stream(executor);
  // One deadline for the whole exchange: connect, write and read all count against it.
  stream.expires_after(timeout);
  auto [rec, endpoints] = co_await resolver.async_resolve(target.host, target.port, kNoThrow);
  if (rec) {
    out = authz::make_error("server_error", "resolve " + target.host + ": " + rec.message());
    co_return;
  }
  auto [cec, ep] = co_await stream.async_connect(endpoints, kNoThrow);
  (void)ep;
  if (cec) {
    out = authz::make_error("server_error", "connect: " + cec.message());
    co_return;
  }
  http::request<http::empty_body> req{http::verb::get, target.path, 11};
  req.set(http::field::host, target.host_header);
  req.set(http::field::accept, "application/json");
  req.set(http::field::user_agent, "sample-service");
  req.keep_alive(false);
  auto [wec, wn] = co_await http::async_write(stream, req, kNoThrow);
  (void)wn;
  if (wec) {
    out = authz::make_error("server_error", "write: " + wec.message());
    co_return;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_body);
  auto [ec, n] = co_await http::async_read(stream, buffer, parser, kNoThrow);
  (void)n;
  if (ec) {
    out = authz::make_error("server_error", "read: " + ec.message());
    co_return;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  auto res = parser.release();
  out = FetchResult{res.result_int(), std::move(res.body())};
}

}  // namespace

authz::Expected<FetchResult> http_get(const std::string& url, std::chrono::milliseconds timeout,
                                      std::size_t max_body) {
  auto target = parse_target(url);
  if (!target) return target.error();
  authz::Expected<FetchResult> out = authz::make_error("server_error", "no response");
  net::io_context ioc;
  net::co_spawn(ioc, exchange(*target, timeout, max_body, out), [&out](std::exception_ptr e) {
    if (e) out = authz::make_error("server_error", "fetch failed");
  });
  ioc.run();
  return out;
}

}  // namespace sample_service
