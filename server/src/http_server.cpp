#include "http_server.hpp"

#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <malloc.h>
#include <pthread.h>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <unistd.h>
#include <vector>

#include "client_trust.hpp"
#include "log.hpp"
#include "metrics.hpp"

namespace server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// No exceptions on the data path: every socket operation completes with an error_code.
constexpr auto kNoThrow = net::as_tuple(net::use_awaitable);

constexpr std::size_t kFirstReadChunk = 4096;
// Bounded waits once we have decided to close: draining unread input and the TLS close_notify
// exchange must not hold a connection (or shutdown) for long.
constexpr auto kCloseTimeout = std::chrono::seconds(2);
constexpr std::size_t kMaxDrainBytes = 1 << 20;

using TlsStream = beast::ssl_stream<tcp::socket>;

// How often an I/O thread looks for connections past their deadline: timeouts are enforced
// within this much of their configured length.
constexpr auto kSweepInterval = std::chrono::milliseconds(100);

// What the I/O thread's sweeper and stop() need to reach a connection. Touched only on the
// connection's own thread.
struct Connection {
  tcp::socket* socket = nullptr;
  bool idle = false;  // waiting for the first byte of a request
  Clock::time_point deadline = Clock::time_point::max();
  std::size_t slot = 0;  // index in its sweeper's list

  void expires_after(Clock::duration d) { deadline = Clock::now() + d; }
  void expires_never() { deadline = Clock::time_point::max(); }
};

// The deadlines of one I/O thread's connections, enforced by one coarse timer that is armed
// only while the thread has connections. A timer per connection and operation (beast's
// tcp_stream) costs a timer-queue update, often a timerfd_settime, and a cancelled wait to
// complete on every read and write: a fifth of a bare server's requests per second. Here a
// deadline is a time stored in the connection; a connection past it has its socket closed,
// which ends the operation it is waiting on.
class Sweeper {
 public:
  explicit Sweeper(net::io_context& ioc) : timer_(ioc) {}

  void add(Connection& c) {
    c.slot = list_.size();
    list_.push_back(&c);
    if (!armed_) arm();
  }

  void remove(Connection& c) {
    list_[c.slot] = list_.back();
    list_[c.slot]->slot = c.slot;
    list_.pop_back();
  }

 private:
  void arm() {
    armed_ = true;
    timer_.expires_after(kSweepInterval);
    timer_.async_wait([this](beast::error_code ec) {
      armed_ = false;
      if (ec) return;
      const auto now = Clock::now();
      for (Connection* c : list_) {
        if (c->deadline > now) continue;
        c->deadline = Clock::time_point::max();
        beast::error_code cec;
        c->socket->close(cec);
      }
      // With no connection left the timer stays off, so the thread's io_context can run out
      // of work at shutdown.
      if (!list_.empty()) arm();
    });
  }

  net::steady_timer timer_;
  std::vector<Connection*> list_;
  bool armed_ = false;
};

// A correlation id, unique within the process and across restarts: a random 64-bit prefix
// drawn once per thread from the CSPRNG, then a counter. Not a secret (it is sent back to the
// client), so drawing 16 random bytes per request (a lock and a getpid() in OpenSSL each time)
// would buy nothing.
std::string new_request_id() {
  struct State {
    std::uint64_t prefix = 0;
    std::uint64_t counter = 0;
  };
  thread_local State state = [] {
    State s;
    std::array<unsigned char, 8> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) == 1) {
      for (auto b : bytes) s.prefix = (s.prefix << 8) | b;
    } else {
      // No CSPRNG: distinct per thread and start is still enough for a correlation id.
      s.prefix = static_cast<std::uint64_t>(Clock::now().time_since_epoch().count()) ^
                 (static_cast<std::uint64_t>(::getpid()) << 32) ^
                 std::hash<std::thread::id>{}(std::this_thread::get_id());
    }
    return s;
  }();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  std::uint64_t hi = state.prefix;
  std::uint64_t lo = ++state.counter;
  for (std::size_t i = 16; i-- > 0; hi >>= 4) id[i] = kHex[hi & 0xf];
  for (std::size_t i = 32; i-- > 16; lo >>= 4) id[i] = kHex[lo & 0xf];
  return id;
}

// Errors the transport answers itself, before any handler runs. RFC 6749 §5.2's JSON shape
// so OAuth clients can parse them like any other error from this server.
Response transport_error(http::status status, std::string_view error, std::string_view description) {
  Response res{status, 11};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.body() = "{\"error\":\"";
  res.body() += error;
  res.body() += "\",\"error_description\":\"";
  res.body() += description;
  res.body() += "\"}";
  return res;
}

bool is_parse_error(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category();
}

// Ends a plain connection. With `linger`, input the peer may still be sending (the rest of an
// oversized body) is read and discarded for a moment first: closing a socket with unread data
// makes the kernel send RST, which can destroy our error response before the peer reads it
// (RFC 9112 §9.6, "tear-down").
net::awaitable<void> close_connection(tcp::socket& stream, Connection& conn, bool linger) {
  beast::error_code ec;
  stream.shutdown(tcp::socket::shutdown_send, ec);
  if (linger && !ec) {
    conn.expires_after(kCloseTimeout);
    std::array<char, 4096> scratch{};
    std::size_t drained = 0;
    while (drained < kMaxDrainBytes) {
      auto [rec, n] = co_await stream.async_read_some(net::buffer(scratch), kNoThrow);
      if (rec) break;
      drained += n;
    }
  }
  stream.close(ec);
}

net::awaitable<void> close_connection(TlsStream& stream, Connection& conn, bool /*linger*/) {
  // The TLS close_notify exchange reads until the peer's close_notify, which also drains.
  auto& lowest = beast::get_lowest_layer(stream);
  if (lowest.is_open()) {
    conn.expires_after(kCloseTimeout);
    // Errors here (timeout, eof, stream_truncated from a peer that closes without its own
    // close_notify) change nothing: the response was complete and HTTP frames itself.
    auto [ec] = co_await stream.async_shutdown(kNoThrow);
    (void)ec;
  }
  beast::error_code ec;
  lowest.close(ec);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

struct HttpServer::Impl {
  // What stop() needs to reach a connection: its executor, and its socket while it is waiting
  // for the first byte of a request (the only moment closing it loses nothing).
  struct Entry {
    net::any_io_executor executor;
    Connection* conn = nullptr;  // null until the coroutine has started
  };

  Impl(const Config& c, Handler h, Metrics& m, Logger& l)
      : config(c),
        handler(std::move(h)),
        metrics(m),
        logger(l),
        contexts(make_contexts(std::max(1, c.io_threads))),
        control(net::make_strand(*contexts.front())),
        acceptor(control),
        mtls_acceptor(control),
        deadline(control),
        trust_timer(control),
        workers(static_cast<std::size_t>(std::max(1, c.worker_threads))) {}

  ~Impl() {
    if (started && !threads.empty()) {
      begin_stop();
      join();
    }
    // Past this point the io_context may destroy suspended coroutine frames (after a hard
    // stop); their guards must not post work to it.
    tearing_down = true;
  }

  // ---- lifecycle ----

  // A server context with the configured certificate and key.
  ssl::context server_context() const {
    ssl::context ctx(ssl::context::tls_server);
    // TLS 1.2 minimum (RFC 9700 §2.6 / BCP 195): older versions are not offered at all.
    if (SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION) != 1) {
      throw std::runtime_error("tls: cannot set minimum protocol version");
    }
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_compression |
                    ssl::context::single_dh_use);
    try {
      ctx.use_certificate_chain_file(config.tls_cert);
    } catch (const boost::system::system_error& e) {
      throw std::runtime_error("tls: cannot load certificate chain " + config.tls_cert + ": " +
                               e.code().message());
    }
    try {
      ctx.use_private_key_file(config.tls_key, ssl::context::pem);
    } catch (const boost::system::system_error& e) {
      throw std::runtime_error("tls: cannot load private key " + config.tls_key + ": " +
                               e.code().message());
    }
    if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
      throw std::runtime_error("tls: private key does not match the certificate");
    }
    return ctx;
  }

  void load_tls() {
    ssl_ctx.emplace(server_context());
    if (!config.mtls_enabled()) return;
    mtls_ctx.emplace(server_context());
    SSL_CTX* native = mtls_ctx->native_handle();
    // Every certificate is taken: a self-signed one is how self_signed_tls_client_auth clients
    // authenticate (RFC 8705 §2.2), and whether a chain verified is kept for tls_client_auth
    // (SSL_get_verify_result). A client without one is served too (a public client, or one
    // that authenticates otherwise). No list of authorities is sent, so clients offer any.
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
    // Resumed sessions keep the peer's certificate; OpenSSL refuses to resume a session that
    // asked for one without a context id.
    static constexpr unsigned char kSessionContext[] = "infobank-mtls";
    SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1);
    // The chain is checked after the handshake, against the authorities and revocation lists
    // as they are then (ClientTrust, read again when their files change).
    if (!config.mtls_client_ca.empty())
      client_trust = std::make_unique<ClientTrust>(config.mtls_client_ca, config.mtls_client_crl);
  }

  // On the control strand: every mtls_trust_reload_interval seconds, the authorities' and
  // revocation lists' files are looked at (on a worker: reading a file blocks) and read again
  // if they changed, so that a new CRL takes effect without a restart (and, through
  // recheck_client_certificate, on connections already open).
  void watch_client_trust() {
    if (!client_trust) return;
    trust_timer.expires_after(std::chrono::seconds(config.mtls_trust_reload_interval));
    trust_timer.async_wait([this](beast::error_code ec) {
      if (ec || stopping) return;
      net::post(workers, [this] {
        const auto outcome = client_trust->reload_if_changed();
        net::post(control, [this, outcome] {
          if (outcome && outcome->empty()) {
            logger.info("client certificate authorities and revocation lists read again");
            trust_error.clear();
          } else if (outcome && *outcome != trust_error) {
            // Said once per new problem, not at every look.
            logger.warn("client certificate authorities or revocation lists not read again; "
                        "the previous ones stay in use",
                        {{"error", *outcome}});
            trust_error = *outcome;
          }
          // A look that was under way when the server began to stop arms no new one: a
          // pending timer would hold the I/O threads up to an interval after the last request.
          if (!stopping) watch_client_trust();
        });
      });
    });
  }

  void listen() {
    bound_port = listen_on(acceptor, config.port);
    if (config.mtls_enabled())
      mtls_bound_port = listen_on(mtls_acceptor, static_cast<std::uint16_t>(config.mtls_port));
  }

  // Opens `acceptor` on the configured address and `port`; returns the port bound.
  std::uint16_t listen_on(tcp::acceptor& acceptor, std::uint16_t port) const {
    beast::error_code ec;
    const auto address = net::ip::make_address(config.address, ec);
    if (ec) throw std::runtime_error("server.address: not an IP address: " + config.address);
    const tcp::endpoint endpoint{address, port};
    const auto fail = [&](const char* what) {
      throw std::runtime_error(std::string("cannot listen on ") + config.address + ":" +
                               std::to_string(port) + ": " + what + ": " + ec.message());
    };
    acceptor.open(endpoint.protocol(), ec);
    if (ec) fail("open");
    acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (ec) fail("SO_REUSEADDR");
    acceptor.bind(endpoint, ec);
    if (ec) fail("bind");
    acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) fail("listen");
    const auto bound = acceptor.local_endpoint(ec).port();
    if (ec) fail("local_endpoint");
    return bound;
  }

  void write_port_files() const {
    // The mutual-TLS one first: a process that waits for the main one finds both.
    if (config.mtls_enabled()) write_port_file(config.mtls_port_file, mtls_bound_port);
    write_port_file(config.port_file, bound_port);
  }

  static void write_port_file(const std::string& path, std::uint16_t port) {
    if (path.empty()) return;
    // Write then rename: a process polling for the file never reads a half-written port.
    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << port << '\n';
      out.close();
      if (!out) throw std::runtime_error("cannot write port file " + tmp);
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
      std::filesystem::remove(tmp, ec);
      throw std::runtime_error("cannot rename port file to " + path);
    }
  }

  static std::vector<std::unique_ptr<net::io_context>> make_contexts(int n) {
    std::vector<std::unique_ptr<net::io_context>> out;
    for (int i = 0; i < n; ++i) out.push_back(std::make_unique<net::io_context>(1));
    return out;
  }

  static std::vector<std::unique_ptr<Sweeper>> make_sweepers(
      const std::vector<std::unique_ptr<net::io_context>>& contexts) {
    std::vector<std::unique_ptr<Sweeper>> out;
    for (const auto& c : contexts) out.push_back(std::make_unique<Sweeper>(*c));
    return out;
  }

  void stop_contexts() {
    for (auto& c : contexts) c->stop();
  }

  void run_io_thread(net::io_context& ioc) {
    for (;;) {
      try {
        ioc.run();
        return;
      } catch (const std::exception& e) {
        // Our completion handlers do not throw; this would be a bug in a library callback.
        logger.error("exception escaped the io_context", {{"what", e.what()}});
      }
    }
  }

  void begin_stop() {
    if (stopping.exchange(true)) return;
    if (!started) return;
    net::post(control, [this] { on_stop(); });
  }

  // On the control strand.
  void on_stop() {
    logger.info("shutting down", {{"open_connections", connection_count()}});
    beast::error_code ec;
    acceptor.close(ec);  // the accept loops complete with operation_aborted and end
    mtls_acceptor.close(ec);
    trust_timer.cancel();
    deadline.expires_after(shutdown_timeout);
    deadline.async_wait([this](beast::error_code wec) {
      if (wec || finished) return;
      logger.warn("shutdown deadline passed; abandoning open connections",
                  {{"open_connections", connection_count()}});
      stop_contexts();
    });
    std::lock_guard lock(mutex);
    for (const auto& [id, entry] : connections) {
      net::post(entry.executor, [this, id = id] { close_if_idle(id); });
    }
  }

  // On connection `id`'s thread, so the connection cannot end or change state meanwhile.
  void close_if_idle(std::uint64_t id) {
    std::lock_guard lock(mutex);
    auto it = connections.find(id);
    if (it == connections.end() || it->second.conn == nullptr) return;
    Connection& c = *it->second.conn;
    // Cancelling only the wait for a new request: a request being read or handled finishes.
    if (c.idle && c.socket != nullptr) {
      beast::error_code ec;
      c.socket->cancel(ec);
    }
  }

  // On the control strand.
  void maybe_finish() {
    if (!stopping || finished || accepting > 0) return;
    {
      std::lock_guard lock(mutex);
      if (!connections.empty()) return;
    }
    finished = true;
    deadline.cancel();
    trust_timer.cancel();
    if (signals) {
      beast::error_code ec;
      signals->cancel(ec);
    }
    // With no pending work left, io_context::run() returns in every I/O thread.
    idle_guards.clear();
  }

  void join() {
    for (auto& t : threads) {
      if (t.joinable()) t.join();
    }
    threads.clear();
    if (!workers_joined) {
      workers.join();
      workers_joined = true;
    }
  }

  void arm_signals() {
    signals->async_wait([this](beast::error_code ec, int signo) {
      if (ec) return;
      if (!stopping) {
        logger.info("signal received; draining", {{"signal", signo}});
        begin_stop();
        arm_signals();
      } else {
        logger.warn("second signal; stopping now", {{"signal", signo}});
        stop_contexts();
      }
    });
  }

  // ---- connection registry ----

  // On the control strand, before the connection's coroutine is spawned, so that the
  // shutdown never sees zero connections while one is about to start.
  std::uint64_t register_connection(const net::any_io_executor& executor) {
    std::lock_guard lock(mutex);
    const auto id = ++next_id;
    connections.emplace(id, Entry{executor, nullptr});
    return id;
  }

  void attach(std::uint64_t id, Connection* conn) {
    std::lock_guard lock(mutex);
    auto it = connections.find(id);
    if (it != connections.end()) it->second.conn = conn;
  }

  void unregister(std::uint64_t id) {
    bool last = false;
    {
      std::lock_guard lock(mutex);
      connections.erase(id);
      last = connections.empty();
    }
    if (last && stopping && !tearing_down) net::post(control, [this] { maybe_finish(); });
  }

  std::size_t connection_count() {
    std::lock_guard lock(mutex);
    return connections.size();
  }

  // ---- coroutines ----

  net::awaitable<void> accept_loop(tcp::acceptor& from, bool mtls);
  net::awaitable<void> run_connection(tcp::socket socket, std::uint64_t id, Sweeper& sweeper,
                                      bool mtls);
  // What the transport knows of the peer, for each of the connection's requests.
  struct Peer {
    std::string remote;
    bool mtls = false;
    std::shared_ptr<const authz::ClientCertificate> client_cert;
    // When and under which ClientTrust::generation() client_cert's chain was verified.
    std::uint64_t trust_generation = 0;
    Clock::time_point verified_at{};
  };
  template <class Stream>
  net::awaitable<void> serve(Stream& stream, Connection& conn, Peer& peer);

  // RFC 8705: the certificate the client authenticated the handshake with, if any, and
  // whether its chain verifies to the authorities (and revocation lists) now in use.
  void read_client_certificate(SSL* ssl, Peer& peer) const {
    peer.client_cert.reset();
    X509* cert = SSL_get0_peer_certificate(ssl);
    if (cert == nullptr) return;
    unsigned char* der = nullptr;
    const int n = i2d_X509(cert, &der);
    if (n <= 0) return;
    // Read before the check: a set put in use meanwhile only makes the next request check
    // again.
    peer.trust_generation = client_trust ? client_trust->generation() : 0;
    peer.verified_at = Clock::now();
    const bool trusted =
        client_trust && client_trust->trusted(cert, SSL_get_peer_cert_chain(ssl));
    auto parsed = authz::parse_client_certificate(
        std::string_view(reinterpret_cast<const char*>(der), static_cast<std::size_t>(n)),
        trusted);
    OPENSSL_free(der);
    if (parsed)
      peer.client_cert = std::make_shared<const authz::ClientCertificate>(std::move(*parsed));
  }

  // A keep-alive connection's verdict is given again before a request when the authorities or
  // revocation lists changed since, or when it is older than the interval at which their
  // files are looked at (a revocation list can pass its nextUpdate while a connection lasts).
  void recheck_client_certificate(SSL* ssl, Peer& peer) const {
    if (!client_trust || !peer.client_cert) return;
    if (peer.trust_generation == client_trust->generation() &&
        Clock::now() - peer.verified_at < std::chrono::seconds(config.mtls_trust_reload_interval))
      return;
    read_client_certificate(ssl, peer);
  }

  void on_coroutine_exit(std::exception_ptr e, const char* what) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      logger.error("coroutine failed", {{"coroutine", what}, {"what", ex.what()}});
    } catch (...) {
      logger.error("coroutine failed", {{"coroutine", what}});
    }
  }

  // ---- state ----

  const Config config;
  const Handler handler;
  Metrics& metrics;
  Logger& logger;
  std::optional<ssl::context> ssl_ctx;  // outlives the io_context and every stream using it
  std::optional<ssl::context> mtls_ctx;  // the mutual-TLS listener's, likewise
  std::unique_ptr<ClientTrust> client_trust;  // with mtls_client_ca
  std::string trust_error;                    // control strand only: the last reload problem
  std::chrono::milliseconds shutdown_timeout{std::chrono::seconds(10)};
  std::uint16_t bound_port = 0;
  std::uint16_t mtls_bound_port = 0;

  std::mutex mutex;  // guards connections and next_id
  std::map<std::uint64_t, Entry> connections;
  std::uint64_t next_id = 0;

  std::atomic<bool> started{false};
  std::atomic<bool> stopping{false};
  std::atomic<bool> tearing_down{false};
  int accepting = 0;       // control strand only: accept loops still running
  bool finished = false;   // control strand only
  bool workers_joined = false;

  // I/O objects after the io_context, so they are destroyed before it; the pool after them,
  // so it is joined before the io_context its completions post to goes away.
  // One io_context per I/O thread, each run by that thread alone: a connection stays on one
  // thread, its coroutine and the stop() notifications posted to it never run concurrently
  // (no strand needed), and the threads share no scheduler queue or lock.
  std::vector<std::unique_ptr<net::io_context>> contexts;
  // One per io_context, used on its thread only; destroyed before the contexts (its timer
  // belongs to one), so connections still in a context then must not reach it (tearing_down).
  std::vector<std::unique_ptr<Sweeper>> sweepers = make_sweepers(contexts);
  net::any_io_executor control;  // strand for the acceptor, the deadline and the signals
  // Keep each io_context's run() going while it has no connection; released once drained.
  std::vector<net::executor_work_guard<net::io_context::executor_type>> idle_guards;
  std::size_t next_context = 0;  // accept loop only: round robin
  tcp::acceptor acceptor;
  tcp::acceptor mtls_acceptor;  // open only with config.mtls_enabled()
  net::steady_timer deadline;
  net::steady_timer trust_timer;  // watch_client_trust()
  std::optional<net::signal_set> signals;
  net::thread_pool workers;
  std::vector<std::thread> threads;
};

net::awaitable<void> HttpServer::Impl::accept_loop(tcp::acceptor& from, bool mtls) {
  for (;;) {
    // Connections are dealt to the I/O threads in turn and stay on theirs.
    const std::size_t home_index = next_context++ % contexts.size();
    net::io_context& home = *contexts[home_index];
    net::any_io_executor executor = home.get_executor();
    auto [ec, socket] = co_await from.async_accept(executor, kNoThrow);
    if (stopping) break;
    if (ec) {
      if (ec == net::error::operation_aborted) break;
      // EMFILE and friends: back off briefly instead of spinning on the error.
      logger.warn("accept failed", {{"error", ec.message()}});
      net::steady_timer backoff(control, std::chrono::milliseconds(100));
      auto [wec] = co_await backoff.async_wait(kNoThrow);
      (void)wec;
      continue;
    }
    const auto id = register_connection(executor);
    net::co_spawn(executor, run_connection(std::move(socket), id, *sweepers[home_index], mtls),
                  [this](std::exception_ptr e) { on_coroutine_exit(e, "connection"); });
  }
  --accepting;
  maybe_finish();
}

net::awaitable<void> HttpServer::Impl::run_connection(tcp::socket socket, std::uint64_t id,
                                                      Sweeper& sweeper, bool mtls) {
  Connection conn;  // declared first: outlives the guard
  conn.socket = &socket;
  // The frame owns everything about the connection; the guard keeps the registry, the
  // sweeper and the gauge honest however the coroutine ends.
  struct Guard {
    Impl& impl;
    std::uint64_t id;
    Sweeper& sweeper;
    Connection& conn;
    ~Guard() {
      if (!impl.tearing_down) sweeper.remove(conn);
      impl.metrics.connections_open().sub();
      impl.unregister(id);
    }
  };
  sweeper.add(conn);
  metrics.connections_open().add();
  metrics.connections_accepted().inc();
  Guard guard{*this, id, sweeper, conn};

  beast::error_code ec;
  const auto endpoint = socket.remote_endpoint(ec);
  Peer peer;
  peer.remote = ec ? std::string() : endpoint.address().to_string();
  peer.mtls = mtls;
  const std::string& remote = peer.remote;
  socket.set_option(tcp::no_delay(true), ec);

  if (ssl_ctx) {
    TlsStream stream{std::move(socket), mtls ? *mtls_ctx : *ssl_ctx};
    conn.socket = &beast::get_lowest_layer(stream);
    attach(id, &conn);
    conn.expires_after(std::chrono::seconds(config.read_timeout));
    auto [hec] = co_await stream.async_handshake(ssl::stream_base::server, kNoThrow);
    if (hec) {
      logger.debug("tls handshake failed", {{"remote", remote}, {"error", hec.message()}});
      conn.socket->close(ec);
    } else {
      if (mtls) read_client_certificate(stream.native_handle(), peer);
      co_await serve(stream, conn, peer);
    }
    conn.socket = &socket;  // the stream ends here; the guard's removal comes after
  } else {
    attach(id, &conn);
    co_await serve(socket, conn, peer);
  }
}

template <class Stream>
net::awaitable<void> HttpServer::Impl::serve(Stream& stream, Connection& conn, Peer& peer) {
  const std::string& remote = peer.remote;
  beast::flat_buffer buffer;
  std::optional<http::request_parser<http::string_body>> parser;
  bool linger = false;

  for (;;) {
    // Between requests: wait up to idle_timeout for the first byte of the next one. This is
    // the only state in which stop() closes the connection, since no request is lost.
    if (buffer.size() == 0) {
      if (stopping) break;
      conn.expires_after(std::chrono::seconds(config.idle_timeout));
      conn.idle = true;
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(kFirstReadChunk), kNoThrow);
      conn.idle = false;
      if (ec) break;  // peer closed, idle timeout, or stop()
      buffer.commit(n);
    }

    // A request has begun: all of it must arrive within read_timeout, whatever the pace of
    // the bytes, so a slow sender (slowloris) cannot hold the connection.
    const auto started_at = Clock::now();
    const std::string request_id = new_request_id();
    conn.expires_after(std::chrono::seconds(config.read_timeout));
    parser.emplace();
    parser->header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(config.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
    parser->body_limit(static_cast<std::uint64_t>(config.max_body_bytes));

    beast::error_code ec;
    std::size_t n = 0;
    std::optional<Response> refusal;
    std::tie(ec, n) = co_await http::async_read_header(stream, buffer, *parser, kNoThrow);
    if (!ec) {
      const auto& head = parser->get();
      const auto expect = head[http::field::expect];
      if (!expect.empty()) {
        if (!beast::iequals(expect, "100-continue")) {
          // RFC 9110 §10.1.1: an expectation we do not understand gets 417.
          refusal = transport_error(http::status::expectation_failed, "invalid_request",
                                    "unsupported expectation");
        } else if (head.version() >= 11 && !parser->is_done()) {
          // RFC 9110 §10.1.1: the client waits for this before sending the body. The body
          // size was already checked against body_limit when the header was parsed.
          http::response<http::empty_body> go_on{http::status::continue_, 11};
          std::tie(ec, n) = co_await http::async_write(stream, go_on, kNoThrow);
          if (ec) break;
        }
      }
    }
    if (!ec && !refusal) {
      std::tie(ec, n) = co_await http::async_read(stream, buffer, *parser, kNoThrow);
    }
    if (ec) {
      if (ec == http::error::body_limit) {
        refusal = transport_error(http::status::payload_too_large, "invalid_request",
                                  "request body too large");
      } else if (ec == http::error::header_limit) {
        refusal = transport_error(http::status::request_header_fields_too_large,
                                  "invalid_request", "request header too large");
      } else if (is_parse_error(ec) && ec != http::error::partial_message &&
                 ec != http::error::end_of_stream) {
        refusal = transport_error(http::status::bad_request, "invalid_request",
                                  "malformed HTTP request");
      } else {
        // Timeout (the timer already closed the socket), a peer that went away mid-request,
        // or a socket error: nobody to answer.
        logger.debug("connection dropped mid-request",
                     {{"remote", remote}, {"error", ec.message()}});
        break;
      }
    }

    std::string method;
    Response res;
    bool keep_alive = false;
    bool head_only = false;
    std::optional<std::size_t> cut_body;  // kCutBodyHeader: bytes of the body to send
    std::string_view route = Metrics::kOtherRoute;
    if (refusal) {
      // The rest of the request is unread, so the connection cannot be reused.
      res = std::move(*refusal);
      // The start line is stored as soon as it parses, before the header is complete (a
      // Content-Length over the body limit is reported right there); empty if it never did.
      method = std::string(parser->get().method_string());
      if (method.empty()) method = "-";
      linger = true;
    } else {
      Request req = parser->release();
      method = std::string(req.method_string());
      head_only = req.method() == http::verb::head;
      const unsigned version = req.version();
      keep_alive = req.keep_alive();
      if constexpr (std::is_same_v<Stream, TlsStream>) {
        if (peer.mtls) recheck_client_certificate(stream.native_handle(), peer);
      }
      const RequestContext ctx{request_id, remote, ssl_ctx.has_value(), peer.mtls,
                               peer.client_cert};

      // The handler may take as long as it needs (it is not the client's time being spent);
      // the write below re-arms the timer.
      conn.expires_never();
      bool failed = false;
      try {
        res = co_await handler(std::move(req), ctx);
      } catch (const std::exception& e) {
        failed = true;
        logger.log(LogLevel::error, "handler threw", {{"what", e.what()}}, request_id);
      } catch (...) {
        failed = true;
        logger.log(LogLevel::error, "handler threw", {}, request_id);
      }
      if (failed) {
        res = transport_error(http::status::internal_server_error, "server_error",
                              "internal error");
      }
      route = metrics.route_label(res[kRouteHeader]);
      res.erase(kRouteHeader);
      if (auto it = res.find(kCutBodyHeader); it != res.end()) {
        std::size_t cut = 0;
        const auto v = it->value();
        const auto [end, cec] = std::from_chars(v.data(), v.data() + v.size(), cut);
        if (cec == std::errc() && end == v.data() + v.size()) cut_body = cut;
        res.erase(kCutBodyHeader);
      }
      res.version(version);
      keep_alive = keep_alive && res.keep_alive() && !stopping && !cut_body;
    }

    res.set("X-Request-Id", request_id);
    const auto status = res.result();
    if (status == http::status::no_content || status == http::status::not_modified ||
        res.result_int() < 200) {
      res.body().clear();
    }
    res.prepare_payload();
    res.keep_alive(keep_alive);
    const std::uint64_t body_bytes = head_only ? 0 : res.body().size();

    conn.expires_after(std::chrono::seconds(config.read_timeout));
    if (head_only) {
      http::response_serializer<http::string_body> sr{res};
      std::tie(ec, n) = co_await http::async_write_header(stream, sr, kNoThrow);
    } else if (cut_body) {
      // Fault injection: the header promises the whole body, the connection ends early.
      http::response_serializer<http::string_body> sr{res};
      std::tie(ec, n) = co_await http::async_write_header(stream, sr, kNoThrow);
      if (!ec) {
        const auto part = std::min(*cut_body, res.body().size());
        std::tie(ec, n) =
            co_await net::async_write(stream, net::buffer(res.body().data(), part), kNoThrow);
      }
    } else {
      std::tie(ec, n) = co_await http::async_write(stream, res, kNoThrow);
    }

    const auto elapsed = Clock::now() - started_at;
    metrics.record_request(route, method, res.result_int(), elapsed);
    logger.access({.method = method,
                   .route = route,
                   .status = res.result_int(),
                   .duration_ms = std::chrono::duration<double, std::milli>(elapsed).count(),
                   .remote = remote,
                   .request_id = request_id,
                   .response_bytes = body_bytes});

    if (ec || !keep_alive) break;
  }

  co_await close_connection(stream, conn, linger);
}

// ---------------------------------------------------------------------------------------------

HttpServer::HttpServer(const Config& config, Handler handler, Metrics& metrics, Logger& logger)
    : impl_(std::make_unique<Impl>(config, std::move(handler), metrics, logger)) {}

HttpServer::~HttpServer() = default;

std::uint16_t HttpServer::start() {
  Impl& s = *impl_;
  if (s.started) throw std::logic_error("HttpServer::start called twice");
  if (s.stopping) throw std::logic_error("HttpServer::start after stop");
  if (s.config.mtls_enabled() && !s.config.tls_enabled())
    throw std::logic_error("mutual TLS needs a TLS certificate and key");
  if (s.config.tls_enabled()) s.load_tls();
  s.listen();
  s.write_port_files();
  // Before any thread runs: no race with the control strand.
  s.accepting = s.config.mtls_enabled() ? 2 : 1;
  net::co_spawn(s.control, s.accept_loop(s.acceptor, false),
                [&s](std::exception_ptr e) { s.on_coroutine_exit(e, "accept"); });
  if (s.config.mtls_enabled()) {
    net::co_spawn(s.control, s.accept_loop(s.mtls_acceptor, true),
                  [&s](std::exception_ptr e) { s.on_coroutine_exit(e, "accept"); });
  }
  s.started = true;
  net::post(s.control, [&s] { s.watch_client_trust(); });
  s.threads.reserve(s.contexts.size());
  for (auto& c : s.contexts) {
    s.idle_guards.push_back(net::make_work_guard(*c));
    s.threads.emplace_back([&s, &ioc = *c, n = s.threads.size()] {
      // Named for top -H, perf and gdb: "io-0", "io-1", ...
      pthread_setname_np(pthread_self(), ("io-" + std::to_string(n)).c_str());
      s.run_io_thread(ioc);
    });
  }
  s.logger.info("listening", {{"address", s.config.address},
                              {"port", s.bound_port},
                              {"tls", s.ssl_ctx.has_value()}});
  if (s.config.mtls_enabled()) {
    s.logger.info("listening for mutual TLS",
                  {{"address", s.config.address}, {"port", s.mtls_bound_port}});
  }
  return s.bound_port;
}

void HttpServer::handle_signals() {
  Impl& s = *impl_;
  if (s.signals) return;
  // Registered now, so a signal from this moment on is queued for us rather than killing the
  // process; the wait itself is armed on the control strand.
  s.signals.emplace(s.control, SIGINT, SIGTERM);
  net::post(s.control, [&s] { s.arm_signals(); });
}

void HttpServer::stop() { impl_->begin_stop(); }

void HttpServer::wait() {
  if (!impl_->started) return;
  impl_->join();
  impl_->logger.info("stopped");
}

boost::asio::thread_pool& HttpServer::workers() { return impl_->workers; }

std::uint16_t HttpServer::port() const { return impl_->bound_port; }

std::uint16_t HttpServer::mtls_port() const { return impl_->mtls_bound_port; }

void HttpServer::set_shutdown_timeout(std::chrono::milliseconds timeout) {
  impl_->shutdown_timeout = timeout;
}

void tune_allocator() {
  // Setting either threshold also turns off glibc's dynamic adjustment of both.
  mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
}

}  // namespace server
