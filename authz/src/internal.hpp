#pragma once

#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/text.hpp"

struct evp_md_st;

namespace authz {

bool contains_word(std::string_view list, std::string_view word);
/// RFC 3629 §4 well-formed UTF-8 (storage/text.hpp, shared with the portability adapters).
using storage::text::valid_utf8;
std::string join(const std::vector<std::string>& words);
/// SHA-256 as fetched once from OpenSSL's default provider (crypto.cpp).
const evp_md_st* sha256_md();

}  // namespace authz

#include "authz/oauth.hpp"

namespace authz {
/// A named secret created once and shared by every process and node, sealed at rest: the
/// stored value, or `candidate` when none was stored yet (storage keeps the first). Throws
/// std::runtime_error when the stored value does not open (another master key).
std::string named_secret(storage::Store& store, const Sealer& sealer, std::string_view name,
                         const std::string& candidate);

/// client_secret_basic or client_secret_post: the client has a secret (stored as its hash).
inline bool uses_client_secret(std::string_view method) {
  return method == "client_secret_basic" || method == "client_secret_post";
}

/// RFC 8705 §2: the methods by which a client authenticates with its TLS certificate.
inline bool is_tls_client_auth(std::string_view method) {
  return method == "tls_client_auth" || method == "self_signed_tls_client_auth";
}

/// A client's registered keys (`jwks`): none when it registered no JWK Set, an error when the
/// set is malformed.
Expected<std::vector<PublicKey>> client_keys(std::string_view jwks);

/// RFC 3986 absolute URI without a fragment (RFC 8707 §2 resource indicators).
bool absolute_uri(std::string_view text);

/// The algorithm a client's *_signed_response_alg metadata names, as the key ring signs with
/// it: the one it names, ES256 when it names none (what clients stored before schema 23 have).
inline std::string_view response_alg(std::string_view registered) {
  for (const std::string_view alg : KeyRing::kAlgs) {
    if (registered == alg) return alg;
  }
  return KeyRing::kDefaultAlg;
}

/// Whether the server signs responses with `alg` (*_signed_response_alg metadata; discovery's
/// *_signing_alg_values_supported).
/// KeyRing::kAlgs in words, for error descriptions.
inline constexpr const char* kSignedAlgsInWords = "ES256, RS256, PS256 or EdDSA";
inline bool signs_with(std::string_view alg) {
  return std::find(KeyRing::kAlgs.begin(), KeyRing::kAlgs.end(), alg) != KeyRing::kAlgs.end();
}

/// A back-channel error with the authentication scheme its challenge names.
inline EndpointError fail(std::string error, std::string description, std::string scheme = {}) {
  return EndpointError{make_error(std::move(error), std::move(description)), std::move(scheme)};
}
}  // namespace authz
