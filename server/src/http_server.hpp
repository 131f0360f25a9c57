#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>
#include <functional>
#include <memory>
#include <string>

#include "config.hpp"

namespace server {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

/// Per-request facts the transport knows and the handlers need.
struct RequestContext {
  std::string request_id;   ///< random, also sent back as X-Request-Id
  std::string remote_addr;  ///< peer IP address
  bool tls = false;
};

/// The seam between transport and application: the code that decides the answer never sees
/// the socket. Called on the connection's strand; must not block (use offload()).
using Handler = std::function<boost::asio::awaitable<Response>(Request&&, const RequestContext&)>;

/// Runs `fn` on the blocking-work pool and resumes the caller with its result.
template <class F>
auto offload(boost::asio::thread_pool& pool, F fn) -> boost::asio::awaitable<decltype(fn())> {
  co_return co_await boost::asio::co_spawn(
      pool, [fn = std::move(fn)]() mutable -> boost::asio::awaitable<decltype(fn())> { co_return fn(); },
      boost::asio::use_awaitable);
}

}  // namespace server
