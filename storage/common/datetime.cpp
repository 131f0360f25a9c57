#include "storage/datetime.hpp"

#include <cstdio>

namespace storage::datetime {

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2 ? 1 : 0;
}

bool valid_date(int y, int m, int d) {
  if (y < 0 || y > 9999 || m < 1 || m > 12 || d < 1) return false;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  const int max = m == 2 && leap ? 29 : kDays[m - 1];
  return d <= max;
}

std::string pad(long long value, int width) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*lld", width, value);
  return buf;
}

namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t count, int& out) {
  if (pos + count > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + count; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

}  // namespace

std::optional<DateTime> parse_rfc3339(std::string_view s) {
  // RFC 3339 §5.6: full-date "T" full-time; T and Z may be lowercase (§5.6 NOTE).
  DateTime dt;
  if (s.size() < 20) return std::nullopt;
  if (!digits(s, 0, 4, dt.year) || s[4] != '-' || !digits(s, 5, 2, dt.month) || s[7] != '-' ||
      !digits(s, 8, 2, dt.day) || (s[10] != 'T' && s[10] != 't') || !digits(s, 11, 2, dt.hour) ||
      s[13] != ':' || !digits(s, 14, 2, dt.minute) || s[16] != ':' ||
      !digits(s, 17, 2, dt.second)) {
    return std::nullopt;
  }
  // §5.7: leap second 60 is allowed.
  if (!valid_date(dt.year, dt.month, dt.day) || dt.hour > 23 || dt.minute > 59 || dt.second > 60)
    return std::nullopt;
  std::size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    ++i;
    const std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == start) return std::nullopt;
    dt.fraction = std::string(s.substr(start, i - start));
  }
  if (i >= s.size()) return std::nullopt;
  if (s[i] == 'Z' || s[i] == 'z') {
    dt.utc = true;
    ++i;
  } else if (s[i] == '+' || s[i] == '-') {
    int hh = 0, mm = 0;
    if (!digits(s, i + 1, 2, hh) || i + 3 >= s.size() || s[i + 3] != ':' ||
        !digits(s, i + 4, 2, mm) || hh > 23 || mm > 59) {
      return std::nullopt;
    }
    dt.offset_minutes = (s[i] == '-' ? -1 : 1) * (hh * 60 + mm);
    dt.negative_zero = s[i] == '-' && hh == 0 && mm == 0;
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  return dt;
}

std::string format_rfc3339(const DateTime& dt) {
  std::string out = pad(dt.year, 4) + "-" + pad(dt.month, 2) + "-" + pad(dt.day, 2) + "T" +
                    pad(dt.hour, 2) + ":" + pad(dt.minute, 2) + ":" + pad(dt.second, 2);
  if (!dt.fraction.empty()) out += "." + dt.fraction;
  if (dt.utc) return out + "Z";
  const int off = dt.offset_minutes < 0 ? -dt.offset_minutes : dt.offset_minutes;
  out += (dt.offset_minutes < 0 || dt.negative_zero) ? "-" : "+";
  return out + pad(off / 60, 2) + ":" + pad(off % 60, 2);
}

std::int64_t epoch_seconds(const DateTime& dt) {
  const std::int64_t days = days_from_civil(dt.year, static_cast<unsigned>(dt.month),
                                            static_cast<unsigned>(dt.day));
  return days * 86400 + dt.hour * 3600 + dt.minute * 60 + dt.second -
         static_cast<std::int64_t>(dt.offset_minutes) * 60;
}

DateTime from_epoch(std::int64_t seconds, std::string fraction) {
  std::int64_t days = seconds / 86400;
  std::int64_t rem = seconds % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  std::int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  DateTime dt;
  dt.year = static_cast<int>(y);
  dt.month = static_cast<int>(m);
  dt.day = static_cast<int>(d);
  dt.hour = static_cast<int>(rem / 3600);
  dt.minute = static_cast<int>(rem % 3600 / 60);
  dt.second = static_cast<int>(rem % 60);
  dt.fraction = std::move(fraction);
  dt.utc = true;
  return dt;
}

std::optional<std::int64_t> end_of_rfc3339(std::string_view text) {
  if (text.size() == 10) {
    int y = 0, m = 0, d = 0;
    if (!digits(text, 0, 4, y) || text[4] != '-' || !digits(text, 5, 2, m) || text[7] != '-' ||
        !digits(text, 8, 2, d) || !valid_date(y, m, d)) {
      return std::nullopt;
    }
    return (days_from_civil(y, static_cast<unsigned>(m), static_cast<unsigned>(d)) + 1) * 86400;
  }
  const auto dt = parse_rfc3339(text);
  if (!dt) return std::nullopt;
  return epoch_seconds(*dt);
}

}  // namespace storage::datetime
