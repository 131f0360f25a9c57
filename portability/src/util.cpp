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

bool drop_forbidden_controls(std::string& s, bool del) {
  const auto size = s.size();
  std::erase_if(s, [del](char c) { return is_forbidden_control(c) || (del && c == '\x7f'); });
  return s.size() != size;
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
