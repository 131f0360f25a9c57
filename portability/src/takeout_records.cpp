// Google Takeout location history, Records.json form.

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>

#include "json_document.hpp"
#include "location_model.hpp"
#include "not_read.hpp"
#include "registry.hpp"
#include "util.hpp"

namespace portability::detail {
namespace {

// Takeout member <-> model field for the measurements (metres, m/s, degrees).
const std::pair<const char*, const char*> kMeasures[] = {{"accuracy", "accuracy"},
                                                         {"altitude", "altitude"},
                                                         {"verticalAccuracy", "vertical_accuracy"},
                                                         {"velocity", "velocity"},
                                                         {"heading", "heading"}};

// The instant of a "timestampMs" (epoch milliseconds, as a string or a number), in UTC; none
// when it is not one.
std::optional<DateTime> timestamp_ms(const json& ms) {
  const auto v = parse_int(ms.is_string() ? ms.get<std::string>() : number_text(ms).value_or(""));
  if (!v || *v < 0 || *v > 253402300799999) return std::nullopt;
  return from_epoch(*v / 1000, pad(*v % 1000, 3));
}

// "timestamp" (RFC 3339, newer exports) or "timestampMs" (epoch milliseconds as a string).
std::string timestamp_of(const json& r, const std::string& what) {
  if (auto t = opt_string(r, "timestamp", what)) {
    if (!parse_rfc3339(*t)) throw FormatError(what, "timestamp is not RFC 3339: " + *t);
    return *t;
  }
  const json* ms = member(r, "timestampMs");
  if (ms == nullptr) throw FormatError(what, "no timestamp or timestampMs");
  const auto t = timestamp_ms(*ms);
  if (!t) throw FormatError(what, "bad timestampMs " + dump(*ms));
  return format_rfc3339(*t);
}

// Whether the record's timestampMs says the instant its timestamp (read before it) says: then
// reading the timestamp read both. A timestampMs alone is what timestamp_of read.
bool same_instant(const json& r, const std::string& timestamp) {
  const json* ms = member(r, "timestampMs");
  if (ms == nullptr || member(r, "timestamp") == nullptr) return true;
  const auto a = parse_rfc3339(timestamp);
  const auto b = timestamp_ms(*ms);
  if (!a || !b) return false;
  // Fractions compared as digits: ".12" and ".120" are one instant.
  std::string fa = a->fraction, fb = b->fraction;
  fa.resize(std::max(fa.size(), fb.size()), '0');
  fb.resize(fa.size(), '0');
  return epoch_seconds(*a) == epoch_seconds(*b) && fa == fb;
}

// The members to_model reads: for not_read, any other member holding something is named
// (activity, platformType, activeWifiScans and whatever Takeout adds next). timestampMs is read
// even beside timestamp when both give the same instant (same_instant); otherwise it is named.
constexpr std::string_view kRead[] = {
    "accuracy", "altitude",  "deviceTag",   "heading",  "latitudeE7",      "longitudeE7",
    "source",   "timestamp", "timestampMs", "velocity", "verticalAccuracy"};

// What split reads of the document: its locations. Any other member holding something is named
// by its path from "Records" (the export's Records.json), so that it is not mistaken for a
// member of the points.
constexpr std::string_view kDocumentRead[] = {"locations"};

class TakeoutRecords final : public Format {
 public:
  std::string_view name() const override { return "takeout-records"; }
  Dataset dataset() const override { return Dataset::location_points; }
  std::string_view media_type() const override { return "application/json"; }

  std::vector<NativeItem> split(std::string_view document,
                                std::vector<std::string>* not_read) const override {
    const json doc = parse_json(document, "document");
    const json* locations = member(doc, "locations");
    if (locations == nullptr || !locations->is_array())
      throw FormatError("document", "expected {\"locations\": [...]}");
    auto items = split_items(*locations, [](const json& r) { return timestamp_of(r, ""); });
    if (not_read != nullptr) NotRead(*not_read).members(doc, kDocumentRead, "Records");
    return items;
  }

  std::string join(const std::vector<NativeItem>& items) const override {
    return join_items(R"({"locations":[)", items, "]}");
  }

  Item to_model(const NativeItem& item, std::vector<std::string>* not_read) const override {
    const std::string what = item.id.empty() ? "item" : item.id;
    const json r = parse_item(item);
    json m = empty_location_point();
    m["timestamp"] = timestamp_of(r, what);
    for (const auto& [key, field, lat] : {std::tuple{"latitudeE7", "latitude_e7", true},
                                          std::tuple{"longitudeE7", "longitude_e7", false}}) {
      auto v = opt_int(r, key, what);
      const std::int64_t limit = lat ? 900000000 : 1800000000;
      if (!v) throw FormatError(what, std::string("missing ") + key);
      // Exports of some years hold a negative coordinate (south, west) as its 32-bit two's
      // complement read unsigned: longitudeE7 4233200000 is -61767296. Readers of Takeout
      // subtract 2^32 from such values; so do we, and only where that lands in range.
      constexpr std::int64_t kTwoTo32 = std::int64_t{1} << 32;
      if (*v > limit && *v < kTwoTo32 && *v - kTwoTo32 >= -limit) *v -= kTwoTo32;
      if (*v < -limit || *v > limit) throw FormatError(what, std::string(key) + " out of range");
      m[field] = *v;
    }
    for (const auto& [key, field] : kMeasures) m[field] = str_or_null(opt_number(r, key, what));
    m["source"] = str_or_null(opt_string(r, "source", what));
    if (auto t = opt_int(r, "deviceTag", what)) m["device_tag"] = *t;
    if (not_read != nullptr) {
      NotRead out(*not_read);
      out.members(r, kRead);
      if (!same_instant(r, m["timestamp"].get<std::string>())) out.add("timestampMs");
    }
    return m;
  }

  Converted from_model(const Item& item) const override {
    const std::string ts = check_location_point(item);
    json r{{"latitudeE7", item["latitude_e7"]}, {"longitudeE7", item["longitude_e7"]}};
    for (const auto& [key, field] : kMeasures) {
      if (auto v = model_string(item, field)) r[key] = raw_number(*v);
    }
    if (auto s = model_string(item, "source")) r["source"] = *s;
    if (item.contains("device_tag") && item["device_tag"].is_number_integer()) r["deviceTag"] = item["device_tag"];
    r["timestamp"] = ts;
    return {{ts, dump(r)}, {}};
  }
};

}  // namespace

const Format& takeout_records_format() {
  static const TakeoutRecords format;
  return format;
}

}  // namespace portability::detail
