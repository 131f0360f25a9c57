#include "authz/pkce.hpp"

#include <algorithm>

#include "authz/crypto.hpp"

namespace authz {
namespace {

constexpr std::size_t kMinVerifierLength = 43;
constexpr std::size_t kMaxVerifierLength = 128;
constexpr std::size_t kS256ChallengeLength = 43;  // 32 bytes, unpadded base64url

bool is_alnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// RFC 7636 §4.1: unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"
bool is_unreserved(char c) { return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~'; }

bool is_base64url_char(char c) { return is_alnum(c) || c == '-' || c == '_'; }

}  // namespace

bool pkce_verifier_well_formed(std::string_view code_verifier) {
  return code_verifier.size() >= kMinVerifierLength &&
         code_verifier.size() <= kMaxVerifierLength &&
         std::all_of(code_verifier.begin(), code_verifier.end(), is_unreserved);
}

bool pkce_challenge_well_formed(std::string_view code_challenge) {
  if (code_challenge.size() != kS256ChallengeLength ||
      !std::all_of(code_challenge.begin(), code_challenge.end(), is_base64url_char)) {
    return false;
  }
  // 43 characters carry 258 bits; the last character's 2 spare bits must be zero for the
  // text to be the encoding of a SHA-256 output (its index is a multiple of 4).
  const char last = code_challenge.back();
  constexpr std::string_view kAllowedLast = "AEIMQUYcgkosw048";
  return kAllowedLast.find(last) != std::string_view::npos;
}

bool pkce_s256_matches(std::string_view code_verifier, std::string_view code_challenge) {
  if (!pkce_verifier_well_formed(code_verifier)) return false;
  // RFC 7636 §4.6: BASE64URL-ENCODE(SHA256(ASCII(code_verifier))) == code_challenge.
  return constant_time_equal(sha256_b64url(code_verifier), code_challenge);
}

}  // namespace authz
