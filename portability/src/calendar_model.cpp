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
                                  {"created", nullptr},
                                  {"updated", nullptr},
                                  {"timestamp", nullptr}};
  return kEmpty;
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
