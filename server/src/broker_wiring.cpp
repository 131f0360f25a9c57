#include "broker_wiring.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url.hpp>
#include <nlohmann/json.hpp>
#include <openssl/ssl.h>

namespace server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
namespace http = beast::http;

// Runs what was started on `io` to its end. The stream's expiry (set once per request) bounds
// every step: Beast's timeouts apply to asynchronous operations only, so the client starts
// asynchronous ones and waits for them here, on the calling (broker) thread.
void wait_for(asio::io_context& io, beast::error_code& ec) {
  io.run();
  io.restart();
  if (ec) throw boost::system::system_error(ec);
}

template <class Stream>
portability::HttpResponse exchange(asio::io_context& io, Stream& stream,
                                   const http::request<http::string_body>& req,
                                   std::size_t max_body_bytes) {
  beast::error_code ec;
  auto done = [&ec](beast::error_code e, std::size_t) { ec = e; };
  http::async_write(stream, req, done);
  wait_for(io, ec);
  // Pages are large: read them in large pieces, not in Beast's 512-byte first reads.
  beast::flat_buffer buffer;
  buffer.reserve(64 * 1024);
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_body_bytes);
  parser.header_limit(64 * 1024);
  http::async_read(stream, buffer, parser, done);
  wait_for(io, ec);
  auto& res = parser.get();
  portability::HttpResponse out;
  out.status = static_cast<int>(res.result_int());
  for (const auto& field : res) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(field.value());
  }
  out.body = std::move(res.body());
  return out;
}

}  // namespace

BeastHttpClient::BeastHttpClient() : tls_(asio::ssl::context::tls_client) {
  tls_.set_default_verify_paths();
  tls_.set_verify_mode(asio::ssl::verify_peer);
  tls_.set_options(asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
}

portability::HttpResponse BeastHttpClient::send(const portability::HttpRequest& request,
                                                std::chrono::milliseconds timeout,
                                                std::size_t max_body_bytes) {
  auto url = boost::urls::parse_absolute_uri(request.url);
  if (!url || (url->scheme() != "http" && url->scheme() != "https") || !url->has_authority())
    throw portability::TransportError("not an http(s) URL");
  const bool tls = url->scheme() == "https";
  const std::string host = url->host();
  const std::string port = url->has_port() ? std::string(url->port()) : (tls ? "443" : "80");
  std::string target = std::string(url->encoded_path());
  if (target.empty()) target = "/";
  if (url->has_query()) target += "?" + std::string(url->encoded_query());

  http::request<http::string_body> req{
      request.method == "POST" ? http::verb::post : http::verb::get, target, 11};
  req.set(http::field::host, std::string(url->encoded_host_and_port()));
  req.set(http::field::user_agent, "infobank-broker");
  for (const auto& [name, value] : request.headers) req.set(name, value);
  if (request.method == "POST") {
    req.body() = request.body;
    req.prepare_payload();
  }
  req.keep_alive(false);

  try {
    asio::io_context io;
    tcp::resolver resolver(io);
    const auto endpoints = resolver.resolve(host, port);
    beast::error_code ec;
    auto connected = [&ec](beast::error_code e, const tcp::endpoint&) { ec = e; };
    if (!tls) {
      beast::tcp_stream stream(io);
      // One deadline for the whole call: connect, send, and read the whole answer.
      stream.expires_after(timeout);
      stream.async_connect(endpoints, connected);
      wait_for(io, ec);
      auto out = exchange(io, stream, req, max_body_bytes);
      beast::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      return out;
    }
    beast::ssl_stream<beast::tcp_stream> stream(io, tls_);
    // SNI, and the certificate must name the host (RFC 6125).
    if (!SSL_set_tlsext_host_name(stream.native_handle(), host.c_str()))
      throw portability::TransportError("cannot set SNI");
    stream.set_verify_callback(asio::ssl::host_name_verification(host));
    beast::get_lowest_layer(stream).expires_after(timeout);
    beast::get_lowest_layer(stream).async_connect(endpoints, connected);
    wait_for(io, ec);
    stream.async_handshake(asio::ssl::stream_base::client, [&ec](beast::error_code e) { ec = e; });
    wait_for(io, ec);
    auto out = exchange(io, stream, req, max_body_bytes);
    // The answer is complete (its length was known); the close_notify exchange gets a short
    // deadline of its own, and its outcome does not matter.
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(1));
    stream.async_shutdown([](beast::error_code) {});
    io.run();
    return out;
  } catch (const boost::system::system_error& error) {
    // Refused, reset, timed out, cut mid-body (partial_message), over the body limit.
    throw portability::TransportError(request.method + " " + host + ":" + port + ": " +
                                      error.code().message());
  }
}

std::string SelfIssuedTokens::access_token(const storage::TransferRecord& transfer,
                                           const storage::ServiceRecord& service,
                                           portability::Side side, std::string_view scope,
                                           bool fresh) {
  const auto key = std::make_tuple(transfer.id, static_cast<int>(side), std::string(scope));
  const auto now = clock_.now();
  {
    std::lock_guard lock(mutex_);
    if (auto it = cache_.find(key); !fresh && it != cache_.end() && it->second.expires_at > now)
      return it->second.token;
    // Drop what has expired, so the cache stays as small as the transfers in flight.
    std::erase_if(cache_, [now](const auto& entry) { return entry.second.expires_at <= now; });
  }
  const bool at_source = side == portability::Side::source;
  // RFC 9396: the token says what it may be used for, down to the one transfer (identifier)
  // and the one service (locations).
  nlohmann::json detail = {{"type", "personal_data_transfer"},
                           {"identifier", transfer.id},
                           {"locations", {service.audience}},
                           {"source", transfer.source_id},
                           {"destination", transfer.destination_id},
                           {"datasets", transfer.datasets},
                           {"delete_at_source", transfer.delete_at_source}};
  const std::string token = server_.issue_self_token(
      transfer.resident_id, at_source ? transfer.source_subject : transfer.destination_subject,
      service.audience, scope, nlohmann::json::array({detail}).dump(), ttl_);
  std::lock_guard lock(mutex_);
  // Renewed a minute early, so a token never expires between the cache and the service.
  cache_[key] = Cached{token, now + ttl_ - 60};
  return token;
}

std::string BankContext::new_id() {
  std::lock_guard lock(mutex_);
  return random_.identifier(16);
}

double BankContext::jitter() {
  std::array<std::uint8_t, 4> bytes{};
  {
    std::lock_guard lock(mutex_);
    random_.fill(bytes);
  }
  const std::uint32_t v = (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) |
                          (std::uint32_t{bytes[2]} << 8) | bytes[3];
  return static_cast<double>(v) / 4294967296.0;
}

storage::Event BankContext::event(std::string_view actor, std::string_view action,
                                  std::string_view resident_id, std::string_view client_id,
                                  std::string_view detail_json, std::string_view outcome,
                                  const std::vector<std::string>& datasets) {
  auto e = server_.make_event(actor, action, resident_id, client_id, detail_json, {}, outcome, {});
  e.datasets = datasets;
  return e;
}

}  // namespace server
