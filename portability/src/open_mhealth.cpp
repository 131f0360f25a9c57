// Open mHealth data points (header + body, schema-typed).

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "health_model.hpp"
#include "json_document.hpp"
#include "not_read.hpp"
#include "registry.hpp"
#include "util.hpp"

namespace portability::detail {
namespace {

// HealthKit samples travel in these omh schemas when type and unit map one to one;
// everything else travels whole in our own namespace (kOwnNamespace), so nothing is dropped.
struct Mapping {
  const char* hk_type;
  const char* hk_unit;
  const char* schema;
  const char* version;
  const char* body_key;
  const char* omh_unit;
};
constexpr Mapping kMappings[] = {
    {"HKQuantityTypeIdentifierStepCount", "count", "step-count", "2.0", "step_count", "steps"},
    {"HKQuantityTypeIdentifierHeartRate", "count/min", "heart-rate", "1.0", "heart_rate", "beats/min"},
    {"HKQuantityTypeIdentifierBodyMass", "kg", "body-weight", "1.0", "body_weight", "kg"},
    {"HKQuantityTypeIdentifierBodyMass", "lb", "body-weight", "1.0", "body_weight", "lb"},
    {"HKQuantityTypeIdentifierBodyMass", "g", "body-weight", "1.0", "body_weight", "g"},
    {"HKQuantityTypeIdentifierHeight", "cm", "body-height", "1.0", "body_height", "cm"},
    {"HKQuantityTypeIdentifierHeight", "m", "body-height", "1.0", "body_height", "m"},
    {"HKQuantityTypeIdentifierHeight", "in", "body-height", "1.0", "body_height", "in"},
    {"HKQuantityTypeIdentifierHeight", "ft", "body-height", "1.0", "body_height", "ft"},
    {"HKQuantityTypeIdentifierBodyTemperature", "degC", "body-temperature", "2.0", "body_temperature", "C"},
    {"HKQuantityTypeIdentifierBodyTemperature", "degF", "body-temperature", "2.0", "body_temperature", "F"},
    {"HKQuantityTypeIdentifierActiveEnergyBurned", "kcal", "calories-burned", "2.0", "kcal_burned", "kcal"},
};
constexpr const char* kOwnNamespace = "infobank";
constexpr const char* kOwnSchema = "healthkit-record";
constexpr const char* kWorkoutType = "HKWorkoutTypeIdentifier";

json time_frame(const json& item) {
  if (item["start"] == item["end"]) return {{"date_time", item["start"]}};
  return {{"time_interval", {{"start_date_time", item["start"]}, {"end_date_time", item["end"]}}}};
}

void read_time_frame(const json& body, json& m, const std::string& what) {
  const json* f = member(body, "effective_time_frame");
  if (f == nullptr || !f->is_object()) throw FormatError(what, "body has no effective_time_frame");
  if (auto t = opt_string(*f, "date_time", what)) {
    m["start"] = *t;
    m["end"] = *t;
  } else {
    const json& i = req_object(*f, "time_interval", what);
    m["start"] = req_string(i, "start_date_time", what);
    m["end"] = opt_string(i, "end_date_time", what).value_or("");
    if (m["end"] == "") throw FormatError(what, "time_interval without end_date_time is not supported");
  }
  for (const char* k : {"start", "end"}) {
    if (!parse_rfc3339(m[k].get<std::string>())) throw FormatError(what, "time frame is not RFC 3339");
  }
}

json unit_value(const std::string& value, const std::string& unit) {
  return {{"value", raw_number(value)}, {"unit", unit}};
}

// ---- what a data point holds that the model has no field for (to_model's not_read) ----

constexpr std::string_view kIntervalRead[] = {"end_date_time", "start_date_time"};
constexpr std::string_view kProvenanceRead[] = {"source_creation_date_time", "source_name"};
constexpr std::string_view kUnitValueRead[] = {"unit", "value"};

void list_time_frame(const json& frame, NotRead& out) {
  const std::string path = "body.effective_time_frame";
  const json* at = member(frame, "date_time");
  const bool instant = at != nullptr && at->is_string();  // then time_interval is not read
  for (const auto& [key, v] : frame.items()) {
    if (!holds_data(v) || (key == "date_time" && instant)) continue;
    if (key == "time_interval" && !instant) {
      out.members(v, kIntervalRead, path + "." + key);
    } else {
      out.add(path + "." + key);
    }
  }
}

void list_header(const json& header, const json& m, bool own, NotRead& out) {
  for (const auto& [key, v] : header.items()) {
    if (!holds_data(v) || key == "id" || key == "schema_id") continue;
    if (key == "uuid") {
      // header_id takes id when there is one; a uuid other than it is not read.
      const json* id = member(header, "id");
      if (id != nullptr && id->is_string() && *id != v) out.add("header.uuid");
    } else if (key == "creation_date_time") {
      // from_model writes created, or start when there is none: kept when it is that.
      const json* created = member(m, "created");
      if (v != (created != nullptr && created->is_string() ? *created : *member(m, "start")))
        out.add("header.creation_date_time");
    } else if (key == "acquisition_provenance" && !own && v.is_object()) {
      out.members(v, kProvenanceRead, "header." + key);
    } else {
      out.add("header." + key);
    }
  }
}

// Names what a data point holds that the model has no field for, in member order (a parsed
// object keeps its members sorted by name). `own` is our namespace, where acquisition_provenance
// is not read; `body_member(name, value)` reports what is not read of one body member, as the
// schema decides. Runs after to_model read the point, so each part has the shape it required.
template <typename BodyMember>
void list_not_read(const json& p, const json& m, bool own, BodyMember body_member,
                   NotRead& out) {
  for (const auto& [part, value] : p.items()) {
    if (!holds_data(value)) continue;
    if (part == "body") {
      for (const auto& [key, v] : value.items()) {
        if (holds_data(v)) body_member(key, v);
      }
    } else if (part == "header") {
      list_header(value, m, own, out);
    } else {
      out.add(part);
    }
  }
}

// The schema a data point names, "namespace:name"; none when it names none (to_model refuses
// such a point, naming it).
std::optional<std::pair<std::string, std::string>> schema_of(const json& p) {
  const json* header = p.is_object() ? member(p, "header") : nullptr;
  const json* schema = header != nullptr && header->is_object() ? member(*header, "schema_id")
                                                                 : nullptr;
  if (schema == nullptr || !schema->is_object()) return std::nullopt;
  const json* ns = member(*schema, "namespace");
  const json* name = member(*schema, "name");
  if (ns == nullptr || name == nullptr || !ns->is_string() || !name->is_string())
    return std::nullopt;
  return std::pair{ns->get<std::string>(), name->get<std::string>()};
}

// Whether to_model reads the data point `p` of this schema: our own, omh:physical-activity,
// and those of kMappings in a unit the mapping has (a body temperature in kelvin has none). A
// point whose body is malformed is read, for to_model to refuse it, naming it.
bool readable_schema(const json& p, const std::string& ns, const std::string& name) {
  if (ns == kOwnNamespace) return name == kOwnSchema;
  if (ns != "omh") return false;
  if (name == "physical-activity") return true;
  for (const Mapping& m : kMappings) {
    if (name != m.schema) continue;
    const json* body = member(p, "body");
    const json* uv = body != nullptr && body->is_object() ? member(*body, m.body_key) : nullptr;
    const json* unit = uv != nullptr && uv->is_object() ? member(*uv, "unit") : nullptr;
    if (unit == nullptr || !unit->is_string() || *unit == m.omh_unit) return true;
  }
  return false;
}

class OpenMHealth final : public Format {
 public:
  std::string_view name() const override { return "open-mhealth"; }
  Dataset dataset() const override { return Dataset::health_records; }
  std::string_view media_type() const override { return "application/json"; }

  // Every element of the array is a data point (or the document is refused). Those in a schema
  // the model has no mapping for (omh:blood-pressure, omh:sleep-duration, another namespace's),
  // or in a unit its mapping has not (a body temperature in kelvin), are skipped and named by
  // their schema ("omh:blood-pressure"): the rest of the export still moves, and nothing is
  // dropped without a word.
  std::vector<NativeItem> split(std::string_view document,
                                std::vector<std::string>* not_read) const override {
    const json doc = parse_json(document, "document");
    if (!doc.is_array()) throw FormatError("document", "expected an array of data points");
    json points = json::array();
    std::vector<std::string> skipped;
    for (const json& p : doc) {
      if (const auto schema = schema_of(p);
          schema && !readable_schema(p, schema->first, schema->second)) {
        skipped.push_back(schema->first + ":" + schema->second);
        continue;
      }
      points.push_back(p);
    }
    auto items = split_items(points, [](const json& p) { return header_id(p, ""); });
    // Last, so that a document refused above adds nothing to the list.
    if (not_read != nullptr) {
      NotRead out(*not_read);
      for (const std::string& name : skipped) out.add(name);
    }
    return items;
  }

  std::string join(const std::vector<NativeItem>& items) const override {
    return join_items("[", items, "]");
  }

  Item to_model(const NativeItem& item, std::vector<std::string>* not_read) const override {
    const std::string what = item.id.empty() ? "item" : item.id;
    const json p = parse_item(item);
    const json& header = req_object(p, "header", what);
    const json& body = req_object(p, "body", what);
    const json& schema = req_object(header, "schema_id", what);
    const std::string ns = req_string(schema, "namespace", what);
    const std::string name = req_string(schema, "name", what);
    json m = empty_health_record();
    if (ns == kOwnNamespace && name == kOwnSchema) {
      for (auto& [k, v] : m.items()) {
        if (k != "id" && body.contains(k)) v = body[k];
      }
      m["id"] = header_id(p, what);
      check_health_record(m);
      // Last in each branch, so that an item refused above adds nothing to the list.
      if (not_read != nullptr) {
        NotRead out(*not_read);
        // The body is the model itself, minus the id (the header's).
        list_not_read(p, m, true, [&](const std::string& key, const json& v) {
          if (key == "id" ? v != m["id"] : !m.contains(key)) out.add("body." + key);
        }, out);
      }
      return m;
    }
    m["id"] = header_id(p, what);
    if (const json* prov = member(header, "acquisition_provenance"); prov != nullptr && prov->is_object()) {
      m["source"]["name"] = str_or_null(opt_string(*prov, "source_name", what));
      m["created"] = str_or_null(opt_string(*prov, "source_creation_date_time", what));
    }
    read_time_frame(body, m, what);
    if (ns == "omh" && name == "physical-activity") {
      m["kind"] = "workout";
      m["type"] = kWorkoutType;
      json w{{"activity_type", req_string(body, "activity_name", what)}};
      for (const char* f : {"duration", "duration_unit", "total_distance", "total_distance_unit",
                            "total_energy_burned", "total_energy_burned_unit"})
        w[f] = nullptr;
      for (const auto& [key, field] : {std::pair{"distance", "total_distance"}, std::pair{"kcal_burned", "total_energy_burned"}}) {
        if (const json* uv = member(body, key); uv != nullptr) {
          w[field] = opt_number(*uv, "value", what).value_or("");
          w[std::string(field) + "_unit"] = req_string(*uv, "unit", what);
        }
      }
      m["workout"] = w;
      if (not_read != nullptr) {
        NotRead out(*not_read);
        list_not_read(p, m, false, [&](const std::string& key, const json& v) {
          if (key == "effective_time_frame") {
            list_time_frame(v, out);
          } else if (key == "distance" || key == "kcal_burned") {
            out.members(v, kUnitValueRead, "body." + key);
          } else if (key != "activity_name") {
            out.add("body." + key);
          }
        }, out);
      }
      return m;
    }
    for (const Mapping& map : kMappings) {
      if (ns != "omh" || name != map.schema) continue;
      const json& uv = req_object(body, map.body_key, what);
      if (req_string(uv, "unit", what) != map.omh_unit) continue;
      const auto value = opt_number(uv, "value", what);
      if (!value) throw FormatError(what, std::string(map.body_key) + " has no numeric value");
      m["type"] = map.hk_type;
      m["unit"] = map.hk_unit;
      m["value"] = *value;
      if (not_read != nullptr) {
        NotRead out(*not_read);
        list_not_read(p, m, false, [&](const std::string& key, const json& v) {
          if (key == "effective_time_frame") {
            list_time_frame(v, out);
          } else if (key == map.body_key) {
            out.members(v, kUnitValueRead, "body." + key);
          } else {
            out.add("body." + key);
          }
        }, out);
      }
      return m;
    }
    throw FormatError(what, "unsupported schema " + ns + ":" + name);
  }

  Converted from_model(const Item& item) const override {
    const std::string id = check_health_record(item);
    Converted out;
    auto& lost = out.not_carried;
    json header{{"id", id},
                {"creation_date_time", item["created"].is_string() ? item["created"] : item["start"]}};
    json body;
    json schema;
    const auto value = model_string(item, "value");
    const auto unit = model_string(item, "unit");
    const Mapping* found = nullptr;
    for (const Mapping& map : kMappings) {
      if (item["kind"] == "record" && item["type"] == map.hk_type && unit == map.hk_unit && value &&
          is_json_number(*value))
        found = &map;
    }
    const json& w = item["workout"];
    if (found != nullptr) {
      schema = {{"namespace", "omh"}, {"name", found->schema}, {"version", found->version}};
      body = {{found->body_key, unit_value(*value, found->omh_unit)}, {"effective_time_frame", time_frame(item)}};
    } else if (item["kind"] == "workout") {
      schema = {{"namespace", "omh"}, {"name", "physical-activity"}, {"version", "1.0"}};
      body = {{"activity_name", w["activity_type"]}, {"effective_time_frame", time_frame(item)}};
      for (const auto& [key, field] : {std::pair{"distance", "total_distance"}, std::pair{"kcal_burned", "total_energy_burned"}}) {
        const auto v = model_string(w, field);
        const auto u = model_string(w, std::string(field) + "_unit");
        if (v && u && is_json_number(*v)) {
          body[key] = unit_value(*v, *u);
        } else if (v || u) {
          lost.push_back(std::string("workout.") + field);
        }
      }
      for (const char* f : {"duration", "duration_unit"}) {
        if (!w[f].is_null()) lost.push_back(std::string("workout.") + f);
      }
      if (value || unit) lost.push_back("value");
    } else {
      schema = {{"namespace", kOwnNamespace}, {"name", kOwnSchema}, {"version", "1.0"}};
      body = item;
      body.erase("id");
    }
    header["schema_id"] = schema;
    if (schema["namespace"] == "omh") {
      json prov = json::object();
      if (auto s = model_string(item["source"], "name")) prov["source_name"] = *s;
      if (auto c = model_string(item, "created")) prov["source_creation_date_time"] = *c;
      if (!prov.empty()) header["acquisition_provenance"] = prov;
      for (const char* f : {"version", "device"}) {
        if (!item["source"][f].is_null()) lost.push_back(std::string("source.") + f);
      }
      for (const auto& [k, v] : item["metadata"].items()) lost.push_back("metadata." + k);
    }
    std::sort(lost.begin(), lost.end());
    lost.erase(std::unique(lost.begin(), lost.end()), lost.end());
    out.native = {id, dump(json{{"header", header}, {"body", body}})};
    return out;
  }

 private:
  static std::string header_id(const json& p, const std::string& what) {
    const json& header = req_object(p, "header", what);
    if (auto id = opt_string(header, "id", what)) return *id;
    return req_string(header, "uuid", what);
  }
};

}  // namespace

const Format& open_mhealth_format() {
  static const OpenMHealth format;
  return format;
}

}  // namespace portability::detail
