// Open mHealth data points (header + body, schema-typed), to the published schemas:
// github.com/openmhealth/schemas, schema/omh/ (and their samples under test-data/omh/).

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <span>
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
// A row holds for the major versions first_major..last_major of its schema: a minor version
// only adds optional members (named in not_read when not read), so "1.1" reads as "1.0" does.
// Its measure is body_key: {value, unit omh_unit}, or a bare number when omh_unit is "". One row
// per HealthKit type and unit says the version from_model writes (`writes`); the others are
// read only (another major's spelling of the unit, or another shape).
struct Mapping {
  const char* hk_type;
  const char* hk_unit;
  const char* schema;
  int first_major;
  int last_major;
  const char* body_key;
  const char* omh_unit;
  const char* writes;
};
constexpr Mapping kMappings[] = {
    // 1.x and 2.x hold a bare number of steps, 3.x {value, unit "steps"}; a 2.0 point this
    // adapter wrote before it wrote the bare number holds {value, unit "steps"}, read too.
    {"HKQuantityTypeIdentifierStepCount", "count", "step-count", 1, 2, "step_count", "", "2.0"},
    {"HKQuantityTypeIdentifierStepCount", "count", "step-count", 2, 3, "step_count", "steps",
     nullptr},
    {"HKQuantityTypeIdentifierHeartRate", "count/min", "heart-rate", 1, 3, "heart_rate",
     "beats/min", "1.0"},
    {"HKQuantityTypeIdentifierBodyMass", "kg", "body-weight", 1, 3, "body_weight", "kg", "1.0"},
    {"HKQuantityTypeIdentifierBodyMass", "lb", "body-weight", 1, 3, "body_weight", "lb", "1.0"},
    {"HKQuantityTypeIdentifierBodyMass", "g", "body-weight", 1, 3, "body_weight", "g", "1.0"},
    {"HKQuantityTypeIdentifierHeight", "cm", "body-height", 1, 2, "body_height", "cm", "1.0"},
    {"HKQuantityTypeIdentifierHeight", "m", "body-height", 1, 2, "body_height", "m", "1.0"},
    {"HKQuantityTypeIdentifierHeight", "in", "body-height", 1, 2, "body_height", "in", "1.0"},
    {"HKQuantityTypeIdentifierHeight", "ft", "body-height", 1, 2, "body_height", "ft", "1.0"},
    {"HKQuantityTypeIdentifierBodyTemperature", "degC", "body-temperature", 1, 4,
     "body_temperature", "C", "2.0"},
    {"HKQuantityTypeIdentifierBodyTemperature", "degF", "body-temperature", 1, 4,
     "body_temperature", "F", "2.0"},
    {"HKQuantityTypeIdentifierActiveEnergyBurned", "kcal", "calories-burned", 1, 3, "kcal_burned",
     "kcal", "2.0"},
    {"HKQuantityTypeIdentifierRespiratoryRate", "count/min", "respiratory-rate", 1, 3,
     "respiratory_rate", "breaths/min", "1.0"},
    // HealthKit's BMI is a count whose value is in kg/m^2; 1.x spells the unit kg/m2.
    {"HKQuantityTypeIdentifierBodyMassIndex", "count", "body-mass-index", 1, 1, "body_mass_index",
     "kg/m2", "1.0"},
    {"HKQuantityTypeIdentifierBodyMassIndex", "count", "body-mass-index", 2, 3, "body_mass_index",
     "kg/m^2", nullptr},
    // HealthKit writes millimoles of glucose with its molar mass in the unit.
    {"HKQuantityTypeIdentifierBloodGlucose", "mg/dL", "blood-glucose", 1, 4, "blood_glucose",
     "mg/dL", "1.0"},
    {"HKQuantityTypeIdentifierBloodGlucose", "mmol<180.1558800000541>/L", "blood-glucose", 1, 4,
     "blood_glucose", "mmol/L", "1.0"},
};
// The written versions of these restrict the time frame to a time_interval (a count over time).
constexpr std::string_view kIntervalOnly[] = {"calories-burned", "step-count"};

constexpr const char* kOwnNamespace = "infobank";
constexpr const char* kOwnSchema = "healthkit-record";
constexpr const char* kWorkoutType = "HKWorkoutTypeIdentifier";
// 1.2 is the first omh:physical-activity with kcal_burned.
constexpr const char* kWorkoutVersion = "1.2";

// The schemas to_model reads whole, outside kMappings, and their major versions read:
// physical-activity 2.x adds effective_duration (named in not_read) to 1.x.
struct WholeSchema {
  std::string_view ns;
  std::string_view name;
  int first_major;
  int last_major;
};
constexpr WholeSchema kWholeSchemas[] = {{kOwnNamespace, kOwnSchema, 1, 1},
                                         {"omh", "physical-activity", 1, 2}};

json time_frame(const json& item, bool interval_only) {
  if (item["start"] == item["end"] && !interval_only) return {{"date_time", item["start"]}};
  return {{"time_interval", {{"start_date_time", item["start"]}, {"end_date_time", item["end"]}}}};
}

// omh:duration-unit-value's units, in nanoseconds; months and years have no one length.
constexpr std::pair<std::string_view, long double> kDurationUnits[] = {
    {"ps", 1e-3L}, {"ns", 1},         {"us", 1e3L},           {"ms", 1e6L},
    {"sec", 1e9L}, {"min", 60 * 1e9L}, {"h", 3600 * 1e9L}, {"d", 86400 * 1e9L},
    {"wk", 7 * 86400 * 1e9L}};

// `at` moved by the time_interval's `duration` (omh:duration-unit-value), forward or back
// (`sign`), to the nanosecond, written in `at`'s own offset: a start and a duration give the
// end (omh:time-interval allows start + end, start + duration and end + duration).
std::string shifted(const std::string& at, const json& duration, int sign,
                    const std::string& what) {
  const auto value = duration.is_object() ? member(duration, "value") : nullptr;
  const auto unit = duration.is_object() ? member(duration, "unit") : nullptr;
  const auto digits = value != nullptr ? number_text(*value) : std::nullopt;
  if (!digits || unit == nullptr || !unit->is_string())
    throw FormatError(what, "time_interval duration is not a unit value");
  const auto* scale = std::find_if(std::begin(kDurationUnits), std::end(kDurationUnits),
                                   [&](const auto& u) { return u.first == *unit; });
  if (scale == std::end(kDurationUnits))
    throw FormatError(what, "time_interval duration in " + unit->get<std::string>() +
                                ", which has no fixed length");
  const long double nanos = std::strtold(digits->c_str(), nullptr) * scale->second;
  // Up to a century: a duration past that is no sample's.
  if (!(nanos >= 0) || nanos > 100 * 366 * 86400.0L * 1e9L)
    throw FormatError(what, "time_interval duration is negative or too long");
  const auto dt = parse_rfc3339(at);
  if (!dt) throw FormatError(what, "time frame is not RFC 3339");
  // The instant in nanoseconds since the epoch, as the local wall clock of `at` reads it.
  std::string fraction = dt->fraction.substr(0, 9);
  fraction.resize(9, '0');
  constexpr std::int64_t kGiga = 1'000'000'000;
  const std::int64_t local_seconds = epoch_seconds(*dt) + dt->offset_minutes * 60LL;
  const std::int64_t moved = std::stoll(fraction) + sign * std::llroundl(nanos);
  const std::int64_t whole = moved >= 0 ? moved / kGiga : -((-moved + kGiga - 1) / kGiga);
  const std::int64_t seconds = local_seconds + whole;
  std::string digits_out = pad(moved - whole * kGiga, 9);
  while (!digits_out.empty() && digits_out.back() == '0') digits_out.pop_back();
  auto out = from_epoch(seconds, digits_out);
  out.utc = dt->utc;
  out.offset_minutes = dt->offset_minutes;
  out.negative_zero = dt->negative_zero;
  return format_rfc3339(out);
}

void read_time_frame(const json& body, json& m, const std::string& what) {
  const json* f = member(body, "effective_time_frame");
  if (f == nullptr || !f->is_object()) throw FormatError(what, "body has no effective_time_frame");
  if (auto t = opt_string(*f, "date_time", what)) {
    m["start"] = *t;
    m["end"] = *t;
  } else {
    const json& i = req_object(*f, "time_interval", what);
    auto start = opt_string(i, "start_date_time", what);
    auto end = opt_string(i, "end_date_time", what);
    const json* duration = member(i, "duration");
    if (start && !end && duration != nullptr) end = shifted(*start, *duration, 1, what);
    if (end && !start && duration != nullptr) start = shifted(*end, *duration, -1, what);
    if (!start || !end)
      throw FormatError(what, "time_interval needs two of start_date_time, end_date_time and "
                              "duration");
    m["start"] = *start;
    m["end"] = *end;
  }
  for (const char* k : {"start", "end"}) {
    if (!parse_rfc3339(m[k].get<std::string>()))
      throw FormatError(what, "time frame is not RFC 3339");
  }
}

json unit_value(const std::string& value, const std::string& unit) {
  return {{"value", raw_number(value)}, {"unit", unit}};
}

// ---- what a data point holds that the model has no field for (to_model's not_read) ----

constexpr std::string_view kIntervalRead[] = {"end_date_time", "start_date_time"};
constexpr std::string_view kIntervalByDurationRead[] = {"duration", "end_date_time",
                                                        "start_date_time"};
constexpr std::string_view kProvenanceRead[] = {"source_creation_date_time", "source_name"};
constexpr std::string_view kUnitValueRead[] = {"unit", "value"};

void list_time_frame(const json& frame, NotRead& out) {
  const std::string path = "body.effective_time_frame";
  const json* at = member(frame, "date_time");
  const bool instant = at != nullptr && at->is_string();  // then time_interval is not read
  for (const auto& [key, v] : frame.items()) {
    if (!holds_data(v) || (key == "date_time" && instant)) continue;
    if (key == "time_interval" && !instant) {
      // The duration is read when it stands for a missing start or end.
      const bool both = member(v, "start_date_time") != nullptr &&
                        member(v, "end_date_time") != nullptr;
      out.members(v, both ? std::span<const std::string_view>(kIntervalRead)
                          : std::span<const std::string_view>(kIntervalByDurationRead),
                  path + "." + key);
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

// ---- which data points are read: schema, version, unit ----

// The schema a data point names in header.schema_id; its version is none when not a string.
struct SchemaId {
  std::string ns;
  std::string name;
  std::optional<std::string> version;
};

// None when the point names no schema (to_model refuses such a point, naming it).
std::optional<SchemaId> schema_of(const json& p) {
  const json* header = member(p, "header");
  const json* schema = header != nullptr ? member(*header, "schema_id") : nullptr;
  if (schema == nullptr) return std::nullopt;
  const json* ns = member(*schema, "namespace");
  const json* name = member(*schema, "name");
  if (ns == nullptr || name == nullptr || !ns->is_string() || !name->is_string())
    return std::nullopt;
  const json* version = member(*schema, "version");
  return SchemaId{ns->get<std::string>(), name->get<std::string>(),
                  version != nullptr && version->is_string()
                      ? std::optional(version->get<std::string>())
                      : std::nullopt};
}

// The major of a schema version: "major.minor" with an optional ".qualifier" of letters and
// digits, as the schemas' own Java SDK (SchemaVersion) parses it. None when it is not one.
std::optional<int> major_of(std::string_view version) {
  const auto digits_from = [version](std::size_t at) {
    while (at < version.size() && version[at] >= '0' && version[at] <= '9') ++at;
    return at;
  };
  const std::size_t dot = digits_from(0);
  // Nine digits at most, so that the major fits an int.
  if (dot == 0 || dot > 9 || dot == version.size() || version[dot] != '.') return std::nullopt;
  const std::size_t end = digits_from(dot + 1);
  if (end == dot + 1) return std::nullopt;
  if (end < version.size()) {
    const std::string_view qualifier = version.substr(end + 1);
    const auto alphanumeric = [](char c) {
      return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    };
    if (version[end] != '.' || qualifier.empty() || !std::ranges::all_of(qualifier, alphanumeric))
      return std::nullopt;
  }
  int major = 0;
  std::from_chars(version.data(), version.data() + dot, major);
  return major;
}

// Whether to_model reads some version of this schema.
bool known_schema(const std::string& ns, const std::string& name) {
  if (std::ranges::any_of(kWholeSchemas,
                          [&](const WholeSchema& s) { return s.ns == ns && s.name == name; }))
    return true;
  return ns == "omh" &&
         std::ranges::any_of(kMappings, [&](const Mapping& m) { return name == m.schema; });
}

// How a data point of one of kMappings' schemas, at one of its major versions, fits the rows.
enum class Fit {
  read,             // by `row`
  unknown_version,  // no row holds for the major: a body shape the adapter does not know
  other_unit,       // no row holding for the major has the measure's `unit`
  malformed,        // the measure is missing, or not of the shape the major's rows hold
};
struct Match {
  Fit fit = Fit::unknown_version;
  const Mapping* row = nullptr;
  std::string unit;                // Fit::other_unit
  const char* body_key = nullptr;  // the measure's member, unless Fit::unknown_version
};

// The row of kMappings a data point in omh:`name` at major version `major` is read by, from its
// body's measure; or why it is not.
Match match_row(const json& body, const std::string& name, int major) {
  Match out;
  for (const Mapping& m : kMappings) {
    if (name != m.schema || major < m.first_major || major > m.last_major) continue;
    out.body_key = m.body_key;
    const json* measure = member(body, m.body_key);
    const json* unit = measure != nullptr ? member(*measure, "unit") : nullptr;
    if (*m.omh_unit == '\0') {
      if (measure != nullptr && number_text(*measure)) return {Fit::read, &m, "", m.body_key};
    } else if (unit != nullptr && holds_data(*unit) && unit->is_string()) {
      if (*unit == m.omh_unit) return {Fit::read, &m, "", m.body_key};
      out.fit = Fit::other_unit;
      out.unit = unit->get<std::string>();
      continue;
    }
    if (out.fit == Fit::unknown_version) out.fit = Fit::malformed;
  }
  return out;
}

// The name a data point of a schema to_model reads is skipped by, in split's not_read list:
// "omh:step-count:4.0" for a major version it does not read, "omh:body-temperature (unit K)"
// for a unit its rows have not (a unit names no one; the value, which might, is never named).
// None when to_model is to read it, or to refuse it as malformed, naming it.
// omh:time-interval also names a part of a day ("date" with "part_of_day": the morning of
// 2024-05-01), which has no instant to start or end at, and the model has no other time.
bool by_part_of_day(const json& body) {
  const json* f = member(body, "effective_time_frame");
  if (f == nullptr || !f->is_object() || member(*f, "date_time") != nullptr) return false;
  const json* i = member(*f, "time_interval");
  return i != nullptr && i->is_object() && member(*i, "date") != nullptr &&
         member(*i, "start_date_time") == nullptr && member(*i, "end_date_time") == nullptr;
}

std::optional<std::string> unread_as(const json& body, const SchemaId& id, int major) {
  const std::string schema = id.ns + ":" + id.name;
  const std::string by_part = schema + " (time_interval by part_of_day)";
  for (const WholeSchema& s : kWholeSchemas) {
    if (s.ns != id.ns || s.name != id.name) continue;
    if (major < s.first_major || major > s.last_major)
      return schema + ":" + id.version.value_or("");
    if (id.ns != kOwnNamespace && by_part_of_day(body)) return by_part;
    return std::nullopt;
  }
  const Match m = match_row(body, id.name, major);
  if (m.fit == Fit::unknown_version) return schema + ":" + id.version.value_or("");
  if (m.fit == Fit::other_unit) return schema + " (unit " + m.unit + ")";
  if (by_part_of_day(body)) return by_part;
  return std::nullopt;
}

// What split skips the data point `p` as: the not_read name of a point in a schema the model
// has no mapping for ("omh:blood-pressure"), or in a version or unit it does not read (above).
// None when to_model is to read it, or to refuse it, naming it: a point naming no schema, no
// version of "major.minor", or malformed.
std::optional<std::string> skipped_as(const json& p) {
  const auto id = schema_of(p);
  if (!id) return std::nullopt;
  if (!known_schema(id->ns, id->name)) return id->ns + ":" + id->name;
  const auto major = id->version ? major_of(*id->version) : std::nullopt;
  if (!major) return std::nullopt;
  const json* body = member(p, "body");
  return unread_as(body != nullptr ? *body : json(), *id, *major);
}

class OpenMHealth final : public Format {
 public:
  std::string_view name() const override { return "open-mhealth"; }
  Dataset dataset() const override { return Dataset::health_records; }
  std::string_view media_type() const override { return "application/json"; }

  // Every element of the array is a data point (or the document is refused). Those in a schema
  // the model has no mapping for (omh:blood-pressure, omh:sleep-duration, another namespace's),
  // in a major version whose body the adapter does not know (omh:step-count:4.0), in a unit
  // its mapping has not (a body temperature in kelvin), or at a part of a day rather than
  // between two instants, are skipped and named (skipped_as): the rest of the export still
  // moves, and nothing is dropped without a word.
  std::vector<NativeItem> split(std::string_view document,
                                std::vector<std::string>* not_read) const override {
    json doc = parse_json(document, "document");
    // A data point by itself (omh:data-point, as a schema's sample or an API gives one) is a
    // document of one.
    if (doc.is_object() && member(doc, "header") != nullptr) doc = json::array({std::move(doc)});
    if (!doc.is_array()) throw FormatError("document", "expected an array of data points");
    json points = json::array();
    std::vector<std::string> skipped;
    for (const json& p : doc) {
      if (auto name = skipped_as(p)) {
        skipped.push_back(std::move(*name));
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
    const SchemaId id{req_string(schema, "namespace", what), req_string(schema, "name", what),
                      req_string(schema, "version", what)};
    const std::string& ns = id.ns;
    const std::string& name = id.name;
    if (!known_schema(ns, name)) throw FormatError(what, "unsupported schema " + ns + ":" + name);
    const auto major = major_of(*id.version);
    if (!major) throw FormatError(what, "schema_id version is not major.minor");
    if (auto unread = unread_as(body, id, *major)) throw FormatError(what, "not read: " + *unread);
    json m = empty_health_record();
    if (ns == kOwnNamespace) {
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
    if (const json* prov = member(header, "acquisition_provenance");
        prov != nullptr && prov->is_object()) {
      // An empty source_name is how from_model writes an unknown one (omh:header requires one).
      const auto source = opt_string(*prov, "source_name", what);
      m["source"]["name"] = source && !source->empty() ? json(*source) : json(nullptr);
      const auto created = opt_string(*prov, "source_creation_date_time", what);
      if (created && !parse_rfc3339(*created))
        throw FormatError(what, "acquisition_provenance.source_creation_date_time is not "
                                "RFC 3339: " + *created);
      m["created"] = str_or_null(created);
    }
    read_time_frame(body, m, what);
    if (name == "physical-activity") {
      m["kind"] = "workout";
      m["type"] = kWorkoutType;
      json w{{"activity_type", req_string(body, "activity_name", what)}};
      for (const char* f : {"duration", "duration_unit", "total_distance", "total_distance_unit",
                            "total_energy_burned", "total_energy_burned_unit"})
        w[f] = nullptr;
      for (const auto& [key, field] : kWorkoutTotals) {
        if (const json* uv = member(body, key); uv != nullptr) {
          const auto value = opt_number(*uv, "value", what);
          if (!value) throw FormatError(what, std::string(key) + " has no numeric value");
          w[field] = *value;
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
    const Match match = match_row(body, name, *major);
    if (match.fit != Fit::read)
      throw FormatError(what, "\"" + std::string(match.body_key) + "\" is missing or not as " + ns +
                                  ":" + name + ":" + *id.version + " has it");
    const Mapping& map = *match.row;
    const json& measure = *member(body, map.body_key);
    const bool bare = *map.omh_unit == '\0';
    const auto value = bare ? number_text(measure) : opt_number(measure, "value", what);
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
          if (!bare) out.members(v, kUnitValueRead, "body." + key);
        } else {
          out.add("body." + key);
        }
      }, out);
    }
    return m;
  }

  Converted from_model(const Item& item) const override {
    const std::string id = check_health_record(item);
    Converted out;
    auto& lost = out.not_carried;
    json header{{"id", id},
                {"creation_date_time",
                 item["created"].is_string() ? item["created"] : item["start"]}};
    json body;
    json schema;
    const auto value = model_string(item, "value");
    const auto unit = model_string(item, "unit");
    const Mapping* found = nullptr;
    for (const Mapping& map : kMappings) {
      if (found == nullptr && map.writes != nullptr && item["kind"] == "record" &&
          item["type"] == map.hk_type && unit == map.hk_unit && value && is_json_number(*value))
        found = &map;
    }
    const json& w = item["workout"];
    if (found != nullptr) {
      schema = {{"namespace", "omh"}, {"name", found->schema}, {"version", found->writes}};
      body = {{found->body_key, *found->omh_unit == '\0' ? raw_number(*value)
                                                         : unit_value(*value, found->omh_unit)},
              {"effective_time_frame", time_frame(item, among(kIntervalOnly, found->schema))}};
    } else if (item["kind"] == "workout") {
      schema = {{"namespace", "omh"}, {"name", "physical-activity"}, {"version", kWorkoutVersion}};
      body = {{"activity_name", w["activity_type"]},
              {"effective_time_frame", time_frame(item, false)}};
      for (const auto& [key, field] : kWorkoutTotals) {
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
      if (auto c = model_string(item, "created")) prov["source_creation_date_time"] = *c;
      // omh:header requires a source_name in acquisition_provenance: an unknown one beside a
      // known creation date is written empty, and read back as null.
      const auto source = model_string(item["source"], "name");
      if (source || !prov.empty()) prov["source_name"] = source.value_or("");
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
  // omh:physical-activity's totals: body member, and the model's workout field.
  static constexpr std::pair<const char*, const char*> kWorkoutTotals[] = {
      {"distance", "total_distance"}, {"kcal_burned", "total_energy_burned"}};

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
