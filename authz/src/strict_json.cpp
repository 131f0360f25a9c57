#include "strict_json.hpp"

#include <cmath>
#include <set>
#include <vector>

namespace authz::detail {
namespace {

// JOSE headers, JWKs and JWT claim sets are shallow; anything deeper is hostile.
constexpr int kMaxDepth = 32;
// NumericDate bound: year ~33658; keeps arithmetic with leeways far from overflow.
constexpr double kMaxNumericDate = 1e12;

}  // namespace

std::optional<nlohmann::json> parse_json_strict(std::string_view text) {
  // One set of member names per open object; a key event checks the innermost one.
  std::vector<std::set<std::string>> open_objects;
  bool rejected = false;
  auto callback = [&](int depth, nlohmann::json::parse_event_t event,
                      nlohmann::json& parsed) -> bool {
    using Event = nlohmann::json::parse_event_t;
    if (depth > kMaxDepth) rejected = true;
    switch (event) {
      case Event::object_start:
        open_objects.emplace_back();
        break;
      case Event::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case Event::key:
        if (open_objects.empty() ||
            !open_objects.back().insert(parsed.get<std::string>()).second) {
          rejected = true;
        }
        break;
      default:
        break;
    }
    return true;
  };
  nlohmann::json value = nlohmann::json::parse(text.begin(), text.end(), callback,
                                               /*allow_exceptions=*/false,
                                               /*ignore_comments=*/false);
  if (rejected || value.is_discarded()) return std::nullopt;
  return value;
}

std::optional<nlohmann::json> parse_json_object_strict(std::string_view text) {
  auto value = parse_json_strict(text);
  if (!value || !value->is_object()) return std::nullopt;
  return value;
}

MemberState string_member(const nlohmann::json& object, std::string_view name,
                          std::string& out) {
  auto it = object.find(name);
  if (it == object.end()) return MemberState::kAbsent;
  if (!it->is_string()) return MemberState::kWrongType;
  out = it->get<std::string>();
  return MemberState::kPresent;
}

MemberState numeric_date_member(const nlohmann::json& object, std::string_view name,
                                std::int64_t& out) {
  auto it = object.find(name);
  if (it == object.end()) return MemberState::kAbsent;
  if (it->is_number_integer() && !it->is_number_unsigned()) {
    auto v = it->get<std::int64_t>();
    if (v < 0 || static_cast<double>(v) > kMaxNumericDate) return MemberState::kWrongType;
    out = v;
    return MemberState::kPresent;
  }
  if (it->is_number_unsigned()) {
    auto v = it->get<std::uint64_t>();
    if (static_cast<double>(v) > kMaxNumericDate) return MemberState::kWrongType;
    out = static_cast<std::int64_t>(v);
    return MemberState::kPresent;
  }
  if (it->is_number_float()) {
    double v = it->get<double>();
    if (!std::isfinite(v) || v < 0 || v > kMaxNumericDate) return MemberState::kWrongType;
    out = static_cast<std::int64_t>(v);
    return MemberState::kPresent;
  }
  return MemberState::kWrongType;
}

}  // namespace authz::detail
