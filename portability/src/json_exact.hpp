#pragma once

// Private: JSON for the adapters. Non-integer numbers are kept as their exact decimal text
// (stored in a json "binary" value, which JSON text can never produce), so coordinates and
// measurements survive byte for byte; integers stay json integers.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "portability/formats.hpp"

namespace portability::detail {

using nlohmann::json;

/// Strict RFC 8259 parse: valid UTF-8, no comments, no trailing data, no duplicate member
/// names (RFC 8259 §4 says names SHOULD be unique; a duplicate is ambiguous, so refused),
/// nesting depth <= 64. A leading UTF-8 BOM is accepted. Non-negative integers that fit 64
/// bits are number_unsigned, negative ones number_integer (as nlohmann's parser makes them);
/// any other number, of any magnitude, is kept as its exact text (raw_number). Throws
/// FormatError(what, "malformed JSON: ... at byte N").
json parse_json(std::string_view text, const std::string& what);
/// A JSON number written exactly as `text` (which must match the JSON number grammar).
json raw_number(std::string_view text);
bool is_raw_number(const json& j);
/// The exact text of a JSON number (integer or raw), nullopt if `j` is not a number.
std::optional<std::string> number_text(const json& j);
/// Compact serialization; raw numbers are written verbatim, strings as UTF-8.
std::string dump(const json& j);

/// Typed member access for converters; `what` names the item in errors.
const json* member(const json& object, std::string_view key);
std::optional<std::string> opt_string(const json& object, std::string_view key,
                                      const std::string& what);
std::string req_string(const json& object, std::string_view key, const std::string& what);
std::optional<std::int64_t> opt_int(const json& object, std::string_view key,
                                    const std::string& what);
/// A number member as exact decimal text (integer or not).
std::optional<std::string> opt_number(const json& object, std::string_view key,
                                      const std::string& what);
const json& req_object(const json& object, std::string_view key, const std::string& what);

/// Model helpers: a string or null.
json str_or_null(const std::optional<std::string>& s);
std::optional<std::string> model_string(const json& item, std::string_view key);

}  // namespace portability::detail
