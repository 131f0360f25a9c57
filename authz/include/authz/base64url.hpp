#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace authz {

/// Unpadded base64url (RFC 4648 §5, as JOSE uses it: RFC 7515 §2).
std::string base64url_encode(std::span<const std::uint8_t> data);
std::string base64url_encode(std::string_view data);

/// Strict decoder: rejects padding, characters outside the alphabet, a length of 1 mod 4
/// and non-zero trailing bits. Never repairs input.
std::optional<std::string> base64url_decode(std::string_view text);

/// Standard base64 with padding (RFC 4648 §4), strict, for HTTP Basic credentials.
std::optional<std::string> base64_decode(std::string_view text);
std::string base64_encode(std::string_view data);

}  // namespace authz
