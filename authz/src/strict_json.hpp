#pragma once

// Private to authz: nlohmann types never appear in public headers (STYLE.md).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace authz::detail {

/// Parse `text` as one JSON value, strictly: RFC 8259 syntax, valid UTF-8, no comments, no
/// trailing data, no duplicate member names in any object (RFC 7515 §5.2 and RFC 7519 §4
/// require rejecting them; nlohmann would silently keep the last one) and nesting no deeper
/// than a small limit. Returns nullopt on any violation.
std::optional<nlohmann::json> parse_json_strict(std::string_view text);

/// Like parse_json_strict but the value must be an object.
std::optional<nlohmann::json> parse_json_object_strict(std::string_view text);

/// Result of looking up an optional string member.
enum class MemberState { kAbsent, kWrongType, kPresent };

/// Reads a string member: kAbsent when missing, kWrongType when present but not a string.
MemberState string_member(const nlohmann::json& object, std::string_view name,
                          std::string& out);

/// Reads a NumericDate (RFC 7519 §2): a JSON number, integer or not, within a sane range;
/// fractional seconds are truncated.
MemberState numeric_date_member(const nlohmann::json& object, std::string_view name,
                                std::int64_t& out);

}  // namespace authz::detail
