#include <gtest/gtest.h>

#include <algorithm>
#include <string>
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

// An Open mHealth data point: header id and schema_id of `schema`, "namespace:name:version"
// (no version when it has one colon only), then `body`.
std::string point(const std::string& id, const std::string& schema, const std::string& body) {
  const std::size_t name = schema.find(':') + 1;
  const std::size_t version = schema.find(':', name);
  std::string schema_id = R"({"namespace":")" + schema.substr(0, name - 1) + R"(","name":")" +
                          schema.substr(name, version - name) + R"(")";
  if (version != std::string::npos)
    schema_id += R"(,"version":")" + schema.substr(version + 1) + R"(")";
  return R"({"header":{"id":")" + id + R"(","schema_id":)" + schema_id + R"(}},"body":)" +
         body + "}";
}

// A data point's body: `key` as {value, unit}, then the effective_time_frame member `when`.
std::string measured(const std::string& key, const std::string& value, const std::string& unit,
                     const std::string& when) {
  return R"({")" + key + R"(":{"value":)" + value + R"(,"unit":")" + unit + R"("},)" + when + "}";
}

// The message of the FormatError to_model refuses `n` with, checking that it names the item
// and adds nothing to the not_read list; "" when it reads the item.
std::string refusal_of(const Format& f, const NativeItem& n) {
  Names names;
  try {
    f.to_model(n, &names);
  } catch (const FormatError& e) {
    EXPECT_EQ(e.item(), n.id) << e.what();
    EXPECT_TRUE(names.empty()) << n.id;
    return e.what();
  }
  ADD_FAILURE() << n.id << " was read";
  return "";
}

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
      "startDate=\"2024-01-01 07:00:00 +0900\" endDate=\"2024-01-01 07:00:00 +0900\" "
      "value=\"61.25\">"
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
  EXPECT_EQ(p["header"]["schema_id"],
            (Item{{"namespace", "omh"}, {"name", "step-count"}, {"version", "2.0"}}));
  // step-count 2.0 holds a bare number of steps (3.0 is the first with {value, unit}).
  EXPECT_EQ(p["body"]["step_count"], 329);
  EXPECT_EQ(p["body"]["effective_time_frame"]["time_interval"]["start_date_time"],
            "2014-09-13T10:27:54+01:00");
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
  EXPECT_NE(w.native.text.find(R"("body_weight":{"unit":"kg","value":61.250})"), std::string::npos)
      << w.native.text;
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
  EXPECT_NE(std::ranges::find(w.not_carried, "workout.duration"), w.not_carried.end());
  EXPECT_NE(std::ranges::find(w.not_carried, "source.version"), w.not_carried.end());
  // omh -> apple: the omh step count comes back as the same HealthKit record.
  for (const Item& m : ms) {
    if (m["kind"] != "record") continue;
    const Item via = omh.to_model(omh.from_model(m).native);
    testing::expect_carried(via, apple);
  }
  const Item data_point = Item::parse(R"({"header":{"uuid":"8f6e-1",
    "creation_date_time":"2024-01-01T00:00:00Z",
    "schema_id":{"namespace":"omh","name":"heart-rate","version":"1.0"}},
    "body":{"heart_rate":{"value":72,"unit":"beats/min"},
    "effective_time_frame":{"date_time":"2024-01-01T08:00:00+09:00"}}})");
  const Item hr = omh.to_model({"8f6e-1", data_point.dump()});
  EXPECT_EQ(hr["type"], "HKQuantityTypeIdentifierHeartRate");
  EXPECT_EQ(hr["unit"], "count/min");
  EXPECT_EQ(hr["value"], "72");
  const Converted c = apple.from_model(hr);
  EXPECT_NE(std::ranges::find(c.not_carried, "id"), c.not_carried.end());
  EXPECT_NE(c.native.text.find(R"(startDate="2024-01-01 08:00:00 +0900")"), std::string::npos);
}

TEST(AppleHealth, NotReadNamesUnreadAttributesThenChildrenOnceEach) {
  const Format& f = format("apple-health");
  const auto items = f.split(
      "<HealthData locale=\"en_GB\">"
      "<Workout workoutActivityType=\"HKWorkoutActivityTypeRunning\" duration=\"30\" "
      "durationUnit=\"min\" sourceName=\"Watch\" startDate=\"2024-01-01 07:00:00 +0000\" "
      "endDate=\"2024-01-01 07:30:00 +0000\" zorblax=\"3\" value=\"5\" empty=\"\">"
      "<MetadataEntry key=\"HKIndoorWorkout\" value=\"0\"/>"
      "<WorkoutEvent type=\"HKWorkoutEventTypePause\" date=\"2024-01-01 07:10:00 +0000\"/>"
      "<WorkoutEvent type=\"HKWorkoutEventTypeResume\" date=\"2024-01-01 07:12:00 +0000\"/>"
      "<WorkoutRoute sourceName=\"Watch\"><FileReference path=\"/route.gpx\"/></WorkoutRoute>"
      "<WorkoutStatistics type=\"HKQuantityTypeIdentifierHeartRate\" average=\"150\"/>"
      "<Nothing/>"
      "<WorkoutEvent type=\"HKWorkoutEventTypeLap\" date=\"2024-01-01 07:20:00 +0000\"/>"
      "</Workout>"
      "<Record type=\"HKQuantityTypeIdentifierHeartRateVariabilitySDNN\" unit=\"ms\" "
      "value=\"40\" sourceName=\"Watch\" duration=\"60\" "
      "startDate=\"2024-01-01 08:00:00 +0000\" endDate=\"2024-01-01 08:01:00 +0000\">"
      "<HeartRateVariabilityMetadataList><InstantaneousBeatsPerMinute bpm=\"60\" "
      "time=\"8:00:01.00 AM\"/></HeartRateVariabilityMetadataList></Record>"
      "</HealthData>");
  ASSERT_EQ(items.size(), 2u);
  // A workout's value is not read (the model's value is a record's); nor is a record's duration.
  EXPECT_EQ(not_read_of(f, items[0]),
            (Names{"zorblax", "value", "WorkoutEvent", "WorkoutRoute", "WorkoutStatistics"}));
  EXPECT_EQ(not_read_of(f, items[1]), (Names{"duration", "HeartRateVariabilityMetadataList"}));
  EXPECT_EQ(f.to_model(items[0])["metadata"], (Item{{"HKIndoorWorkout", "0"}}));

  Names names{"earlier"};
  f.to_model(items[1], &names);
  EXPECT_EQ(names, (Names{"earlier", "duration", "HeartRateVariabilityMetadataList"}));
  Names refused;
  EXPECT_THROW(f.to_model({"r", "<Record type=\"T\" sourceName=\"s\" foo=\"1\" "
                                "startDate=\"2024-01-01 08:00:00 +0000\"/>"},
                          &refused),
               FormatError);
  EXPECT_TRUE(refused.empty());
}

// Exports of iOS 16 and later give a workout's totals as WorkoutStatistics (a sum and its unit)
// instead of the totalDistance and totalEnergyBurned attributes: those are the model's totals,
// and travel on (here to Open mHealth's distance and kcal_burned). A statistic the model cannot
// hold whole (another quantity, other dates, an attribute more) is named in not_read.
TEST(AppleHealth, WorkoutTotalsFromWorkoutStatistics) {
  const Format& f = format("apple-health");
  const std::string open =
      "<Workout workoutActivityType=\"HKWorkoutActivityTypeRunning\" duration=\"30.5\" "
      "durationUnit=\"min\" sourceName=\"Watch\" startDate=\"2024-02-03 07:30:00 +0100\" "
      "endDate=\"2024-02-03 08:00:30 +0100\">";
  const std::string distance =
      "<WorkoutStatistics type=\"HKQuantityTypeIdentifierDistanceWalkingRunning\" "
      "startDate=\"2024-02-03 07:30:00 +0100\" endDate=\"2024-02-03 08:00:30 +0100\" "
      "sum=\"5.01\" unit=\"km\"/>";
  const std::string energy =
      "<WorkoutStatistics type=\"HKQuantityTypeIdentifierActiveEnergyBurned\" "
      "sum=\"312.5\" unit=\"kcal\"/>";
  const std::string heart_rate =
      "<WorkoutStatistics type=\"HKQuantityTypeIdentifierHeartRate\" average=\"150\" "
      "minimum=\"120\" maximum=\"170\" unit=\"count/min\"/>";
  const NativeItem item{"w", open + distance + energy + "</Workout>"};
  Names names;
  const Item m = f.to_model(item, &names);
  EXPECT_EQ(m["workout"]["total_distance"], "5.01");
  EXPECT_EQ(m["workout"]["total_distance_unit"], "km");
  EXPECT_EQ(m["workout"]["total_energy_burned"], "312.5");
  EXPECT_EQ(m["workout"]["total_energy_burned_unit"], "kcal");
  EXPECT_EQ(names, Names{}) << "both statistics were read whole";
  // Written back as the attributes, read as the same model.
  const auto back = f.from_model(m);
  EXPECT_NE(back.native.text.find(R"(totalDistance="5.01")"), std::string::npos);
  EXPECT_EQ(f.to_model(back.native), m);
  const auto omh = format("open-mhealth").from_model(m);
  const auto body = nlohmann::json::parse(omh.native.text)["body"];
  EXPECT_EQ(body["distance"], nlohmann::json::parse(R"({"value":5.01,"unit":"km"})"));
  EXPECT_EQ(body["kcal_burned"], nlohmann::json::parse(R"({"value":312.5,"unit":"kcal"})"));

  // Another quantity's statistic is not carried, and is named.
  EXPECT_EQ(not_read_of(f, {"w", open + heart_rate + distance + "</Workout>"}),
            Names{"WorkoutStatistics"});
  // A statistic over other dates is not the workout's total: not read, and named.
  const std::string part =
      "<WorkoutStatistics type=\"HKQuantityTypeIdentifierDistanceWalkingRunning\" "
      "startDate=\"2024-02-03 07:30:00 +0100\" endDate=\"2024-02-03 07:40:00 +0100\" "
      "sum=\"1.2\" unit=\"km\"/>";
  const NativeItem partial{"w", open + part + "</Workout>"};
  EXPECT_TRUE(f.to_model(partial)["workout"]["total_distance"].is_null());
  EXPECT_EQ(not_read_of(f, partial), Names{"WorkoutStatistics"});
  // The attribute, where there is one, is the total; the statistic is then named.
  const NativeItem both{"w", open.substr(0, open.size() - 1) +
                                 " totalDistance=\"5.00\" totalDistanceUnit=\"km\">" +
                                 distance + "</Workout>"};
  EXPECT_EQ(f.to_model(both)["workout"]["total_distance"], "5.00");
  EXPECT_EQ(not_read_of(f, both), Names{"WorkoutStatistics"});
}

TEST(AppleHealth, NotReadOfTheSampleAndOfWhatFromModelWrites) {
  const Format& f = format("apple-health");
  // Its Records and the Workout hold only attributes the model has; the ActivitySummary
  // elements, Me and ExportDate are not items.
  const auto items = f.split(read_sample("apple-health-export.xml"));
  ASSERT_EQ(items.size(), 16u);
  for (const NativeItem& n : items) {
    EXPECT_EQ(not_read_of(f, n), Names{}) << n.text;
    EXPECT_EQ(not_read_of(f, f.from_model(f.to_model(n)).native), Names{}) << n.text;
  }
  const auto metadata = f.split(
      "<HealthData locale=\"ja_JP\"><Record type=\"HKQuantityTypeIdentifierBodyMass\" "
      "sourceName=\"s\" sourceVersion=\"1\" device=\"d\" unit=\"kg\" value=\"61.25\" "
      "creationDate=\"2024-01-01 07:00:00 +0900\" startDate=\"2024-01-01 07:00:00 +0900\" "
      "endDate=\"2024-01-01 07:00:00 +0900\"><MetadataEntry key=\"HKWasUserEntered\" "
      "value=\"1\"/></Record></HealthData>");
  EXPECT_EQ(not_read_of(f, metadata[0]), Names{});
}

TEST(OpenMHealth, NotReadNamesUnreadMembersByPath) {
  const Format& omh = format("open-mhealth");
  const auto items = omh.split(R"([{"header":{"id":"hr-1","uuid":"another-id",)"
      R"("creation_date_time":"2024-01-01T09:00:00Z","modality":"sensed",)"
      R"("schema_id":{"namespace":"omh","name":"heart-rate","version":"1.0"},)"
      R"("acquisition_provenance":{"source_name":"Watch","modality":"sensed","zorblax":1}},)"
      R"("body":{"heart_rate":{"value":72,"unit":"beats/min","zorblax":true},)"
      R"("effective_time_frame":{"time_interval":{"start_date_time":"2024-01-01T08:00:00Z",)"
      R"("end_date_time":"2024-01-01T08:05:00Z","duration":{"value":5,"unit":"min"}}},)"
      R"("descriptive_statistic":"average","user_notes":"",)"
      R"("temporal_relationship_to_physical_activity":"at rest"},"zorblax":[1]},)"
      R"({"header":{"id":"run-1","creation_date_time":"2024-01-02T07:00:00Z",)"
      R"("schema_id":{"namespace":"omh","name":"physical-activity","version":"1.0"}},)"
      R"("body":{"activity_name":"run","reported_activity_intensity":"moderate",)"
      R"("distance":{"value":5.1,"unit":"km","zorblax":"x"},)"
      R"("effective_time_frame":{"date_time":"2024-01-02T07:00:00Z",)"
      R"("time_interval":{"start_date_time":"2024-01-02T07:00:00Z","duration":{"value":30,)"
      R"("unit":"min"}}}}},)"
      R"({"header":{"id":"own-1","acquisition_provenance":{"source_name":"Watch"},)"
      R"("schema_id":{"namespace":"infobank","name":"healthkit-record","version":"1.0"}},)"
      R"("body":{"kind":"record","type":"HKCategoryTypeIdentifierSleepAnalysis",)"
      R"("value":"HKCategoryValueSleepAnalysisAsleep","start":"2024-01-01T23:00:00+09:00",)"
      R"("end":"2024-01-02T06:00:00+09:00","zorblax":{"depth":2},"id":"another-id"}}])");
  ASSERT_EQ(items.size(), 3u);
  // Members come in name order (a parsed object keeps them sorted): body, header, others.
  EXPECT_EQ(not_read_of(omh, items[0]),
            (Names{"body.descriptive_statistic",
                   "body.effective_time_frame.time_interval.duration", "body.heart_rate.zorblax",
                   "body.temporal_relationship_to_physical_activity",
                   "header.acquisition_provenance.modality",
                   "header.acquisition_provenance.zorblax", "header.creation_date_time",
                   "header.modality", "header.uuid", "zorblax"}));
  // A date_time wins over a time_interval; the workout's creation_date_time is its start.
  EXPECT_EQ(not_read_of(omh, items[1]),
            (Names{"body.distance.zorblax", "body.effective_time_frame.time_interval",
                   "body.reported_activity_intensity"}));
  // Our own namespace: the body is the model, so a member it has no field for is reported.
  EXPECT_EQ(not_read_of(omh, items[2]),
            (Names{"body.id", "body.zorblax", "header.acquisition_provenance"}));
  EXPECT_EQ(omh.to_model(items[0])["value"], "72");

  Names refused;
  EXPECT_THROW(omh.to_model({"x", R"({"header":{"id":"x","zorblax":1,"schema_id":)"
                                  R"({"namespace":"omh","name":"heart-rate"}},"body":{}})"},
                            &refused),
               FormatError);
  EXPECT_TRUE(refused.empty());
}

TEST(OpenMHealth, NotReadIsEmptyForWhatTheModelCarries) {
  const Format& omh = format("open-mhealth");
  // The repository has no Open mHealth sample: its Apple Health sample written as data points
  // (step counts in omh:step-count, distances in our namespace, the workout in
  // omh:physical-activity) holds nothing the model cannot read back.
  for (const Item& m : models(format("apple-health"), read_sample("apple-health-export.xml"))) {
    EXPECT_EQ(not_read_of(omh, omh.from_model(m).native), Names{}) << m["type"];
  }
  const NativeItem hr{"8f6e-1", R"({"header":{"uuid":"8f6e-1","creation_date_time":)"
                                R"("2024-01-01T08:00:00+09:00","schema_id":{"namespace":"omh",)"
                                R"("name":"heart-rate","version":"1.0"}},"body":{"heart_rate":)"
                                R"({"value":72,"unit":"beats/min"},"effective_time_frame":)"
                                R"({"date_time":"2024-01-01T08:00:00+09:00"}}})"};
  EXPECT_EQ(not_read_of(omh, hr), Names{});
}

TEST(AppleHealth, SplitNamesTheTopLevelElementsThatAreNotSamples) {
  const Format& f = format("apple-health");
  // The sample: the profile (Me) and the daily summaries; ExportDate is the file's date.
  EXPECT_EQ(skipped_by(f, read_sample("apple-health-export.xml")),
            (Names{"Me", "ActivitySummary"}));

  // Each once, in document order; an element holding nothing (a Me whose characteristics are
  // all empty) is left out.
  const std::string record =
      "<Record type=\"HKQuantityTypeIdentifierBloodPressureSystolic\" unit=\"mmHg\" "
      "value=\"120\" sourceName=\"Cuff\" startDate=\"2024-01-01 08:00:00 +0900\" "
      "endDate=\"2024-01-01 08:00:00 +0900\"/>";
  const std::string document =
      "<HealthData locale=\"ja_JP\"><ExportDate value=\"2024-01-02 00:00:00 +0900\"/>"
      "<Me HKCharacteristicTypeIdentifierDateOfBirth=\"\"/>" + record +
      "<Correlation type=\"HKCorrelationTypeIdentifierBloodPressure\" sourceName=\"Cuff\" "
      "startDate=\"2024-01-01 08:00:00 +0900\" endDate=\"2024-01-01 08:00:00 +0900\">" +
      record + "</Correlation>"
      "<ActivitySummary dateComponents=\"2024-01-01\" appleStandHoursGoal=\"12\"/>"
      "<ClinicalRecord type=\"HKClinicalTypeIdentifierLabResultRecord\" "
      "resourceFilePath=\"/clinical-records/x.json\"/>"
      "<ActivitySummary dateComponents=\"2024-01-02\" appleStandHoursGoal=\"12\"/>"
      "<Audiogram type=\"HKDataTypeIdentifierAudiogram\"><SensitivityPoint frequency=\"500\"/>"
      "</Audiogram></HealthData>";
  ASSERT_EQ(f.split(document).size(), 1u);
  EXPECT_EQ(skipped_by(f, document),
            (Names{"Correlation", "ActivitySummary", "ClinicalRecord", "Audiogram"}));

  testing::expect_split_refused(
      f, "<HealthData><Me a=\"1\"/><Record sourceName=\"s\"/></HealthData>");
}

TEST(AppleHealth, SplitOfAJoinedPageNamesNothing) {
  const Format& f = format("apple-health");
  EXPECT_EQ(skipped_by_joined(f, read_sample("apple-health-export.xml")), Names{});
}

// What join writes, split reads whole. A data point in a schema the model has no mapping for
// (a real export's blood pressure or sleep), or in a unit its mapping has not, is skipped and
// named by its schema (and the unit), once however often it comes, and the rest of the export
// still splits; one that names no schema at all is kept, for to_model to refuse naming it.
TEST(OpenMHealth, SplitSkipsOnlySchemasTheModelHasNoMappingFor) {
  const Format& omh = format("open-mhealth");
  std::vector<NativeItem> items;
  for (const Item& m : models(format("apple-health"), read_sample("apple-health-export.xml"))) {
    items.push_back(omh.from_model(m).native);
  }
  const std::string page = omh.join(items);
  EXPECT_EQ(omh.split(page).size(), items.size());
  EXPECT_EQ(skipped_by(omh, page), Names{});
  EXPECT_EQ(skipped_by(omh, "[]"), Names{});

  const std::string when = R"("effective_time_frame":{"date_time":"2024-01-01T08:00:00Z"})";
  const std::string bp = R"({"systolic_blood_pressure":{"value":120,"unit":"mmHg"},)"
                         R"("diastolic_blood_pressure":{"value":80,"unit":"mmHg"},)" + when + "}";
  const std::string mixed =
      "[" + point("bp-1", "omh:blood-pressure:1.0", bp) + "," +
      point("hr-1", "omh:heart-rate:1.0",
            R"({"heart_rate":{"value":72,"unit":"beats/min"},)" + when + "}") +
      "," + point("bp-2", "omh:blood-pressure:1.0", bp) + "," +
      point("x-1", "example:mood:1.0", R"({"mood":"calm"})") + "," +
      point("t-1", "omh:body-temperature:1.0",
            R"({"body_temperature":{"value":310.15,"unit":"K"},)" + when + "}") +
      "," +
      point("t-2", "omh:body-temperature:1.0",
            R"({"body_temperature":{"value":37.0,"unit":"C"},)" + when + "}") +
      "," + R"({"header":{"id":"no-schema"},"body":{}})" + "]";
  const auto kept = omh.split(mixed);
  ASSERT_EQ(kept.size(), 3u);
  EXPECT_EQ(kept[0].id, "hr-1");
  EXPECT_EQ(kept[1].id, "t-2");
  EXPECT_EQ(kept[2].id, "no-schema");
  EXPECT_EQ(omh.to_model(kept[0])["value"], "72");
  EXPECT_EQ(omh.to_model(kept[1])["unit"], "degC");
  EXPECT_THROW(omh.to_model(kept[2]), FormatError);
  // Kelvin has no mapping (HealthKit's body temperature is degC or degF): skipped, named.
  EXPECT_EQ(skipped_by(omh, mixed),
            (Names{"omh:blood-pressure", "example:mood", "omh:body-temperature (unit K)"}));
  // A document refused adds nothing to the list.
  Names refused;
  EXPECT_THROW(omh.split(R"({"not":"an array"})", &refused), FormatError);
  EXPECT_TRUE(refused.empty());
}

// omh:time-interval may name a part of a day (date and part_of_day) instead of two instants:
// such a point has no time the model can hold, so split skips it and names it, and the rest of
// the export moves (it used to fail the transfer as an interval without a start or end).
TEST(OpenMHealth, SkipsAPointAtAPartOfADayAndNamesIt) {
  const Format& omh = format("open-mhealth");
  const std::string morning = R"("effective_time_frame":{"time_interval":{)"
                              R"("date":"2024-05-01","part_of_day":"morning"}})";
  const std::string hour = R"("effective_time_frame":{"time_interval":{)"
                           R"("start_date_time":"2024-05-01T06:00:00+09:00",)"
                           R"("end_date_time":"2024-05-01T07:00:00+09:00"}})";
  const std::string doc =
      "[" + point("steps-morning", "omh:step-count:2.0", R"({"step_count":900,)" + morning + "}") +
      "," + point("steps-hour", "omh:step-count:2.0", R"({"step_count":600,)" + hour + "}") +
      "," +
      point("walk-morning", "omh:physical-activity:1.2",
            R"({"activity_name":"walking",)" + morning + "}") +
      "]";
  const auto kept = omh.split(doc);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].id, "steps-hour");
  EXPECT_EQ(omh.to_model(kept[0])["value"], "600");
  EXPECT_EQ(skipped_by(omh, doc), (Names{"omh:step-count (time_interval by part_of_day)",
                                         "omh:physical-activity (time_interval by part_of_day)"}));
}

// omh:step-count 1.0 and 2.0 hold a bare number of steps, 3.0 {value, unit "steps"}
// (github.com/openmhealth/schemas: schema/omh/step-count-*.json, test-data/omh/step-count/). A
// 2.0 point holding {value, unit "steps"}, as this adapter wrote before, is read too.
TEST(OpenMHealth, ReadsTheStepCountOfEachPublishedVersion) {
  const Format& omh = format("open-mhealth");
  const std::string hour = R"("effective_time_frame":{"time_interval":{)"
                           R"("start_date_time":"2016-02-05T06:25:00Z",)"
                           R"("end_date_time":"2016-02-05T07:25:00Z"}})";
  const std::string bare = R"({"step_count":6000,)" + hour + "}";
  const std::string steps = R"({"step_count":{"value":6000,"unit":"steps"},)" + hour + "}";
  const std::string doc = "[" + point("v1", "omh:step-count:1.0", bare) + "," +
                          point("v2", "omh:step-count:2.0", bare) + "," +
                          point("v3", "omh:step-count:3.0", steps) + "," +
                          point("earlier", "omh:step-count:2.0", steps) + "]";
  const auto items = omh.split(doc);
  ASSERT_EQ(items.size(), 4u);
  EXPECT_EQ(skipped_by(omh, doc), Names{});
  for (const NativeItem& n : items) {
    const Item m = omh.to_model(n);
    EXPECT_EQ(m["type"], "HKQuantityTypeIdentifierStepCount") << n.id;
    EXPECT_EQ(m["unit"], "count") << n.id;
    EXPECT_EQ(m["value"], "6000") << n.id;
    EXPECT_EQ(m["end"], "2016-02-05T07:25:00Z") << n.id;
    EXPECT_EQ(not_read_of(omh, n), Names{}) << n.id;
    // Written back as 2.0 (a bare number), read as the same model.
    const Converted c = omh.from_model(m);
    EXPECT_TRUE(c.not_carried.empty());
    EXPECT_EQ(Item::parse(c.native.text)["body"]["step_count"], 6000);
    EXPECT_EQ(omh.to_model(c.native), m) << n.id;
  }
  // What 2.0 adds to the count (test-data/omh/step-count/2.0/shouldPass/with-maximum.json) is
  // not the model's: named.
  const NativeItem maximum{
      "max", point("max", "omh:step-count:2.0",
                   R"({"step_count":20000,"descriptive_statistic":"maximum",)"
                   R"("descriptive_statistic_denominator":"d",)" + hour + "}")};
  EXPECT_EQ(not_read_of(omh, maximum),
            (Names{"body.descriptive_statistic", "body.descriptive_statistic_denominator"}));

  // Each version's other shape is malformed: refused, naming the item.
  for (const auto& [version, body] :
       {std::pair{"1.0", steps}, std::pair{"3.0", bare},
        std::pair{"2.0", R"({"step_count":"6000",)" + hour + "}"},
        std::pair{"3.0", R"({"step_count":{"unit":"steps"},)" + hour + "}"},
        std::pair{"2.0", "{" + hour + "}"}}) {
    const std::string text = point("bad", std::string("omh:step-count:") + version, body);
    ASSERT_EQ(omh.split("[" + text + "]").size(), 1u) << text;
    EXPECT_NE(refusal_of(omh, {"bad", text}), "") << text;
  }
  // Another unit of 3.0's {value, unit} is skipped, named with the unit.
  const std::string thousands = point(
      "k", "omh:step-count:3.0", R"({"step_count":{"value":6,"unit":"ksteps"},)" + hour + "}");
  EXPECT_EQ(skipped_by(omh, "[" + thousands + "]"), Names{"omh:step-count (unit ksteps)"});

  // A count whose start is its end is still written as a time_interval, which step-count 2.0
  // and calories-burned 2.0 require; read back, it is the same model.
  Item instant = omh.to_model(items[0]);
  instant["end"] = instant["start"];
  for (const auto& [type, unit] :
       {std::pair{"HKQuantityTypeIdentifierStepCount", "count"},
        std::pair{"HKQuantityTypeIdentifierActiveEnergyBurned", "kcal"}}) {
    instant["type"] = type;
    instant["unit"] = unit;
    const Converted c = omh.from_model(instant);
    EXPECT_TRUE(Item::parse(c.native.text)["body"]["effective_time_frame"].contains(
        "time_interval")) << c.native.text;
    EXPECT_EQ(omh.to_model(c.native), instant);
  }
}

// omh:time-interval is a start and an end, or either with a duration
// (omh:duration-unit-value): the missing end is worked out, to the nanosecond, in the given
// one's own offset; the duration is then read (not named). A month or a year has no fixed
// length, and a negative or malformed duration is no interval: refused, naming the item.
TEST(OpenMHealth, ATimeIntervalOfAStartOrAnEndAndADuration) {
  const Format& omh = format("open-mhealth");
  const auto frame = [](const std::string& interval) {
    return R"({"heart_rate":{"value":60,"unit":"beats/min"},"effective_time_frame":)"
           R"({"time_interval":)" + interval + "}}";
  };
  const auto read = [&](const std::string& interval) {
    const NativeItem n{"i", point("i", "omh:heart-rate:1.0", frame(interval))};
    const Item m = omh.to_model(n);
    EXPECT_EQ(not_read_of(omh, n), Names{}) << interval;
    return std::pair{m["start"].get<std::string>(), m["end"].get<std::string>()};
  };
  using Span = std::pair<std::string, std::string>;
  EXPECT_EQ(read(R"({"start_date_time":"2026-12-07T23:40:00+09:00",)"
                 R"("duration":{"value":30,"unit":"min"}})"),
            (Span{"2026-12-07T23:40:00+09:00", "2026-12-08T00:10:00+09:00"}));
  EXPECT_EQ(read(R"({"end_date_time":"2026-01-01T00:00:00Z","duration":{"value":1.5,"unit":"h"}})"),
            (Span{"2025-12-31T22:30:00Z", "2026-01-01T00:00:00Z"}));
  EXPECT_EQ(read(R"({"start_date_time":"2026-03-01T12:00:00.25-05:00",)"
                 R"("duration":{"value":1750,"unit":"ms"}})"),
            (Span{"2026-03-01T12:00:00.25-05:00", "2026-03-01T12:00:02-05:00"}));
  EXPECT_EQ(read(R"({"start_date_time":"2024-02-28T10:00:00Z","duration":{"value":2,"unit":"d"}})"),
            (Span{"2024-02-28T10:00:00Z", "2024-03-01T10:00:00Z"}))
      << "2024 is a leap year";
  // Start, end and a duration: the two ends are read, the duration is named.
  const NativeItem all{"a", point("a", "omh:heart-rate:1.0",
                                  frame(R"({"start_date_time":"2026-01-01T00:00:00Z",)"
                                        R"("end_date_time":"2026-01-01T01:00:00Z",)"
                                        R"("duration":{"value":1,"unit":"h"}})"))};
  EXPECT_EQ(not_read_of(omh, all), Names{"body.effective_time_frame.time_interval.duration"});

  for (const std::string interval :
       {R"({"start_date_time":"2026-01-01T00:00:00Z","duration":{"value":1,"unit":"Mo"}})",
        R"({"start_date_time":"2026-01-01T00:00:00Z","duration":{"value":-5,"unit":"min"}})",
        R"({"start_date_time":"2026-01-01T00:00:00Z","duration":{"value":"5","unit":"min"}})",
        R"({"start_date_time":"2026-01-01T00:00:00Z","duration":{"value":5}})",
        R"({"start_date_time":"2026-01-01T00:00:00Z","duration":5})",
        R"({"start_date_time":"2026-01-01T00:00:00Z"})", R"({"duration":{"value":5,"unit":"min"}})",
        R"({"start_date_time":"yesterday","duration":{"value":5,"unit":"min"}})"}) {
    const std::string text = point("bad", "omh:heart-rate:1.0", frame(interval));
    EXPECT_NE(refusal_of(omh, {"bad", text}), "") << interval;
  }
}

// A schema's version is "major.minor" (with an optional ".qualifier"); within a major, minor
// versions only add optional members, so a minor version of a major the adapter reads is read
// (what it adds is named in not_read). A major version whose body it does not know (a future
// one) is skipped like an unmapped schema and named "namespace:name:version"; a version that is
// not one at all is malformed, refused naming the item.
TEST(OpenMHealth, ReadsTheMajorVersionsItKnowsAndNamesTheOthers) {
  const Format& omh = format("open-mhealth");
  const std::string when = R"("effective_time_frame":{"date_time":"2020-02-05T06:00:00+01:00"})";
  const std::string hr = measured("heart_rate", "50", "beats/min", when);
  const std::string known = "[" +
      point("hr-1.1", "omh:heart-rate:1.1",
            R"({"heart_rate":{"value":50,"unit":"beats/min"},)"
            R"("temporal_relationship_to_sleep":"on waking",)" + when + "}") + "," +
      point("hr-3.0", "omh:heart-rate:3.0", hr) + "," +
      point("hr-rc", "omh:heart-rate:1.0.RC1", hr) + "," +
      point("t-4.0", "omh:body-temperature:4.0", measured("body_temperature", "37.2", "C", when)) +
      "," + point("w-3.0", "omh:body-weight:3.0", measured("body_weight", "61.5", "kg", when)) +
      "," +
      point("pa-2.0", "omh:physical-activity:2.0",
            R"({"activity_name":"walking","effective_duration":{"value":30,"unit":"min"},)"
            R"("kcal_burned":{"value":160,"unit":"kcal"},)" + when + "}") + "]";
  const auto items = omh.split(known);
  ASSERT_EQ(items.size(), 6u);
  EXPECT_EQ(skipped_by(omh, known), Names{});
  EXPECT_EQ(not_read_of(omh, items[0]), Names{"body.temporal_relationship_to_sleep"});
  for (std::size_t i = 1; i < 3; ++i) {
    EXPECT_EQ(omh.to_model(items[i])["value"], "50") << items[i].id;
    EXPECT_EQ(not_read_of(omh, items[i]), Names{}) << items[i].id;
  }
  EXPECT_EQ(omh.to_model(items[3])["unit"], "degC");
  EXPECT_EQ(omh.to_model(items[4])["value"], "61.5");
  const Item walk = omh.to_model(items[5]);
  EXPECT_EQ(walk["workout"]["total_energy_burned"], "160");
  // 2.0's effective_duration has no place in the model's workout (its duration is the
  // HealthKit workout's): named.
  EXPECT_EQ(not_read_of(omh, items[5]), Names{"body.effective_duration"});

  // Majors it does not know, in a mapped schema, physical-activity or our own namespace: each
  // skipped and named once, with its version; to_model given one refuses it, naming it.
  const std::string future =
      "[" + point("s-4", "omh:step-count:4.0", R"({"step_count":{"steps":6000}})") + "," +
      point("hr-4", "omh:heart-rate:4.0", hr) + "," + point("hr-4b", "omh:heart-rate:4.0", hr) +
      "," + point("pa-3", "omh:physical-activity:3.0", R"({"activity":"walking"})") + "," +
      point("own-2", "infobank:healthkit-record:2.0", R"({"record":{}})") + "," +
      point("hr-0", "omh:heart-rate:0.9", hr) + "]";
  EXPECT_EQ(omh.split(future).size(), 0u);
  EXPECT_EQ(skipped_by(omh, future),
            (Names{"omh:step-count:4.0", "omh:heart-rate:4.0", "omh:physical-activity:3.0",
                   "infobank:healthkit-record:2.0", "omh:heart-rate:0.9"}));
  EXPECT_NE(refusal_of(omh, {"hr-4", point("hr-4", "omh:heart-rate:4.0", hr)})
                .find("omh:heart-rate:4.0"),
            std::string::npos);

  // Not a version: kept by split, refused by to_model, naming the item.
  for (const char* schema :
       {"omh:heart-rate", "omh:heart-rate:", "omh:heart-rate:1", "omh:heart-rate:v1.0",
        "omh:heart-rate:1.0.", "omh:heart-rate:1.0.rc-1", "omh:heart-rate:-1.0",
        "omh:heart-rate:1..0", "omh:heart-rate:12345678901.0"}) {
    const std::string text = point("v", schema, hr);
    EXPECT_EQ(skipped_by(omh, "[" + text + "]"), Names{}) << schema;
    EXPECT_NE(refusal_of(omh, {"v", text}), "") << schema;
  }
  const std::string number_version = R"({"header":{"id":"n","schema_id":{"namespace":"omh",)"
                                     R"("name":"heart-rate","version":1.0}},"body":)" + hr + "}";
  EXPECT_EQ(omh.split("[" + number_version + "]").size(), 1u);
  EXPECT_NE(refusal_of(omh, {"n", number_version}), "");
}

// A data point skipped for a unit its schema's mapping has not is named with the unit, so that
// the transfer report says why; never with its value (a measurement of the resident).
TEST(OpenMHealth, ASkippedUnitIsNamedWithTheUnitAndNeverTheValue) {
  const Format& omh = format("open-mhealth");
  const std::string when = R"("effective_time_frame":{"date_time":"2024-01-01T08:00:00Z"})";
  const auto body = [&](const std::string& key, const std::string& value,
                        const std::string& unit) { return measured(key, value, unit, when); };
  const std::string doc =
      "[" + point("t", "omh:body-temperature:2.0", body("body_temperature", "310.15", "K")) +
      "," + point("w", "omh:body-weight:1.0", body("body_weight", "0.0615", "Metric Ton")) + "," +
      point("t2", "omh:body-temperature:1.0", body("body_temperature", "309.95", "K")) + "," +
      point("g", "omh:blood-glucose:2.0", body("blood_glucose", "5.5", "mg/L")) + "]";
  const Names names = skipped_by(omh, doc);
  EXPECT_EQ(names, (Names{"omh:body-temperature (unit K)", "omh:body-weight (unit Metric Ton)",
                          "omh:blood-glucose (unit mg/L)"}));
  for (const std::string& name : names) {
    for (const char* value : {"310", "309", "0.0615", "5.5"}) {
      EXPECT_EQ(name.find(value), std::string::npos) << name;
    }
  }
  // to_model given one refuses it, naming the item and the unit.
  EXPECT_NE(refusal_of(omh, {"t", point("t", "omh:body-temperature:2.0",
                                        body("body_temperature", "310.15", "K"))})
                .find("(unit K)"),
            std::string::npos);
  // A unit that is empty or not a string names nothing: malformed, refused naming the item.
  for (const std::string& bad :
       {body("body_temperature", "37", ""),
        R"({"body_temperature":{"value":37,"unit":["C"]},)" + when + "}"}) {
    const std::string text = point("u", "omh:body-temperature:2.0", bad);
    EXPECT_EQ(skipped_by(omh, "[" + text + "]"), Names{}) << bad;
    EXPECT_NE(refusal_of(omh, {"u", text}), "") << bad;
  }
}

// HealthKit's respiratory rate (count/min), body mass index (a count, in kg/m^2) and blood
// glucose (mg/dL, or millimoles of glucose as HealthKit writes them) map one to one to
// omh:respiratory-rate (breaths/min), omh:body-mass-index (kg/m2 in 1.x, kg/m^2 since 2.0) and
// omh:blood-glucose (mg/dL, mmol/L): read from any published major, written in 1.0.
TEST(OpenMHealth, RespiratoryRateBodyMassIndexAndBloodGlucose) {
  const Format& apple = format("apple-health");
  const Format& omh = format("open-mhealth");
  const auto record = [](const std::string& type, const std::string& unit,
                         const std::string& value) {
    return "<Record type=\"HKQuantityTypeIdentifier" + type + "\" sourceName=\"Watch\" unit=\"" +
           unit + "\" startDate=\"2024-03-01 07:00:00 +0100\" " +
           "endDate=\"2024-03-01 07:00:00 +0100\" value=\"" + value + "\"/>";
  };
  const auto ms = models(apple, "<HealthData locale=\"en_GB\">" +
                                    record("RespiratoryRate", "count/min", "14.5") +
                                    record("BodyMassIndex", "count", "22.04") +
                                    record("BloodGlucose", "mg/dL", "99") +
                                    record("BloodGlucose", "mmol&lt;180.1558800000541&gt;/L",
                                           "5.5") +
                                    "</HealthData>");
  ASSERT_EQ(ms.size(), 4u);
  EXPECT_EQ(ms[3]["unit"], "mmol<180.1558800000541>/L");
  const std::pair<const char*, std::string> written[] = {
      {"respiratory-rate", R"("respiratory_rate":{"unit":"breaths/min","value":14.5})"},
      {"body-mass-index", R"("body_mass_index":{"unit":"kg/m2","value":22.04})"},
      {"blood-glucose", R"("blood_glucose":{"unit":"mg/dL","value":99})"},
      {"blood-glucose", R"("blood_glucose":{"unit":"mmol/L","value":5.5})"}};
  for (std::size_t i = 0; i < ms.size(); ++i) {
    const Converted c = omh.from_model(ms[i]);
    const Item p = Item::parse(c.native.text);
    EXPECT_EQ(p["header"]["schema_id"]["name"], written[i].first);
    EXPECT_EQ(p["header"]["schema_id"]["version"], "1.0");
    EXPECT_NE(c.native.text.find(written[i].second), std::string::npos) << c.native.text;
    EXPECT_TRUE(c.not_carried.empty());
    EXPECT_EQ(omh.to_model(c.native), ms[i]);
    EXPECT_EQ(not_read_of(omh, c.native), Names{});
    testing::expect_carried(ms[i], omh);
  }

  // As the schemas' samples write them (test-data/omh/<name>/<version>/shouldPass/).
  const std::string when = R"("effective_time_frame":{"time_interval":{)"
                           R"("start_date_time":"2020-02-05T07:05:00-08:00",)"
                           R"("end_date_time":"2020-02-05T08:05:00-08:00"}})";
  const std::string doc =
      "[" +
      point("rr", "omh:respiratory-rate:3.0",
            measured("respiratory_rate", "10", "breaths/min", when)) + "," +
      point("bmi1", "omh:body-mass-index:1.0", measured("body_mass_index", "16", "kg/m2", when)) +
      "," +
      point("bmi2", "omh:body-mass-index:2.0", measured("body_mass_index", "16", "kg/m^2", when)) +
      "," +
      point("bg", "omh:blood-glucose:4.0",
            R"({"blood_glucose":{"value":5.5,"unit":"mmol/L"},)"
            R"("specimen_source":"capillary blood",)" + when + "}") +
      "]";
  const auto items = omh.split(doc);
  ASSERT_EQ(items.size(), 4u);
  const std::pair<const char*, const char*> read[] = {
      {"HKQuantityTypeIdentifierRespiratoryRate", "count/min"},
      {"HKQuantityTypeIdentifierBodyMassIndex", "count"},
      {"HKQuantityTypeIdentifierBodyMassIndex", "count"},
      {"HKQuantityTypeIdentifierBloodGlucose", "mmol<180.1558800000541>/L"}};
  for (std::size_t i = 0; i < items.size(); ++i) {
    const Item m = omh.to_model(items[i]);
    EXPECT_EQ(m["type"], read[i].first) << items[i].id;
    EXPECT_EQ(m["unit"], read[i].second) << items[i].id;
    testing::expect_carried(m, apple);
  }
  EXPECT_EQ(not_read_of(omh, items[3]), Names{"body.specimen_source"});
  // Units none of the schemas has: skipped, named with the unit.
  const std::string other_units =
      "[" +
      point("rr", "omh:respiratory-rate:1.0",
            measured("respiratory_rate", "0.2", "breaths/s", when)) + "," +
      point("bmi", "omh:body-mass-index:2.0",
            measured("body_mass_index", "0.03", "lb/in^2", when)) + "]";
  EXPECT_EQ(skipped_by(omh, other_units),
            (Names{"omh:respiratory-rate (unit breaths/s)", "omh:body-mass-index (unit lb/in^2)"}));
}

TEST(OpenMHealth, AnUnknownSourceNameIsWrittenEmptyBesideTheCreationDate) {
  // header acquisition_provenance requires source_name (omh:header-1.0): an Apple Health record
  // with an empty sourceName (how the DTD's required attribute says "unknown") but a
  // creationDate is written with an empty source_name, read back as null.
  const Format& omh = format("open-mhealth");
  const auto ms = models(format("apple-health"),
                         "<HealthData locale=\"en_US\"><Record "
                         "type=\"HKQuantityTypeIdentifierHeartRate\" sourceName=\"\" "
                         "unit=\"count/min\" creationDate=\"2018-12-01 10:00:00 +0100\" "
                         "startDate=\"2018-12-01 09:00:00 +0100\" "
                         "endDate=\"2018-12-01 09:00:00 +0100\" value=\"60\"/></HealthData>");
  ASSERT_EQ(ms.size(), 1u);
  ASSERT_TRUE(ms[0]["source"]["name"].is_null());
  const Converted c = omh.from_model(ms[0]);
  const Item p = Item::parse(c.native.text);
  EXPECT_EQ(p["header"]["acquisition_provenance"],
            (Item{{"source_name", ""},
                  {"source_creation_date_time", "2018-12-01T10:00:00+01:00"}}));
  EXPECT_TRUE(c.not_carried.empty());
  EXPECT_EQ(omh.to_model(c.native), ms[0]);
  EXPECT_EQ(not_read_of(omh, c.native), Names{});
}

TEST(OpenMHealth, ACreationDateOrAWorkoutTotalNotAsTheSchemaHasItIsRefused) {
  const Format& omh = format("open-mhealth");
  const std::string when = R"("effective_time_frame":{"date_time":"2015-02-05T07:25:00-08:00"})";
  // source_creation_date_time is an omh:date-time (RFC 3339), not a local time without offset.
  const NativeItem created{
      "hr", R"({"header":{"id":"hr","creation_date_time":"2015-02-05T07:25:00-08:00",)"
            R"("schema_id":{"namespace":"omh","name":"heart-rate","version":"1.0"},)"
            R"("acquisition_provenance":{"source_name":"X",)"
            R"("source_creation_date_time":"2015-02-05 07:25:00"}},)"
            R"("body":{"heart_rate":{"value":50,"unit":"beats/min"},)" + when + "}}"};
  EXPECT_NE(refusal_of(omh, created).find("source_creation_date_time"), std::string::npos);
  // A distance is an omh:length-unit-value: a value and a unit.
  const NativeItem distance{
      "run", point("run", "omh:physical-activity:1.0",
                   R"({"activity_name":"walking","distance":{"unit":"km"},)" + when + "}")};
  EXPECT_NE(refusal_of(omh, distance).find("distance"), std::string::npos);
}

TEST(OpenMHealth, ALoneDataPointIsADocumentOfOne) {
  // A data point by itself (omh:data-point), as the schemas' samples and an API's
  // GET /dataPoints/{id} give it, reads as an array of that one point.
  const Format& omh = format("open-mhealth");
  const std::string p = point(
      "hr-1", "omh:heart-rate:1.0",
      measured("heart_rate", "50", "beats/min",
               R"("effective_time_frame":{"date_time":"2013-02-05T07:25:00Z"})"));
  const auto alone = omh.split(p);
  const auto array = omh.split("[" + p + "]");
  ASSERT_EQ(alone.size(), 1u);
  EXPECT_EQ(alone[0].id, "hr-1");
  EXPECT_EQ(alone[0].text, array[0].text);
  EXPECT_EQ(skipped_by(omh, p), Names{});
  // An object that is not a data point is still not a document.
  testing::expect_split_refused(omh, R"({"data":[]})");
}

}  // namespace
}  // namespace portability
