#include "location_model.hpp"

#include "util.hpp"

namespace portability::detail {

json empty_location_point() {
  // Built once: copying a finished object is much cheaper than building it from an
  // initializer list each time (one per item converted).
  static const json kEmpty = json{{"timestamp", ""},
                                  {"latitude_e7", 0},
                                  {"longitude_e7", 0},
                                  {"accuracy", nullptr},
                                  {"altitude", nullptr},
                                  {"vertical_accuracy", nullptr},
                                  {"velocity", nullptr},
                                  {"heading", nullptr},
                                  {"source", nullptr},
                                  {"device_tag", nullptr}};
  return kEmpty;
}

std::int64_t degrees_to_e7(const std::string& text, bool latitude, const std::string& what) {
  const auto v = decimal_to_e7(text);
  const std::int64_t limit = latitude ? 900000000 : 1800000000;
  if (!v || *v < -limit || *v > limit)
    throw FormatError(what, std::string(latitude ? "latitude" : "longitude") + " out of range: " + text);
  return *v;
}

std::string check_location_point(const json& item) {
  if (!item.is_object()) throw FormatError("", "location model must be an object");
  const auto ts = model_string(item, "timestamp");
  if (!ts || !parse_rfc3339(*ts)) throw FormatError("", "location model needs an RFC 3339 timestamp");
  for (const char* key : {"latitude_e7", "longitude_e7"}) {
    if (!item.contains(key) || !item[key].is_number_integer())
      throw FormatError(*ts, std::string(key) + " must be an integer");
  }
  for (const char* key : kLocationDecimals) {
    if (const json* v = member(item, key); v != nullptr && !v->is_null() &&
                                          (!v->is_string() || !is_json_number(v->get<std::string>())))
      throw FormatError(*ts, std::string(key) + " must be a decimal string");
  }
  return *ts;
}

}  // namespace portability::detail
