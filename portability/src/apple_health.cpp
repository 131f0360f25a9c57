// Apple Health export.xml (HealthKit export version 3).

#include <algorithm>
#include <span>
#include <sstream>
#include <string_view>

#include "health_model.hpp"
#include "not_read.hpp"
#include "registry.hpp"
#include "util.hpp"
#include "xml_util.hpp"

namespace portability::detail {
namespace {

constexpr const char* kWorkoutType = "HKWorkoutTypeIdentifier";

// Workout attributes <-> model workout fields.
const std::vector<std::pair<const char*, const char*>>& workout_attributes() {
  static const std::vector<std::pair<const char*, const char*>> a{
      {"workoutActivityType", "activity_type"},
      {"duration", "duration"},
      {"durationUnit", "duration_unit"},
      {"totalDistance", "total_distance"},
      {"totalDistanceUnit", "total_distance_unit"},
      {"totalEnergyBurned", "total_energy_burned"},
      {"totalEnergyBurnedUnit", "total_energy_burned_unit"}};
  return a;
}

// "2014-09-13 10:27:54 +0100" -> "2014-09-13T10:27:54+01:00" (the offset is kept).
std::string to_rfc3339(const std::string& s, const std::string& what, const char* attr) {
  auto bad = [&] { return FormatError(what, std::string("bad ") + attr + " \"" + s + "\""); };
  if (s.size() != 25 || s[10] != ' ' || s[19] != ' ' || (s[20] != '+' && s[20] != '-')) throw bad();
  const std::string out = s.substr(0, 10) + "T" + s.substr(11, 8) + s.substr(20, 3) + ":" + s.substr(23, 2);
  if (!parse_rfc3339(out)) throw bad();
  return out;
}

std::string from_rfc3339(const std::string& s, const std::string& field, std::vector<std::string>& lost) {
  const DateTime dt = *parse_rfc3339(s);
  if (!dt.fraction.empty()) lost.push_back(field + ".fraction");
  if (dt.utc) lost.push_back(field + ".offset");  // "Z" comes back as "+00:00"
  const int off = dt.offset_minutes < 0 ? -dt.offset_minutes : dt.offset_minutes;
  return s.substr(0, 10) + " " + s.substr(11, 8) + " " + (dt.offset_minutes < 0 || dt.negative_zero ? "-" : "+") +
         pad(off / 60, 2) + pad(off % 60, 2);
}

std::string native_id(pugi::xml_node n) {
  const bool workout = std::string_view(n.name()) == "Workout";
  return healthkit_id(n.attribute(workout ? "workoutActivityType" : "type").value(),
                      n.attribute("startDate").value(), n.attribute("endDate").value(),
                      n.attribute("sourceName").value(),
                      n.attribute(workout ? "duration" : "value").value());
}

// ---- a Workout's totals in WorkoutStatistics (exports of iOS 16 and later) ----

// Newer exports give a workout's totals as WorkoutStatistics children (a `sum` and its `unit`
// per quantity type) rather than as the Workout's totalDistance and totalEnergyBurned
// attributes. The quantity types that are a workout's distance, and its energy burned:
constexpr std::string_view kDistanceTypes[] = {
    "HKQuantityTypeIdentifierDistanceWalkingRunning", "HKQuantityTypeIdentifierDistanceCycling",
    "HKQuantityTypeIdentifierDistanceSwimming", "HKQuantityTypeIdentifierDistanceWheelchair",
    "HKQuantityTypeIdentifierDistanceDownhillSnowSports",
    "HKQuantityTypeIdentifierDistanceCrossCountrySkiing",
    "HKQuantityTypeIdentifierDistancePaddleSports", "HKQuantityTypeIdentifierDistanceRowing",
    "HKQuantityTypeIdentifierDistanceSkatingSports"};
constexpr std::string_view kEnergyType = "HKQuantityTypeIdentifierActiveEnergyBurned";

// The WorkoutStatistics child that stands in for a missing total attribute (`attribute`, e.g.
// totalDistance): the first whose type is one of `types`, with a sum and a unit, that holds
// nothing else the model would lose (no other attribute but its type, and dates equal to the
// workout's, no children). Null when there is none, or the attribute is there.
pugi::xml_node total_statistics(pugi::xml_node workout, const char* attribute,
                                std::span<const std::string_view> types) {
  if (workout.attribute(attribute)) return {};
  for (pugi::xml_node s : workout.children("WorkoutStatistics")) {
    const std::string_view type = s.attribute("type").value();
    if (std::find(types.begin(), types.end(), type) == types.end()) continue;
    if (*s.attribute("sum").value() == '\0' || *s.attribute("unit").value() == '\0') continue;
    bool whole = !s.first_child();
    for (pugi::xml_attribute a : s.attributes()) {
      const std::string_view name = a.name();
      if (name == "startDate" || name == "endDate") {
        whole = whole && std::string_view(a.value()) == workout.attribute(a.name()).value();
      } else {
        whole = whole && (name == "type" || name == "sum" || name == "unit");
      }
    }
    if (whole) return s;
  }
  return {};
}

pugi::xml_node distance_statistics(pugi::xml_node workout) {
  return total_statistics(workout, "totalDistance", kDistanceTypes);
}

pugi::xml_node energy_statistics(pugi::xml_node workout) {
  return total_statistics(workout, "totalEnergyBurned", std::span(&kEnergyType, 1));
}

// ---- what a Record or Workout holds that the model has no field for (to_model's not_read) ----

// An attribute to_model reads, and on which element: a Workout's value and unit, say, are not.
struct ReadAttribute {
  std::string_view name;
  bool record;
  bool workout;
};

// Sorted by name for a binary search: this runs once per attribute of every item converted.
constexpr ReadAttribute kReadAttributes[] = {
    {"creationDate", true, true},       {"device", true, true},
    {"duration", false, true},          {"durationUnit", false, true},
    {"endDate", true, true},            {"sourceName", true, true},
    {"sourceVersion", true, true},      {"startDate", true, true},
    {"totalDistance", false, true},     {"totalDistanceUnit", false, true},
    {"totalEnergyBurned", false, true}, {"totalEnergyBurnedUnit", false, true},
    {"type", true, false},              {"unit", true, false},
    {"value", true, false},             {"workoutActivityType", false, true}};
static_assert(std::is_sorted(std::begin(kReadAttributes), std::end(kReadAttributes),
                             [](const ReadAttribute& a, const ReadAttribute& b) {
                               return a.name < b.name;
                             }));

bool read_attribute(std::string_view name, bool workout) {
  const auto* it = std::lower_bound(
      std::begin(kReadAttributes), std::end(kReadAttributes), name,
      [](const ReadAttribute& a, std::string_view n) { return a.name < n; });
  return it != std::end(kReadAttributes) && it->name == name &&
         (workout ? it->workout : it->record);
}

// Names what a Record or Workout holds that the model has no field for, in document order:
// attributes to_model does not read ("foo"), then child elements other than MetadataEntry
// ("WorkoutEvent", "WorkoutRoute", "HeartRateVariabilityMetadataList" ...), but the
// WorkoutStatistics that to_model read whole as a total. Empty attributes and empty elements are
// left out.
void list_not_read(pugi::xml_node n, std::vector<std::string>& list) {
  NotRead out(list);
  const bool workout = std::string_view(n.name()) == "Workout";
  const pugi::xml_node distance = workout ? distance_statistics(n) : pugi::xml_node();
  const pugi::xml_node energy = workout ? energy_statistics(n) : pugi::xml_node();
  for (pugi::xml_attribute a : n.attributes()) {
    const std::string_view name = a.name();
    // Namespace declarations are markup, not data (serialize_standalone copies those in scope).
    if (*a.value() == '\0' || name == "xmlns" || name.rfind("xmlns:", 0) == 0) continue;
    if (!read_attribute(name, workout)) out.add(name);
  }
  for (pugi::xml_node c : n.children()) {
    if (c.type() != pugi::node_element || std::string_view(c.name()) == "MetadataEntry") continue;
    if (c == distance || c == energy) continue;
    if (has_content(c)) out.add(c.name());
  }
}

// What split skips of a HealthData export that is the resident's (for split's not_read): each
// top-level element other than the samples (Record, Workout) and ExportDate, by its name: Me
// (date of birth, sex, blood type: profile data, not samples), ActivitySummary (daily totals
// and the resident's goals: carrying the totals would count the same energy twice, but the
// goals are not carried either), Correlation (it pairs Records, e.g. a blood pressure's two
// readings, that also appear at the top level: the pairing and its metadata stay behind),
// ClinicalRecord, Audiogram and whatever else a newer export adds. ExportDate says when the
// file was written, like HealthData's locale: the export's bookkeeping, which join writes its
// own. Empty elements are left out.
void list_non_samples(pugi::xml_node root, std::vector<std::string>& list) {
  NotRead out(list);
  for (pugi::xml_node c : root.children()) {
    if (c.type() != pugi::node_element) continue;
    const std::string_view tag = c.name();
    if (tag == "Record" || tag == "Workout" || tag == "ExportDate") continue;
    if (has_content(c)) out.add(tag);
  }
}

class AppleHealth final : public Format {
 public:
  std::string_view name() const override { return "apple-health"; }
  Dataset dataset() const override { return Dataset::health_records; }
  std::string_view media_type() const override { return "application/xml"; }

  std::vector<NativeItem> split(std::string_view document,
                                std::vector<std::string>* not_read) const override {
    auto doc = parse_xml(document, "document");
    pugi::xml_node root = doc->document_element();
    if (std::string_view(root.name()) != "HealthData") throw FormatError("document", "not a HealthData export");
    std::vector<NativeItem> items;
    std::size_t position = 0;
    for (pugi::xml_node n : root.children()) {
      const std::string_view tag = n.name();
      // Record and Workout are samples; the rest is not (list_non_samples says why each).
      if (n.type() != pugi::node_element || (tag != "Record" && tag != "Workout")) continue;
      ++position;
      const std::string where = std::string(tag) + " " + std::to_string(position);
      for (const char* a : {tag == "Record" ? "type" : "workoutActivityType", "sourceName", "startDate", "endDate"}) {
        if (!n.attribute(a)) throw FormatError(where, std::string("missing attribute ") + a);
      }
      items.push_back({native_id(n), serialize_standalone(n)});
    }
    // Last, so that a document refused above adds nothing to the list.
    if (not_read != nullptr) list_non_samples(root, *not_read);
    return items;
  }

  std::string join(const std::vector<NativeItem>& items) const override {
    pugi::xml_document doc;
    pugi::xml_node root = doc.append_child("HealthData");
    root.append_attribute("locale") = "en_US";
    for (const NativeItem& item : items) {
      auto d = parse_xml(item.text, item.id);
      const std::string_view tag = d->document_element().name();
      if (tag != "Record" && tag != "Workout") throw FormatError(item.id, "not a Record or Workout");
      root.append_copy(d->document_element());
    }
    std::ostringstream out;
    doc.save(out, " ", pugi::format_indent, pugi::encoding_utf8);
    return out.str();
  }

  Item to_model(const NativeItem& item, std::vector<std::string>* not_read) const override {
    const std::string what = item.id.empty() ? "item" : item.id;
    auto doc = parse_xml(item.text, what);
    pugi::xml_node n = doc->document_element();
    const std::string_view tag = n.name();
    if (tag != "Record" && tag != "Workout") throw FormatError(what, "not a Record or Workout");
    json m = empty_health_record();
    m["id"] = native_id(n);
    auto attr = [&](const char* a) -> json {
      pugi::xml_attribute x = n.attribute(a);
      return x ? json(x.value()) : json(nullptr);
    };
    auto required = [&](const char* a) {
      if (!n.attribute(a)) throw FormatError(what, std::string("missing attribute ") + a);
      return std::string(n.attribute(a).value());
    };
    m["start"] = to_rfc3339(required("startDate"), what, "startDate");
    m["end"] = to_rfc3339(required("endDate"), what, "endDate");
    if (n.attribute("creationDate")) m["created"] = to_rfc3339(n.attribute("creationDate").value(), what, "creationDate");
    // sourceName is required by the DTD; an empty one is how we write "unknown" (from_model).
    const std::string source = required("sourceName");
    m["source"] = {{"name", source.empty() ? json(nullptr) : json(source)},
                   {"version", attr("sourceVersion")},
                   {"device", attr("device")}};
    if (tag == "Record") {
      m["type"] = required("type");
      m["value"] = attr("value");
      m["unit"] = attr("unit");
    } else {
      m["kind"] = "workout";
      m["type"] = kWorkoutType;
      json w = json::object();
      for (const auto& [a, field] : workout_attributes()) w[field] = attr(a);
      if (w["activity_type"].is_null()) throw FormatError(what, "missing attribute workoutActivityType");
      for (const auto& [statistics, field] : {std::pair{distance_statistics(n), "total_distance"},
                                              std::pair{energy_statistics(n), "total_energy_burned"}}) {
        if (!statistics) continue;
        w[field] = statistics.attribute("sum").value();
        w[std::string(field) + "_unit"] = statistics.attribute("unit").value();
      }
      m["workout"] = w;
    }
    for (pugi::xml_node c : n.children("MetadataEntry")) {
      const std::string key = c.attribute("key").value();
      if (key.empty() || !c.attribute("value")) throw FormatError(what, "MetadataEntry needs key and value");
      if (m["metadata"].contains(key)) throw FormatError(what, "duplicate MetadataEntry " + key);
      m["metadata"][key] = c.attribute("value").value();
    }
    // Last, so that an item refused above adds nothing to the list.
    if (not_read != nullptr) list_not_read(n, *not_read);
    return m;
  }

  Converted from_model(const Item& item) const override {
    const std::string id = check_health_record(item);
    Converted out;
    auto& lost = out.not_carried;
    pugi::xml_document doc;
    const bool workout = item["kind"] == "workout";
    pugi::xml_node n = doc.append_child(workout ? "Workout" : "Record");
    auto set = [&](const char* a, const json& v) {
      if (v.is_string()) n.append_attribute(a) = v.get<std::string>().c_str();
    };
    if (workout) {
      set("workoutActivityType", item["workout"]["activity_type"]);
      for (const auto& [a, field] : workout_attributes()) {
        if (std::string_view(a) != "workoutActivityType") set(a, item["workout"][field]);
      }
      if (!item["value"].is_null() || !item["unit"].is_null()) lost.push_back("value");
    } else {
      set("type", item["type"]);
    }
    n.append_attribute("sourceName") = model_string(item["source"], "name").value_or("").c_str();
    set("sourceVersion", item["source"]["version"]);
    set("device", item["source"]["device"]);
    if (!workout) set("unit", item["unit"]);
    if (auto c = model_string(item, "created")) set("creationDate", from_rfc3339(*c, "created", lost));
    set("startDate", from_rfc3339(item["start"].get<std::string>(), "start", lost));
    set("endDate", from_rfc3339(item["end"].get<std::string>(), "end", lost));
    if (!workout) set("value", item["value"]);
    for (const auto& [k, v] : item["metadata"].items()) {
      pugi::xml_node e = n.append_child("MetadataEntry");
      e.append_attribute("key") = k.c_str();
      e.append_attribute("value") = v.get<std::string>().c_str();
    }
    // XML cannot hold them: said, not written as references a conforming reader refuses.
    if (drop_forbidden_controls(doc)) lost.push_back("text.control_characters");
    std::ostringstream text;
    doc.save(text, "", pugi::format_raw | pugi::format_no_declaration, pugi::encoding_utf8);
    out.native = {native_id(n), text.str()};
    // The HealthKit id is derived from the content; another id cannot travel.
    if (out.native.id != id) lost.push_back("id");
    std::sort(lost.begin(), lost.end());
    lost.erase(std::unique(lost.begin(), lost.end()), lost.end());
    return out;
  }
};

}  // namespace

const Format& apple_health_format() {
  static const AppleHealth format;
  return format;
}

}  // namespace portability::detail
