#include "broker_wiring.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url.hpp>
#include <nlohmann/json.hpp>
#include <charconv>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <openssl/ssl.h>
#include <thread>

namespace server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
namespace http = beast::http;

constexpr std::size_t kMaxIdlePerOrigin = 4;
// Kept connections older than this are closed rather than reused: servers close idle
// keep-alive connections after a while of their own, and a reuse that meets a closed one
// costs a second attempt.
constexpr auto kMaxIdle = std::chrono::seconds(10);

// Runs what was started on `io` to its end. The stream's expiry (set once per call) bounds
// every step: Beast's timeouts apply to asynchronous operations only, so the client starts
// asynchronous ones and waits for them here, on the calling (broker) thread.
void wait_for(asio::io_context& io, beast::error_code& ec) {
  io.run();
  io.restart();
  if (ec) throw boost::system::system_error(ec);
}

// The addresses of `host`, by the call's deadline. An IP address needs no lookup. A name is
// looked up with getaddrinfo, which cannot be cancelled and, with a name server that does not
// answer, takes as long as the resolver's own retries: it runs on a thread of its own, which
// the call waits for only until its deadline (the thread ends on its own afterwards).
tcp::resolver::results_type resolve(const std::string& host, const std::string& port,
                                    std::chrono::steady_clock::time_point deadline) {
  beast::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (!ec) {
    std::uint16_t number = 0;
    const auto [end, pec] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (pec != std::errc() || end != port.data() + port.size())
      throw boost::system::system_error(asio::error::invalid_argument);
    return tcp::resolver::results_type::create(tcp::endpoint(address, number), host, port);
  }
  struct Lookup {
    std::mutex mutex;
    std::condition_variable done_cv;
    bool done = false;
    beast::error_code ec;
    tcp::resolver::results_type results;
  };
  auto lookup = std::make_shared<Lookup>();
  std::thread([lookup, host, port] {
    asio::io_context io;
    tcp::resolver resolver(io);
    beast::error_code lec;
    auto results = resolver.resolve(host, port, lec);
    std::lock_guard lock(lookup->mutex);
    lookup->ec = lec;
    lookup->results = std::move(results);
    lookup->done = true;
    lookup->done_cv.notify_all();
  }).detach();
  std::unique_lock lock(lookup->mutex);
  if (!lookup->done_cv.wait_until(lock, deadline, [&] { return lookup->done; }))
    throw boost::system::system_error(beast::error::timeout);
  if (lookup->ec) throw boost::system::system_error(lookup->ec);
  return lookup->results;
}

}  // namespace

/// One connection to one origin, plain or TLS, with the io_context its operations run on.
/// Used by one thread at a time: by the call that took it out of the pool.
struct BeastHttpClient::Connection {
  asio::io_context io;  // first: destroyed after the streams that use it
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  std::chrono::steady_clock::time_point idle_since;

  beast::tcp_stream& tcp() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
};

namespace {

// Sends `req` and reads the answer. `answered`: whether any byte of an answer arrived (a kept
// connection that fails before that was closed by the server meanwhile). `reusable`: whether
// the connection may carry another request (the answer said keep-alive and was read whole).
template <class Stream>
portability::HttpResponse exchange(asio::io_context& io, Stream& stream,
                                   const http::request<http::string_body>& req,
                                   std::size_t max_body_bytes, bool& answered, bool& reusable) {
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
  io.run();
  io.restart();
  answered = parser.got_some();
  if (ec) throw boost::system::system_error(ec);
  auto& res = parser.get();
  reusable = res.keep_alive() && buffer.size() == 0;
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

BeastHttpClient::~BeastHttpClient() = default;

std::unique_ptr<BeastHttpClient::Connection> BeastHttpClient::take(const std::string& origin) {
  std::lock_guard lock(mutex_);
  auto it = idle_.find(origin);
  const auto now = std::chrono::steady_clock::now();
  while (it != idle_.end() && !it->second.empty()) {
    auto c = std::move(it->second.back());
    it->second.pop_back();
    if (now - c->idle_since < kMaxIdle) return c;
  }
  return nullptr;
}

void BeastHttpClient::give_back(const std::string& origin, std::unique_ptr<Connection> c) {
  c->idle_since = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  auto& idle = idle_[origin];
  if (idle.size() < kMaxIdlePerOrigin) idle.push_back(std::move(c));
}

std::unique_ptr<BeastHttpClient::Connection> BeastHttpClient::open(
    bool tls, const std::string& host, const std::string& port,
    std::chrono::steady_clock::time_point deadline) {
  auto c = std::make_unique<Connection>();
  const auto endpoints = resolve(host, port, deadline);
  beast::error_code ec;
  auto connected = [&ec](beast::error_code e, const tcp::endpoint&) { ec = e; };
  if (!tls) {
    c->plain.emplace(c->io);
  } else {
    c->tls.emplace(c->io, tls_);
    // SNI for a name (RFC 6066 §3: never for an address), and the certificate must name the
    // host (RFC 6125).
    beast::error_code literal;
    (void)asio::ip::make_address(host, literal);
    if (literal && !SSL_set_tlsext_host_name(c->tls->native_handle(), host.c_str()))
      throw portability::TransportError("cannot set SNI");
    c->tls->set_verify_callback(asio::ssl::host_name_verification(host));
  }
  // One deadline for the whole call: connect, handshake, send, and read the whole answer.
  c->tcp().expires_at(deadline);
  c->tcp().async_connect(endpoints, connected);
  wait_for(c->io, ec);
  if (tls) {
    c->tls->async_handshake(asio::ssl::stream_base::client,
                            [&ec](beast::error_code e) { ec = e; });
    wait_for(c->io, ec);
  }
  return c;
}

portability::HttpResponse BeastHttpClient::send(const portability::HttpRequest& request,
                                                std::chrono::milliseconds timeout,
                                                std::size_t max_body_bytes) {
  auto url = boost::urls::parse_absolute_uri(request.url);
  if (!url || (url->scheme() != "http" && url->scheme() != "https") || !url->has_authority())
    throw portability::TransportError("not an http(s) URL");
  const bool tls = url->scheme() == "https";
  // The host as the resolver and the certificate check take it: an IPv6 literal without its
  // brackets.
  const std::string host = url->host_address();
  const std::string port = url->has_port() ? std::string(url->port()) : (tls ? "443" : "80");
  const std::string origin = std::string(url->scheme()) + "://" + host + ":" + port;
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
  req.keep_alive(true);

  // A kept connection first; if the server had closed it (it fails before any answer), the
  // call is made once more on a new one. Every call the broker makes is idempotent (exports
  // read, imports carry an Idempotency-Key, deletes delete what was exported), so a request
  // that reached the server before its connection broke may be sent again. Both attempts
  // share the call's one deadline.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (std::unique_ptr<Connection> c = take(origin);;) {
    const bool reused = c != nullptr;
    bool answered = false;
    bool reusable = false;
    try {
      if (!c) c = open(tls, host, port, deadline);
      else c->tcp().expires_at(deadline);
      auto out = c->tls ? exchange(c->io, *c->tls, req, max_body_bytes, answered, reusable)
                        : exchange(c->io, *c->plain, req, max_body_bytes, answered, reusable);
      if (reusable) give_back(origin, std::move(c));
      return out;
    } catch (const boost::system::system_error& error) {
      c.reset();
      // Closed while it was kept: the server's end of it went away (EOF, reset) before any
      // answer. Not a deadline that passed: a server that is slow to answer is slow on a new
      // connection too, and the call may not outlast its deadline.
      if (reused && !answered && error.code() != beast::error::timeout) continue;
      // Refused, reset, timed out, cut mid-body (partial_message), over the body limit, a
      // certificate that does not verify.
      throw portability::TransportError(request.method + " " + host + ":" + port + ": " +
                                        error.code().message());
    }
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
