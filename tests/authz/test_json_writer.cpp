// JsonObject writes the JSON of token claims, token responses and JWS headers without a tree;
// what it writes must read back as the values given, for any string.
#include "json_writer.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace authz {
namespace {

TEST(JsonObject, WritesMembersInOrderWithoutWhitespace) {
  JsonObject o;
  o.add("iss", "https://bank.example").add("iat", 1'800'000'000).add_json("aud", R"(["a","b"])");
  o.add_json("cnf", JsonObject().add("jkt", "x").str()).add("neg", -5);
  EXPECT_EQ(o.str(), R"({"iss":"https://bank.example","iat":1800000000,"aud":["a","b"],"cnf":{"jkt":"x"},"neg":-5})");
  EXPECT_EQ(JsonObject().str(), "{}");
}

// Random strings of escapes, control characters and multi-byte UTF-8 read back as themselves,
// and are spelled as nlohmann's dump() spells them.
TEST(JsonObject, StringsAndIntegersReadBackAsGiven) {
  const std::vector<std::string> pieces = {"a", " ", "/", "\"", "\\", "\b", "\f", "\n", "\r",
                                           "\t", std::string(1, '\0'), "\x01", "\x1f", "\x7f",
                                           "\u00e9", "\u6f22", "\U0001F600", "\u2028"};
  const std::vector<std::int64_t> integers = {0, 1, -1, std::numeric_limits<std::int64_t>::max(),
                                              std::numeric_limits<std::int64_t>::min()};
  std::mt19937 random(7);
  for (int i = 0; i < 500; ++i) {
    std::string text;
    for (auto n = random() % 8; n > 0; --n) text += pieces[random() % pieces.size()];
    const std::int64_t number = integers[random() % integers.size()];
    const std::string written = JsonObject().add("s", text).add("n", number).str();
    const auto read = nlohmann::json::parse(written);
    ASSERT_EQ(read.at("s").get<std::string>(), text);
    ASSERT_EQ(read.at("n").get<std::int64_t>(), number);
    ASSERT_EQ(written, R"({"s":)" + nlohmann::json(text).dump() + R"(,"n":)" + std::to_string(number) + "}");
  }
}

TEST(JsonObject, RefusesTextThatIsNotUtf8) {
  for (const std::string bad : {"\xff", "a\xc3", "\xed\xa0\x80", "\xc0\x80"}) {
    JsonObject o;
    EXPECT_THROW(o.add("s", bad), std::invalid_argument);
  }
}

}  // namespace
}  // namespace authz
