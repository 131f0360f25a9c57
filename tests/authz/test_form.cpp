#include "authz/form.hpp"

#include <gtest/gtest.h>

#include <string>

#include "authz/base64url.hpp"

namespace authz {
namespace {

TEST(ParseForm, DecodesPairsInOrder) {
  auto params = parse_form(
      "grant_type=authorization_code&code=Splx%2FOzQ"
      "&redirect_uri=https%3A%2F%2Fclient.example.com%2Fcb&scope=a+b%20c");
  ASSERT_TRUE(params);
  EXPECT_EQ(params->value("grant_type"), "authorization_code");
  EXPECT_EQ(params->value("code"), "Splx/OzQ");
  EXPECT_EQ(params->value("redirect_uri"), "https://client.example.com/cb");
  EXPECT_EQ(params->value("scope"), "a b c");
  EXPECT_EQ(params->items().size(), 4U);
  EXPECT_EQ(params->items()[1].first, "code");
  EXPECT_FALSE(params->has("state"));
  EXPECT_EQ(params->value("state"), "");
  EXPECT_FALSE(params->first_duplicate());
}

TEST(ParseForm, EmptyValuesAndEmptyPairs) {
  auto params = parse_form("&a=&b&&c=1&");
  ASSERT_TRUE(params);
  ASSERT_EQ(params->items().size(), 3U);
  EXPECT_EQ(params->get("a"), std::optional<std::string_view>(""));
  EXPECT_EQ(params->get("b"), std::optional<std::string_view>(""));
  EXPECT_EQ(params->value("c"), "1");
  EXPECT_TRUE(parse_form("")->items().empty());
  EXPECT_EQ(parse_form("a=b=c")->value("a"), "b=c");
  EXPECT_EQ(parse_form("%C3%A9t%C3%A9=%E2%82%AC")->value("\xC3\xA9t\xC3\xA9"), "\xE2\x82\xAC");
}

TEST(ParseForm, DuplicatesAreReportedExceptResource) {
  auto params = parse_form("resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb&scope=x");
  ASSERT_TRUE(params);
  EXPECT_FALSE(params->first_duplicate());
  EXPECT_EQ(params->all("resource"), (std::vector<std::string>{"https://a", "https://b"}));
  auto dup = parse_form("scope=a&code=1&scope=b");
  ASSERT_TRUE(dup);
  EXPECT_EQ(dup->first_duplicate(), std::optional<std::string>("scope"));
  EXPECT_EQ(dup->value("scope"), "a");  // first wins for get(), the caller rejects anyway
}

TEST(ParseForm, RejectsMalformedEncoding) {
  for (const char* bad : {"a=%", "a=%4", "a=%zz", "a=%4g", "%=1", "a=%00", "a%00=1",
                          "a=%FF", "a=%C3", "a=%ED%A0%80" /* surrogate */,
                          "a=%C0%AF" /* overlong */, "a=%F4%90%80%80" /* > U+10FFFF */}) {
    auto parsed = parse_form(bad);
    ASSERT_FALSE(parsed) << bad;
    EXPECT_EQ(parsed.error().error, "invalid_request");
  }
  EXPECT_FALSE(parse_form(std::string_view("a=\0", 3)));
  EXPECT_FALSE(parse_form("a=\xFF"));
  EXPECT_FALSE(parse_query("code=%G0"));
}

TEST(ParseQuery, SameRules) {
  auto params = parse_query(
      "response_type=code&client_id=s6BhdRkqt3&state=xyz"
      "&redirect_uri=https%3A%2F%2Fclient%2Eexample%2Ecom%2Fcb");
  ASSERT_TRUE(params);
  EXPECT_EQ(params->value("client_id"), "s6BhdRkqt3");
  EXPECT_EQ(params->value("redirect_uri"), "https://client.example.com/cb");
  EXPECT_EQ(parse_query("q=a+b")->value("q"), "a b");
}

TEST(FormEncode, KeepsUnreservedAndEscapesTheRest) {
  EXPECT_EQ(form_encode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(form_encode("a b+c&d=e/f:%"), "a%20b%2Bc%26d%3De%2Ff%3A%25");
  EXPECT_EQ(form_encode("\xC3\xA9"), "%C3%A9");
  const std::string tricky = "x y+z&=%\xE2\x82\xAC";
  EXPECT_EQ(parse_form("k=" + form_encode(tricky))->value("k"), tricky);
}

TEST(BasicAuthorization, Rfc6749Example) {
  // RFC 6749 §2.3.1.
  auto creds = parse_basic_authorization("Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW");
  ASSERT_TRUE(creds);
  EXPECT_EQ(creds->client_id, "s6BhdRkqt3");
  EXPECT_EQ(creds->client_secret, "gX1fBat3bV");
  EXPECT_TRUE(parse_basic_authorization("basic czZCaGRSa3F0MzpnWDFmQmF0M2JW"));
  EXPECT_TRUE(parse_basic_authorization("BASIC  czZCaGRSa3F0MzpnWDFmQmF0M2JW"));
}

TEST(BasicAuthorization, PartsAreFormDecoded) {
  const std::string raw = form_encode("client:1") + ":" + form_encode("p@ss w:rd+%");
  auto creds = parse_basic_authorization("Basic " + base64_encode(raw));
  ASSERT_TRUE(creds);
  EXPECT_EQ(creds->client_id, "client:1");
  EXPECT_EQ(creds->client_secret, "p@ss w:rd+%");
  // An unencoded ':' in the secret still splits at the first colon.
  creds = parse_basic_authorization("Basic " + base64_encode("id:a:b"));
  ASSERT_TRUE(creds);
  EXPECT_EQ(creds->client_secret, "a:b");
  EXPECT_EQ(parse_basic_authorization("Basic " + base64_encode("a+b:c+d"))->client_id, "a b");
}

TEST(BasicAuthorization, RejectsMalformedHeaders) {
  for (const std::string& bad : {
           std::string(),
           std::string("Basic"),
           std::string("Basic "),
           std::string("Bearer czZCaGRSa3F0MzpnWDFmQmF0M2JW"),
           std::string("Basicc czZCaGRSa3F0MzpnWDFmQmF0M2JW"),
           std::string("Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW "),
           std::string("Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW="),
           std::string("Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW\t"),
           "Basic " + base64_encode("no-colon"),
           "Basic " + base64_encode(":secret"),  // empty client_id
           "Basic " + base64_encode("id%zz:secret"),
           "Basic " + base64_encode("id:%00"),
           "Basic " + base64url_encode(std::string("\xFB\xFF:x")),
       }) {
    EXPECT_FALSE(parse_basic_authorization(bad)) << bad;
  }
}

TEST(TokenAuthorization, BearerAndDpop) {
  auto bearer = parse_token_authorization("Bearer mF_9.B5f-4.1JqM");
  ASSERT_TRUE(bearer);
  EXPECT_EQ(bearer->scheme, "bearer");
  EXPECT_EQ(bearer->token, "mF_9.B5f-4.1JqM");
  auto dpop = parse_token_authorization("DPoP Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU");
  ASSERT_TRUE(dpop);
  EXPECT_EQ(dpop->scheme, "dpop");
  EXPECT_EQ(parse_token_authorization("bearer abc+/==")->token, "abc+/==");
  EXPECT_EQ(parse_token_authorization("DPOP abc")->scheme, "dpop");
}

TEST(TokenAuthorization, RejectsBadSyntax) {
  for (const char* bad : {"", "Bearer", "Bearer ", "Bearer a b", "Bearer a=b", "Bearer =abc",
                          "Bearer abc,", "Bearer \"abc\"", "Basic abc", "Token abc",
                          "Bearerabc", " Bearer abc", "Bearer abc\t", "Bearer ab\xC3\xA9"}) {
    EXPECT_FALSE(parse_token_authorization(bad)) << bad;
  }
}

TEST(Cookies, ParsesPairsAndSkipsMalformedOnes) {
  auto cookies = parse_cookies("SID=31d4d96e407aad42; lang=en-US;theme=\"dark\"; bad; =x; "
                               "sp ace=1; v=a b; ok=; last=1");
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"SID", "31d4d96e407aad42"}, {"lang", "en-US"}, {"theme", "\"dark\""}, {"ok", ""},
      {"last", "1"}};
  EXPECT_EQ(cookies, expected);
  EXPECT_TRUE(parse_cookies("").empty());
  EXPECT_TRUE(parse_cookies(";;;").empty());
  EXPECT_TRUE(parse_cookies("a=b;c").size() == 1);
  EXPECT_TRUE(parse_cookies("a=\x01").empty());
  EXPECT_TRUE(parse_cookies("a=x,y").empty());  // ',' is not a cookie-octet
}

}  // namespace
}  // namespace authz
