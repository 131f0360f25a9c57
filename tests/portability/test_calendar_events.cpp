#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "calendar_model.hpp"
#include "portability_test_support.hpp"

namespace portability {
namespace {

using detail::valid_jscalendar_duration;
using testing::format;
using testing::Names;
using testing::not_read_of;
using testing::models;
using testing::read_sample;
using testing::skipped_by;
using testing::skipped_by_joined;

std::string calendar(const std::string& body) {
  return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" + body + "END:VCALENDAR\r\n";
}

// Model participants: each of `given` over a participant that says nothing (the fields it
// leaves out at their defaults).
Item participants(const std::string& given) {
  Item out = Item::parse(given);
  for (Item& p : out) {
    Item full = Item::parse(R"({"name":null,"kind":null,"roles":[],"status":null,)"
                            R"("expect_reply":false,"delegated_to":[],"delegated_from":[],)"
                            R"("sent_by":null,"member_of":[]})");
    full.update(p);
    p = full;
  }
  return out;
}

const std::string kRecurring = calendar(
    "BEGIN:VEVENT\r\n"
    "UID:weekly-1@example.org\r\n"
    "DTSTAMP:20240101T000000Z\r\n"
    "DTSTART;TZID=Asia/Tokyo:20240108T100000\r\n"
    "DTEND;TZID=Asia/Tokyo:20240108T113000\r\n"
    "SUMMARY:Stand-up\\, weekly\\; with notes\r\n"
    "DESCRIPTION:Line one\\nLine two \\\\ end\r\n"
    "LOCATION:Room 1\r\n"
    "RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;UNTIL=20240331T150000Z;WKST=SU\r\n"
    "EXDATE;TZID=Asia/Tokyo:20240122T100000,20240124T100000\r\n"
    "RDATE;TZID=Asia/Tokyo:20240201T100000\r\n"
    "CATEGORIES:work,daily\r\n"
    "CATEGORIES:team\r\n"
    "STATUS:TENTATIVE\r\n"
    "SEQUENCE:3\r\n"
    "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nDESCRIPTION:x\r\nEND:VALARM\r\n"
    "END:VEVENT\r\n");

TEST(ICalendar, SampleSplitsToThreeAllDayEvents) {
  const Format& f = format("icalendar");
  const auto items = f.split(read_sample("calendar-example.ics"));
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].id, "636a0cc1dbd5a1667894465@icalendar");
  EXPECT_EQ(items[2].id, "636a0cc1dc0f11667894465@icalendar");
  const Item m = f.to_model(items[0]);
  EXPECT_EQ(m["uid"], "636a0cc1dbd5a1667894465@icalendar");
  EXPECT_EQ(m["title"], "New Year's Day");
  EXPECT_EQ(m["description"], "Happy New Year!");
  EXPECT_EQ(m["start"], "2022-01-01T00:00:00");
  EXPECT_TRUE(m["all_day"].get<bool>());
  EXPECT_TRUE(m["time_zone"].is_null());
  EXPECT_EQ(m["duration"], "P0D");  // DTEND equal to DTSTART, as written
  EXPECT_EQ(m["status"], "confirmed");
  EXPECT_EQ(m["free_busy"], "free");
  EXPECT_EQ(m["sequence"], 0);
  EXPECT_EQ(m["timestamp"], "2022-11-08T08:01:05Z");
  EXPECT_EQ(f.to_model(items[1])["location"], "Russia");
  EXPECT_TRUE(f.to_model(items[1])["timestamp"].is_null());
}

TEST(ICalendar, ReadsTzidRruleExdateRdateEscapesAndCategories) {
  const Format& f = format("icalendar");
  const auto ms = models(f, kRecurring);
  ASSERT_EQ(ms.size(), 1u);
  const Item& m = ms[0];
  EXPECT_EQ(m["start"], "2024-01-08T10:00:00");
  EXPECT_EQ(m["time_zone"], "Asia/Tokyo");
  EXPECT_FALSE(m["all_day"].get<bool>());
  EXPECT_EQ(m["duration"], "PT1H30M");
  EXPECT_EQ(m["title"], "Stand-up, weekly; with notes");
  EXPECT_EQ(m["description"], "Line one\nLine two \\ end");
  EXPECT_EQ(m["categories"], Item::array({"daily", "team", "work"}));
  EXPECT_EQ(m["status"], "tentative");
  EXPECT_EQ(m["sequence"], 3);
  EXPECT_EQ(m["excluded_dates"], Item::array({"2024-01-22T10:00:00", "2024-01-24T10:00:00"}));
  EXPECT_EQ(m["recurrence_dates"], Item::array({"2024-02-01T10:00:00"}));
  ASSERT_EQ(m["recurrence_rules"].size(), 1u);
  EXPECT_EQ(m["recurrence_rules"][0],
            (Item{{"frequency", "weekly"},
                  {"interval", 2},
                  {"by_day", Item::array({Item{{"day", "mo"}}, Item{{"day", "we"}}})},
                  {"until", "2024-03-31T15:00:00Z"},
                  {"first_day_of_week", "su"}}));
}

TEST(ICalendar, WritesFoldedCrlfLinesAndEscapesText) {
  const Format& f = format("icalendar");
  Item m = models(f, kRecurring)[0];
  m["title"] = "柏の葉キャンパスで開かれる地域の子育てイベント、第三回。参加者は事前に申し込みをしてください";
  m["description"] = "a,b;c\\d\ne";
  const Converted c = f.from_model(m);
  const std::string& t = c.native.text;
  std::size_t pos = 0;
  bool folded = false;
  while (pos < t.size()) {
    const std::size_t end = t.find("\r\n", pos);
    ASSERT_NE(end, std::string::npos) << "every line ends in CRLF";
    EXPECT_LE(end - pos, 75u) << t.substr(pos, end - pos);
    if (t[pos] == ' ') {
      folded = true;
      // Never split inside a UTF-8 sequence.
      EXPECT_NE(static_cast<unsigned char>(t[pos + 1]) & 0xC0, 0x80);
    }
    pos = end + 2;
  }
  EXPECT_TRUE(folded);
  EXPECT_EQ(t.find('\n', 0), t.find("\r\n") + 1);
  EXPECT_NE(t.find("DESCRIPTION:a\\,b\\;c\\\\d\\ne"), std::string::npos) << t;
  EXPECT_NE(t.find("DTSTART;TZID=Asia/Tokyo:20240108T100000"), std::string::npos);
  EXPECT_NE(t.find("RRULE:FREQ=WEEKLY;INTERVAL=2;UNTIL=20240331T150000Z;BYDAY=MO,WE;WKST=SU"), std::string::npos) << t;
  EXPECT_NE(t.find("EXDATE;TZID=Asia/Tokyo:20240122T100000"), std::string::npos);
  EXPECT_EQ(f.to_model(c.native), m);
}

TEST(ICalendar, UnfoldsContinuationLinesWithSpaceOrTab) {
  const Format& f = format("icalendar");
  const auto ms = models(f, calendar("BEGIN:VEVENT\r\nUID:u1\r\nDTSTART:20240101T090000Z\r\n"
                                     "SUMMARY:Hello\r\n  wor\r\n\tld\r\nEND:VEVENT\r\n"));
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(ms[0]["title"], "Hello world");
  EXPECT_EQ(ms[0]["time_zone"], "Etc/UTC");
  EXPECT_EQ(ms[0]["duration"], "PT0S");
}

// Exporters that fold at 75 octets without looking at characters (RFC 5545 §3.1 only says
// SHOULD NOT) split a UTF-8 sequence across the fold: the octets join again when unfolded.
TEST(ICalendar, UnfoldsALineFoldedInsideAUtf8Sequence) {
  const Format& f = format("icalendar");
  const std::string doc = calendar("BEGIN:VEVENT\r\nUID:u1\r\nDTSTART:20240101T090000Z\r\n"
                                    "SUMMARY:Stra\xC3\r\n \x9F" "e \xE6\x9F\r\n\t\x8F\r\n"
                                    "END:VEVENT\r\n");
  const auto items = f.split(doc);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(f.to_model(items[0])["title"], "Stra\xC3\x9F" "e \xE6\x9F\x8F");
  // What stays invalid once unfolded is refused, naming the line.
  try {
    f.split(calendar("BEGIN:VEVENT\r\nUID:u1\r\nSUMMARY:a\xC3\r\n b\r\nEND:VEVENT\r\n"));
    ADD_FAILURE() << "invalid UTF-8 accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("line 6"), std::string::npos) << e.what();
  }
}

TEST(ICalendar, AllDayWithoutEndLastsOneDayAndWritesValueDate) {
  const Format& f = format("icalendar");
  const auto ms = models(f, calendar("BEGIN:VEVENT\r\nUID:d1\r\nDTSTART;VALUE=DATE:20240229\r\n"
                                     "RRULE:FREQ=YEARLY;UNTIL=20280229\r\nEXDATE;VALUE=DATE:20250228\r\nEND:VEVENT\r\n"));
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(ms[0]["duration"], "P1D");
  EXPECT_EQ(ms[0]["recurrence_rules"][0]["until"], "2028-02-29");
  const Converted c = f.from_model(ms[0]);
  EXPECT_NE(c.native.text.find("DTSTART;VALUE=DATE:20240229\r\n"), std::string::npos);
  EXPECT_NE(c.native.text.find("UNTIL=20280229"), std::string::npos);
  EXPECT_NE(c.native.text.find("EXDATE;VALUE=DATE:20250228"), std::string::npos);
  EXPECT_EQ(f.to_model(c.native), ms[0]);
}

TEST(ICalendar, RoundTripsSampleAndJoinSplit) {
  const Format& f = format("icalendar");
  const auto items = f.split(read_sample("calendar-example.ics"));
  for (const NativeItem& n : items) {
    const Item m = f.to_model(n);
    const Converted c = f.from_model(m);
    EXPECT_TRUE(c.not_carried.empty());
    EXPECT_EQ(c.native.id, n.id);
    EXPECT_EQ(f.to_model(c.native), m);
  }
  const std::string doc = f.join(items);
  EXPECT_EQ(doc.rfind("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:", 0), 0u);
  const auto again = f.split(doc);
  ASSERT_EQ(again.size(), items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    EXPECT_EQ(again[i].id, items[i].id);
    EXPECT_EQ(again[i].text, items[i].text);
  }
}

TEST(JsCalendar, GroupAndBareArrayBothRead) {
  const Format& f = format("jscalendar");
  const std::string event =
      R"({"@type":"Event","uid":"e1","title":"Clinic","start":"2024-03-01T09:00:00",)"
      R"("timeZone":"Europe/Berlin","duration":"PT1H30M","status":"confirmed","sequence":2,)"
      R"("keywords":{"health":true,"kids":true},"locations":{"a":{"@type":"Location","name":"Centre"}},)"
      R"("recurrenceRules":[{"@type":"RecurrenceRule","frequency":"monthly","count":5,)"
      R"("byDay":[{"@type":"NDay","day":"fr","nthOfPeriod":-1}]}],)"
      R"("recurrenceOverrides":{"2024-05-31T09:00:00":{"excluded":true}}})";
  const auto group = models(f, R"({"@type":"Group","uid":"g","entries":[)" + event +
                                   R"(,{"@type":"Task","uid":"t1"}]})");
  const auto bare = models(f, "[" + event + "]");
  ASSERT_EQ(group.size(), 1u);
  ASSERT_EQ(bare.size(), 1u);
  EXPECT_EQ(group[0], bare[0]);
  const Item& m = group[0];
  EXPECT_EQ(m["time_zone"], "Europe/Berlin");
  EXPECT_EQ(m["categories"], Item::array({"health", "kids"}));
  EXPECT_EQ(m["location"], "Centre");
  EXPECT_EQ(m["excluded_dates"], Item::array({"2024-05-31T09:00:00"}));
  EXPECT_EQ(m["recurrence_rules"][0],
            (Item{{"frequency", "monthly"}, {"count", 5},
                  {"by_day", Item::array({Item{{"day", "fr"}, {"nth_of_period", -1}}})}}));

  // JSCalendar -> iCalendar -> model.
  const Format& ics = format("icalendar");
  const Converted c = ics.from_model(m);
  EXPECT_TRUE(c.not_carried.empty());
  EXPECT_NE(c.native.text.find("DTSTART;TZID=Europe/Berlin:20240301T090000"), std::string::npos);
  EXPECT_NE(c.native.text.find("RRULE:FREQ=MONTHLY;COUNT=5;BYDAY=-1FR"), std::string::npos);
  EXPECT_NE(c.native.text.find("DURATION:PT1H30M"), std::string::npos);
  EXPECT_NE(c.native.text.find("EXDATE;TZID=Europe/Berlin:20240531T090000"), std::string::npos);
  EXPECT_EQ(ics.to_model(c.native), m);
}

TEST(JsCalendar, RoundTripsAndJoinsAGroup) {
  const Format& f = format("jscalendar");
  const Format& ics = format("icalendar");
  std::vector<NativeItem> natives;
  for (const Item& m : models(ics, read_sample("calendar-example.ics"))) {
    const Converted c = f.from_model(m);
    EXPECT_FALSE(c.native.text.empty());
    natives.push_back(c.native);
  }
  const std::string doc = f.join(natives);
  EXPECT_EQ(doc.rfind(R"({"@type":"Group")", 0), 0u);
  const auto again = f.split(doc);
  ASSERT_EQ(again.size(), natives.size());
  for (std::size_t i = 0; i < natives.size(); ++i) {
    EXPECT_EQ(again[i].text, natives[i].text);
    EXPECT_EQ(f.from_model(f.to_model(again[i])).native.text, natives[i].text);
  }
}

TEST(CrossFormat, ICalendarToJsCalendarAndBack) {
  const Format& ics = format("icalendar");
  const Format& js = format("jscalendar");
  std::vector<Item> all = models(ics, read_sample("calendar-example.ics"));
  all.push_back(models(ics, kRecurring)[0]);
  for (const Item& m : all) testing::expect_carried(m, js);
  // The UTC UNTIL of a Tokyo event has no LocalDateTime without a tz database: reported.
  const Converted c = js.from_model(all.back());
  EXPECT_NE(std::find(c.not_carried.begin(), c.not_carried.end(), "recurrence_rules.until"),
            c.not_carried.end());
  EXPECT_NE(std::find(c.not_carried.begin(), c.not_carried.end(), "timestamp"), c.not_carried.end());
  const Item back = js.to_model(c.native);
  EXPECT_EQ(back["recurrence_rules"], all.back()["recurrence_rules"]);
  EXPECT_EQ(back["excluded_dates"], all.back()["excluded_dates"]);
  // And back into iCalendar: the all-day sample event keeps VALUE=DATE.
  const Converted again = ics.from_model(js.to_model(js.from_model(all[0]).native));
  EXPECT_NE(again.native.text.find("DTSTART;VALUE=DATE:20220101"), std::string::npos);
}

// ORGANIZER and ATTENDEE (RFC 5545 §3.8.4) are the model's participants, and RFC 8984's: who
// organizes (role owner, and JSCalendar's replyTo), who is asked, as what (ROLE), how they
// answered (PARTSTAT), whether a reply is expected (RSVP) and what they are (CUTYPE). An
// organizer listed among the attendees too, as Google writes them, is one participant with
// both roles. They travel both ways and across formats without a word lost.
// An overridden instance (Google, Outlook and Apple export it as a VEVENT of its own with the
// master's UID) names the master's zone: RFC 8984 §4.3.2 recurrenceIdTimeZone MUST be set when
// the master has a timeZone, and holds a UTC RECURRENCE-ID in a zoned event as well.
TEST(CrossFormat, AnOverriddenInstanceNamesTheZoneOfItsRecurrenceId) {
  const Format& ics = format("icalendar");
  const Format& js = format("jscalendar");
  const auto ms = models(ics, calendar(
      "BEGIN:VEVENT\r\nUID:w@example.org\r\nDTSTART;TZID=Europe/Berlin:20240126T100000\r\n"
      "RECURRENCE-ID;TZID=Europe/Berlin:20240126T090000\r\nSUMMARY:moved\r\nEND:VEVENT\r\n"
      "BEGIN:VEVENT\r\nUID:w@example.org\r\nDTSTART;TZID=Europe/Berlin:20240202T100000\r\n"
      "RECURRENCE-ID:20240202T080000Z\r\nSUMMARY:moved too\r\nEND:VEVENT\r\n"));
  ASSERT_EQ(ms.size(), 2u);
  const Converted zoned = js.from_model(ms[0]);
  const Item e = Item::parse(zoned.native.text);
  EXPECT_EQ(e["recurrenceId"], "2024-01-26T09:00:00");
  EXPECT_EQ(e["recurrenceIdTimeZone"], "Europe/Berlin");
  EXPECT_EQ(js.to_model(zoned.native), ms[0]);
  EXPECT_EQ(not_read_of(js, zoned.native), Names{});
  const Converted utc = js.from_model(ms[1]);
  EXPECT_TRUE(utc.not_carried.empty()) << utc.not_carried.front();
  EXPECT_NE(utc.native.text.find(R"("recurrenceIdTimeZone":"Etc/UTC")"), std::string::npos)
      << utc.native.text;
  EXPECT_EQ(js.to_model(utc.native), ms[1]);
  // A master zone other than the instance's and UTC is refused, as RECURRENCE-ID is.
  NativeItem other = zoned.native;
  other.text.replace(other.text.find("\"Europe/Berlin\",\"sta"), 15, "\"Asia/Tokyo\"");
  EXPECT_THROW(js.to_model(other), FormatError) << other.text;
}

TEST(CrossFormat, ParticipantsTravelBothWays) {
  const Format& ics = format("icalendar");
  const Format& js = format("jscalendar");
  const auto items = ics.split(calendar(
      "BEGIN:VEVENT\r\n"
      "UID:sync@example.org\r\n"
      "DTSTART;TZID=Europe/Berlin:20240105T090000\r\n"
      "DURATION:PT30M\r\n"
      "ORGANIZER;CN=Anna:mailto:anna@example.org\r\n"
      "ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;CN=Anna:"
      "mailto:anna@example.org\r\n"
      "ATTENDEE;ROLE=OPT-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=\"Bob, Jr.\":mailto:bob@\r\n"
      " example.org\r\n"
      "ATTENDEE;CUTYPE=ROOM;ROLE=NON-PARTICIPANT;PARTSTAT=TENTATIVE:mailto:room-1@example.org\r\n"
      "ATTENDEE;ROLE=CHAIR:urn:uuid:6f0a7c4e-0000-4000-8000-000000000001\r\n"
      "END:VEVENT\r\n"));
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(not_read_of(ics, items[0]), Names{});
  const Item m = ics.to_model(items[0]);
  const Item expected = participants(R"([
    {"address":"mailto:anna@example.org","name":"Anna","kind":"individual",
     "roles":["attendee","owner"],"status":"accepted","expect_reply":false},
    {"address":"mailto:bob@example.org","name":"Bob, Jr.","kind":null,
     "roles":["attendee","optional"],"status":"needs-action","expect_reply":true},
    {"address":"mailto:room-1@example.org","name":null,"kind":"location",
     "roles":["informational"],"status":"tentative","expect_reply":false},
    {"address":"urn:uuid:6f0a7c4e-0000-4000-8000-000000000001","name":null,"kind":null,
     "roles":["attendee","chair"],"status":null,"expect_reply":false}])");
  EXPECT_EQ(m["participants"], expected);

  // To JSCalendar: nothing lost, the owner's address as replyTo, and back to the same model.
  const Converted j = js.from_model(m);
  EXPECT_EQ(j.not_carried, Names{});
  const Item e = Item::parse(j.native.text);
  EXPECT_EQ(e["replyTo"], Item::parse(R"({"imip":"mailto:anna@example.org"})"));
  ASSERT_EQ(e["participants"].size(), 4u);
  const Item& anna = e["participants"]["1"];
  EXPECT_EQ(anna["sendTo"], Item::parse(R"({"imip":"mailto:anna@example.org"})"));
  EXPECT_EQ(anna["roles"], Item::parse(R"({"attendee":true,"owner":true})"));
  EXPECT_EQ(anna["participationStatus"], "accepted");
  EXPECT_EQ(e["participants"]["4"]["sendTo"],
            Item::parse(R"({"other":"urn:uuid:6f0a7c4e-0000-4000-8000-000000000001"})"));
  EXPECT_EQ(not_read_of(js, j.native), Names{});
  EXPECT_EQ(js.to_model(j.native), m);

  // Back to iCalendar: one ORGANIZER, an ATTENDEE each, the same model again.
  const Converted i = ics.from_model(m);
  EXPECT_EQ(i.not_carried, Names{});
  EXPECT_NE(i.native.text.find("ORGANIZER;CN=Anna:mailto:anna@example.org"), std::string::npos);
  EXPECT_NE(i.native.text.find("CUTYPE=ROOM;ROLE=NON-PARTICIPANT;PARTSTAT=TENTATIVE"),
            std::string::npos);
  EXPECT_EQ(ics.to_model(i.native), m);

  // A JSCalendar participant known by its email alone is reached there; one with no way to
  // reach it, a role, kind or status the model has no value for, and a replyTo that is not an
  // owner's are named, not dropped silently.
  const std::string event =
      R"({"@type":"Event","uid":"e","start":"2024-03-01T09:00:00",)"
      R"("replyTo":{"imip":"mailto:someone-else@example.org"},"participants":{)"
      R"("a":{"@type":"Participant","email":"ann@example.org","roles":{"attendee":true,)"
      R"("contact":true},"kind":"robot","participationStatus":"x-maybe","language":"de"},)"
      R"("b":{"@type":"Participant","name":"Nobody"}}})";
  const NativeItem ann{"e", event};
  EXPECT_EQ(not_read_of(js, ann),
            (Names{"participants.language", "participants.roles", "participants.kind",
                   "participants.participationStatus", "participants", "replyTo"}));
  EXPECT_EQ(js.to_model(ann)["participants"],
            participants(R"([{"address":"mailto:ann@example.org","roles":["attendee"]}])"));

  // Two lines for one address are one participant; what the second says differently of its
  // name or answer is named, not dropped.
  const auto twice = ics.split(calendar(
      "BEGIN:VEVENT\r\nUID:t@example.org\r\nDTSTART:20240105T090000Z\r\n"
      "ORGANIZER;CN=Anna:mailto:anna@example.org\r\n"
      "ATTENDEE;CN=Anna B.;PARTSTAT=ACCEPTED:mailto:anna@example.org\r\n"
      "ATTENDEE;PARTSTAT=DECLINED:mailto:anna@example.org\r\n"
      "END:VEVENT\r\n"));
  EXPECT_EQ(not_read_of(ics, twice[0]), (Names{"ATTENDEE;CN", "ATTENDEE;PARTSTAT"}));
  EXPECT_EQ(ics.to_model(twice[0])["participants"][0]["status"], "accepted");
  const NativeItem both{"b", R"({"@type":"Event","uid":"b","start":"2024-03-01T09:00:00",)"
                             R"("participants":{"1":{"email":"x@example.org","name":"X"},)"
                             R"("2":{"sendTo":{"imip":"mailto:x@example.org"},"name":"Y"}}})"};
  EXPECT_EQ(not_read_of(js, both), Names{"participants.name"});

  // What iCalendar cannot say of a participant is listed: two owners, a chair who is optional.
  Item two = m;
  two["participants"][1]["roles"] = Item::array({"owner"});
  two["participants"][3]["roles"] = Item::array({"attendee", "chair", "optional"});
  const Converted lossy = ics.from_model(two);
  EXPECT_EQ(lossy.not_carried, (Names{"participants.roles", "participants.status"}));
  // A participant with no role is still written, as an attendee, and the roles listed.
  Item roleless = m;
  roleless["participants"][3]["roles"] = Item::array();
  const Converted some = ics.from_model(roleless);
  EXPECT_EQ(some.not_carried, Names{"participants.roles"});
  EXPECT_NE(some.native.text.find("ATTENDEE:urn:uuid:6f0a7c4e"), std::string::npos);

  // An address or URL with a line break would end the content line and start another one of
  // the sender's choosing: not written, and listed.
  Item hostile = m;
  hostile["participants"][2]["address"] = "mailto:x@example.org\r\nX-INJECTED:1";
  hostile["url"] = "https://example.org/\nX-INJECTED:2";
  const Converted refused = ics.from_model(hostile);
  EXPECT_EQ(refused.native.text.find("X-INJECTED"), std::string::npos);
  EXPECT_EQ(refused.not_carried, (Names{"participants.address", "url"}));
  EXPECT_EQ(ics.to_model(refused.native)["participants"].size(), 3u);
  Item zone = m;
  zone["time_zone"] = "Europe/Berlin\r\nX-INJECTED:3";
  EXPECT_THROW(ics.from_model(zone), FormatError);
}

// Delegation (RFC 5545 §3.2.4 DELEGATED-FROM, §3.2.5 DELEGATED-TO), acting on someone's behalf
// (§3.2.18 SENT-BY) and group membership (§3.2.11 MEMBER) are the model's delegated_to,
// delegated_from, sent_by and member_of, by address; RFC 8984 §4.4.6 names delegates and groups
// by participant id, and who sent an update by e-mail address.
const std::string kDelegated = calendar(
    "BEGIN:VEVENT\r\n"
    "UID:delegated@example.org\r\n"
    "DTSTART;TZID=Europe/Berlin:20240105T090000\r\n"
    "DURATION:PT1H\r\n"
    "ORGANIZER;CN=Boss;SENT-BY=\"mailto:assistant@example.org\":mailto:boss@example.org\r\n"
    "ATTENDEE;PARTSTAT=DELEGATED;DELEGATED-TO=\"mailto:deputy@example.org\";CN=Ann:"
    "mailto:ann@example.org\r\n"
    "ATTENDEE;DELEGATED-FROM=\"mailto:ann@example.org\";RSVP=TRUE;SENT-BY=\"mailto:deputy-pa@"
    "example.org\":mailto:deputy@example.org\r\n"
    "ATTENDEE;CUTYPE=GROUP;ROLE=NON-PARTICIPANT:mailto:team@example.org\r\n"
    "ATTENDEE;MEMBER=\"mailto:team@example.org\",\"urn:uuid:00000000-0000-4000-8000-00000000000"
    "9\":mailto:carl@example.org\r\n"
    "ATTENDEE;CUTYPE=GROUP;ROLE=NON-PARTICIPANT:urn:uuid:00000000-0000-4000-8000-000000000009\r\n"
    "END:VEVENT\r\n");

TEST(CrossFormat, DelegationSentByAndGroupsTravelBothWays) {
  const Format& ics = format("icalendar");
  const Format& js = format("jscalendar");
  const auto items = ics.split(kDelegated);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(not_read_of(ics, items[0]), Names{});
  const Item m = ics.to_model(items[0]);
  EXPECT_EQ(m["participants"], participants(R"([
    {"address":"mailto:ann@example.org","name":"Ann","roles":["attendee"],"status":"delegated",
     "delegated_to":["mailto:deputy@example.org"]},
    {"address":"mailto:boss@example.org","name":"Boss","roles":["owner"],
     "sent_by":"mailto:assistant@example.org"},
    {"address":"mailto:carl@example.org","roles":["attendee"],
     "member_of":["mailto:team@example.org","urn:uuid:00000000-0000-4000-8000-000000000009"]},
    {"address":"mailto:deputy@example.org","roles":["attendee"],"expect_reply":true,
     "delegated_from":["mailto:ann@example.org"],"sent_by":"mailto:deputy-pa@example.org"},
    {"address":"mailto:team@example.org","kind":"group","roles":["informational"]},
    {"address":"urn:uuid:00000000-0000-4000-8000-000000000009","kind":"group",
     "roles":["informational"]}])"));

  // To JSCalendar: delegates and groups by the ids of their participants, who sent by e-mail
  // address; nothing lost, and back to the same model.
  const Converted j = js.from_model(m);
  EXPECT_EQ(j.not_carried, Names{});
  const Item e = Item::parse(j.native.text);
  const Item& ps = e["participants"];
  ASSERT_EQ(ps.size(), 6u);
  EXPECT_EQ(ps["1"]["delegatedTo"], Item::parse(R"({"4":true})"));
  EXPECT_EQ(ps["2"]["sentBy"], "assistant@example.org");
  EXPECT_EQ(ps["3"]["memberOf"], Item::parse(R"({"5":true,"6":true})"));
  EXPECT_EQ(ps["4"]["delegatedFrom"], Item::parse(R"({"1":true})"));
  EXPECT_EQ(ps["4"]["sentBy"], "deputy-pa@example.org");
  EXPECT_FALSE(ps["5"].contains("delegatedTo"));
  EXPECT_EQ(not_read_of(js, j.native), Names{});
  EXPECT_EQ(js.to_model(j.native), m);

  // Back to iCalendar: the parameters DQUOTEd, the same model, nothing unread.
  const Converted i = ics.from_model(js.to_model(j.native));
  EXPECT_EQ(i.not_carried, Names{});
  const std::string& t = i.native.text;
  EXPECT_NE(t.find("ORGANIZER;CN=Boss;SENT-BY=\"mailto:assistant@example.org\":mailto:boss@"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("ATTENDEE;PARTSTAT=DELEGATED;DELEGATED-TO=\"mailto:deputy@example.org\";CN="),
            std::string::npos)
      << t;
  EXPECT_EQ(ics.to_model(i.native), m);
  EXPECT_EQ(not_read_of(ics, i.native), Names{});

  // The same event written in JSCalendar by hand, with its own ids, reads to the same model.
  const NativeItem hand{
      "delegated@example.org",
      R"({"@type":"Event","uid":"delegated@example.org","start":"2024-01-05T09:00:00",)"
      R"("timeZone":"Europe/Berlin","duration":"PT1H","participants":{)"
      R"("boss":{"@type":"Participant","name":"Boss","email":"boss@example.org",)"
      R"("roles":{"owner":true},"sentBy":"assistant@example.org"},)"
      R"("ann":{"name":"Ann","sendTo":{"imip":"mailto:ann@example.org"},)"
      R"("roles":{"attendee":true},"participationStatus":"delegated",)"
      R"("delegatedTo":{"dep":true}},)"
      R"("dep":{"email":"deputy@example.org","roles":{"attendee":true},"expectReply":true,)"
      R"("delegatedFrom":{"ann":true},"sentBy":"deputy-pa@example.org"},)"
      R"("carl":{"email":"carl@example.org","roles":{"attendee":true},)"
      R"("memberOf":{"team":true,"all":true}},)"
      R"("team":{"email":"team@example.org","kind":"group","roles":{"informational":true}},)"
      R"("all":{"kind":"group","roles":{"informational":true},)"
      R"("sendTo":{"other":"urn:uuid:00000000-0000-4000-8000-000000000009"}}}})"};
  EXPECT_EQ(not_read_of(js, hand), Names{});
  EXPECT_EQ(js.to_model(hand)["participants"], m["participants"]);
}

// What one format cannot say of a participant's delegation, sender or groups is named, never
// dropped silently.
TEST(CrossFormat, DelegationTheOtherFormatCannotSayIsListed) {
  const Format& ics = format("icalendar");
  const Format& js = format("jscalendar");
  // JSCalendar names delegates and groups by participant id: one that is not a participant of
  // the event has none. Its sentBy is an e-mail address: a SIP URI or a mailto: with header
  // fields is none.
  const Item m = ics.to_model(ics.split(calendar(
      "BEGIN:VEVENT\r\nUID:lossy@example.org\r\nDTSTART:20240105T090000Z\r\n"
      "ORGANIZER;SENT-BY=\"sip:assistant@example.org\":mailto:boss@example.org\r\n"
      "ATTENDEE;DELEGATED-TO=\"mailto:stranger@example.org\";MEMBER=\"mailto:club@example.org\";"
      "SENT-BY=\"mailto:pa@example.org?subject=re\":mailto:ann@example.org\r\n"
      "END:VEVENT\r\n"))[0]);
  const Converted j = js.from_model(m);
  EXPECT_EQ(j.not_carried, (Names{"participants.delegated_to", "participants.member_of",
                                  "participants.sent_by"}));
  testing::expect_carried(m, js);
  const Item e = Item::parse(j.native.text);
  EXPECT_FALSE(e["participants"]["1"].contains("delegatedTo"));
  EXPECT_FALSE(e["participants"]["2"].contains("sentBy"));

  // iCalendar's ORGANIZER has no DELEGATED-TO, DELEGATED-FROM or MEMBER (§3.8.4.3): an owner
  // that is no attendee keeps them only in the model. An address a DQUOTEd value cannot hold,
  // or one without a scheme that a reader would not take for a cal-address, is not written.
  Item owner = m;
  owner["participants"][1]["delegated_from"] = Item::array({"mailto:ann@example.org"});
  owner["participants"][1]["member_of"] = Item::array({"mailto:club@example.org"});
  owner["participants"][0]["delegated_to"] =
      Item::array({"mailto:x@example.org\"\r\nX-INJECTED:1", "deputy", "mailto:y@example.org"});
  const Converted i = ics.from_model(owner);
  EXPECT_EQ(i.not_carried, (Names{"participants.delegated_from", "participants.delegated_to",
                                  "participants.member_of"}));
  EXPECT_EQ(i.native.text.find("X-INJECTED"), std::string::npos);
  EXPECT_EQ(ics.to_model(i.native)["participants"][0]["delegated_to"],
            Item::array({"mailto:y@example.org"}));
  testing::expect_carried(owner, ics);

  // A JSCalendar id of no participant, or of one that cannot be reached, is named by the path
  // of the member that holds it; the delegates that can be reached are kept.
  const NativeItem unknown{
      "u", R"({"@type":"Event","uid":"u","start":"2024-03-01T09:00:00","participants":{)"
           R"("a":{"email":"ann@example.org","delegatedTo":{"b":true,"zz":true},)"
           R"("memberOf":{"nobody":true},"delegatedFrom":{"b":false}},)"
           R"("b":{"email":"bob@example.org","delegatedFrom":{"a":true}},)"
           R"("c":{"name":"Carl","delegatedFrom":{"a":true}}}})"};
  EXPECT_EQ(not_read_of(js, unknown),
            (Names{"participants.a.delegatedTo", "participants.a.memberOf", "participants"}));
  EXPECT_EQ(js.to_model(unknown)["participants"], participants(R"([
    {"address":"mailto:ann@example.org","delegated_to":["mailto:bob@example.org"]},
    {"address":"mailto:bob@example.org","delegated_from":["mailto:ann@example.org"]}])"));
  for (const std::string bad : {R"("delegatedTo":["b"])", R"("memberOf":"b")",
                                R"("sentBy":{"email":"x@example.org"})"}) {
    EXPECT_THROW(js.to_model({"u", R"({"@type":"Event","uid":"u","start":"2024-03-01T09:00:00",)"
                                   R"("participants":{"a":{"email":"a@example.org",)" +
                                       bad + "}}}"}),
                 FormatError)
        << bad;
  }
}

// A DELEGATED-TO, DELEGATED-FROM or MEMBER must hold DQUOTEd cal-addresses, a SENT-BY one
// (RFC 5545 §3.2.4, §3.2.5, §3.2.11, §3.2.18); as with other optional parameters whose value
// the model has no reading for (a PARTSTAT x-name), one that does not is not read, and named.
TEST(ICalendar, MalformedDelegationParametersAreNamed) {
  const Format& f = format("icalendar");
  const auto event = [&](const std::string& lines) {
    return f.split(calendar("BEGIN:VEVENT\r\nUID:m@example.org\r\nDTSTART:20240105T090000Z\r\n" +
                            lines + "END:VEVENT\r\n"))[0];
  };
  for (const auto& [line, name] : std::vector<std::pair<std::string, std::string>>{
           {"ATTENDEE;DELEGATED-TO=deputy:mailto:a@example.org", "ATTENDEE;DELEGATED-TO"},
           {"ATTENDEE;DELEGATED-FROM=\"ann@example.org\":mailto:a@example.org",
            "ATTENDEE;DELEGATED-FROM"},
           {"ATTENDEE;MEMBER=\"mailto:\":mailto:a@example.org", "ATTENDEE;MEMBER"},
           {"ATTENDEE;DELEGATED-TO=\"mailto:b@example.org\",deputy:mailto:a@example.org",
            "ATTENDEE;DELEGATED-TO"},
           {"ATTENDEE;SENT-BY=\"mailto:b@example.org\",\"mailto:c@example.org\":"
            "mailto:a@example.org",
            "ATTENDEE;SENT-BY"},
           {"ORGANIZER;SENT-BY=pa:mailto:a@example.org", "ORGANIZER;SENT-BY"},
           {"ORGANIZER;DELEGATED-TO=\"mailto:b@example.org\":mailto:a@example.org",
            "ORGANIZER;DELEGATED-TO"}}) {
    const NativeItem n = event(line + "\r\n");
    EXPECT_EQ(not_read_of(f, n), Names{name}) << line;
    // The participant itself is read, without the parameter.
    const std::string role = line.starts_with("ORGANIZER") ? "owner" : "attendee";
    EXPECT_EQ(f.to_model(n)["participants"],
              participants(R"([{"address":"mailto:a@example.org","roles":[")" + role + R"("]}])"))
        << line;
  }
  // An unterminated quote breaks the content line: the item fails, named.
  try {
    f.to_model({"m@example.org", "BEGIN:VEVENT\r\nUID:m@example.org\r\n"
                                 "DTSTART:20240105T090000Z\r\n"
                                 "ATTENDEE;DELEGATED-TO=\"mailto:b@example.org:mailto:a@x\r\n"
                                 "END:VEVENT\r\n"});
    ADD_FAILURE() << "accepted an unterminated quote";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.item(), "m@example.org");
  }
  // Two lines for one address: their delegates and groups are one set; a SENT-BY the second
  // says differently is named, the first kept.
  const NativeItem twice = event(
      "ATTENDEE;DELEGATED-TO=\"mailto:b@example.org\";SENT-BY=\"mailto:pa@example.org\":"
      "mailto:a@example.org\r\n"
      "ATTENDEE;DELEGATED-TO=\"mailto:c@example.org\";SENT-BY=\"mailto:other@example.org\":"
      "mailto:a@example.org\r\n");
  EXPECT_EQ(not_read_of(f, twice), Names{"ATTENDEE;SENT-BY"});
  const Item p = f.to_model(twice)["participants"][0];
  EXPECT_EQ(p["delegated_to"], Item::array({"mailto:b@example.org", "mailto:c@example.org"}));
  EXPECT_EQ(p["sent_by"], "mailto:pa@example.org");
}

// RFC 3986 §3.1: a scheme is case-insensitive, and the model writes it in lower case, so that
// MAILTO:ann@… and mailto:ann@… are one participant, in either format, and one set member.
TEST(CrossFormat, MailtoInAnyCaseIsOneParticipant) {
  const Format& ics = format("icalendar");
  const Format& js = format("jscalendar");
  const auto items = ics.split(calendar(
      "BEGIN:VEVENT\r\nUID:case@example.org\r\nDTSTART:20240105T090000Z\r\n"
      "ORGANIZER;CN=Anna;SENT-BY=\"Mailto:pa@example.org\":MAILTO:anna@example.org\r\n"
      "ATTENDEE;PARTSTAT=ACCEPTED;DELEGATED-FROM=\"MailTo:bob@example.org\":"
      "mailto:anna@example.org\r\n"
      "ATTENDEE;PARTSTAT=DELEGATED;DELEGATED-TO=\"mailto:anna@example.org\":"
      "Mailto:bob@example.org\r\n"
      "ATTENDEE:URN:uuid:00000000-0000-4000-8000-000000000001\r\n"
      "BEGIN:VALARM\r\nACTION:EMAIL\r\nTRIGGER:-PT5M\r\nDESCRIPTION:x\r\nSUMMARY:y\r\n"
      "ATTENDEE:MAILTO:anna@example.org\r\nEND:VALARM\r\n"
      "END:VEVENT\r\n"));
  EXPECT_EQ(not_read_of(ics, items[0]), Names{});
  const Item m = ics.to_model(items[0]);
  EXPECT_EQ(m["participants"], participants(R"([
    {"address":"mailto:anna@example.org","name":"Anna","roles":["attendee","owner"],
     "status":"accepted","delegated_from":["mailto:bob@example.org"],
     "sent_by":"mailto:pa@example.org"},
    {"address":"mailto:bob@example.org","roles":["attendee"],"status":"delegated",
     "delegated_to":["mailto:anna@example.org"]},
    {"address":"urn:uuid:00000000-0000-4000-8000-000000000001","roles":["attendee"]}])"));
  EXPECT_EQ(m["alerts"][0]["recipients"], Item::array({"mailto:anna@example.org"}));
  testing::expect_carried(m, js);
  EXPECT_EQ(js.from_model(m).not_carried,
            (Names{"alerts.description", "alerts.recipients", "alerts.summary"}));

  // JSCalendar: sendTo's imip, its email and replyTo, in whatever case, are one address.
  const NativeItem e{
      "e", R"({"@type":"Event","uid":"e","start":"2024-03-01T09:00:00",)"
           R"("replyTo":{"imip":"MAILTO:ann@example.org"},"participants":{)"
           R"("a":{"sendTo":{"imip":"MAILTO:ann@example.org"},"email":"ann@example.org",)"
           R"("roles":{"owner":true}},)"
           R"("b":{"email":"ann@example.org","roles":{"attendee":true}},)"
           R"("c":{"sendTo":{"other":"URN:uuid:00000000-0000-4000-8000-000000000001"}}}})"};
  EXPECT_EQ(not_read_of(js, e), Names{});
  const Item from_js = js.to_model(e);
  EXPECT_EQ(from_js["participants"], participants(R"([
    {"address":"mailto:ann@example.org","roles":["attendee","owner"]},
    {"address":"urn:uuid:00000000-0000-4000-8000-000000000001"}])"));
  EXPECT_EQ(Item::parse(js.from_model(from_js).native.text)["replyTo"],
            Item::parse(R"({"imip":"mailto:ann@example.org"})"));

  // The model holds the one form: an address in another, or delegates, groups or a sender
  // that are not addresses, are refused by both formats.
  for (const auto& [field, value] : std::vector<std::pair<std::string, Item>>{
           {"address", "MAILTO:anna@example.org"},
           {"delegated_to", Item::array({"Mailto:bob@example.org"})},
           {"delegated_from", Item::array({""})},
           {"member_of", "mailto:team@example.org"},
           {"sent_by", ""},
           {"sent_by", Item::array()},
           {"delegated_to", nullptr}}) {
    Item bad = m;
    bad["participants"][0][field] = value;
    EXPECT_THROW(ics.from_model(bad), FormatError) << field << " " << value.dump();
    EXPECT_THROW(js.from_model(bad), FormatError) << field << " " << value.dump();
  }
  Item missing = m;
  missing["participants"][0].erase("member_of");
  EXPECT_THROW(ics.from_model(missing), FormatError);
  Item recipient = m;
  recipient["alerts"][0]["recipients"] = Item::array({"MAILTO:anna@example.org"});
  EXPECT_THROW(ics.from_model(recipient), FormatError);
}

// VALARM (RFC 5545 §3.6.6) and JSCalendar's alerts (RFC 8984 §4.5.2) are the model's alerts:
// when (an offset from the start or end, or a UTC time), how (display, e-mail, sound), whether
// acknowledged (RFC 9074), and an alarm's own text, subject and recipients, which JSCalendar
// has no member for. Google writes a display and an e-mail reminder on most events.
TEST(CrossFormat, AlertsTravelBothWays) {
  const Format& ics = format("icalendar");
  const Format& js = format("jscalendar");
  const auto items = ics.split(calendar(
      "BEGIN:VEVENT\r\n"
      "UID:alarms@example.org\r\n"
      "DTSTART:20240105T090000Z\r\n"
      "DTEND:20240105T100000Z\r\n"
      "SUMMARY:Dentist\r\n"
      "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:This is an event reminder\r\n"
      "TRIGGER:-P0DT0H30M0S\r\nEND:VALARM\r\n"
      "BEGIN:VALARM\r\nACTION:EMAIL\r\nDESCRIPTION:This is an event reminder\r\n"
      "SUMMARY:Alarm notification\r\nATTENDEE:mailto:ann@example.org\r\n"
      "TRIGGER:-P1D\r\nEND:VALARM\r\n"
      "BEGIN:VALARM\r\nACTION:AUDIO\r\nTRIGGER;RELATED=END:+PT5M\r\nEND:VALARM\r\n"
      "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Leave now\r\n"
      "TRIGGER;VALUE=DATE-TIME:20240105T081500Z\r\nACKNOWLEDGED:20240105T081600Z\r\n"
      "END:VALARM\r\n"
      "END:VEVENT\r\n"));
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(not_read_of(ics, items[0]), Names{});
  const Item m = ics.to_model(items[0]);
  EXPECT_EQ(m["alerts"], Item::parse(R"([
    {"action":"audio","offset":"PT5M","relative_to":"end","at":null,"acknowledged":null,
     "description":"","summary":"","recipients":[]},
    {"action":"display","offset":"-P0DT0H30M0S","relative_to":"start","at":null,
     "acknowledged":null,"description":"This is an event reminder","summary":"",
     "recipients":[]},
    {"action":"email","offset":"-P1D","relative_to":"start","at":null,"acknowledged":null,
     "description":"This is an event reminder","summary":"Alarm notification",
     "recipients":["mailto:ann@example.org"]},
    {"action":"display","offset":null,"relative_to":"start","at":"2024-01-05T08:15:00Z",
     "acknowledged":"2024-01-05T08:16:00Z","description":"Leave now","summary":"",
     "recipients":[]}])"))
      << "in the model's canonical order: as JSON objects, member by member";

  // Back to iCalendar: nothing lost, the same model.
  const Converted i = ics.from_model(m);
  EXPECT_EQ(i.not_carried, Names{});
  EXPECT_NE(i.native.text.find("TRIGGER;RELATED=END:PT5M"), std::string::npos) << i.native.text;
  EXPECT_NE(i.native.text.find("TRIGGER;VALUE=DATE-TIME:20240105T081500Z"), std::string::npos);
  EXPECT_EQ(ics.to_model(i.native), m);
  EXPECT_EQ(not_read_of(ics, i.native), Names{});

  // To JSCalendar: the triggers, actions and acknowledgement travel; the alarms' own text,
  // subject and recipients, and the sound, are listed.
  const Converted j = js.from_model(m);
  EXPECT_EQ(j.not_carried, (Names{"alerts.action", "alerts.description", "alerts.recipients",
                                  "alerts.summary"}));
  testing::expect_carried(m, js);
  const Item e = Item::parse(j.native.text);
  ASSERT_EQ(e["alerts"].size(), 4u);
  EXPECT_EQ(e["alerts"]["1"]["trigger"],
            Item::parse(R"({"@type":"OffsetTrigger","offset":"PT5M","relativeTo":"end"})"));
  EXPECT_FALSE(e["alerts"]["1"].contains("action"));  // "display", the default
  EXPECT_EQ(e["alerts"]["4"]["trigger"],
            Item::parse(R"({"@type":"AbsoluteTrigger","when":"2024-01-05T08:15:00Z"})"));
  EXPECT_EQ(e["alerts"]["4"]["acknowledged"], "2024-01-05T08:16:00Z");
  EXPECT_EQ(e["alerts"]["3"]["action"], "email");
  EXPECT_EQ(not_read_of(js, j.native), Names{});

  // And from JSCalendar into iCalendar: an e-mail alert without recipients (JSCalendar mails
  // the participants) is written as a display alarm, its action listed; every DISPLAY and
  // EMAIL alarm gets the DESCRIPTION the RFC requires, empty when there is no text.
  const Item from_js = js.to_model(j.native);
  const Converted back = ics.from_model(from_js);
  EXPECT_EQ(back.not_carried, Names{"alerts.action"});
  testing::expect_carried(from_js, ics);
  EXPECT_NE(back.native.text.find("ACTION:DISPLAY\r\nTRIGGER:-P1D\r\nDESCRIPTION:\r\n"),
            std::string::npos)
      << back.native.text;
  EXPECT_EQ(not_read_of(ics, back.native), Names{});

  // A recipient with a line break would inject a line: not written, and listed.
  Item hostile = m;
  hostile["alerts"][2]["recipients"] = Item::array({"mailto:x@example.org\r\nX-INJECTED:1"});
  const Converted safe = ics.from_model(hostile);
  EXPECT_EQ(safe.native.text.find("X-INJECTED"), std::string::npos);
  // With no recipient left it is a display alarm, which has no subject.
  EXPECT_EQ(safe.not_carried, (Names{"alerts.action", "alerts.recipients", "alerts.summary"}));
}

// A VALARM without what RFC 5545 requires of every alarm, or with a trigger that is neither a
// duration nor a UTC time, fails the item, naming it; so does a JSCalendar alert without a
// trigger or with a malformed one. A model alert that is not one is refused by from_model.
TEST(CrossFormat, MalformedAlertsFailTheItem) {
  const Format& ics = format("icalendar");
  const Format& js = format("jscalendar");
  const auto with_alarm = [&](const std::string& alarm) {
    return ics.split(calendar("BEGIN:VEVENT\r\nUID:a@example.org\r\nDTSTART:20240105T090000Z\r\n"
                              "BEGIN:VALARM\r\n" + alarm + "END:VALARM\r\nEND:VEVENT\r\n"))[0];
  };
  for (const std::string bad :
       {"ACTION:DISPLAY\r\nDESCRIPTION:x\r\n",                      // no TRIGGER
        "TRIGGER:-PT5M\r\nDESCRIPTION:x\r\n",                       // no ACTION
        "ACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nTRIGGER:-PT1M\r\n",     // two TRIGGERs
        "ACTION:DISPLAY\r\nTRIGGER:5 minutes before\r\n",           // not a duration
        "ACTION:DISPLAY\r\nTRIGGER;VALUE=DATE-TIME:20240105T081500\r\n",  // not UTC
        "ACTION:DISPLAY\r\nTRIGGER;RELATED=MIDDLE:-PT5M\r\n",
        "ACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nACKNOWLEDGED:20240105T081500\r\n"}) {
    Names names;
    try {
      ics.to_model(with_alarm(bad), &names);
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find("a@example.org"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(names.empty()) << bad;
  }
  const auto event = [](const std::string& alerts) {
    return NativeItem{"e", R"({"@type":"Event","uid":"e","start":"2024-03-01T09:00:00",)"
                           R"("alerts":)" + alerts + "}"};
  };
  for (const std::string bad :
       {R"([])", R"({"a":{"@type":"Alert"}})", R"({"a":{"trigger":"PT5M"}})",
        R"({"a":{"trigger":{"@type":"OffsetTrigger","offset":"-PT5M","relativeTo":"middle"}}})",
        R"({"a":{"trigger":{"@type":"AbsoluteTrigger","when":"2024-03-01T08:00:00"}}})",
        R"({"a":{"trigger":{"@type":"AbsoluteTrigger","offset":"-PT5M"}}})",
        R"({"a":{"trigger":{"offset":"-PT5M"},"acknowledged":"yesterday"}})",
        R"({"a":{"trigger":{"offset":5}}})"}) {
    EXPECT_THROW(js.to_model(event(bad)), FormatError) << bad;
  }
  EXPECT_EQ(js.to_model(event(R"({"a":{"trigger":{"offset":"+PT0S"}}})"))["alerts"][0]["offset"],
            "PT0S");

  Item m = ics.to_model(with_alarm("ACTION:DISPLAY\r\nTRIGGER:-PT5M\r\n"));
  ASSERT_EQ(m["alerts"].size(), 1u);
  for (const auto& [key, value] :
       {std::pair<std::string, Item>{"at", "2024-01-05T08:15:00Z"},  // and an offset
        {"offset", "five minutes"}, {"action", "procedure"}, {"relative_to", "middle"},
        {"acknowledged", "2024-01-05T08:15:00"}, {"recipients", nullptr}}) {
    Item bad = m;
    bad["alerts"][0][key] = value;
    EXPECT_THROW(ics.from_model(bad), FormatError) << key;
    EXPECT_THROW(js.from_model(bad), FormatError) << key;
  }
}

TEST(ICalendar, NotReadNamesEachUnreadPartOnceInDocumentOrder) {
  const Format& f = format("icalendar");
  const auto items = f.split(calendar(
      "BEGIN:VEVENT\r\n"
      "UID:meeting-7@example.org\r\n"
      "DTSTAMP:20240101T000000Z\r\n"
      "DTSTART;TZID=Europe/Paris;X-SOURCE-TZ=CET:20240108T100000\r\n"
      "RECURRENCE-ID;TZID=Europe/Paris;RANGE=THISANDFUTURE:20240108T100000\r\n"
      "SUMMARY;LANGUAGE=fr:Réunion\r\n"
      "DESCRIPTION;ALTREP=\"cid:part1.0001@example.org\":Agenda\r\n"
      "URL;VALUE=URI:https://example.org/m7\r\n"
      "SEQUENCE;VALUE=INTEGER:2\r\n"
      "ATTENDEE;CN=Ann;X-NUM-GUESTS=0:mailto:ann@example.org\r\n"
      "ORGANIZER;SENT-BY=\"mailto:eve@example.org\";DIR=\"ldap://example.org/cn=Bob\":"
      "mailto:bob@example.org\r\n"
      "ATTENDEE;CN=Carl;PARTSTAT=X-MAYBE:mailto:carl@example.org\r\n"
      "CLASS:PRIVATE\r\n"
      "PRIORITY:\r\n"  // empty: nothing to lose
      "X-ZORBLAX-MOOD:cheerful\r\n"
      "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nDESCRIPTION:x\r\n"
      "REPEAT:2\r\nDURATION:PT5M\r\nEND:VALARM\r\n"
      "GEO:48.85;2.35\r\n"
      "BEGIN:VALARM\r\nACTION:AUDIO\r\nTRIGGER:-PT1M\r\n"
      "ATTACH;FMTTYPE=audio/basic:https://example.org/bell.aud\r\nEND:VALARM\r\n"
      "BEGIN:VALARM\r\nACTION:X-SPEAK\r\nTRIGGER:-PT1M\r\nEND:VALARM\r\n"
      "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT2M\r\nDESCRIPTION:y\r\n"
      "BEGIN:X-SNOOZE\r\nX-UNTIL:1\r\nEND:X-SNOOZE\r\nEND:VALARM\r\n"
      "CATEGORIES;LANGUAGE=fr:travail\r\n"
      "CATEGORIES;LANGUAGE=fr:équipe\r\n"
      "END:VEVENT\r\n"));
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(not_read_of(f, items[0]),
            (Names{"DTSTART;X-SOURCE-TZ", "RECURRENCE-ID;RANGE", "SUMMARY;LANGUAGE",
                   "DESCRIPTION;ALTREP", "ATTENDEE;X-NUM-GUESTS", "ORGANIZER;DIR",
                   "ATTENDEE;PARTSTAT", "CLASS", "X-ZORBLAX-MOOD", "VALARM/REPEAT",
                   "VALARM/DURATION", "GEO", "VALARM/ATTACH", "VALARM/ACTION",
                   "VALARM/X-SNOOZE", "CATEGORIES;LANGUAGE"}));
  const Item m = f.to_model(items[0]);
  EXPECT_EQ(m["title"], "Réunion");  // the value is read; only the LANGUAGE is not
  EXPECT_EQ(m["recurrence_id"], "2024-01-08T10:00:00");

  // The display and audio alarms are carried; the one whose action the model has no value for
  // is not.
  ASSERT_EQ(m["alerts"].size(), 3u);
  EXPECT_EQ(m["alerts"][0]["action"], "audio");
  EXPECT_EQ(m["alerts"][1]["action"], "display");

  // Appended after what the list held: each name once in this call, whatever came before.
  Names names{"GEO"};
  f.to_model(items[0], &names);
  ASSERT_EQ(names.size(), 17u);
  EXPECT_EQ(names[0], "GEO");
  EXPECT_EQ(names[1], "DTSTART;X-SOURCE-TZ");
  EXPECT_EQ(std::count(names.begin(), names.end(), "GEO"), 2);

  // A refused item adds nothing.
  Names refused;
  EXPECT_THROW(f.to_model({"bad", "BEGIN:VEVENT\r\nUID:bad\r\nATTENDEE:mailto:a@example.org\r\n"
                                  "END:VEVENT\r\n"},
                          &refused),
               FormatError);
  EXPECT_TRUE(refused.empty());
}

TEST(ICalendar, NotReadOfTheSampleAndOfFullyCarriedEvents) {
  const Format& f = format("icalendar");
  // The sample's VEVENTs hold only properties the model has (its X-WR-CALNAME, CALSCALE and
  // METHOD are calendar properties, outside the items).
  const auto items = f.split(read_sample("calendar-example.ics"));
  ASSERT_EQ(items.size(), 3u);
  for (const NativeItem& n : items) EXPECT_EQ(not_read_of(f, n), Names{}) << n.id;

  // kRecurring: everything, its alarm too.
  EXPECT_EQ(not_read_of(f, f.split(kRecurring)[0]), Names{});

  // Every property the model has, with the parameters the adapter interprets; an empty
  // property and an empty component hold nothing to lose.
  const auto full = f.split(calendar(
      "BEGIN:VEVENT\r\n"
      "UID:full-1@example.org\r\n"
      "DTSTAMP;VALUE=DATE-TIME:20240101T000000Z\r\n"
      "CREATED:20231201T000000Z\r\n"
      "LAST-MODIFIED:20231202T000000Z\r\n"
      "DTSTART;VALUE=DATE-TIME;TZID=Asia/Tokyo:20240108T100000\r\n"
      "DTEND;TZID=Asia/Tokyo:20240108T110000\r\n"
      "SUMMARY;VALUE=text:Plain\r\n"
      "DESCRIPTION:Text\r\n"
      "LOCATION:Room 2\r\n"
      "URL:https://example.org/full-1\r\n"
      "STATUS:CONFIRMED\r\n"
      "SEQUENCE:1\r\n"
      "TRANSP:OPAQUE\r\n"
      "CATEGORIES:a,b\r\n"
      "RRULE:FREQ=DAILY;COUNT=3\r\n"
      "RDATE;TZID=Asia/Tokyo:20240120T100000\r\n"
      "EXDATE;TZID=Asia/Tokyo:20240109T100000\r\n"
      "X-EMPTY:\r\n"
      "BEGIN:VALARM\r\nEND:VALARM\r\n"
      "BEGIN:VALARM\r\nX-EMPTY:\r\nEND:VALARM\r\n"
      "BEGIN:VALARM\r\nACTION:EMAIL\r\nTRIGGER;VALUE=DURATION;RELATED=END:PT0S\r\n"
      "SUMMARY:Over\r\nDESCRIPTION;VALUE=TEXT:It is over\r\nATTENDEE:mailto:a@example.org\r\n"
      "ACKNOWLEDGED:20240108T110000Z\r\nX-EMPTY:\r\nEND:VALARM\r\n"
      "END:VEVENT\r\n"));
  EXPECT_EQ(not_read_of(f, full[0]), Names{});

  // What from_model writes, the model carries completely.
  for (const Item& m : models(f, read_sample("calendar-example.ics"))) {
    EXPECT_EQ(not_read_of(f, f.from_model(m).native), Names{}) << m["uid"];
  }
  EXPECT_EQ(not_read_of(f, f.from_model(f.to_model(full[0])).native), Names{});
}

TEST(JsCalendar, NotReadNamesEachUnreadMemberOnceByPath) {
  const Format& f = format("jscalendar");
  const std::string event =
      R"({"@type":"Event","uid":"e7","title":"Clinic","start":"2024-03-01T09:00:00",)"
      R"("timeZone":"Europe/Berlin","color":"","privacy":null,"priority":1,)"
      R"("participants":{"p1":{"@type":"Participant","name":"Ann"}},)"
      R"("alerts":{"a1":{"@type":"Alert","trigger":{"@type":"OffsetTrigger","offset":"-PT5M"}},)"
      R"("a2":{"@type":"Alert","trigger":{"offset":"PT0S","x:y":1},"relatedTo":{"a1":{}}},)"
      R"("a3":{"@type":"Alert","trigger":{"@type":"UnknownTrigger","x":1}}},)"
      R"("locations":{"0":{"@type":"Location","description":"no name"},)"
      R"("1":{"@type":"Location","name":"Centre","coordinates":"geo:52.5,13.4",)"
      R"("description":"2nd floor"},"2":{"@type":"Location","name":"Annex"}},)"
      R"("links":{"a":{"@type":"Link","href":"https://example.org/a","rel":"describedby"},)"
      R"("b":{"@type":"Link","href":"https://example.org/b"}},)"
      R"("recurrenceRules":[{"@type":"RecurrenceRule","frequency":"weekly",)"
      R"("example.com:hint":"x"},{"@type":"RecurrenceRule","frequency":"monthly",)"
      R"("example.com:hint":"y","byDay":[{"@type":"NDay","day":"mo","example.com:w":1}]}],)"
      R"("recurrenceOverrides":{"2024-03-08T09:00:00":{"title":"Moved"},)"
      R"("2024-03-15T09:00:00":{"duration":"PT2H"},"2024-03-22T09:00:00":{"excluded":true},)"
      R"("2024-03-29T10:00:00":{}},)"
      R"("virtualLocations":{"v":{"@type":"VirtualLocation","uri":"https://meet.example"}},)"
      R"("localizations":{"de":{"title":"Klinik"}},)"
      R"("example.com:mood":"cheerful","zorblax":{"level":3}})";
  const auto items = f.split("[" + event + "]");
  ASSERT_EQ(items.size(), 1u);
  // Members come in name order (the parsed object keeps them sorted).
  EXPECT_EQ(not_read_of(f, items[0]),
            (Names{"alerts.relatedTo", "alerts.trigger.x:y", "alerts.trigger",
                   "example.com:mood", "links.rel", "links", "localizations",
                   "locations", "locations.coordinates", "locations.description",
                   "participants", "priority", "recurrenceOverrides",
                   "recurrenceRules.example.com:hint", "recurrenceRules.byDay.example.com:w",
                   "virtualLocations", "zorblax"}));
  const Item m = f.to_model(items[0]);
  EXPECT_EQ(m["location"], "Centre");  // the first location with a name is the one read
  EXPECT_EQ(m["url"], "https://example.org/a");
  EXPECT_EQ(m["excluded_dates"], Item::array({"2024-03-22T09:00:00"}));
  EXPECT_EQ(m["recurrence_dates"], Item::array({"2024-03-29T10:00:00"}));
  ASSERT_EQ(m["alerts"].size(), 2u);  // a1 and a2; a3's trigger is unknown
  EXPECT_EQ(m["alerts"][0]["offset"], "-PT5M");
  EXPECT_EQ(m["alerts"][1]["offset"], "PT0S");

  Names refused;
  EXPECT_THROW(f.to_model({"x", R"({"@type":"Event","uid":"x","alerts":{"a":{}}})"}, &refused),
               FormatError);
  EXPECT_TRUE(refused.empty());
}

TEST(JsCalendar, NotReadIsEmptyForWhatTheModelCarries) {
  const Format& f = format("jscalendar");
  const Format& ics = format("icalendar");
  // The repository has no JSCalendar sample: its iCalendar sample, written as JSCalendar, and
  // kRecurring (whose UTC until travels in infobank:untilUtc, which is read).
  std::vector<Item> all = models(ics, read_sample("calendar-example.ics"));
  all.push_back(models(ics, kRecurring)[0]);
  for (const Item& m : all) {
    EXPECT_EQ(not_read_of(f, f.from_model(m).native), Names{}) << m["uid"];
  }
  const std::string event =
      R"({"@type":"Event","uid":"e1","title":"Clinic","description":"",)"
      R"("start":"2024-03-01T09:00:00","timeZone":"Europe/Berlin","showWithoutTime":false,)"
      R"("duration":"PT1H30M","status":"confirmed","sequence":2,"freeBusyStatus":"busy",)"
      R"("recurrenceId":null,)"
      R"("keywords":{"health":true},"locations":{"a":{"@type":"Location","name":"Centre"}},)"
      R"("links":{"l":{"@type":"Link","href":"https://example.org"}},)"
      R"("recurrenceRules":[{"@type":"RecurrenceRule","frequency":"monthly","count":5,)"
      R"("rscale":"gregorian","skip":"omit","firstDayOfWeek":"mo","interval":1,)"
      R"("byDay":[{"@type":"NDay","day":"fr","nthOfPeriod":-1}],"byMonth":["3"]}],)"
      R"("recurrenceOverrides":{"2024-05-31T09:00:00":{"excluded":true}},)"
      R"("created":"2024-01-01T00:00:00Z","updated":"2024-01-02T00:00:00Z"})";
  EXPECT_EQ(not_read_of(f, f.split("[" + event + "]")[0]), Names{});
}

TEST(ICalendar, SplitNamesTheCalendarsPropertiesAndOtherComponents) {
  const Format& f = format("icalendar");
  // The sample's calendar name and default zone (X-WR-) stay behind; CALSCALE and METHOD are
  // the document's bookkeeping.
  EXPECT_EQ(skipped_by(f, read_sample("calendar-example.ics")),
            (Names{"VCALENDAR/X-WR-CALNAME", "VCALENDAR/X-WR-TIMEZONE"}));

  // Two calendars in one file: each part once, in document order. VTIMEZONE defines the TZID
  // the event keeps; empty properties and components hold nothing.
  const std::string vtimezone =
      "BEGIN:VTIMEZONE\r\nTZID:Asia/Tokyo\r\nBEGIN:STANDARD\r\nDTSTART:19390101T000000\r\n"
      "TZOFFSETFROM:+0900\r\nTZOFFSETTO:+0900\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";
  const std::string event =
      "BEGIN:VEVENT\r\nUID:e1@example.org\r\nDTSTART;TZID=Asia/Tokyo:20240108T100000\r\n"
      "END:VEVENT\r\n";
  const std::string document =
      calendar("CALSCALE:GREGORIAN\r\nMETHOD:PUBLISH\r\nNAME:Family\r\nX-EMPTY:\r\n" +
               vtimezone + event +
               "BEGIN:VTODO\r\nUID:t1\r\nSUMMARY:Buy rice\r\nEND:VTODO\r\n"
               "BEGIN:VJOURNAL\r\nUID:j1\r\nDESCRIPTION:Dear diary\r\nEND:VJOURNAL\r\n"
               "BEGIN:VAVAILABILITY\r\nEND:VAVAILABILITY\r\n"
               "X-WR-CALNAME:Family\r\n") +
      calendar("BEGIN:VTODO\r\nUID:t2\r\nEND:VTODO\r\n"
               "BEGIN:VFREEBUSY\r\nUID:f1\r\nFREEBUSY:20240101T000000Z/PT1H\r\nEND:VFREEBUSY\r\n"
               "NAME;LANGUAGE=ja:家族\r\n");
  ASSERT_EQ(f.split(document).size(), 1u);
  EXPECT_EQ(skipped_by(f, document), (Names{"VCALENDAR/NAME", "VTODO", "VJOURNAL",
                                            "VCALENDAR/X-WR-CALNAME", "VFREEBUSY"}));

  // A zone that is no IANA name means only what its definition says, which the model does not
  // keep: Outlook's names, a globally unique "/vendor/..." id.
  std::string outlook = vtimezone;
  outlook.replace(outlook.find("Asia/Tokyo"), 10, "Tokyo Standard Time");
  std::string unique = vtimezone;
  unique.replace(unique.find("Asia/Tokyo"), 10, "/example.org/2024/Asia/Tokyo");
  EXPECT_EQ(skipped_by(f, calendar(outlook + unique + vtimezone + event)),
            (Names{"VTIMEZONE TZID=Tokyo Standard Time",
                   "VTIMEZONE TZID=/example.org/2024/Asia/Tokyo"}));
  for (const std::string iana : {"Etc/GMT+9", "America/Argentina/Buenos_Aires", "Japan", "UTC"}) {
    std::string zone = vtimezone;
    zone.replace(zone.find("Asia/Tokyo"), 10, iana);
    EXPECT_EQ(skipped_by(f, calendar(zone + event)), Names{}) << iana;
  }

  // A document refused adds nothing.
  testing::expect_split_refused(f, calendar("X-WR-CALNAME:x\r\nBEGIN:VTODO\r\nUID:t\r\n"));
}

TEST(ICalendar, SplitOfAJoinedPageNamesNothing) {
  const Format& f = format("icalendar");
  EXPECT_EQ(skipped_by_joined(f, read_sample("calendar-example.ics")), Names{});
  EXPECT_EQ(skipped_by_joined(f, kRecurring), Names{});
}

TEST(JsCalendar, SplitNamesTheGroupsMembersAndEntriesThatAreNotEvents) {
  const Format& f = format("jscalendar");
  const std::string event =
      R"({"@type":"Event","uid":"e1","start":"2024-03-01T09:00:00"})";
  const std::string task = R"({"@type":"Task","uid":"t1","title":"Buy rice"})";
  // The Group's uid, prodId and updated are its bookkeeping; members come in name order, then
  // the entries by @type in document order, each once.
  const std::string group =
      R"({"@type":"Group","uid":"g1","prodId":"-//x//EN","updated":"2024-01-01T00:00:00Z",)"
      R"("title":"Family","description":"","color":"teal","entries":[)" +
      task + "," + event + R"(,{"@type":"Group","uid":"g2","entries":[)" + event + "]}," + task +
      "]}";
  ASSERT_EQ(f.split(group).size(), 1u);
  EXPECT_EQ(skipped_by(f, group), (Names{"Group.color", "Group.title", "Task", "Group"}));
  EXPECT_EQ(skipped_by(f, "[" + task + "," + event + "]"), Names{"Task"});
  EXPECT_EQ(skipped_by(f, "[" + event + "]"), Names{});

  // An entry must say what it is: a null @type is refused like a missing one.
  EXPECT_THROW(f.split(R"([{"@type":null,"uid":"x"}])"), FormatError);
  testing::expect_split_refused(f, "[" + task + R"(,{"uid":"x"}])");
}

TEST(JsCalendar, SplitOfAJoinedPageNamesNothing) {
  const Format& f = format("jscalendar");
  const Format& ics = format("icalendar");
  std::vector<NativeItem> items;
  for (const Item& m : models(ics, read_sample("calendar-example.ics"))) {
    items.push_back(f.from_model(m).native);
  }
  EXPECT_EQ(skipped_by(f, f.join(items)), Names{});
}

// RFC 8984 §1.4.6: a JSCalendar duration may hold weeks with days or a time, and a fraction of
// a second, which RFC 5545 has not: iCalendar gets them in days and whole seconds (the fraction
// said lost). What is no duration at all is refused where it is read, naming the event.
TEST(CrossFormat, AJsCalendarDurationIsWrittenAsICalendarHoldsIt) {
  for (const char* ok : {"P1W", "P1W2D", "P1WT2H", "P2D", "PT1.5S", "P1DT2H30M", "PT30M5S",
                         "PT0S", "PT1H0M5.25S"})
    EXPECT_TRUE(valid_jscalendar_duration(ok)) << ok;
  for (const char* bad : {"P", "PT", "1 hour", "P1D2W", "-P1D", "PT1.50S", "PT1.S", "PT1H5S",
                          "P1Y", "PT1M2H", "P1DT"})
    EXPECT_FALSE(valid_jscalendar_duration(bad)) << bad;

  const Format& js = format("jscalendar");
  const Format& ics = format("icalendar");
  const auto event = [](const std::string& duration) {
    return NativeItem{"d", R"({"@type":"Event","uid":"d","start":"2024-03-01T09:00:00",)"
                           R"("timeZone":"Europe/Berlin","duration":")" + duration + R"("})"};
  };
  for (const auto& [given, written, fraction] :
       {std::tuple{"P1W2D", "P9D", false}, std::tuple{"P1WT2H", "P7DT2H", false},
        std::tuple{"PT1.5S", "PT1S", true}, std::tuple{"P1W", "P1W", false}}) {
    const Converted c = ics.from_model(js.to_model(event(given)));
    EXPECT_NE(c.native.text.find(std::string("DURATION:") + written + "\r\n"),
              std::string::npos)
        << given << "\n" << c.native.text;
    EXPECT_EQ(std::ranges::find(c.not_carried, "duration.fraction") != c.not_carried.end(),
              fraction)
        << given;
    EXPECT_NO_THROW(ics.to_model(c.native)) << given;
  }
  EXPECT_THROW(js.to_model(event("1 hour")), FormatError);
  EXPECT_THROW(js.to_model(event("-PT1H")), FormatError);
}

}  // namespace
}  // namespace portability
