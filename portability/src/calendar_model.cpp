#include "calendar_model.hpp"

#include <algorithm>

#include "util.hpp"

namespace portability::detail {

json empty_event() {
  // Built once: copying a finished object is much cheaper than building it from an
  // initializer list each time (one per item converted).
  static const json kEmpty = json{{"uid", ""},
                                  {"recurrence_id", nullptr},
                                  {"title", ""},
                                  {"description", ""},
                                  {"location", nullptr},
                                  {"url", nullptr},
                                  {"start", ""},
                                  {"time_zone", nullptr},
                                  {"all_day", false},
                                  {"duration", "PT0S"},
                                  {"end", nullptr},
                                  {"status", nullptr},
                                  {"sequence", 0},
                                  {"categories", json::array()},
                                  {"free_busy", nullptr},
                                  {"recurrence_rules", json::array()},
                                  {"recurrence_dates", json::array()},
                                  {"excluded_dates", json::array()},
                                  {"participants", json::array()},
                                  {"created", nullptr},
                                  {"updated", nullptr},
                                  {"timestamp", nullptr}};
  return kEmpty;
}

json empty_participant() {
  static const json kEmpty = json{{"address", ""},        {"name", nullptr},
                                  {"kind", nullptr},      {"roles", json::array()},
                                  {"status", nullptr},    {"expect_reply", false}};
  return kEmpty;
}

std::vector<std::string> participant_conflicts(const json& participants, const json& p) {
  std::vector<std::string> out;
  for (const json& q : participants) {
    if (q["address"] != p["address"]) continue;
    for (const char* key : {"name", "kind", "status"}) {
      if (!q[key].is_null() && !p[key].is_null() && q[key] != p[key]) out.emplace_back(key);
    }
  }
  return out;
}

void add_participant(json& participants, json p) {
  sort_unique(p["roles"]);
  // One participant per address: an organizer who is also an attendee (as Google writes
  // them) is one person with both roles; what the first one said of them stays.
  for (json& q : participants) {
    if (q["address"] != p["address"]) continue;
    for (const json& r : p["roles"]) q["roles"].push_back(r);
    sort_unique(q["roles"]);
    for (const char* key : {"name", "kind", "status"}) {
      if (q[key].is_null()) q[key] = p[key];
    }
    if (p["expect_reply"] == true) q["expect_reply"] = true;
    return;
  }
  participants.push_back(std::move(p));
  std::sort(participants.begin(), participants.end(), [](const json& a, const json& b) {
    return a["address"].get_ref<const std::string&>() < b["address"].get_ref<const std::string&>();
  });
}

bool is_local_date_time(const std::string& s) {
  if (s.size() < 19) return false;
  const auto dt = parse_rfc3339(s + "Z");
  return dt.has_value() && dt->second < 60;
}

std::string check_event(const json& item) {
  if (!item.is_object()) throw FormatError("", "event model must be an object");
  const auto uid = model_string(item, "uid");
  if (!uid || uid->empty()) throw FormatError("", "event model needs a non-empty \"uid\"");
  const auto start = model_string(item, "start");
  if (!start || !is_local_date_time(*start))
    throw FormatError(*uid, "model start must be a LocalDateTime");
  for (const char* key : {"title", "description", "duration"}) {
    if (!model_string(item, key)) throw FormatError(*uid, std::string(key) + " must be a string");
  }
  for (const char* key :
       {"categories", "recurrence_rules", "recurrence_dates", "excluded_dates"}) {
    if (!item.contains(key) || !item[key].is_array())
      throw FormatError(*uid, std::string(key) + " must be an array");
  }
  if (!item.contains("all_day") || !item["all_day"].is_boolean())
    throw FormatError(*uid, "all_day must be a boolean");
  if (!item.contains("sequence") || !item["sequence"].is_number_integer())
    throw FormatError(*uid, "sequence must be an integer");
  if (!item.contains("participants") || !item["participants"].is_array())
    throw FormatError(*uid, "participants must be an array");
  for (const json& p : item["participants"]) {
    const auto address = model_string(p, "address");
    if (!address || address->empty())
      throw FormatError(*uid, "a participant needs a non-empty address");
    if (!p.contains("roles") || !p["roles"].is_array())
      throw FormatError(*uid, "a participant's roles must be an array");
  }
  return *uid;
}

void sort_unique(json& array) {
  std::vector<std::string> v;
  for (const json& s : array) v.push_back(s.get<std::string>());
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  array = v;
}

}  // namespace portability::detail
