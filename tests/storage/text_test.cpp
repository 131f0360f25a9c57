#include "storage/text.hpp"

#include <gtest/gtest.h>

#include <string>

namespace storage::text {
namespace {

// Every case at each offset from 0 to 9 behind ASCII, so that it falls at every position of
// the eight-byte ASCII steps and across their edge, and at the very end of the text.
void expect_everywhere(const std::string& bytes, bool valid) {
  for (std::size_t lead = 0; lead < 10; ++lead) {
    const std::string before(lead, 'a');
    EXPECT_EQ(valid_utf8(before + bytes), valid) << lead << " bytes before";
    EXPECT_EQ(valid_utf8(before + bytes + "tail of ascii"), valid) << lead << " bytes before";
  }
}

TEST(Utf8, TakesWellFormedText) {
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8(std::string(1000, 'x')));
  for (const char* text : {"\x7F", "\xC2\x80", "\xC3\xA9", "\xDF\xBF", "\xE0\xA0\x80",
                           "\xE3\x81\x82", "\xED\x9F\xBF", "\xEE\x80\x80", "\xEF\xBF\xBF",
                           "\xF0\x90\x80\x80", "\xF0\x9F\x98\x80", "\xF4\x8F\xBF\xBF"}) {
    expect_everywhere(text, true);
  }
  expect_everywhere(std::string("a\0b", 3), true);  // NUL is UTF-8; callers refuse it apart
}

TEST(Utf8, RefusesWhatRfc3629Forbids) {
  for (const char* text : {
           "\x80",              // a continuation byte alone
           "\xBF",              //
           "\xC0\x80",          // overlong NUL
           "\xC1\xBF",          // overlong
           "\xE0\x80\x80",      // overlong, three bytes
           "\xE0\x9F\xBF",      //
           "\xF0\x80\x80\x80",  // overlong, four bytes
           "\xF0\x8F\xBF\xBF",  //
           "\xED\xA0\x80",      // U+D800, a surrogate
           "\xED\xBF\xBF",      // U+DFFF
           "\xF4\x90\x80\x80",  // U+110000, above the last code point
           "\xF5\x80\x80\x80",  // no such lead byte
           "\xFF",              //
           "\xC3",              // cut short
           "\xE3\x81",          //
           "\xF0\x9F\x98",      //
           "\xC3\x41",          // a lead byte then ASCII
           "\xE3\x81\xC3\xA9",  // a lead byte then another sequence
       }) {
    expect_everywhere(text, false);
  }
}

}  // namespace
}  // namespace storage::text
