#include <gtest/gtest.h>

#include "portability_test_support.hpp"

namespace portability {
namespace {

using testing::format;
using testing::models;
using testing::read_sample;

TEST(AppleHealth, SampleSplitsToRecordsAndTheWorkout) {
  const Format& f = format("apple-health");
  const auto items = f.split(read_sample("apple-health-export.xml"));
  // 15 Records + 1 Workout; ExportDate, Me and the 2 ActivitySummary elements are skipped.
  ASSERT_EQ(items.size(), 16u);
  for (const NativeItem& n : items) {
    EXPECT_EQ(n.id.size(), 64u);
    EXPECT_EQ(n.id.find_first_not_of("0123456789abcdef"), std::string::npos);
  }
  const Item first = f.to_model(items[0]);
  EXPECT_EQ(first["id"], items[0].id);
  EXPECT_EQ(first["kind"], "record");
  EXPECT_EQ(first["type"], "HKQuantityTypeIdentifierStepCount");
  EXPECT_EQ(first["value"], "329");
  EXPECT_EQ(first["unit"], "count");
  EXPECT_EQ(first["start"], "2014-09-13T10:27:54+01:00");
  EXPECT_EQ(first["end"], "2014-09-13T10:27:59+01:00");
  EXPECT_EQ(first["created"], "2014-09-21T07:08:47+01:00");
  EXPECT_EQ(first["source"]["name"], "Health");
  EXPECT_EQ(f.to_model(items[10])["value"], "0.00288");  // exactly as written
  const Item workout = f.to_model(items[15]);
  EXPECT_EQ(workout["kind"], "workout");
  EXPECT_EQ(workout["workout"]["activity_type"], "HKWorkoutActivityTypeOther");
  EXPECT_EQ(workout["workout"]["duration"], "31.73680251737436");
  EXPECT_EQ(workout["workout"]["total_energy_burned"], "139.3170000000021");
  EXPECT_EQ(workout["source"]["version"], "2.2");
  // Stable: the same record always gets the same id.
  EXPECT_EQ(f.split(read_sample("apple-health-export.xml"))[3].id, items[3].id);
  EXPECT_NE(items[0].id, items[1].id);
}

TEST(AppleHealth, MetadataEntriesAndRoundTrip) {
  const Format& f = format("apple-health");
  const std::string doc =
      "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?><HealthData locale=\"ja_JP\">"
      "<Record type=\"HKQuantityTypeIdentifierBodyMass\" sourceName=\"体重計\" unit=\"kg\" "
      "startDate=\"2024-01-01 07:00:00 +0900\" endDate=\"2024-01-01 07:00:00 +0900\" value=\"61.25\">"
      "<MetadataEntry key=\"HKWasUserEntered\" value=\"1\"/></Record></HealthData>";
  const auto ms = models(f, doc);
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(ms[0]["metadata"], (Item{{"HKWasUserEntered", "1"}}));
  EXPECT_EQ(ms[0]["source"]["name"], "体重計");
  for (const Item& m : models(f, read_sample("apple-health-export.xml"))) {
    const Converted c = f.from_model(m);
    EXPECT_TRUE(c.not_carried.empty());
    EXPECT_EQ(c.native.id, m["id"]);
    EXPECT_EQ(f.to_model(c.native), m);
  }
  const Converted c = f.from_model(ms[0]);
  EXPECT_EQ(f.to_model(c.native), ms[0]);
}

TEST(AppleHealth, JoinThenSplitGivesTheSameItems) {
  const Format& f = format("apple-health");
  const auto items = f.split(read_sample("apple-health-export.xml"));
  const auto again = f.split(f.join(items));
  ASSERT_EQ(again.size(), items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    EXPECT_EQ(again[i].id, items[i].id);
    EXPECT_EQ(again[i].text, items[i].text);
  }
}

TEST(OpenMHealth, MapsStepCountToOmhAndKeepsOtherTypesWhole) {
  const Format& omh = format("open-mhealth");
  const auto ms = models(format("apple-health"), read_sample("apple-health-export.xml"));
  const Converted steps = omh.from_model(ms[0]);
  const Item p = Item::parse(steps.native.text);
  EXPECT_EQ(p["header"]["id"], ms[0]["id"]);
  EXPECT_EQ(p["header"]["schema_id"], (Item{{"namespace", "omh"}, {"name", "step-count"}, {"version", "2.0"}}));
  EXPECT_EQ(p["body"]["step_count"]["unit"], "steps");
  EXPECT_EQ(p["body"]["step_count"]["value"], 329);
  EXPECT_EQ(p["body"]["effective_time_frame"]["time_interval"]["start_date_time"], "2014-09-13T10:27:54+01:00");
  EXPECT_EQ(p["header"]["acquisition_provenance"]["source_name"], "Health");

  const Converted distance = omh.from_model(ms[10]);
  EXPECT_NE(distance.native.text.find(R"("namespace":"infobank")"), std::string::npos);
  EXPECT_NE(distance.native.text.find(R"("value":"0.00288")"), std::string::npos);

  Item weight = ms[0];
  weight["type"] = "HKQuantityTypeIdentifierBodyMass";
  weight["unit"] = "kg";
  weight["value"] = "61.250";
  weight["metadata"] = {{"HKWasUserEntered", "1"}};
  const Converted w = omh.from_model(weight);
  EXPECT_NE(w.native.text.find(R"("body_weight":{"unit":"kg","value":61.250})"), std::string::npos) << w.native.text;
  EXPECT_EQ(w.not_carried, std::vector<std::string>{"metadata.HKWasUserEntered"});
  EXPECT_EQ(omh.to_model(w.native)["value"], "61.250");
}

TEST(OpenMHealth, RoundTripsAndJoins) {
  const Format& omh = format("open-mhealth");
  std::vector<NativeItem> natives;
  for (const Item& m : models(format("apple-health"), read_sample("apple-health-export.xml"))) {
    natives.push_back(omh.from_model(m).native);
  }
  const auto again = omh.split(omh.join(natives));
  ASSERT_EQ(again.size(), natives.size());
  for (std::size_t i = 0; i < natives.size(); ++i) {
    EXPECT_EQ(again[i].id, natives[i].id);
    EXPECT_EQ(again[i].text, natives[i].text);
    const Item m = omh.to_model(again[i]);
    const Converted c = omh.from_model(m);
    EXPECT_EQ(omh.to_model(c.native), m);
  }
}

TEST(CrossFormat, AppleHealthToOpenMHealthAndBack) {
  const Format& apple = format("apple-health");
  const Format& omh = format("open-mhealth");
  const auto ms = models(apple, read_sample("apple-health-export.xml"));
  for (const Item& m : ms) testing::expect_carried(m, omh);
  // The workout's duration has no place in omh:physical-activity: reported.
  const Converted w = omh.from_model(ms[15]);
  EXPECT_NE(std::find(w.not_carried.begin(), w.not_carried.end(), "workout.duration"), w.not_carried.end());
  EXPECT_NE(std::find(w.not_carried.begin(), w.not_carried.end(), "source.version"), w.not_carried.end());
  // omh -> apple: the omh step count comes back as the same HealthKit record.
  for (const Item& m : ms) {
    if (m["kind"] != "record") continue;
    const Item via = omh.to_model(omh.from_model(m).native);
    testing::expect_carried(via, apple);
  }
  const Item data_point = Item::parse(R"({"header":{"uuid":"8f6e-1","creation_date_time":"2024-01-01T00:00:00Z",
    "schema_id":{"namespace":"omh","name":"heart-rate","version":"1.0"}},
    "body":{"heart_rate":{"value":72,"unit":"beats/min"},"effective_time_frame":{"date_time":"2024-01-01T08:00:00+09:00"}}})");
  const Item hr = omh.to_model({"8f6e-1", data_point.dump()});
  EXPECT_EQ(hr["type"], "HKQuantityTypeIdentifierHeartRate");
  EXPECT_EQ(hr["unit"], "count/min");
  EXPECT_EQ(hr["value"], "72");
  const Converted c = apple.from_model(hr);
  EXPECT_NE(std::find(c.not_carried.begin(), c.not_carried.end(), "id"), c.not_carried.end());
  EXPECT_NE(c.native.text.find(R"(startDate="2024-01-01 08:00:00 +0900")"), std::string::npos);
}

}  // namespace
}  // namespace portability
