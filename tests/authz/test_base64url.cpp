#include "authz/base64url.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <utility>

namespace authz {
namespace {

// RFC 4648 §10 test vectors.
const std::array<std::pair<const char*, const char*>, 7> kRfc4648 = {{
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
}};

std::string unpadded(std::string s) {
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

TEST(Base64, Rfc4648VectorsEncodeAndDecode) {
  for (const auto& [plain, encoded] : kRfc4648) {
    EXPECT_EQ(base64_encode(plain), encoded);
    EXPECT_EQ(base64_decode(encoded), std::optional<std::string>(plain)) << encoded;
  }
}

TEST(Base64Url, Rfc4648VectorsWithoutPadding) {
  for (const auto& [plain, encoded] : kRfc4648) {
    EXPECT_EQ(base64url_encode(std::string_view(plain)), unpadded(encoded));
    EXPECT_EQ(base64url_decode(unpadded(encoded)), std::optional<std::string>(plain)) << encoded;
  }
}

TEST(Base64Url, UsesTheUrlSafeAlphabet) {
  const std::array<std::uint8_t, 3> bytes = {0xFB, 0xFF, 0xBF};
  EXPECT_EQ(base64url_encode(std::span<const std::uint8_t>(bytes)), "-_-_");
  EXPECT_EQ(base64_encode(std::string_view("\xFB\xFF\xBF", 3)), "+/+/");
  EXPECT_EQ(base64url_decode("-_-_"), std::optional<std::string>("\xFB\xFF\xBF"));
}

TEST(Base64Url, RoundTripsEveryLength) {
  std::string data;
  for (int i = 0; i < 70; ++i) {
    EXPECT_EQ(base64url_decode(base64url_encode(data)), data);
    EXPECT_EQ(base64_decode(base64_encode(data)), data);
    data.push_back(static_cast<char>(i * 37 + 11));
  }
}

TEST(Base64Url, RejectsMalformedInput) {
  EXPECT_FALSE(base64url_decode("Zg=="));   // padding is not part of base64url in JOSE
  EXPECT_FALSE(base64url_decode("Z"));      // length 1 mod 4 cannot be an encoding
  EXPECT_FALSE(base64url_decode("Zh"));     // non-zero trailing bits
  EXPECT_FALSE(base64url_decode("Zm9="));
  EXPECT_FALSE(base64url_decode("Zm9v+")); // standard alphabet
  EXPECT_FALSE(base64url_decode("Zm/v"));
  EXPECT_FALSE(base64url_decode("Zm9 v"));  // whitespace is not repaired
  EXPECT_FALSE(base64url_decode("Zm9v\n"));
  EXPECT_FALSE(base64url_decode(std::string_view("Zm\0v", 4)));
}

TEST(Base64, RejectsMalformedInput) {
  EXPECT_FALSE(base64_decode("Zg"));     // padding required
  EXPECT_FALSE(base64_decode("Zg="));    // wrong amount of padding
  EXPECT_FALSE(base64_decode("Zh=="));   // non-zero trailing bits
  EXPECT_FALSE(base64_decode("Z==="));
  EXPECT_FALSE(base64_decode("===="));
  EXPECT_FALSE(base64_decode("Zg==Zg=="));  // padding in the middle
  EXPECT_FALSE(base64_decode("Zm9v-_8="));  // url alphabet
  EXPECT_FALSE(base64_decode(" Zm9v"));
}

}  // namespace
}  // namespace authz
