#include "health_model.hpp"

#include "util.hpp"

namespace portability::detail {

json empty_health_record() {
  // Built once: copying a finished object is much cheaper than building it from an
  // initializer list each time (one per item converted).
  static const json kEmpty = json{{"id", ""},
                                  {"kind", "record"},
                                  {"type", ""},
                                  {"value", nullptr},
                                  {"unit", nullptr},
                                  {"start", ""},
                                  {"end", ""},
                                  {"created", nullptr},
                                  {"source",
                                   {{"name", nullptr}, {"version", nullptr}, {"device", nullptr}}},
                                  {"metadata", json::object()},
                                  {"workout", nullptr}};
  return kEmpty;
}

std::string check_health_record(const json& item) {
  if (!item.is_object()) throw FormatError("", "health record model must be an object");
  const auto id = model_string(item, "id");
  if (!id || id->empty()) throw FormatError("", "health record model needs a non-empty \"id\"");
  for (const char* key : {"kind", "type", "start", "end"}) {
    if (!model_string(item, key)) throw FormatError(*id, std::string(key) + " must be a string");
  }
  for (const char* key : {"start", "end", "created"}) {
    if (auto t = model_string(item, key); t && !parse_rfc3339(*t))
      throw FormatError(*id, std::string(key) + " must be RFC 3339");
  }
  if (!item.contains("source") || !item["source"].is_object())
    throw FormatError(*id, "source must be an object");
  if (!item.contains("metadata") || !item["metadata"].is_object())
    throw FormatError(*id, "metadata must be an object");
  for (const auto& [k, v] : item["metadata"].items()) {
    if (!v.is_string()) throw FormatError(*id, "metadata values must be strings");
  }
  if (item["kind"] == "workout" && !item["workout"].is_object())
    throw FormatError(*id, "a workout needs the workout object");
  return *id;
}

std::string healthkit_id(const std::string& type, const std::string& start, const std::string& end,
                         const std::string& source, const std::string& value) {
  return sha256_hex(type + "\n" + start + "\n" + end + "\n" + source + "\n" + value);
}

}  // namespace portability::detail
