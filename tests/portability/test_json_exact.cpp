// The adapters' strict JSON reader (json_exact.hpp), checked against nlohmann's parser: the
// same documents are accepted, into the same values, except where the reader is stricter on
// purpose (duplicate member names, nesting beyond 64) or keeps a number's exact text.

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "json_exact.hpp"
#include "portability/formats.hpp"

namespace {

using portability::FormatError;
using portability::detail::dump;
using portability::detail::json;
using portability::detail::number_text;
using portability::detail::parse_json;

bool nlohmann_accepts(const std::string& text) {
  return json::accept(text, /*ignore_comments=*/false);
}

bool reader_accepts(const std::string& text) {
  try {
    (void)parse_json(text, "doc");
    return true;
  } catch (const FormatError&) {
    return false;
  }
}

// Values without fractions or exponents: both parsers must build the same DOM.
const std::vector<std::string> kSameValue = {
    R"({})",
    R"([])",
    R"( { "a" : [ 1 , -2 , true , false , null ] , "b" : { } } )",
    "\t\r\n[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]\n",
    R"(["\u0041\u00e9\u3042\ud83d\ude00"])",
    "[\"caf\xC3\xA9 \xE3\x81\x82 \xF0\x9F\x98\x80\"]",
    R"([0, -0, 18446744073709551615, -9223372036854775808, 9223372036854775807])",
    R"("just a string")",
    R"(42)",
    R"(null)",
    R"([[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]])",
};

// Not JSON (RFC 8259): both refuse.
const std::vector<std::string> kRefused = {
    "",
    " ",
    "{",
    "}",
    "[1,]",
    "[,1]",
    "{\"a\":1,}",
    "{\"a\" 1}",
    "{a:1}",
    "{'a':1}",
    "[01]",
    "[1.]",
    "[.5]",
    "[1e]",
    "[1e+]",
    "[-]",
    "[+1]",
    "[0x10]",
    "[NaN]",
    "[Infinity]",
    "[tru]",
    "[nul]",
    "[True]",
    "[\"unterminated]",
    "[\"tab\tinside\"]",
    "[\"newline\ninside\"]",
    "[\"\\x41\"]",
    "[\"\\u12\"]",
    "[\"\\u12G4\"]",
    "[\"\\ud800\"]",
    "[\"\\ud800\\u0041\"]",
    "[\"\\udc00\"]",
    "[\"\xC3\"]",
    "[\"\xC0\xAF\"]",
    "[\"\xED\xA0\x80\"]",
    "[\"\xF5\x80\x80\x80\"]",
    "[\"\xFF\"]",
    "[1] [2]",
    "[1] x",
    "{} {}",
    "/* comment */ []",
    "[1] // comment",
};

TEST(JsonExactTest, BuildsTheSameValuesAsNlohmann) {
  for (const auto& text : kSameValue) {
    ASSERT_TRUE(nlohmann_accepts(text)) << text;
    const json ours = parse_json(text, "doc");
    const json theirs = json::parse(text);
    EXPECT_EQ(ours, theirs) << text;
    EXPECT_EQ(dump(ours), theirs.dump()) << text;
  }
}

TEST(JsonExactTest, RefusesWhatIsNotJson) {
  for (const auto& text : kRefused) {
    EXPECT_FALSE(nlohmann_accepts(text)) << "(nlohmann) " << text;
    EXPECT_FALSE(reader_accepts(text)) << text;
  }
}

TEST(JsonExactTest, IntegersHaveNlohmannsTypes) {
  const json j = parse_json("[0, 7, -7, 18446744073709551615, -9223372036854775808]", "doc");
  EXPECT_TRUE(j[0].is_number_unsigned());
  EXPECT_TRUE(j[1].is_number_unsigned());
  EXPECT_TRUE(j[2].is_number_integer() && !j[2].is_number_unsigned());
  EXPECT_EQ(j[3].get<std::uint64_t>(), 18446744073709551615ULL);
  EXPECT_EQ(j[4].get<std::int64_t>(), INT64_MIN);
}

TEST(JsonExactTest, OtherNumbersKeepTheirExactText) {
  for (const std::string text :
       {"1.0", "-0.000", "35.6812360", "1e5", "1E-7", "2.50e+01", "18446744073709551616",
        "-9223372036854775809", "1e400", "1e-400",
        "123456789012345678901234567890.123456789012345678901234567890"}) {
    const json j = parse_json("[" + text + "]", "doc");
    ASSERT_EQ(number_text(j[0]), text);
    EXPECT_EQ(dump(j), "[" + text + "]");
  }
}

TEST(JsonExactTest, RefusesDuplicateNamesAndDeepNesting) {
  EXPECT_TRUE(nlohmann_accepts(R"({"a":1,"a":2})"));
  EXPECT_FALSE(reader_accepts(R"({"a":1,"a":2})"));
  EXPECT_FALSE(reader_accepts(R"({"a":{"b":1,"b":1}})"));
  EXPECT_TRUE(reader_accepts(R"({"a":1,"b":{"a":2}})"));  // same name, another object

  const auto nested = [](std::size_t depth) {
    return std::string(depth, '[') + std::string(depth, ']');
  };
  EXPECT_TRUE(reader_accepts(nested(64)));
  EXPECT_FALSE(reader_accepts(nested(65)));
  EXPECT_FALSE(reader_accepts(nested(100000)));  // no stack overflow either
}

TEST(JsonExactTest, AcceptsOneLeadingByteOrderMark) {
  EXPECT_EQ(parse_json("\xEF\xBB\xBF{\"a\":1}", "doc"), json({{"a", 1}}));
  EXPECT_FALSE(reader_accepts("[1]\xEF\xBB\xBF"));
}

TEST(JsonExactTest, ErrorsNameTheDocumentAndTheByte) {
  try {
    (void)parse_json(R"({"a": [1, 2,, 3]})", "post-7");
    FAIL() << "accepted";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.item(), "post-7");
    EXPECT_NE(std::string(e.what()).find("malformed JSON"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("at byte 12"), std::string::npos) << e.what();
  }
}

// Random damage to valid documents: both parsers agree on every result, except that a
// duplicate name (which the damage can create) is refused by the reader alone.
TEST(JsonExactTest, AgreesWithNlohmannOnDamagedDocuments) {
  const std::vector<std::string> seeds = {
      R"({"id":"p-1","title":"T\u00e9","n":[1,-2,3.5e2,true,false,null],"o":{"k":"v"}})",
      R"([{"a":"\ud83d\ude00","b":[[],{}]},"x\\y\"z",0,-0.5])",
      "{\"text\":\"caf\xC3\xA9 \xE3\x81\x82\",\"ok\":true}",
  };
  const std::string alphabet = "{}[]\",:\\-+.eE0123456789tfnrul \t\n\x01\xC3\xA9\xFF";
  std::mt19937 rng(20261205);
  int compared = 0;
  int accepted = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string text = seeds[static_cast<std::size_t>(round) % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      const std::size_t at = rng() % text.size();
      const char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0: text[at] = c; break;
        case 1: text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), c); break;
        default: text.erase(at, 1);
      }
    }
    const bool theirs = nlohmann_accepts(text);
    bool ours = false;
    std::string error;
    try {
      (void)parse_json(text, "doc");
      ours = true;
    } catch (const FormatError& e) {
      error = e.what();
    }
    if (theirs && !ours && error.find("duplicate member name") != std::string::npos) continue;
    ASSERT_EQ(ours, theirs) << "document: " << text << "\nreader: " << error;
    ++compared;
    if (ours) ++accepted;
  }
  EXPECT_GT(compared, 19000);
  EXPECT_GT(accepted, 1000);  // the damage leaves plenty of valid documents to compare too
}

}  // namespace
