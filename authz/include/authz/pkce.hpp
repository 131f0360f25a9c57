#pragma once

#include <string_view>

namespace authz {

/// RFC 7636 §4.1: 43..128 characters of [A-Z a-z 0-9 - . _ ~].
bool pkce_verifier_well_formed(std::string_view code_verifier);
/// An S256 challenge is base64url(SHA-256(verifier)): exactly 43 base64url characters.
bool pkce_challenge_well_formed(std::string_view code_challenge);
/// RFC 7636 §4.6 with S256, compared in constant time.
bool pkce_s256_matches(std::string_view code_verifier, std::string_view code_challenge);

}  // namespace authz
