#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "authz/expected.hpp"

namespace authz {

/// A verified DPoP proof (RFC 9449 §4.3).
struct DpopProof {
  std::string jkt;  ///< RFC 7638 thumbprint of the header's public "jwk"
  std::string jti;
  std::int64_t iat = 0;
};

struct DpopCheck {
  std::string_view method;                     ///< the request's HTTP method
  std::string_view url;                        ///< the request's URL (query ignored)
  std::int64_t now = 0;
  std::int64_t max_age = 300;                  ///< accepted |now - iat| in seconds
  std::optional<std::string_view> access_token;  ///< when set, "ath" must match it
  /// When not empty, the proof's "nonce" must be one of these (RFC 9449 §8, §9).
  std::vector<std::string> nonces;
};

/// RFC 9449 §4.3 checks 1-11 except jti replay (the caller keeps that cache, shared by all
/// nodes): one well-formed JWS, typ "dpop+jwt", asymmetric alg we support, "jwk" a public
/// key that verifies the signature, "htm" equal to the method, "htu" equal to the URL
/// without query and fragment (RFC 3986 §6.2 syntax-based normalisation), "iat" within the
/// window, "jti" present, "ath" when an access token is presented.
/// Errors are `invalid_dpop_proof`, and `use_dpop_nonce` for a nonce missing or not one of
/// `check.nonces` (the proof is otherwise good: the client is to try again with a fresh nonce).
Expected<DpopProof> dpop_verify(std::string_view proof, const DpopCheck& check);

}  // namespace authz
