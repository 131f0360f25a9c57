#pragma once

// Dates and times as RFC 3339 writes them, kept as their parts so that nothing is rounded.
// Shared by the portability adapters and the authorization server (consent end dates): both
// sit on storage, so the one parser lives here.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace storage::datetime {

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

/// The instant a consent written as an RFC 3339 full-date or date-time ends, in epoch seconds:
/// a date-time ends at its own instant (fraction dropped); a full-date ("2027-03-31") covers the
/// whole day in UTC and ends at the next midnight UTC. nullopt if `text` is neither.
std::optional<std::int64_t> end_of_rfc3339(std::string_view text);

}  // namespace storage::datetime
