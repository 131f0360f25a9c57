#include "util.hpp"

#include <openssl/evp.h>

#include <array>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace portability::detail {

std::string_view strip_bom(std::string_view text) {
  if (text.size() >= 3 && static_cast<unsigned char>(text[0]) == 0xEF &&
      static_cast<unsigned char>(text[1]) == 0xBB && static_cast<unsigned char>(text[2]) == 0xBF) {
    text.remove_prefix(3);
  }
  return text;
}

bool valid_utf8(std::string_view text) {
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    // Eight ASCII bytes at a time: most text is mostly ASCII.
    if (i + 8 <= n) {
      std::uint64_t word = 0;
      std::memcpy(&word, text.data() + i, 8);
      if ((word & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len = 0;
    std::uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + static_cast<std::size_t>(len) > n) return false;
    for (int k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + static_cast<std::size_t>(k)]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += static_cast<std::size_t>(len);
  }
  return true;
}

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, 32> md{};
  unsigned int md_len = 0;
  if (EVP_Digest(data.data(), data.size(), md.data(), &md_len, EVP_sha256(), nullptr) != 1 ||
      md_len != md.size()) {
    throw std::runtime_error("SHA-256 failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (unsigned char b : md) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0x0F]);
  }
  return out;
}

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

bool is_json_number(std::string_view s) {
  std::size_t i = 0;
  auto digit = [&](std::size_t k) { return k < s.size() && s[k] >= '0' && s[k] <= '9'; };
  if (i < s.size() && s[i] == '-') ++i;
  if (!digit(i)) return false;
  if (s[i] == '0') {
    ++i;
  } else {
    while (digit(i)) ++i;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digit(i)) return false;
    while (digit(i)) ++i;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digit(i)) return false;
    while (digit(i)) ++i;
  }
  return i == s.size();
}

std::optional<std::int64_t> decimal_to_e7(std::string_view s) {
  if (!is_json_number(s)) return std::nullopt;
  const bool negative = s.front() == '-';
  if (negative) s.remove_prefix(1);
  // Collect significand digits and the decimal exponent: value = digits * 10^exp.
  std::string mant;
  long exp = 0;
  std::size_t i = 0;
  for (; i < s.size() && s[i] != '.' && s[i] != 'e' && s[i] != 'E'; ++i) mant.push_back(s[i]);
  if (i < s.size() && s[i] == '.') {
    for (++i; i < s.size() && s[i] != 'e' && s[i] != 'E'; ++i) {
      mant.push_back(s[i]);
      --exp;
    }
  }
  if (i < s.size()) {
    long e = 0;
    const auto* first = s.data() + i + 1 + (s[i + 1] == '+' ? 1 : 0);
    auto [p, ec] = std::from_chars(first, s.data() + s.size(), e);
    if (ec != std::errc{} || e > 100 || e < -100) return std::nullopt;
    exp += e;
  }
  // Scale to E7: shift = exp + 7.
  const long shift = exp + 7;
  const std::size_t first_nonzero = mant.find_first_not_of('0');
  if (first_nonzero == std::string::npos) return 0;
  mant = mant.substr(first_nonzero);
  std::string whole;
  char round_digit = '0';
  if (shift >= 0) {
    whole = mant + std::string(static_cast<std::size_t>(shift), '0');
  } else {
    const auto drop = static_cast<std::size_t>(-shift);
    if (drop > mant.size()) {
      whole = "0";
      round_digit = '0';  // the first dropped digit is a leading zero
    } else {
      whole = mant.substr(0, mant.size() - drop);
      round_digit = mant[mant.size() - drop];
      if (whole.empty()) whole = "0";
    }
  }
  if (whole.size() > 15) return std::nullopt;
  std::int64_t v = 0;
  for (char c : whole) v = v * 10 + (c - '0');
  if (round_digit >= '5') ++v;  // half away from zero, on the magnitude
  return negative ? -v : v;
}

std::string e7_to_decimal(std::int64_t e7) {
  const bool negative = e7 < 0;
  const std::uint64_t mag = negative ? static_cast<std::uint64_t>(-(e7 + 1)) + 1
                                     : static_cast<std::uint64_t>(e7);
  std::string out = negative ? "-" : "";
  out += std::to_string(mag / 10000000);
  std::string frac = pad(static_cast<long long>(mag % 10000000), 7);
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  if (!frac.empty()) out += "." + frac;
  return out;
}

std::optional<std::int64_t> parse_int(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || p != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace portability::detail
