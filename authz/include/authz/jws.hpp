#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "authz/crypto.hpp"
#include "authz/expected.hpp"
#include "authz/form.hpp"

namespace authz {

/// A compact JWS (RFC 7515 §7.1) split and decoded, not yet verified.
struct JwsParts {
  std::string header_json;    ///< decoded protected header (a JSON object)
  std::string payload;        ///< decoded payload bytes
  std::string signing_input;  ///< ASCII(BASE64URL(header) '.' BASE64URL(payload))
  std::string signature;      ///< decoded signature bytes
  std::string alg;            ///< header "alg" (never "none": rejected by the parser)
  std::string typ;            ///< header "typ" or empty
  std::string kid;            ///< header "kid" or empty
  std::string jwk_json;       ///< header "jwk" re-serialised, or empty
};

/// Strict parse: exactly three parts, strict base64url, header a JSON object with a string
/// "alg" other than "none", no "crit" we do not understand, no duplicate members.
/// Errors are `invalid_request` with a description.
Expected<JwsParts> jws_parse(std::string_view compact);

/// Verify the signature of `parts` with `key` (alg must be supported by the key).
bool jws_verify(const JwsParts& parts, const PublicKey& key);

/// Sign `payload_json` with ES256: header {"alg":"ES256","typ":typ,"kid":kid}.
std::string jws_sign(const SigningKey& key, std::string_view kid, std::string_view typ,
                     std::string_view payload_json);

/// A JWK Set (RFC 7517 §5) parsed strictly; keys that are not usable for signatures are
/// skipped, a malformed set is an error.
Expected<std::vector<PublicKey>> parse_jwk_set(std::string_view jwks_json);

/// Claims checked for a client assertion (RFC 7523 §3, used by private_key_jwt).
struct ClientAssertion {
  std::string client_id;  ///< iss == sub
  std::string jti;
  std::int64_t exp = 0;
};

/// The JWS algs of what clients sign (assertions, request objects, DPoP proofs) that the
/// server verifies: asymmetric only (RFC 7518 §3.1, RFC 8037 §3.1).
std::span<const std::string_view> verifiable_algs();

/// Parse without verifying, to learn which client the assertion claims to be
/// (iss == sub required). Errors are `invalid_client`.
Expected<std::string> client_assertion_subject(std::string_view jwt);

/// Verify a private_key_jwt client assertion: signature by one of `client_keys` (matched by
/// kid when present), alg not "none"/HMAC, iss == sub == client_id, `aud` containing one of
/// `audiences` (the issuer or the token endpoint URL), exp in the future (with 60 s leeway)
/// and not more than `max_lifetime` seconds ahead, `jti` present, `iat`/`nbf` not in the
/// future. With `required_alg` (the client's token_endpoint_auth_signing_alg), signed with
/// that alg and no other. Errors are `invalid_client`. Replay of `jti` is checked by the caller.
Expected<ClientAssertion> verify_client_assertion(std::string_view jwt,
                                                  const std::vector<PublicKey>& client_keys,
                                                  std::string_view client_id,
                                                  const std::vector<std::string>& audiences,
                                                  std::int64_t now,
                                                  std::string_view required_alg = {},
                                                  std::int64_t max_lifetime = 3600);

/// Verify a request object (RFC 9101, JAR) sent by `client_id` at the authorization or PAR
/// endpoint, and return the authorization request it carries. Signed (not encrypted) with an
/// asymmetric algorithm by one of `client_keys`; typ absent, JWT or oauth-authz-req+jwt; iss
/// and the inner client_id are `client_id`; aud names `issuer`; exp in the future and at most
/// an hour ahead; nbf, when present, not in the future nor more than an hour old; no nested
/// request or request_uri. JWT claims (iss, aud, exp, nbf, iat, jti) are not parameters.
/// With `required_alg` (the client's request_object_signing_alg), signed with that alg and no
/// other. Errors are `invalid_request_object`.
Expected<Params> verify_request_object(std::string_view jwt,
                                       const std::vector<PublicKey>& client_keys,
                                       std::string_view client_id, std::string_view issuer,
                                       std::int64_t now, std::string_view required_alg = {});

}  // namespace authz
