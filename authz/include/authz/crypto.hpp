#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "authz/expected.hpp"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY, kept opaque here.

namespace authz {

/// SHA-256 of `data`, raw 32 bytes.
std::string sha256(std::string_view data);
/// base64url(SHA-256(data)): the form used for token hashes in storage and for `ath`.
std::string sha256_b64url(std::string_view data);
/// OpenID Connect Core §3.3.2.11 at_hash (and §3.3.2.10 c_hash): base64url of the left half of
/// the hash of `value` that the ID token's `alg` hashes with: SHA-256 for ES256, RS256 and PS256;
/// SHA-512 for EdDSA, whose only curve here is Ed25519 (Core errata set 2).
std::string id_token_half_hash(std::string_view alg, std::string_view value);
/// HMAC-SHA-256 (RFC 2104) of `data` under `key`, raw 32 bytes.
std::string hmac_sha256(std::string_view key, std::string_view data);
/// Constant-time comparison (CRYPTO_memcmp); lengths may differ (that leaks only the length).
bool constant_time_equal(std::string_view a, std::string_view b);

/// argon2id (libsodium crypto_pwhash_str, interactive limits) for residents' passwords.
std::string hash_password(std::string_view password);
bool verify_password(std::string_view encoded_hash, std::string_view password);

/// A public key that can verify JWS signatures: EC P-256 (ES256), RSA (RS256, PS256),
/// Ed25519 (EdDSA).
class PublicKey {
 public:
  /// Strict RFC 7517 parse of one JWK object. Rejects private members ("d", "p", ...),
  /// unknown kty/crv, wrong coordinate lengths and points not on the curve.
  static Expected<PublicKey> from_jwk(std::string_view jwk_json);

  /// The JWK of the public key with only the required members (plus "kid"/"alg"/"use" when
  /// set on this object), serialised as JSON.
  [[nodiscard]] std::string to_jwk_json() const;
  /// RFC 7638 thumbprint: base64url(SHA-256(canonical required members)).
  [[nodiscard]] std::string thumbprint() const;
  /// True if `alg` is usable with this key type ("ES256" for P-256, "RS256"/"PS256" for RSA
  /// of at least 2048 bits, "EdDSA" for Ed25519).
  [[nodiscard]] bool supports_alg(std::string_view alg) const;
  /// Verify a JOSE signature (for ES256 the 64-byte r||s form of RFC 7518 §3.4).
  [[nodiscard]] bool verify(std::string_view alg, std::string_view signing_input,
                            std::string_view signature) const;

  [[nodiscard]] const std::string& kid() const { return kid_; }
  void set_kid(std::string kid) { kid_ = std::move(kid); }
  /// The JWK's "alg" or empty; when set, supports_alg() accepts only that algorithm
  /// (RFC 7517 §4.4).
  [[nodiscard]] const std::string& alg() const { return alg_; }
  /// False when the JWK's "use" is not "sig" or its "key_ops" lacks "verify" (RFC 7517 §4.2,
  /// §4.3); parse_jwk_set() skips such keys.
  [[nodiscard]] bool usable_for_signatures() const;

 private:
  std::shared_ptr<evp_pkey_st> key_;
  std::string kid_;
  std::string alg_;
  std::string use_;
  bool has_key_ops_ = false;
  bool verify_op_ = false;
  friend class SigningKey;
};

/// A private key that signs what the server issues: ES256 (P-256), an RSA key of at least
/// 2048 bits for RS256 (the algorithm OpenID Connect requires every provider to sign ID tokens
/// with) or PS256 (RSASSA-PSS), or EdDSA (Ed25519, RFC 8037). FAPI 2.0 allows PS256, ES256
/// and EdDSA. One key, one algorithm (RFC 7517 §4.4): an RSA key signs with RS256 or PS256,
/// not both.
class SigningKey {
 public:
  static SigningKey generate_es256();
  /// A new RSA key of kRsaSigningBits for RS256, or for PS256.
  static SigningKey generate_rsa(std::string_view alg = "RS256");
  /// A new Ed25519 key, for EdDSA.
  static SigningKey generate_ed25519();
  /// The key generate() makes for `alg` ("ES256", "RS256", "PS256" or "EdDSA"); throws for
  /// any other.
  static SigningKey generate(std::string_view alg);
  /// Unencrypted PKCS#8 PEM, as written by to_pem(), of a P-256 key (ES256), an RSA key of
  /// 2048 to 4096 bits or an Ed25519 key (EdDSA), for `alg`: RS256 or PS256 for an RSA key
  /// (RS256 when empty), the key's own algorithm (or empty) for the others. An algorithm the
  /// key cannot sign with is an error.
  static Expected<SigningKey> from_pem(std::string_view pem, std::string_view alg = {});
  [[nodiscard]] std::string to_pem() const;
  [[nodiscard]] PublicKey public_key() const;
  /// JOSE signature bytes over `signing_input`: 64-byte r||s for ES256, RSASSA-PKCS1-v1_5
  /// with SHA-256 for RS256, RSASSA-PSS with SHA-256, MGF1 with SHA-256 and a 32-byte salt for
  /// PS256 (RFC 7518 §3.5), the 64-byte Ed25519 signature of the input itself for EdDSA
  /// (RFC 8037 §3.1).
  [[nodiscard]] std::string sign(std::string_view signing_input) const;
  /// "ES256", "RS256", "PS256" or "EdDSA".
  [[nodiscard]] std::string_view alg() const { return alg_; }

  static constexpr int kRsaSigningBits = 2048;

 private:
  struct Signers;  // contexts ready to sign with key_, shared by the copies of this key
  [[nodiscard]] std::string sign_ed25519(std::string_view signing_input) const;

  std::shared_ptr<evp_pkey_st> key_;
  std::shared_ptr<Signers> signers_;
  std::string_view alg_ = "ES256";  ///< always one of the literals above
};

}  // namespace authz
