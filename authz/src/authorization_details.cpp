#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "authz/oauth.hpp"

namespace authz {

namespace {

OAuthError details_error(std::string description) {
  return make_error("invalid_authorization_details", std::move(description));
}

bool is_string_array(const nlohmann::json& value) {
  if (!value.is_array() || value.empty()) return false;
  return std::all_of(value.begin(), value.end(),
                     [](const nlohmann::json& v) { return v.is_string() && !v.get_ref<const std::string&>().empty(); });
}

bool is_nonempty_string(const nlohmann::json& value) {
  return value.is_string() && !value.get_ref<const std::string&>().empty();
}

// RFC 3339 full-date or date-time ("2027-03-31" or "2027-03-31T23:59:59+09:00"); checked by
// shape, which is what a consent page and a retention check need.
bool is_rfc3339(const std::string& text) {
  auto digits = [&](std::size_t from, std::size_t count) {
    if (from + count > text.size()) return false;
    return std::all_of(text.begin() + static_cast<long>(from),
                       text.begin() + static_cast<long>(from + count),
                       [](char c) { return c >= '0' && c <= '9'; });
  };
  if (text.size() < 10 || !digits(0, 4) || text[4] != '-' || !digits(5, 2) || text[7] != '-' ||
      !digits(8, 2)) {
    return false;
  }
  if (text.size() == 10) return true;
  if (text.size() < 20 || (text[10] != 'T' && text[10] != 't') || !digits(11, 2) ||
      text[13] != ':' || !digits(14, 2) || text[16] != ':' || !digits(17, 2)) {
    return false;
  }
  std::size_t i = 19;
  if (text[i] == '.') {
    ++i;
    std::size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    if (i == start) return false;
  }
  if (i == text.size() - 1) return text[i] == 'Z' || text[i] == 'z';
  return i + 6 == text.size() && (text[i] == '+' || text[i] == '-') && digits(i + 1, 2) &&
         text[i + 3] == ':' && digits(i + 4, 2);
}

Expected<nlohmann::json> check_detail(const nlohmann::json& detail) {
  if (!detail.is_object()) return details_error("each authorization detail must be an object");
  auto type = detail.find("type");
  if (type == detail.end() || !type->is_string()) return details_error("missing type");
  const auto& name = type->get_ref<const std::string&>();
  std::set<std::string> allowed;
  if (name == "personal_data_provision") {
    allowed = {"type", "datasets", "purpose", "recipient", "retention_until"};
    if (!detail.contains("datasets") || !is_string_array(detail["datasets"]))
      return details_error("personal_data_provision needs datasets (non-empty strings)");
    if (!detail.contains("purpose") || !is_nonempty_string(detail["purpose"]))
      return details_error("personal_data_provision needs a purpose");
    if (detail.contains("recipient") && !is_nonempty_string(detail["recipient"]))
      return details_error("recipient must be a string");
    if (detail.contains("retention_until") &&
        (!detail["retention_until"].is_string() ||
         !is_rfc3339(detail["retention_until"].get<std::string>())))
      return details_error("retention_until must be an RFC 3339 date or date-time");
  } else if (name == "personal_data_transfer") {
    allowed = {"type", "source", "destination", "datasets", "delete_at_source"};
    if (!detail.contains("source") || !is_nonempty_string(detail["source"]))
      return details_error("personal_data_transfer needs a source");
    if (!detail.contains("destination") || !is_nonempty_string(detail["destination"]))
      return details_error("personal_data_transfer needs a destination");
    if (!detail.contains("datasets") || !is_string_array(detail["datasets"]))
      return details_error("personal_data_transfer needs datasets (non-empty strings)");
    if (detail.contains("delete_at_source") && !detail["delete_at_source"].is_boolean())
      return details_error("delete_at_source must be a boolean");
  } else {
    return details_error("unknown authorization details type");
  }
  for (const auto& item : detail.items()) {
    if (!allowed.contains(item.key()))
      return details_error("unknown field \"" + item.key() + "\" in " + name);
  }
  return detail;
}

}  // namespace

Expected<std::string> canonical_authorization_details(std::string_view json) {
  nlohmann::json parsed = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return details_error("authorization_details is not valid JSON");
  if (!parsed.is_array() || parsed.empty())
    return details_error("authorization_details must be a non-empty JSON array");
  nlohmann::json out = nlohmann::json::array();
  for (const auto& detail : parsed) {
    auto checked = check_detail(detail);
    if (!checked) return checked.error();
    out.push_back(std::move(*checked));
  }
  // nlohmann::json keeps object members sorted: dump() is a canonical form, so two requests
  // for the same thing compare equal as strings.
  return out.dump();
}

std::vector<std::string> split_scope(std::string_view scope) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < scope.size()) {
    while (i < scope.size() && scope[i] == ' ') ++i;
    std::size_t start = i;
    while (i < scope.size() && scope[i] != ' ') ++i;
    if (i > start) {
      std::string token(scope.substr(start, i - start));
      if (std::find(out.begin(), out.end(), token) == out.end()) out.push_back(std::move(token));
    }
  }
  return out;
}

}  // namespace authz
