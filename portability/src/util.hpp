#pragma once

// Private helpers shared by the format adapters: text, dates, decimals, hashing.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "storage/datetime.hpp"
#include "storage/text.hpp"

namespace portability::detail {

/// Drops one leading UTF-8 byte-order mark (RFC 3629 §6).
std::string_view strip_bom(std::string_view text);
/// True if `text` is well-formed UTF-8 (storage/text.hpp, shared with the authorization server).
using storage::text::valid_utf8;
/// Whether `c` is a control character that neither XML 1.0 (§2.2 Char) nor iCalendar TEXT
/// (RFC 5545 §3.3.11) can hold: C0 controls other than tab, line feed and carriage return.
constexpr bool is_forbidden_control(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 && u != '\t' && u != '\n' && u != '\r';
}
/// Removes every is_forbidden_control character (and DEL, when `del` too) from `s`; true if it
/// removed any.
bool drop_forbidden_controls(std::string& s, bool del = false);
/// Lowercase hex of SHA-256(data).
std::string sha256_hex(std::string_view data);

// Dates (storage/datetime.hpp, shared with the authorization server).
using storage::datetime::civil_from_days;
using storage::datetime::DateTime;
using storage::datetime::days_from_civil;
using storage::datetime::epoch_seconds;
using storage::datetime::format_rfc3339;
using storage::datetime::from_epoch;
using storage::datetime::pad;
using storage::datetime::parse_rfc3339;
using storage::datetime::valid_date;

/// True if `text` matches the JSON number grammar (RFC 8259 §6).
bool is_json_number(std::string_view text);
/// A decimal number (JSON number grammar) in degrees -> integer E7, rounded half away from
/// zero past the 7th decimal, computed on the digits (no floating point). nullopt if the
/// text is not a number or does not fit.
std::optional<std::int64_t> decimal_to_e7(std::string_view text);
/// E7 -> shortest decimal text in degrees ("53.369055", "-0.5", "10").
std::string e7_to_decimal(std::int64_t e7);
/// Parses a whole base-10 integer (optional '-') into int64; nullopt on anything else.
std::optional<std::int64_t> parse_int(std::string_view text);

}  // namespace portability::detail
