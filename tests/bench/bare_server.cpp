// The issue's yardsticks, measured on the machine at hand: a bare-bones Beast server with
// C++20 coroutines that answers GET /hello with "hello" and POST /sign with a freshly signed
// ES256 JWT (a header, a few claims with a random jti, one ECDSA P-256 signature), and nothing
// else: no storage, no checks, no logs. tests/bench/token_bench.sh runs it next to infobank so
// that the token and introspection figures can be read against it.
//
//   bare_server PORT_FILE [THREADS]
//
// It listens on an ephemeral loopback port, writes the port to PORT_FILE, and runs one
// io_context per thread with a shared acceptor, as infobank does. SIGTERM or SIGINT stops it.
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr auto kNoThrow = net::as_tuple(net::use_awaitable);

std::string b64url(const unsigned char* data, std::size_t n) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((n * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const unsigned v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    for (int s = 18; s >= 0; s -= 6) out.push_back(kAlphabet[(v >> s) & 63]);
  }
  if (n - i == 1) {
    const unsigned v = data[i] << 16;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
  } else if (n - i == 2) {
    const unsigned v = (data[i] << 16) | (data[i + 1] << 8);
    for (int s = 18; s >= 6; s -= 6) out.push_back(kAlphabet[(v >> s) & 63]);
  }
  return out;
}

std::string b64url(std::string_view s) {
  return b64url(reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

// One P-256 key for the process; each thread signs with its own context.
EVP_PKEY* make_key() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (key == nullptr) throw std::runtime_error("EVP_EC_gen failed");
  return key;
}

// ES256 over header.payload, signed the fastest way OpenSSL offers (a SHA-256 digest and a
// signing context per thread, initialised once), as infobank signs; OpenSSL's DER signature
// becomes the JWS's r || s.
std::string sign_jwt(EVP_PKEY* key) {
  thread_local std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx = [key] {
    std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> c(
        EVP_PKEY_CTX_new(key, nullptr), EVP_PKEY_CTX_free);
    if (!c || EVP_PKEY_sign_init(c.get()) != 1) throw std::runtime_error("sign_init failed");
    return c;
  }();
  std::array<unsigned char, 12> jti{};
  RAND_bytes(jti.data(), jti.size());
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const std::string payload = R"({"iss":"http://127.0.0.1","sub":"bench","aud":"bench",)"
                              R"("client_id":"bench","scope":"portability.export","jti":")" +
                              b64url(jti.data(), jti.size()) +
                              "\",\"iat\":" + std::to_string(now) +
                              ",\"exp\":" + std::to_string(now + 300) + "}";
  std::string input = b64url(R"({"alg":"ES256","typ":"at+jwt","kid":"bench"})") + "." +
                      b64url(payload);
  std::array<unsigned char, 32> digest{};
  unsigned int digest_len = 0;
  std::array<unsigned char, 80> der{};
  std::size_t der_len = der.size();
  if (EVP_Digest(input.data(), input.size(), digest.data(), &digest_len, EVP_sha256(), nullptr) !=
          1 ||
      EVP_PKEY_sign(ctx.get(), der.data(), &der_len, digest.data(), digest.size()) != 1)
    throw std::runtime_error("signing failed");
  const unsigned char* p = der.data();
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len));
  std::array<unsigned char, 64> rs{};
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), rs.data(), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), rs.data() + 32, 32);
  ECDSA_SIG_free(sig);
  return input + "." + b64url(rs.data(), rs.size());
}

net::awaitable<void> serve(tcp::socket socket, EVP_PKEY* key) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> req;
    auto [ec, n] = co_await http::async_read(socket, buffer, req, kNoThrow);
    if (ec) co_return;
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.keep_alive(req.keep_alive());
    if (req.target() == "/sign") {
      res.set(http::field::content_type, "application/json");
      res.set(http::field::cache_control, "no-store");
      res.body() = "{\"access_token\":\"" + sign_jwt(key) +
                   "\",\"token_type\":\"Bearer\",\"expires_in\":300}";
    } else {
      res.set(http::field::content_type, "text/plain");
      res.body() = "hello";
    }
    res.prepare_payload();
    auto [wec, w] = co_await http::async_write(socket, res, kNoThrow);
    if (wec || !res.keep_alive()) co_return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: bare_server PORT_FILE [THREADS]\n";
    return 2;
  }
  const int threads = argc > 2 ? std::max(1, std::atoi(argv[2]))
                               : static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  EVP_PKEY* key = make_key();
  // The acceptor lives on the first context; each accepted socket goes to the next context.
  std::vector<std::unique_ptr<net::io_context>> contexts;
  for (int i = 0; i < threads; ++i) contexts.push_back(std::make_unique<net::io_context>(1));
  tcp::acceptor acceptor(*contexts[0], tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  std::ofstream(argv[1]) << acceptor.local_endpoint().port() << "\n";
  struct Spread {
    tcp::acceptor& acceptor;
    std::vector<std::unique_ptr<net::io_context>>& contexts;
    EVP_PKEY* key;
    std::size_t next = 0;
  } spread{acceptor, contexts, key};
  auto loop = [&spread]() -> net::awaitable<void> {
    for (;;) {
      auto& io = *spread.contexts[spread.next++ % spread.contexts.size()];
      auto [ec, socket] = co_await spread.acceptor.async_accept(io, kNoThrow);
      if (ec == net::error::operation_aborted) co_return;
      if (ec) continue;
      socket.set_option(tcp::no_delay(true), ec);
      net::co_spawn(io, serve(std::move(socket), spread.key), net::detached);
    }
  };
  net::co_spawn(*contexts[0], loop, net::detached);
  net::signal_set signals(*contexts[0], SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) {
    for (auto& io : contexts) io->stop();
  });
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&io = *contexts[i]] {
    auto guard = net::make_work_guard(io);
    io.run();
  });
  contexts[0]->run();
  for (auto& t : pool) t.join();
  EVP_PKEY_free(key);
  return 0;
}
