#pragma once

// Private helpers shared by the format adapters: text, dates, decimals, hashing.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portability::detail {

/// Drops one leading UTF-8 byte-order mark (RFC 3629 §6).
std::string_view strip_bom(std::string_view text);
/// True if `text` is well-formed UTF-8 (RFC 3629 §4: no overlongs, no surrogates, <= U+10FFFF).
bool valid_utf8(std::string_view text);
/// Lowercase hex of SHA-256(data).
std::string sha256_hex(std::string_view data);

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d);
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d);
bool valid_date(int y, int m, int d);

/// An RFC 3339 §5.6 date-time, kept as its parts so nothing is rounded.
struct DateTime {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  std::string fraction;     // digits after the '.', as written (may be empty)
  bool utc = false;         // written as "Z"/"z"
  int offset_minutes = 0;   // signed; 0 when utc
  bool negative_zero = false;  // "-00:00" (RFC 3339 §4.3: offset unknown)
};
std::optional<DateTime> parse_rfc3339(std::string_view text);
/// "YYYY-MM-DDTHH:MM:SS[.frac]" then "Z" or "+hh:mm".
std::string format_rfc3339(const DateTime& dt);
/// Seconds since the epoch (UTC) of the whole-second part.
std::int64_t epoch_seconds(const DateTime& dt);
/// Epoch seconds (with fraction digits) -> DateTime in UTC.
DateTime from_epoch(std::int64_t seconds, std::string fraction);

/// Two-digit and four-digit fixed-width helpers.
std::string pad(long long value, int width);

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
