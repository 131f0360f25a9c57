#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "storage/datetime.hpp"

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

// When a detail's consent ends (epoch seconds), or 0 when it names no end.
std::int64_t detail_end(const nlohmann::json& detail) {
  auto until = detail.find("retention_until");
  if (until == detail.end() || !until->is_string()) return 0;
  return storage::datetime::end_of_rfc3339(until->get_ref<const std::string&>()).value_or(0);
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
         !storage::datetime::end_of_rfc3339(detail["retention_until"].get<std::string>())))
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

std::int64_t consent_end(std::string_view details_json) {
  if (details_json.empty()) return 0;
  std::int64_t latest = 0;
  for (const auto& detail : nlohmann::json::parse(details_json)) {
    const std::int64_t end = detail_end(detail);
    if (end == 0) return 0;
    latest = std::max(latest, end);
  }
  return latest;
}

DetailsInForce details_in_force(std::string_view details_json, std::int64_t now) {
  DetailsInForce out;
  if (details_json.empty()) return out;
  nlohmann::json kept = nlohmann::json::array();
  for (auto& detail : nlohmann::json::parse(details_json)) {
    const std::int64_t end = detail_end(detail);
    if (end != 0 && end <= now) continue;
    if (end != 0 && (out.ends_at == 0 || end < out.ends_at)) out.ends_at = end;
    kept.push_back(std::move(detail));
  }
  if (!kept.empty()) out.json = kept.dump();
  return out;
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
