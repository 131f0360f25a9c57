#include "storage/datetime.hpp"

#include <gtest/gtest.h>

namespace storage::datetime {
namespace {

TEST(DateTime, ParsesRfc3339DateTimesAsTheirParts) {
  const auto dt = parse_rfc3339("2027-03-31T23:59:58.250+09:00");
  ASSERT_TRUE(dt);
  EXPECT_EQ(dt->year, 2027);
  EXPECT_EQ(dt->month, 3);
  EXPECT_EQ(dt->day, 31);
  EXPECT_EQ(dt->second, 58);
  EXPECT_EQ(dt->fraction, "250");
  EXPECT_EQ(dt->offset_minutes, 9 * 60);
  EXPECT_EQ(format_rfc3339(*dt), "2027-03-31T23:59:58.250+09:00");
  EXPECT_TRUE(parse_rfc3339("2027-03-31t14:59:58z"));  // §5.6 NOTE: lowercase allowed

  for (const char* bad : {"2027-02-29T00:00:00Z", "2027-03-31T24:00:00Z", "2027-03-31 10:00:00Z",
                          "2027-03-31T10:00:00", "2027-03-31T10:00:00+9:00", "2027-03-31"}) {
    EXPECT_FALSE(parse_rfc3339(bad)) << bad;
  }
}

TEST(DateTime, AConsentEndsAtItsInstantOrAfterTheWholeDayInUtc) {
  constexpr std::int64_t kMarch31 = 1'806'451'200;  // 2027-03-31T00:00:00Z
  EXPECT_EQ(end_of_rfc3339("2027-03-31T00:00:00Z"), kMarch31);
  EXPECT_EQ(end_of_rfc3339("2027-03-31T09:00:00+09:00"), kMarch31);
  EXPECT_EQ(end_of_rfc3339("2027-03-31T00:00:00.999Z"), kMarch31);  // fraction dropped
  EXPECT_EQ(end_of_rfc3339("2027-03-31"), kMarch31 + 86'400);       // through that day
  EXPECT_EQ(end_of_rfc3339("2028-02-29"), std::int64_t{1'835'395'200} + 86'400);

  for (const char* bad : {"2027-02-29", "2027-13-01", "2027-3-31", "2027-03-31T", "tomorrow", ""}) {
    EXPECT_FALSE(end_of_rfc3339(bad)) << bad;
  }
}

}  // namespace
}  // namespace storage::datetime
