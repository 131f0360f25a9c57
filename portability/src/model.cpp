// Dataset names, the registry, the canonical form and the order-independent digest.

#include <openssl/evp.h>

#include <array>
#include <stdexcept>

#include "json_exact.hpp"
#include "registry.hpp"
#include "util.hpp"

namespace portability {

std::string_view to_string(Dataset dataset) {
  switch (dataset) {
    case Dataset::blog_posts:
      return "blog_posts";
    case Dataset::calendar_events:
      return "calendar_events";
    case Dataset::health_records:
      return "health_records";
    case Dataset::location_points:
      return "location_points";
  }
  return "unknown";
}

std::optional<Dataset> parse_dataset(std::string_view name) {
  for (Dataset d : {Dataset::blog_posts, Dataset::calendar_events, Dataset::health_records,
                    Dataset::location_points}) {
    if (to_string(d) == name) return d;
  }
  return std::nullopt;
}

std::vector<const Format*> all_formats() {
  return {&detail::blogger_atom_format(),    &detail::dtp_social_post_format(),
          &detail::icalendar_format(),       &detail::jscalendar_format(),
          &detail::apple_health_format(),    &detail::open_mhealth_format(),
          &detail::takeout_records_format(), &detail::geojson_format()};
}

const Format* find_format(std::string_view name) {
  for (const Format* f : all_formats()) {
    if (f->name() == name) return f;
  }
  return nullptr;
}

std::string canonical(const Item& item) {
  // nlohmann's object is a std::map, so keys come out sorted (by UTF-8 bytes); no whitespace;
  // UTF-8 kept; invalid UTF-8 refused. detail::dump writes exactly what nlohmann's
  // dump(-1, ' ', false, strict) writes for these values, faster. Model items hold no floats
  // (decimals are strings), so the text is stable across platforms.
  return detail::dump(item);
}

void Digest::add(const Item& item) {
  const std::string text = canonical(item);
  std::array<std::uint8_t, 32> md{};
  unsigned int len = 0;
  if (EVP_Digest(text.data(), text.size(), md.data(), &len, EVP_sha256(), nullptr) != 1 ||
      len != md.size()) {
    throw std::runtime_error("SHA-256 failed");
  }
  Digest d;
  d.sum_ = md;
  add(d);
}

void Digest::add(const Digest& other) {
  // Big-endian addition modulo 2^256: the carry out of byte 0 is dropped.
  unsigned carry = 0;
  for (std::size_t i = sum_.size(); i-- > 0;) {
    const unsigned v = static_cast<unsigned>(sum_[i]) + other.sum_[i] + carry;
    sum_[i] = static_cast<std::uint8_t>(v & 0xFF);
    carry = v >> 8;
  }
}

std::string Digest::hex() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (std::uint8_t b : sum_) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0x0F]);
  }
  return out;
}

std::optional<Digest> Digest::from_hex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Digest d;
  for (std::size_t i = 0; i < 32; ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    d.sum_[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return d;
}

}  // namespace portability
