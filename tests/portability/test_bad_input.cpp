#include <algorithm>
#include <gtest/gtest.h>

#include "portability_test_support.hpp"

namespace portability {
namespace {

using testing::format;
using testing::models;
using testing::read_sample;

const std::string kBom = "\xEF\xBB\xBF";

// Runs `fn`, expecting a FormatError whose item() is `item`.
template <typename Fn>
void expect_error_naming(Fn fn, const std::string& item) {
  try {
    fn();
    ADD_FAILURE() << "no FormatError, expected one naming " << item;
  } catch (const FormatError& e) {
    EXPECT_EQ(e.item(), item) << e.what();
    EXPECT_NE(std::string(e.what()).find(item), std::string::npos);
  }
}

TEST(BadInput, EmptyStringIsAnErrorForEveryFormat) {
  for (const Format* f : all_formats()) {
    EXPECT_THROW(f->split(""), FormatError) << f->name();
    EXPECT_THROW(f->split(kBom), FormatError) << f->name();
  }
}

TEST(BadInput, WellFormedEmptyContainerIsZeroItems) {
  const std::vector<std::pair<std::string, std::string>> empties{
      {"blogger-atom", "<feed xmlns='http://www.w3.org/2005/Atom'/>"},
      {"dtp-social-post", "[]"},
      {"icalendar", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nEND:VCALENDAR\r\n"},
      {"jscalendar", R"({"@type":"Group","uid":"g","entries":[]})"},
      {"apple-health", "<HealthData locale='en_US'><ExportDate value='2024-01-01 00:00:00 +0000'/></HealthData>"},
      {"open-mhealth", "[]"},
      {"takeout-records", R"({"locations":[]})"},
      {"geojson", R"({"type":"FeatureCollection","features":[]})"}};
  for (const auto& [name, doc] : empties) {
    EXPECT_TRUE(format(name).split(doc).empty()) << name;
    EXPECT_TRUE(format(name).split(kBom + doc).empty()) << name << " with BOM";
    EXPECT_TRUE(format(name).split(format(name).join({})).empty()) << name << " join of nothing";
  }
}

TEST(BadInput, ByteOrderMarkIsAcceptedOnSamples) {
  EXPECT_EQ(format("blogger-atom").split(kBom + read_sample("blogger-export.xml")).size(), 3u);
  EXPECT_EQ(format("icalendar").split(kBom + read_sample("calendar-example.ics")).size(), 3u);
  EXPECT_EQ(format("apple-health").split(kBom + read_sample("apple-health-export.xml")).size(), 16u);
  EXPECT_EQ(format("takeout-records").split(kBom + read_sample("location-records.json")).size(), 3u);
  EXPECT_EQ(format("dtp-social-post").split(kBom + read_sample("dtp-social-post-example.json")).size(), 1u);
}

TEST(BadInput, BrokenXmlIsRefused) {
  std::string blog = read_sample("blogger-export.xml");
  blog.erase(blog.rfind("</feed>"));
  expect_error_naming([&] { format("blogger-atom").split(blog); }, "document");
  expect_error_naming([&] { format("blogger-atom").split("<feed xmlns='http://www.w3.org/2005/Atom'><entry>&nbsp;</entry></feed>"); },
                      "document");
  expect_error_naming([&] { format("blogger-atom").split("<rss/>"); }, "document");
  std::string health = read_sample("apple-health-export.xml");
  const std::size_t record = health.find("<Record ");
  health.replace(record, 8, "<Record <");
  const auto line = 1 + std::count(health.begin(), health.begin() + static_cast<std::ptrdiff_t>(record), '\n');
  expect_error_naming([&] { format("apple-health").split(health); },
                      "Record at line " + std::to_string(line));
  expect_error_naming([&] { format("apple-health").split(std::string("<HealthData>\xC3\x28</HealthData>")); }, "document");
}

TEST(BadInput, MalformedXmlInsideAnEntryNamesTheEntry) {
  std::string blog = read_sample("blogger-export.xml");
  // An element left open inside the second post: the document no longer parses, and the
  // error names the post, not just an offset.
  const std::size_t at = blog.find("<title type='text'>Setsubun");
  ASSERT_NE(at, std::string::npos);
  blog.insert(at, "<broken>");
  expect_error_naming([&] { format("blogger-atom").split(blog); },
                      "entry tag:blogger.com,1999:blog-1001.post-2");
}

TEST(BadInput, BrokenBloggerEntryInTheMiddleIsNamed) {
  std::string blog = read_sample("blogger-export.xml");
  const std::size_t at = blog.find("2024-02-03T08:15:00.000+09:00");
  blog.replace(at, 29, "yesterday");
  const Format& f = format("blogger-atom");
  const auto items = f.split(blog);
  ASSERT_EQ(items.size(), 3u);
  EXPECT_NO_THROW(f.to_model(items[0]));
  expect_error_naming([&] { f.to_model(items[1]); }, "tag:blogger.com,1999:blog-1001.post-2");
  EXPECT_NO_THROW(f.to_model(items[2]));
}

TEST(BadInput, BrokenICalendarIsRefusedNamingTheEvent) {
  const Format& f = format("icalendar");
  std::string missing_end = read_sample("calendar-example.ics");
  const std::size_t at = missing_end.find("END:VEVENT", missing_end.find("Orthodox"));
  missing_end.erase(at, std::string("END:VEVENT\n").size() + 1);
  expect_error_naming([&] { f.split(missing_end); }, "636a0cc1dbfd91667894465@icalendar");

  std::string bad_start = read_sample("calendar-example.ics");
  bad_start.replace(bad_start.find("DTSTART:20220107"), 16, "DTSTART:20221307");
  const auto items = f.split(bad_start);
  ASSERT_EQ(items.size(), 3u);
  EXPECT_NO_THROW(f.to_model(items[0]));
  expect_error_naming([&] { f.to_model(items[1]); }, "636a0cc1dbfd91667894465@icalendar");

  auto one = [&](const std::string& lines) {
    return f.to_model({"u", "BEGIN:VEVENT\r\nUID:u\r\n" + lines + "END:VEVENT\r\n"});
  };
  EXPECT_THROW(one("DTSTART:2024010\r\n"), FormatError);
  EXPECT_THROW(one("DTSTART;TZID=Asia/Tokyo:20240101T100000Z\r\n"), FormatError);
  EXPECT_THROW(one("SUMMARY:x\r\n"), FormatError);  // no DTSTART
  EXPECT_THROW(one("DTSTART:20240101T100000\r\nDTEND:20240101T090000\r\n"), FormatError);
  EXPECT_THROW(one("DTSTART:20240101T100000\r\nDTEND:20240101T110000\r\nDURATION:PT1H\r\n"), FormatError);
  EXPECT_THROW(one("DTSTART:20240101T100000\r\nRRULE:FREQ=SOMETIMES\r\n"), FormatError);
  EXPECT_THROW(one("DTSTART:20240101T100000\r\nRRULE:FREQ=DAILY;COUNT=2;UNTIL=20240105T000000\r\n"), FormatError);
  EXPECT_THROW(one("DTSTART:20240101T100000\r\nSUMMARY:bad \\q escape\r\n"), FormatError);
  EXPECT_THROW(one("DTSTART:20240101T100000\r\nSTATUS:DONE\r\n"), FormatError);
  EXPECT_THROW(f.split("BEGIN:VEVENT\r\nEND:VEVENT\r\n"), FormatError);
  EXPECT_THROW(f.split("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nEND:VCALENDAR\r\n"), FormatError);
}

TEST(BadInput, MalformedJsonIsRefused) {
  for (const char* name : {"dtp-social-post", "jscalendar", "open-mhealth", "takeout-records", "geojson"}) {
    const Format& f = format(name);
    EXPECT_THROW(f.split("[{\"a\":1,}]"), FormatError) << name;
    EXPECT_THROW(f.split("{\"locations\":[] } trailing"), FormatError) << name;
    EXPECT_THROW(f.split("{\"a\":1,\"a\":2}"), FormatError) << name;  // duplicate member
    EXPECT_THROW(f.split("[\"\xC3\x28\"]"), FormatError) << name;     // invalid UTF-8
    EXPECT_THROW(f.to_model({"x", "{"}), FormatError) << name;
    expect_error_naming([&] { f.to_model({"x", "[1]"}); }, "x");
  }
}

TEST(BadInput, BrokenJsonItemInTheMiddleIsNamed) {
  const Format& takeout = format("takeout-records");
  const auto items = takeout.split(R"({"locations":[
    {"latitudeE7":1,"longitudeE7":2,"timestamp":"2024-01-01T00:00:00Z"},
    {"longitudeE7":2,"timestamp":"2024-01-01T00:01:00Z"},
    {"latitudeE7":1,"longitudeE7":2,"timestamp":"2024-01-01T00:02:00Z"}]})");
  ASSERT_EQ(items.size(), 3u);
  EXPECT_NO_THROW(takeout.to_model(items[0]));
  expect_error_naming([&] { takeout.to_model(items[1]); }, "2024-01-01T00:01:00Z");
  EXPECT_NO_THROW(takeout.to_model(items[2]));

  expect_error_naming([&] { takeout.split(R"({"locations":[{"latitudeE7":1,"longitudeE7":2,"timestamp":"2024-01-01T00:00:00Z"},7]})"); },
                      "item 2");
  expect_error_naming([&] { takeout.split(R"({"locations":[{"latitudeE7":1,"longitudeE7":2,"timestamp":"2024-01-01T00:00:00Z"},{"latitudeE7":1}]})"); },
                      "item 2");
  expect_error_naming([&] { format("open-mhealth").split(R"([{"header":{"id":"a"},"body":{}},{"body":{}}])"); }, "item 2");
  expect_error_naming([&] { format("dtp-social-post").split(R"([{"payload":{"activity":{"id":"1"}}},{"payload":{}}])"); }, "item 2");
  expect_error_naming([&] { takeout.to_model({"t", R"({"latitudeE7":1.5,"longitudeE7":2,"timestamp":"2024-01-01T00:00:00Z"})"}); }, "t");
  expect_error_naming([&] { takeout.to_model({"t", R"({"latitudeE7":1,"longitudeE7":2,"timestamp":"2024-13-01T00:00:00Z"})"}); }, "t");
  expect_error_naming([&] { format("dtp-social-post").to_model({"d", R"({"payload":{"activity":{"id":"d","published":"soon"}}})"}); }, "d");
  expect_error_naming([&] { format("jscalendar").to_model({"j", R"({"@type":"Event","uid":"j","start":"2024-01-01"})"}); }, "j");
  expect_error_naming([&] { format("open-mhealth").to_model({"o", R"({"header":{"id":"o","schema_id":{"namespace":"omh","name":"blood-glucose","version":"1.0"}},"body":{"effective_time_frame":{"date_time":"2024-01-01T00:00:00Z"}}})"}); }, "o");
}

TEST(BadInput, BrokenHealthRecordIsNamed) {
  const Format& f = format("apple-health");
  expect_error_naming([&] { f.split("<HealthData><Record type='a' sourceName='s' startDate='2024-01-01 00:00:00 +0000'/></HealthData>"); },
                      "Record 1");
  const auto items = f.split("<HealthData><Record type='a' sourceName='s' startDate='2024-01-01' endDate='2024-01-01 00:00:00 +0000' value='1'/></HealthData>");
  ASSERT_EQ(items.size(), 1u);
  expect_error_naming([&] { f.to_model(items[0]); }, items[0].id);
}

// A control character (a vertical tab pasted from a word processor, say) that came in through
// a JSON format cannot be written into XML 1.0 or an iCalendar line: the writers leave it out
// and say so, rather than write a character reference or a line a conforming reader refuses.
// Reading such a reference is refused too (XML 1.0 §4.1, WFC Legal Character).
TEST(BadInput, ControlCharactersAreLeftOutOfXmlAndICalendarAndSaid) {
  const auto said = [](const Converted& c) {
    return std::ranges::find(c.not_carried, "text.control_characters") != c.not_carried.end();
  };
  const Format& atom = format("blogger-atom");
  Item post = models(atom, read_sample("blogger-export.xml"))[0];
  post["title"] = "Fish\x0b and chips";
  post["content"] = "<p>one\x01two\ttab</p>";
  const Converted blog = atom.from_model(post);
  EXPECT_TRUE(said(blog));
  EXPECT_EQ(blog.native.text.find("&#"), std::string::npos) << blog.native.text;
  const Item blog_back = atom.to_model(blog.native);
  EXPECT_EQ(blog_back["title"], "Fish and chips");
  EXPECT_EQ(blog_back["content"], "<p>onetwo\ttab</p>");
  EXPECT_FALSE(said(atom.from_model(blog_back))) << "nothing left to leave out";

  const Format& apple = format("apple-health");
  Item record = models(apple, read_sample("apple-health-export.xml"))[0];
  record["source"]["name"] = "Watch\x02";
  const Converted health = apple.from_model(record);
  EXPECT_TRUE(said(health));
  EXPECT_EQ(health.native.text.find("&#"), std::string::npos) << health.native.text;
  EXPECT_EQ(apple.to_model(health.native)["source"]["name"], "Watch");

  const Format& ics = format("icalendar");
  Item event = models(ics, read_sample("calendar-example.ics"))[0];
  event["title"] = "Stand\x0bup\x7f";
  event["description"] = "line one\rline two";  // a lone CR is a line break, not a loss
  const Converted cal = ics.from_model(event);
  EXPECT_TRUE(said(cal));
  const Item cal_back = ics.to_model(cal.native);
  EXPECT_EQ(cal_back["title"], "Standup");
  EXPECT_EQ(cal_back["description"], "line one\nline two");

  const std::string feed = "<feed xmlns='http://www.w3.org/2005/Atom'><title>";
  expect_error_naming([&] { atom.split(feed + "a&#1;b</title></feed>"); }, "document");
  expect_error_naming([&] { atom.split(feed + "a&#xFFFE;b</title></feed>"); }, "document");
  expect_error_naming([&] { atom.split(feed + "a&#x110000;b</title></feed>"); }, "document");
  EXPECT_NO_THROW(atom.split(feed + "tab&#9;&#x10FFFF;&#xE000;</title></feed>"));
}

}  // namespace
}  // namespace portability
