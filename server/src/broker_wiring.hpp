#pragma once

// What the portability broker needs from the server, filled in: an HTTP client (Beast, here,
// because server/ is the only place Beast appears), pattern 1's token source (infobank issues
// the tokens itself) and the bank's clock, randomness and audit entries.

#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "authz/oauth.hpp"
#include "portability/broker.hpp"

namespace server {

/// A blocking HTTP/1.1 client over plain TCP or TLS (certificates verified against the
/// system's trust store and the host name). Each call has one deadline, `timeout`, for
/// connecting, the TLS handshake, sending and reading the whole answer; past it the call fails
/// with a TransportError (retryable). Connections are kept alive and reused per origin (up to
/// 4 idle ones each, for up to 10 s), so a transfer's pages do not each pay a TCP connect and a
/// TLS handshake; a kept connection the server closed meanwhile costs one more attempt on a new
/// one within the same deadline (the broker's calls are all idempotent). Thread-safe.
class BeastHttpClient final : public portability::HttpClient {
 public:
  BeastHttpClient();
  ~BeastHttpClient() override;
  BeastHttpClient(const BeastHttpClient&) = delete;
  BeastHttpClient& operator=(const BeastHttpClient&) = delete;

  portability::HttpResponse send(const portability::HttpRequest& request,
                                 std::chrono::milliseconds timeout,
                                 std::size_t max_body_bytes) override;

 private:
  struct Connection;
  std::unique_ptr<Connection> take(const std::string& origin);
  void give_back(const std::string& origin, std::unique_ptr<Connection> connection);
  std::unique_ptr<Connection> open(bool tls, const std::string& host, const std::string& port,
                                   std::chrono::steady_clock::time_point deadline);

  // One TLS client context for every call: the system's trust store is read once, not per
  // page. An SSL_CTX that is no longer changed may be shared by connections on any thread.
  boost::asio::ssl::context tls_;
  std::mutex mutex_;  // guards idle_
  std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle_;  // by origin
};

/// Pattern 1: infobank is the services' authorization server and issues the broker's tokens
/// itself. Tokens are cached per transfer, side and scope until shortly before they expire.
class SelfIssuedTokens final : public portability::TokenSource {
 public:
  SelfIssuedTokens(authz::AuthorizationServer& server, const authz::Clock& clock,
                   int ttl_seconds = 300)
      : server_(server), clock_(clock), ttl_(ttl_seconds) {}

  std::string access_token(const storage::TransferRecord& transfer,
                           const storage::ServiceRecord& service, portability::Side side,
                           std::string_view scope, bool fresh) override;

 private:
  struct Cached {
    std::string token;
    std::int64_t expires_at = 0;
  };
  authz::AuthorizationServer& server_;
  const authz::Clock& clock_;
  int ttl_;
  std::mutex mutex_;
  std::map<std::tuple<std::string, int, std::string>, Cached> cache_;
};

class BankContext final : public portability::BrokerContext {
 public:
  BankContext(authz::AuthorizationServer& server, const authz::Clock& clock,
              authz::Random& random)
      : server_(server), clock_(clock), random_(random) {}
  [[nodiscard]] std::int64_t now() const override { return clock_.now(); }
  std::string new_id() override;
  double jitter() override;
  storage::Event event(std::string_view actor, std::string_view action,
                       std::string_view resident_id, std::string_view client_id,
                       std::string_view detail_json, std::string_view outcome,
                       const std::vector<std::string>& datasets) override;

 private:
  authz::AuthorizationServer& server_;
  const authz::Clock& clock_;
  std::mutex mutex_;  // Random is not thread-safe
  authz::Random& random_;
};

}  // namespace server
