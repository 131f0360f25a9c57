// GeoJSON (RFC 7946): a FeatureCollection of Point Features.

#include <algorithm>
#include <span>
#include <string_view>

#include "json_document.hpp"
#include "location_model.hpp"
#include "not_read.hpp"
#include "registry.hpp"
#include "util.hpp"

namespace portability::detail {
namespace {

constexpr const char* kProperties[] = {"accuracy", "vertical_accuracy", "velocity", "heading"};

std::string feature_timestamp(const json& f, const std::string& what) {
  const json& props = req_object(f, "properties", what);
  const std::string t = req_string(props, "timestamp", what);
  if (!parse_rfc3339(t)) throw FormatError(what, "timestamp is not RFC 3339: " + t);
  return t;
}

bool is_point(const json& f) {
  const json* g = member(f, "geometry");
  return g != nullptr && g->is_object() && g->value("type", "") == "Point";
}

// The members to_model reads, for not_read: in the Feature, its Point geometry and its
// properties. Any other member holding something is named by its path ("id", "bbox",
// "properties.name" ...).
constexpr std::string_view kFeatureRead[] = {"geometry", "properties", "type"};
constexpr std::string_view kGeometryRead[] = {"coordinates", "type"};
constexpr std::string_view kPropertiesRead[] = {"accuracy", "device_tag", "heading", "source",
                                                "timestamp", "velocity", "vertical_accuracy"};

// Names each member of the Feature that to_model does not read, in the object's (sorted)
// member order; the members of geometry and properties come in their place, and a position's
// elements past the altitude as "geometry.coordinates[3]".
void list_not_read(const json& feature, NotRead& out) {
  for (const auto& [key, value] : feature.get_ref<const json::object_t&>()) {
    if (key == "geometry") {
      out.members(value, kGeometryRead, key);
      // What a position holds past the altitude has no meaning RFC 7946 §3.1.1 gives it.
      const json& position = *member(value, "coordinates");
      for (std::size_t i = 3; i < position.size(); ++i)
        out.add("geometry.coordinates[" + std::to_string(i) + "]");
    } else if (key == "properties") {
      out.members(value, kPropertiesRead, key);
    } else if (holds_data(value) && !among(kFeatureRead, key)) {
      out.add(key);
    }
  }
}

// ---- what split skips of a FeatureCollection (Format::split's not_read) ----

// The collection's members split reads; any other member holding something ("bbox", "name",
// "crs" ...) is named by its path from "FeatureCollection", apart from a Feature's members.
constexpr std::string_view kCollectionRead[] = {"features", "type"};

// RFC 7946 §1.4: the types of a geometry object.
constexpr std::string_view kGeometryTypes[] = {"GeometryCollection", "LineString",
                                               "MultiLineString",    "MultiPoint",
                                               "MultiPolygon",       "Point",
                                               "Polygon"};

// A skipped Feature's name: by its geometry's type, "Feature geometry=LineString", or
// "Feature geometry=null" for an unlocated Feature (RFC 7946 §3.2), and "Feature geometry"
// for a geometry that is neither.
std::string skipped_feature(const json& f) {
  const json* g = member(f, "geometry");
  if (g == nullptr || g->is_null()) return "Feature geometry=null";
  const json* type = member(*g, "type");
  if (type == nullptr || !type->is_string()) return "Feature geometry";
  return "Feature geometry=" + type->get<std::string>();
}

class GeoJson final : public Format {
 public:
  std::string_view name() const override { return "geojson"; }
  Dataset dataset() const override { return Dataset::location_points; }
  std::string_view media_type() const override { return "application/geo+json"; }

  std::vector<NativeItem> split(std::string_view document,
                                std::vector<std::string>* not_read) const override {
    json doc = parse_json(document, "document");
    const auto type = opt_string(doc, "type", "document");
    // RFC 7946 §2: a GeoJSON text is a FeatureCollection, a Feature or a geometry. A Feature
    // alone is a collection of one; a geometry alone has no properties, so no timestamp: it is
    // skipped, named by its type ("Point").
    if (type && among(kGeometryTypes, *type)) {
      if (not_read != nullptr) NotRead(*not_read).add(*type);
      return {};
    }
    if (type == "Feature")
      doc = json{{"type", "FeatureCollection"}, {"features", json::array({std::move(doc)})}};
    if (opt_string(doc, "type", "document") != "FeatureCollection")
      throw FormatError("document", "expected a FeatureCollection, a Feature or a geometry "
                                    "(RFC 7946 §3)");
    const json* features = member(doc, "features");
    if (features == nullptr || !features->is_array()) throw FormatError("document", "no features array");
    json points = json::array();
    std::size_t position = 0;
    for (const json& f : *features) {
      ++position;
      if (!f.is_object() || f.value("type", "") != "Feature")
        throw FormatError("item " + std::to_string(position), "not a Feature");
      // Lines and polygons are not location points.
      if (is_point(f)) points.push_back(f);
    }
    auto items = split_items(points, [](const json& f) { return feature_timestamp(f, ""); });
    // Last, so that a document refused above adds nothing to the list.
    if (not_read != nullptr) {
      NotRead out(*not_read);
      out.members(doc, kCollectionRead, "FeatureCollection");
      for (const json& f : *features) {
        if (!is_point(f)) out.add(skipped_feature(f));
      }
    }
    return items;
  }

  std::string join(const std::vector<NativeItem>& items) const override {
    return join_items(R"({"type":"FeatureCollection","features":[)", items, "]}");
  }

  Item to_model(const NativeItem& item, std::vector<std::string>* not_read) const override {
    const std::string what = item.id.empty() ? "item" : item.id;
    const json f = parse_item(item);
    if (f.value("type", "") != "Feature" || !is_point(f)) throw FormatError(what, "not a Point Feature");
    const json* coords = member(f["geometry"], "coordinates");
    // RFC 7946 §3.1.1: [longitude, latitude(, altitude)], decimal degrees (WGS 84); a position
    // SHOULD NOT have more elements, but may (list_not_read names them).
    if (coords == nullptr || !coords->is_array() || coords->size() < 2)
      throw FormatError(what, "Point coordinates must be [lon, lat] or [lon, lat, alt]");
    json m = empty_location_point();
    m["timestamp"] = feature_timestamp(f, what);
    auto text = [&](const json& n) {
      auto t = number_text(n);
      if (!t) throw FormatError(what, "coordinates must be numbers");
      return *t;
    };
    m["longitude_e7"] = degrees_to_e7(text((*coords)[0]), false, what);
    m["latitude_e7"] = degrees_to_e7(text((*coords)[1]), true, what);
    if (coords->size() >= 3) m["altitude"] = text((*coords)[2]);
    for (std::size_t i = 3; i < coords->size(); ++i) text((*coords)[i]);
    const json& props = f["properties"];
    for (const char* key : kProperties) m[key] = str_or_null(opt_number(props, key, what));
    m["source"] = str_or_null(opt_string(props, "source", what));
    if (auto t = opt_int(props, "device_tag", what)) m["device_tag"] = *t;
    // to_model has checked that geometry and properties are objects.
    if (not_read != nullptr) {
      NotRead out(*not_read);
      list_not_read(f, out);
    }
    return m;
  }

  Converted from_model(const Item& item) const override {
    const std::string ts = check_location_point(item);
    json coords = json::array({raw_number(e7_to_decimal(item["longitude_e7"].get<std::int64_t>())),
                               raw_number(e7_to_decimal(item["latitude_e7"].get<std::int64_t>()))});
    if (auto alt = model_string(item, "altitude")) coords.push_back(raw_number(*alt));
    json props{{"timestamp", ts}};
    for (const char* key : kProperties) {
      if (auto v = model_string(item, key)) props[key] = raw_number(*v);
    }
    if (auto s = model_string(item, "source")) props["source"] = *s;
    if (item.contains("device_tag") && item["device_tag"].is_number_integer()) props["device_tag"] = item["device_tag"];
    json f{{"type", "Feature"}, {"geometry", {{"type", "Point"}, {"coordinates", coords}}}, {"properties", props}};
    return {{ts, dump(f)}, {}};
  }
};

}  // namespace

const Format& geojson_format() {
  static const GeoJson format;
  return format;
}

}  // namespace portability::detail
