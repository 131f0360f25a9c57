#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "not_read.hpp"
#include "portability_test_support.hpp"

namespace portability {
namespace {

TEST(Registry, EveryFormatIsFoundByNameWithItsDataset) {
  const std::vector<std::pair<std::string, Dataset>> expected{
      {"blogger-atom", Dataset::blog_posts},         {"dtp-social-post", Dataset::blog_posts},
      {"icalendar", Dataset::calendar_events},       {"jscalendar", Dataset::calendar_events},
      {"apple-health", Dataset::health_records},     {"open-mhealth", Dataset::health_records},
      {"takeout-records", Dataset::location_points}, {"geojson", Dataset::location_points}};
  ASSERT_EQ(all_formats().size(), expected.size());
  for (const auto& [name, dataset] : expected) {
    const Format* f = find_format(name);
    ASSERT_NE(f, nullptr) << name;
    EXPECT_EQ(f->name(), name);
    EXPECT_EQ(f->dataset(), dataset) << name;
    EXPECT_FALSE(f->media_type().empty());
  }
  EXPECT_EQ(find_format("vcard"), nullptr);
  EXPECT_EQ(find_format(""), nullptr);
}

TEST(Registry, AnEmptyPageOfEveryFormatHoldsNothingSplitSkips) {
  // What join writes around the items is the document's bookkeeping, which split reads: an
  // empty dataset's export page names nothing, in every format.
  for (const Format* f : all_formats()) {
    const std::string page = f->join({});
    EXPECT_TRUE(f->split(page).empty()) << f->name();
    EXPECT_EQ(testing::skipped_by(*f, page), testing::Names{}) << f->name();
  }
}

TEST(Registry, DatasetNamesRoundTrip) {
  for (Dataset d : {Dataset::blog_posts, Dataset::calendar_events, Dataset::health_records,
                    Dataset::location_points}) {
    EXPECT_EQ(parse_dataset(to_string(d)), d);
  }
  EXPECT_EQ(to_string(Dataset::calendar_events), "calendar_events");
  EXPECT_FALSE(parse_dataset("Blog_Posts").has_value());
  EXPECT_FALSE(parse_dataset("").has_value());
}

TEST(Canonical, SortsKeysDropsWhitespaceKeepsUtf8) {
  const Item item = Item::parse(R"({ "b": 1, "a": "柏の葉 é", "c": {"z": null, "y": [true]} })");
  EXPECT_EQ(canonical(item), "{\"a\":\"柏の葉 é\",\"b\":1,\"c\":{\"y\":[true],\"z\":null}}");
}

TEST(Canonical, RefusesInvalidUtf8) {
  const Item item = std::string("\xff\xfe");
  EXPECT_THROW(canonical(item), nlohmann::json::exception);
}

TEST(Digest, EmptyIsZeroAndOneItemIsItsSha256) {
  EXPECT_EQ(Digest().hex(), std::string(64, '0'));
  Digest d;
  d.add(Item::object());  // canonical "{}"
  EXPECT_EQ(d.hex(), "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
}

TEST(Digest, IsOrderIndependentAndIncremental) {
  const std::vector<Item> items{Item{{"id", 1}}, Item{{"id", 2}}, Item{{"id", "三"}},
                                Item{{"x", Item::array({1, 2})}}};
  Digest forward, backward, halves_a, halves_b;
  for (const Item& i : items) forward.add(i);
  for (auto it = items.rbegin(); it != items.rend(); ++it) backward.add(*it);
  halves_a.add(items[0]);
  halves_a.add(items[1]);
  halves_b.add(items[2]);
  halves_b.add(items[3]);
  halves_a.add(halves_b);
  EXPECT_EQ(forward, backward);
  EXPECT_EQ(forward, halves_a);
  EXPECT_EQ(forward.hex(), halves_a.hex());
  Digest fewer;
  for (std::size_t i = 0; i + 1 < items.size(); ++i) fewer.add(items[i]);
  EXPECT_NE(forward, fewer);
  // A multiset: the same item twice differs from once.
  Digest twice = fewer;
  twice.add(items[0]);
  EXPECT_NE(twice, fewer);
}

TEST(Digest, AddsModulo2To256) {
  auto all_f = Digest::from_hex(std::string(64, 'f'));
  auto one = Digest::from_hex(std::string(63, '0') + "1");
  ASSERT_TRUE(all_f && one);
  Digest sum = *all_f;
  sum.add(*one);
  EXPECT_EQ(sum.hex(), std::string(64, '0'));
  Digest carry = *Digest::from_hex(std::string(62, '0') + "ff");
  carry.add(*one);
  EXPECT_EQ(carry.hex(), std::string(61, '0') + "100");
}

TEST(Digest, FromHexIsStrict) {
  Digest d;
  d.add(Item{{"a", 1}});
  EXPECT_EQ(Digest::from_hex(d.hex()), d);
  const std::string upper = "44136FA355B3678A1146AD16F7E8649E94FB4FC21FE77E8310C060F61CAAFF8A";
  ASSERT_TRUE(Digest::from_hex(upper));
  EXPECT_EQ(Digest::from_hex(upper)->hex(), "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
  EXPECT_FALSE(Digest::from_hex(""));
  EXPECT_FALSE(Digest::from_hex(std::string(63, '0')));
  EXPECT_FALSE(Digest::from_hex(std::string(65, '0')));
  EXPECT_FALSE(Digest::from_hex(std::string(63, '0') + "g"));
  EXPECT_FALSE(Digest::from_hex(" " + std::string(63, '0')));
  EXPECT_FALSE(Digest::from_hex("0x" + std::string(62, '0')));
  EXPECT_FALSE(Digest::from_hex(std::string(63, '0') + "-"));
}

// A source decides the names in not_read (its members, its elements): the report's list stays
// bounded however many and however long they are, and says when it stopped.
TEST(NotReadList, StaysBoundedWhateverTheSourceSends) {
  using detail::bounded_not_read;
  using detail::kMaxNotRead;
  using detail::kMaxNotReadName;
  using detail::kMoreNotRead;
  EXPECT_EQ(bounded_not_read({"b"}, {"a", "b"}), (std::vector<std::string>{"a", "b"}));

  // A long name is cut at a character boundary: 99 ASCII bytes, then a 3-byte character.
  const std::string long_name = std::string(99, 'x') + "\u3042" + std::string(50, 'y');
  const auto cut = bounded_not_read({}, {long_name});
  ASSERT_EQ(cut.size(), 1u);
  EXPECT_EQ(cut[0], std::string(99, 'x') + "\u2026");
  EXPECT_LE(cut[0].size(), kMaxNotReadName + 3);

  // Page after page of new names: the list stops at kMaxNotRead and says there was more.
  std::vector<std::string> list;
  for (int page = 0; page < 5; ++page) {
    std::set<std::string> names;
    for (int i = 0; i < 60; ++i) names.insert("m" + std::to_string(page * 1000 + i));
    list = bounded_not_read(list, names);
    EXPECT_LE(list.size(), kMaxNotRead + 1);
  }
  ASSERT_EQ(list.size(), kMaxNotRead + 1);
  EXPECT_EQ(list.back(), kMoreNotRead);
  EXPECT_EQ(std::count(list.begin(), list.end(), std::string(kMoreNotRead)), 1);
}

}  // namespace
}  // namespace portability
