#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "authz/clock.hpp"
#include "authz/crypto.hpp"
#include "authz/expected.hpp"

namespace sample_service {

/// What a verified RFC 9068 access token grants.
struct AccessToken {
  std::string sub;                     ///< the resident's account name at this service
  std::vector<std::string> scopes;     ///< "scope", split on spaces
  std::vector<std::string> transfers;  ///< identifiers of personal_data_transfer details
  std::string client_id;

  [[nodiscard]] bool has_scope(std::string_view scope) const;
  [[nodiscard]] bool bound_to(std::string_view transfer) const;
};

/// Where the issuer's signing keys come from. Blocking; called from the worker pool.
class KeySource {
 public:
  virtual ~KeySource() = default;
  /// The issuer's current JWK Set. Errors are `server_error`.
  virtual authz::Expected<std::vector<authz::PublicKey>> fetch() = 0;
};

/// RFC 8414: `<issuer>/.well-known/oauth-authorization-server` (inserted before the issuer's
/// path, §3.1), its `issuer` checked (§3.3), then the JWK Set at its `jwks_uri`.
class IssuerKeySource final : public KeySource {
 public:
  explicit IssuerKeySource(std::string issuer) : issuer_(std::move(issuer)) {}
  authz::Expected<std::vector<authz::PublicKey>> fetch() override;

  /// The RFC 8414 §3.1 metadata URL of `issuer`.
  static std::string metadata_url(std::string_view issuer);

 private:
  std::string issuer_;
};

/// Verifies RFC 9068 JWT access tokens: typ at+jwt, ES256, signed by a key of the issuer's
/// JWK Set (cached; fetched again once when a token names a kid the cache does not hold, so
/// key rotation at the issuer needs no restart), iss, aud, exp with 30 s of clock skew, nbf,
/// and a sub; no `cnf` (a DPoP- or certificate-bound token needs a proof this service does not
/// check). Scope and transfer binding are the caller's to check (they decide 403, not 401).
/// Thread-safe; blocking (it may fetch keys): call it from the worker pool.
class TokenVerifier {
 public:
  static constexpr std::int64_t kSkewSeconds = 30;

  TokenVerifier(std::string issuer, std::string audience, KeySource& keys,
                const authz::Clock& clock)
      : issuer_(std::move(issuer)), audience_(std::move(audience)), keys_(keys), clock_(clock) {}

  /// Errors are `invalid_token` (RFC 6750 §3.1) with a description, or `server_error` when the
  /// issuer's keys cannot be fetched.
  authz::Expected<AccessToken> verify(std::string_view jwt);

  [[nodiscard]] const std::string& audience() const { return audience_; }

 private:
  // Keys by kid from the cache; refreshes it once when `kid` is unknown.
  authz::Expected<std::vector<authz::PublicKey>> candidates(const std::string& kid);

  std::string issuer_;
  std::string audience_;
  KeySource& keys_;
  const authz::Clock& clock_;
  std::mutex mutex_;  // guards cache_ and fetched_; held during a fetch so fetches coalesce
  std::vector<authz::PublicKey> cache_;
  bool fetched_ = false;
};

}  // namespace sample_service
