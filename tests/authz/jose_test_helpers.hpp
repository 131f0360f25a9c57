#pragma once

// Test-only helpers to build JWSs with arbitrary headers and claims (including broken ones),
// which the production API deliberately cannot produce.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "authz/base64url.hpp"
#include "authz/crypto.hpp"

namespace authz::testing {

/// The fixed "now" of the tests that check times against a clock they pass in.
inline constexpr std::int64_t kNow = 1'700'000'000;

/// Short for base64url_encode, for tests that build JOSE texts by hand.
inline std::string b64(const std::string& s) { return base64url_encode(s); }

/// Compact JWS over the given header and payload texts, signed with ES256 by `key`.
inline std::string sign_compact_raw(const SigningKey& key, const std::string& header_json,
                                    const std::string& payload_json) {
  std::string input = base64url_encode(header_json) + "." + base64url_encode(payload_json);
  return input + "." + base64url_encode(key.sign(input));
}

inline std::string sign_compact(const SigningKey& key, const nlohmann::json& header,
                                const nlohmann::json& payload) {
  return sign_compact_raw(key, header.dump(), payload.dump());
}

/// An ES256 header carrying the public key of `key` as "jwk", as a DPoP proof does.
inline nlohmann::json dpop_header(const SigningKey& key) {
  return {{"typ", "dpop+jwt"},
          {"alg", "ES256"},
          {"jwk", nlohmann::json::parse(key.public_key().to_jwk_json())}};
}

}  // namespace authz::testing
