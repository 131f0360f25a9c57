#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "portability_test_support.hpp"

namespace portability {
namespace {

using testing::format;
using testing::Names;
using testing::not_read_of;
using testing::models;
using testing::read_sample;
using testing::skipped_by;
using testing::skipped_by_joined;

TEST(TakeoutRecords, SampleSplitsToThreePoints) {
  const Format& f = format("takeout-records");
  const auto items = f.split(read_sample("location-records.json"));
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].id, "2012-12-15T14:21:29.460Z");
  const Item m = f.to_model(items[2]);
  EXPECT_EQ(m["latitude_e7"], 533690589);
  EXPECT_EQ(m["longitude_e7"], 836951347);
  EXPECT_EQ(m["accuracy"], "22");
  EXPECT_EQ(m["source"], "WIFI");
  EXPECT_EQ(m["device_tag"], 1184882232);
  EXPECT_EQ(m["timestamp"], "2013-03-01T05:17:39.849Z");
  EXPECT_TRUE(m["altitude"].is_null());
}

TEST(TakeoutRecords, OlderTimestampMsFormIsRead) {
  const Format& f = format("takeout-records");
  const auto ms = models(f, R"({"locations":[{"timestampMs":"1362115059849","latitudeE7":-338688000,
    "longitudeE7":1512093000,"accuracy":5,"altitude":58,"verticalAccuracy":3,"velocity":0,"heading":270}]})");
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(ms[0]["timestamp"], "2013-03-01T05:17:39.849Z");
  EXPECT_EQ(ms[0]["latitude_e7"], -338688000);
  EXPECT_EQ(ms[0]["altitude"], "58");
  EXPECT_EQ(ms[0]["heading"], "270");
}

// Some exports hold south and west coordinates as 32-bit two's complement read unsigned; read
// as what they mean, and written back signed. Values in no such reading stay out of range.
TEST(TakeoutRecords, UnsignedTwosComplementCoordinatesReadAsNegative) {
  const Format& f = format("takeout-records");
  const auto ms = models(f, R"({"locations":[{"timestamp":"2016-05-01T10:00:00Z",
    "latitudeE7":3956078888,"longitudeE7":4233200000}]})");
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(ms[0]["latitude_e7"], -338888408);
  EXPECT_EQ(ms[0]["longitude_e7"], -61767296);
  const auto back = f.from_model(ms[0]);
  EXPECT_NE(back.native.text.find(R"("latitudeE7":-338888408)"), std::string::npos)
      << back.native.text;
  EXPECT_NE(back.native.text.find(R"("longitudeE7":-61767296)"), std::string::npos);

  for (const auto& [lat, lon] : std::vector<std::pair<std::string, std::string>>{
           {"900000001", "0"},     // no reading puts it in range
           {"3394967295", "0"},    // -900000001
           {"4294967296", "0"},    // past 32 bits
           {"0", "1800000001"},
           {"0", "2494967295"}}) {  // -1800000001
    const std::string bad = R"({"latitudeE7":)" + lat + R"(,"longitudeE7":)" + lon +
                            R"(,"timestamp":"2024-01-01T00:00:00Z"})";
    EXPECT_THROW(f.to_model({"t", bad}), FormatError) << bad;
  }
}

TEST(TakeoutRecords, RoundTripsAndJoins) {
  const Format& f = format("takeout-records");
  const auto items = f.split(read_sample("location-records.json"));
  for (const NativeItem& n : items) {
    const Item m = f.to_model(n);
    const Converted c = f.from_model(m);
    EXPECT_TRUE(c.not_carried.empty());
    EXPECT_EQ(f.to_model(c.native), m);
  }
  const auto again = f.split(f.join(items));
  ASSERT_EQ(again.size(), items.size());
  for (std::size_t i = 0; i < items.size(); ++i) EXPECT_EQ(again[i].text, items[i].text);
}

TEST(TakeoutRecords, NotReadNamesNewerMembersOnceEachInMemberOrder) {
  const Format& f = format("takeout-records");
  // Both timestamps, as some exports have them, are read; so are members holding nothing.
  const NativeItem n{"2024-01-01T00:00:00Z", R"({"timestamp":"2024-01-01T00:00:00Z",
    "timestampMs":"1704067200000","latitudeE7":1,"longitudeE7":2,"accuracy":5,
    "activity":[{"timestamp":"2024-01-01T00:00:00Z","activity":[{"type":"STILL","confidence":90}]},
                {"timestamp":"2024-01-01T00:00:01Z","activity":[{"type":"WALKING"}]}],
    "platformType":"ANDROID","batteryCharging":false,"formFactor":"PHONE",
    "serverTimestamp":"2024-01-01T00:00:02Z","deviceTimestamp":"2024-01-01T00:00:01Z",
    "activeWifiScans":[{"accessPoints":[{"mac":"1","strength":-50}]}],"futureField":1,
    "osLevel":null,"deviceDesignation":"","locationMetadata":[],"futureObject":{}})"};
  EXPECT_EQ(not_read_of(f, n),
            (std::vector<std::string>{"activeWifiScans", "activity", "batteryCharging",
                                      "deviceTimestamp", "formFactor", "futureField",
                                      "platformType", "serverTimestamp"}));
  EXPECT_EQ(f.to_model(n)["accuracy"], "5");
}

TEST(TakeoutRecords, NotReadIsEmptyForTheSampleAndWhatFromModelWrites) {
  const Format& f = format("takeout-records");
  // The sample's records hold coordinates, accuracy, source, deviceTag and timestamp only.
  const auto items = f.split(read_sample("location-records.json"));
  ASSERT_EQ(items.size(), 3u);
  for (const NativeItem& n : items) {
    EXPECT_EQ(not_read_of(f, n), std::vector<std::string>{}) << n.id;
  }
  const Item full = models(f, R"({"locations":[{"timestampMs":"1362115059849","latitudeE7":1,
    "longitudeE7":2,"accuracy":5,"altitude":58,"verticalAccuracy":3,"velocity":0,"heading":270,
    "source":"GPS","deviceTag":7}]})")[0];
  const Converted c = f.from_model(full);
  EXPECT_EQ(not_read_of(f, c.native), std::vector<std::string>{}) << c.native.text;
}

TEST(GeoJson, NotReadNamesForeignMembersByPathOnceEach) {
  const Format& g = format("geojson");
  // "properties.futureField" is named once, not each member inside it.
  const NativeItem n{"2024-01-01T00:00:00Z", R"({"type":"Feature","id":"p1","bbox":[2,1,2,1],
    "geometry":{"type":"Point","coordinates":[2,1,10],"bbox":[2,1,2,1]},
    "properties":{"timestamp":"2024-01-01T00:00:00Z","accuracy":5,"name":"Home","altitude":10,
      "futureField":{"futureField":1,"more":[1]},"source":"GPS","note":null,"tags":[]}})"};
  EXPECT_EQ(not_read_of(g, n),
            (std::vector<std::string>{"bbox", "geometry.bbox", "id", "properties.altitude",
                                      "properties.futureField", "properties.name"}));
  // The altitude the model keeps is the third coordinate.
  EXPECT_EQ(g.to_model(n)["altitude"], "10");
}

TEST(GeoJson, NotReadIsEmptyForWhatFromModelWrites) {
  const Format& g = format("geojson");
  // The repository has no GeoJSON sample: the Takeout sample's points as GeoJSON, and a point
  // with every field.
  auto ms = models(format("takeout-records"), read_sample("location-records.json"));
  ms.push_back(models(format("takeout-records"), R"({"locations":[{"timestamp":
    "2024-02-03T04:05:06+09:00","latitudeE7":358934000,"longitudeE7":1399521000,"accuracy":5,
    "altitude":58,"verticalAccuracy":3,"velocity":2,"heading":270,"source":"GPS",
    "deviceTag":7}]})")[0]);
  for (const Item& m : ms) {
    const Converted c = g.from_model(m);
    EXPECT_EQ(not_read_of(g, c.native), std::vector<std::string>{}) << c.native.text;
  }
}

TEST(GeoJson, WritesLonLatDegreesExactly) {
  const Format& g = format("geojson");
  const auto ms = models(format("takeout-records"), read_sample("location-records.json"));
  const Converted c = g.from_model(ms[0]);
  EXPECT_TRUE(c.not_carried.empty());
  EXPECT_NE(c.native.text.find(R"("coordinates":[83.695001,53.369055])"), std::string::npos) << c.native.text;
  const std::string doc = g.join({c.native});
  EXPECT_EQ(doc.rfind(R"({"type":"FeatureCollection","features":[)", 0), 0u);
  ASSERT_EQ(g.split(doc).size(), 1u);
  EXPECT_EQ(g.split(doc)[0].text, c.native.text);
}

TEST(GeoJson, DegreesAndE7RoundTripExactlyAtTheEdges) {
  const Format& g = format("geojson");
  Item m = models(format("takeout-records"), read_sample("location-records.json"))[0];
  m["altitude"] = "-12.5";
  for (std::int64_t lat : {0LL, 1LL, -1LL, 9LL, 10LL, 899999999LL, -900000000LL, 900000000LL, 123456789LL, -5LL}) {
    for (std::int64_t lon : {0LL, -1800000000LL, 1800000000LL, 1799999999LL, -7LL, 1000000LL}) {
      m["latitude_e7"] = lat;
      m["longitude_e7"] = lon;
      EXPECT_EQ(g.to_model(g.from_model(m).native), m) << lat << "," << lon;
    }
  }
}

TEST(GeoJson, ParsesDecimalTextWithoutFloatingPointError) {
  const Format& g = format("geojson");
  auto point = [&](const std::string& lon, const std::string& lat) {
    const std::string f = R"({"type":"Feature","geometry":{"type":"Point","coordinates":[)" + lon + "," + lat +
                          R"(]},"properties":{"timestamp":"2024-01-01T00:00:00Z"}})";
    return g.to_model({"p", f});
  };
  EXPECT_EQ(point("139.9521", "35.8934")["latitude_e7"], 358934000);
  EXPECT_EQ(point("0.1", "0.3")["latitude_e7"], 3000000);      // 0.1 + 0.2 style traps
  EXPECT_EQ(point("1.0000001", "-0.0000001")["latitude_e7"], -1);
  EXPECT_EQ(point("1.0000001", "-0.0000001")["longitude_e7"], 10000001);
  EXPECT_EQ(point("1.5e1", "-2E-1")["longitude_e7"], 150000000);
  EXPECT_EQ(point("1.5e1", "-2E-1")["latitude_e7"], -2000000);
  // More than 7 decimals: rounded half away from zero on the digits.
  EXPECT_EQ(point("0.00000005", "-0.00000005")["longitude_e7"], 1);
  EXPECT_EQ(point("0.00000005", "-0.00000005")["latitude_e7"], -1);
  EXPECT_EQ(point("0.000000049999", "0")["longitude_e7"], 0);
  EXPECT_THROW(point("181", "0"), FormatError);
  EXPECT_THROW(point("0", "-90.0000001"), FormatError);
  EXPECT_THROW(point("\"1\"", "0"), FormatError);
}

TEST(CrossFormat, TakeoutToGeoJsonAndBack) {
  const Format& takeout = format("takeout-records");
  const Format& g = format("geojson");
  auto ms = models(takeout, read_sample("location-records.json"));
  ms.push_back(models(takeout, R"({"locations":[{"timestamp":"2024-02-03T04:05:06+09:00","latitudeE7":358934000,
    "longitudeE7":1399521000,"accuracy":5,"altitude":58,"verticalAccuracy":3,"velocity":2,"heading":270,"source":"GPS"}]})")[0]);
  for (const Item& m : ms) {
    testing::expect_carried(m, g);
    const Item via = g.to_model(g.from_model(m).native);
    testing::expect_carried(via, takeout);
    EXPECT_EQ(takeout.to_model(takeout.from_model(via).native), m);
  }
}

TEST(TakeoutRecords, SplitNamesTheDocumentsOtherMembers) {
  const Format& f = format("takeout-records");
  EXPECT_EQ(skipped_by(f, read_sample("location-records.json")), Names{});
  EXPECT_EQ(skipped_by_joined(f, read_sample("location-records.json")), Names{});
  // Named from "Records" (Records.json), apart from a point's members; empty ones hold nothing.
  const std::string document =
      R"({"locations":[{"timestamp":"2024-01-01T00:00:00Z","latitudeE7":1,"longitudeE7":2}],)"
      R"("settings":{"retention":"forever"},"source":"","deviceSettings":[{"id":1}]})";
  EXPECT_EQ(skipped_by(f, document), (Names{"Records.deviceSettings", "Records.settings"}));
}

TEST(GeoJson, SplitNamesFeaturesThatAreNotPointsAndTheCollectionsMembers) {
  const Format& f = format("geojson");
  const std::string point =
      R"({"type":"Feature","geometry":{"type":"Point","coordinates":[139.9,35.8]},)"
      R"("properties":{"timestamp":"2024-01-01T00:00:00Z"}})";
  const std::string line =
      R"({"type":"Feature","geometry":{"type":"LineString","coordinates":[[0,0],[1,1]]},)"
      R"("properties":{}})";
  const std::string document =
      R"({"type":"FeatureCollection","name":"Walks","bbox":[0,0,140,36],"features":[)" + line +
      "," + point + "," +
      R"({"type":"Feature","geometry":{"type":"Polygon","coordinates":[]},"properties":{}},)" +
      line + R"(,{"type":"Feature","geometry":null,"properties":{"note":"home"}},)" +
      R"({"type":"Feature","geometry":{"coordinates":[]},"properties":{}}]})";
  ASSERT_EQ(f.split(document).size(), 1u);
  // The collection's members first (in name order), then the features in document order.
  EXPECT_EQ(skipped_by(f, document),
            (Names{"FeatureCollection.bbox", "FeatureCollection.name",
                   "Feature geometry=LineString", "Feature geometry=Polygon",
                   "Feature geometry=null", "Feature geometry"}));
  const std::string points = R"({"type":"FeatureCollection","features":[)" + point + "]}";
  EXPECT_EQ(skipped_by(f, points), Names{});
  EXPECT_EQ(skipped_by_joined(f, points), Names{});
}

TEST(GeoJson, ABareFeatureOrGeometryIsAGeoJsonTextToo) {
  // RFC 7946 §2: a GeoJSON text is one Geometry, Feature or FeatureCollection.
  const Format& f = format("geojson");
  const std::string point =
      R"({"type":"Feature","geometry":{"type":"Point","coordinates":[139.9,35.8]},)"
      R"("properties":{"timestamp":"2024-01-01T00:00:00Z"}})";
  const auto alone = f.split(point);
  const auto collected = f.split(R"({"type":"FeatureCollection","features":[)" + point + "]}");
  ASSERT_EQ(alone.size(), 1u);
  EXPECT_EQ(alone[0].id, collected[0].id);
  EXPECT_EQ(alone[0].text, collected[0].text);
  EXPECT_EQ(skipped_by(f, point), Names{});
  // A geometry has no properties, so no timestamp: skipped, and named by its type.
  EXPECT_TRUE(f.split(R"({"type":"Point","coordinates":[139.9,35.8]})").empty());
  EXPECT_EQ(skipped_by(f, R"({"type":"Point","coordinates":[139.9,35.8]})"), Names{"Point"});
  EXPECT_EQ(skipped_by(f, R"({"type":"Feature","geometry":{"type":"LineString",)"
                          R"("coordinates":[[0,0],[1,1]]},"properties":null})"),
            Names{"Feature geometry=LineString"});
  testing::expect_split_refused(f, R"({"type":"Topology","objects":{}})");
  testing::expect_split_refused(f, R"({"type":"Feature","geometry":{"type":"Point",)"
                                   R"("coordinates":[1,2]},"properties":{}})");
}

TEST(GeoJson, APositionBeyondThreeElementsIsReadAndItsRestNamed) {
  // RFC 7946 §3.1.1: a position has two or more numbers; past the altitude (some writers put a
  // measure or a timestamp there) the meaning is unspecified, so the rest is named, not read.
  const Format& f = format("geojson");
  const NativeItem four{"t", R"({"type":"Feature","geometry":{"type":"Point",)"
                             R"("coordinates":[139.9,35.8,12.5,1704067200]},)"
                             R"("properties":{"timestamp":"2024-01-01T00:00:00Z"}})"};
  const Item m = f.to_model(four);
  EXPECT_EQ(m["longitude_e7"], 1399000000);
  EXPECT_EQ(m["latitude_e7"], 358000000);
  EXPECT_EQ(m["altitude"], "12.5");
  EXPECT_EQ(not_read_of(f, four), Names{"geometry.coordinates[3]"});
  const NativeItem one{"t", R"({"type":"Feature","geometry":{"type":"Point",)"
                            R"("coordinates":[139.9]},)"
                            R"("properties":{"timestamp":"2024-01-01T00:00:00Z"}})"};
  EXPECT_THROW(f.to_model(one), FormatError);
  const NativeItem text{"t", R"({"type":"Feature","geometry":{"type":"Point",)"
                             R"("coordinates":[139.9,35.8,1,"x"]},)"
                             R"("properties":{"timestamp":"2024-01-01T00:00:00Z"}})"};
  EXPECT_THROW(f.to_model(text), FormatError);
}

TEST(TakeoutRecords, ATimestampMsOfAnotherInstantThanTheTimestampIsNamed) {
  // The timestamp is read; a timestampMs beside it is read too only while it says the same
  // instant (in any offset, to any number of fraction digits). One that does not is not lost
  // without a word.
  const Format& f = format("takeout-records");
  const auto with = [](const std::string& timestamp, const std::string& ms) {
    return NativeItem{timestamp, R"({"timestamp":")" + timestamp + R"(","timestampMs":")" + ms +
                                     R"(","latitudeE7":1,"longitudeE7":2})"};
  };
  EXPECT_EQ(not_read_of(f, with("2019-05-31T08:49:16.120Z", "1559292556120")), Names{});
  EXPECT_EQ(not_read_of(f, with("2019-05-31T17:49:16.12+09:00", "1559292556120")), Names{});
  EXPECT_EQ(not_read_of(f, with("2019-05-31T08:49:16Z", "1559292556000")), Names{});
  EXPECT_EQ(not_read_of(f, with("2020-05-31T08:49:16.120Z", "1559292556120")),
            Names{"timestampMs"});
  EXPECT_EQ(not_read_of(f, with("2019-05-31T08:49:16.121Z", "1559292556120")),
            Names{"timestampMs"});
  EXPECT_EQ(not_read_of(f, with("2019-05-31T08:49:16.120Z", "soon")), Names{"timestampMs"});
  EXPECT_EQ(f.to_model(with("2020-05-31T08:49:16.120Z", "1559292556120"))["timestamp"],
            "2020-05-31T08:49:16.120Z");
}

}  // namespace
}  // namespace portability
