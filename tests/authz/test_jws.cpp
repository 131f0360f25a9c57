#include "authz/jws.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "authz/base64url.hpp"
#include "jose_test_helpers.hpp"

namespace authz {
namespace {

using nlohmann::json;
using testing::b64;
using testing::kNow;
using testing::sign_compact;
using testing::sign_compact_raw;

const std::vector<std::string> kAudiences = {"https://as.example", "https://as.example/token"};

std::string unsigned_jws(const std::string& header) {
  return b64(header) + "." + b64(R"({"a":1})") + "." + b64("sig");
}

TEST(JwsParse, SplitsAndDecodes) {
  const SigningKey key = SigningKey::generate_es256();
  const std::string jws = jws_sign(key, "k1", "JWT", R"({"sub":"x"})");
  auto parts = jws_parse(jws);
  ASSERT_TRUE(parts) << parts.error().description;
  EXPECT_EQ(parts->alg, "ES256");
  EXPECT_EQ(parts->kid, "k1");
  EXPECT_EQ(parts->typ, "JWT");
  EXPECT_EQ(parts->payload, R"({"sub":"x"})");
  EXPECT_EQ(parts->signature.size(), 64U);
  EXPECT_EQ(parts->signing_input, jws.substr(0, jws.rfind('.')));
  EXPECT_TRUE(parts->jwk_json.empty());
  EXPECT_TRUE(jws_verify(*parts, key.public_key()));
  EXPECT_FALSE(jws_verify(*parts, SigningKey::generate_es256().public_key()));
}

TEST(JwsParse, KeepsEmbeddedJwk) {
  const SigningKey key = SigningKey::generate_es256();
  auto parts = jws_parse(sign_compact(key, testing::dpop_header(key), json{{"a", 1}}));
  ASSERT_TRUE(parts);
  auto embedded = PublicKey::from_jwk(parts->jwk_json);
  ASSERT_TRUE(embedded);
  EXPECT_EQ(embedded->thumbprint(), key.public_key().thumbprint());
}

TEST(JwsParse, RejectsMalformedCompactSerialisation) {
  const SigningKey key = SigningKey::generate_es256();
  const std::string good = jws_sign(key, "", "", "{}");
  ASSERT_TRUE(jws_parse(good));
  for (const std::string& bad : {
           std::string(),
           std::string("a.b"),
           good + ".x",
           good + ".",
           "." + good,
           good + "=",                              // padded signature
           good.substr(0, good.rfind('.') + 1),     // empty signature
           "*" + good,                              // bad base64url in the header
           unsigned_jws(R"({"alg":"none"})"),
           unsigned_jws(R"({"alg":"NoNe"})"),
           unsigned_jws(R"({"typ":"JWT"})"),       // no alg
           unsigned_jws(R"({"alg":""})"),
           unsigned_jws(R"({"alg":256})"),
           unsigned_jws(R"({"alg":"ES256","crit":["exp"],"exp":1})"),
           unsigned_jws(R"({"alg":"ES256","alg":"HS256"})"),  // duplicate member
           unsigned_jws(R"({"alg":"ES256","typ":1})"),
           unsigned_jws(R"({"alg":"ES256","kid":null})"),
           unsigned_jws(R"({"alg":"ES256","jwk":"key"})"),
           unsigned_jws(R"(["alg","ES256"])"),
           unsigned_jws(R"({"alg":"ES256"} )"
                        "x"),
           unsigned_jws("{\"alg\":\"ES256\",\"kid\":\"\xff\"}"),  // invalid UTF-8
       }) {
    auto parsed = jws_parse(bad);
    ASSERT_FALSE(parsed) << bad;
    EXPECT_EQ(parsed.error().error, "invalid_request");
  }
}

TEST(JwsParse, RejectsOversizedInput) {
  const std::string huge = b64(R"({"alg":"ES256"})") + "." + std::string(70000, 'A') + "." +
                           b64("sig");
  EXPECT_FALSE(jws_parse(huge));
}

TEST(JwkSet, ParsesUsableKeysAndSkipsTheRest) {
  const SigningKey a = SigningKey::generate_es256();
  const SigningKey b = SigningKey::generate_es256();
  auto jwk_a = json::parse(a.public_key().to_jwk_json());
  jwk_a["kid"] = "a";
  auto jwk_b = json::parse(b.public_key().to_jwk_json());
  jwk_b["kid"] = "b";
  jwk_b["use"] = "sig";
  auto enc = jwk_b;
  enc["kid"] = "enc";
  enc["use"] = "enc";
  auto ops = jwk_b;
  ops["kid"] = "ops";
  ops["key_ops"] = json::array({"encrypt"});
  const json set = {
      {"keys",
       json::array({jwk_a, jwk_b, enc, ops, json{{"kty", "oct"}, {"k", "c2VjcmV0"}},
                    json{{"kty", "EC"}, {"crv", "P-521"}, {"x", "AA"}, {"y", "AA"}}})}};
  auto keys = parse_jwk_set(set.dump());
  ASSERT_TRUE(keys) << keys.error().description;
  ASSERT_EQ(keys->size(), 2U);
  EXPECT_EQ((*keys)[0].kid(), "a");
  EXPECT_EQ((*keys)[1].kid(), "b");
}

TEST(JwkSet, RejectsMalformedSets) {
  EXPECT_FALSE(parse_jwk_set(""));
  EXPECT_FALSE(parse_jwk_set("[]"));
  EXPECT_FALSE(parse_jwk_set("{}"));
  EXPECT_FALSE(parse_jwk_set(R"({"keys":{}})"));
  EXPECT_FALSE(parse_jwk_set(R"({"keys":[1]})"));
  EXPECT_FALSE(parse_jwk_set(R"({"keys":[],"keys":[]})"));
  auto empty = parse_jwk_set(R"({"keys":[]})");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

// ---- client assertions (RFC 7523 §3) -----------------------------------------------------

class ClientAssertionTest : public ::testing::Test {
 protected:
  ClientAssertionTest() {
    PublicKey pub = key_.public_key();
    pub.set_kid("k1");
    keys_.push_back(pub);
  }

  json claims() const {
    return {{"iss", "client-1"},  {"sub", "client-1"}, {"aud", "https://as.example/token"},
            {"exp", kNow + 300},  {"iat", kNow},       {"jti", "jti-1"}};
  }
  json header() const { return {{"alg", "ES256"}, {"kid", "k1"}}; }

  Expected<ClientAssertion> verify(const std::string& jwt) const {
    return verify_client_assertion(jwt, keys_, "client-1", kAudiences, kNow);
  }
  void expect_rejected(const std::string& jwt) const {
    auto result = verify(jwt);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().error, "invalid_client");
  }

  SigningKey key_ = SigningKey::generate_es256();
  std::vector<PublicKey> keys_;
};

TEST_F(ClientAssertionTest, AcceptsAValidAssertion) {
  auto result = verify(sign_compact(key_, header(), claims()));
  ASSERT_TRUE(result) << result.error().description;
  EXPECT_EQ(result->client_id, "client-1");
  EXPECT_EQ(result->jti, "jti-1");
  EXPECT_EQ(result->exp, kNow + 300);
}

TEST_F(ClientAssertionTest, AcceptsAudienceArrayAndMissingKid) {
  auto c = claims();
  c["aud"] = json::array({"https://other.example", "https://as.example"});
  EXPECT_TRUE(verify(sign_compact(key_, json{{"alg", "ES256"}}, c)));
  EXPECT_TRUE(verify(sign_compact(key_, json{{"alg", "ES256"}, {"typ", "JWT"}}, c)));
}

TEST_F(ClientAssertionTest, RejectsWrongAudience) {
  auto c = claims();
  c["aud"] = "https://evil.example";
  expect_rejected(sign_compact(key_, header(), c));
  c["aud"] = json::array({"https://evil.example"});
  expect_rejected(sign_compact(key_, header(), c));
  c["aud"] = json::array({"https://as.example", 5});
  expect_rejected(sign_compact(key_, header(), c));
  c.erase("aud");
  expect_rejected(sign_compact(key_, header(), c));
}

TEST_F(ClientAssertionTest, RejectsExpiredAndOverlongAssertions) {
  auto c = claims();
  c["exp"] = kNow - 61;  // past the 60 s leeway
  expect_rejected(sign_compact(key_, header(), c));
  c["exp"] = kNow - 30;  // within the leeway
  EXPECT_TRUE(verify(sign_compact(key_, header(), c)));
  c["exp"] = kNow + 3601;
  expect_rejected(sign_compact(key_, header(), c));
  c["exp"] = "tomorrow";
  expect_rejected(sign_compact(key_, header(), c));
  c.erase("exp");
  expect_rejected(sign_compact(key_, header(), c));
}

// A client clock a little ahead: an assertion issued "2 s from now" that lives the full hour
// (Authlib's PrivateKeyJWT signs exp = iat + 3600) is taken; one second more is not, and
// without iat the hour counts from our now.
TEST_F(ClientAssertionTest, CountsTheLifetimeFromAnIatWithinTheLeeway) {
  auto c = claims();
  c["iat"] = kNow + 2;
  c["exp"] = kNow + 2 + 3600;
  auto taken = verify(sign_compact(key_, header(), c));
  EXPECT_TRUE(taken) << taken.error().description;
  c["exp"] = kNow + 2 + 3601;
  expect_rejected(sign_compact(key_, header(), c));
  c["iat"] = kNow - 100;  // an iat in the past does not shorten the hour from now
  c["exp"] = kNow + 3600;
  EXPECT_TRUE(verify(sign_compact(key_, header(), c)));
  c.erase("iat");
  c["exp"] = kNow + 3601;
  expect_rejected(sign_compact(key_, header(), c));
}

TEST_F(ClientAssertionTest, RejectsFutureIatAndNbf) {
  auto c = claims();
  c["iat"] = kNow + 600;
  expect_rejected(sign_compact(key_, header(), c));
  c = claims();
  c["nbf"] = kNow + 600;
  expect_rejected(sign_compact(key_, header(), c));
}

TEST_F(ClientAssertionTest, RejectsIssuerSubjectMismatch) {
  auto c = claims();
  c["sub"] = "client-2";
  expect_rejected(sign_compact(key_, header(), c));
  EXPECT_FALSE(client_assertion_subject(sign_compact(key_, header(), c)));
  c["iss"] = "client-2";  // consistent, but not the client being authenticated
  expect_rejected(sign_compact(key_, header(), c));
  EXPECT_EQ(*client_assertion_subject(sign_compact(key_, header(), c)), "client-2");
}

TEST_F(ClientAssertionTest, RejectsWrongKeyAndKidMismatch) {
  const SigningKey other = SigningKey::generate_es256();
  expect_rejected(sign_compact(other, header(), claims()));
  expect_rejected(sign_compact(other, json{{"alg", "ES256"}}, claims()));
  expect_rejected(sign_compact(key_, json{{"alg", "ES256"}, {"kid", "k2"}}, claims()));
  // A key embedded in the header is never trusted.
  auto h = testing::dpop_header(other);
  h.erase("typ");
  expect_rejected(sign_compact(other, h, claims()));
}

TEST_F(ClientAssertionTest, RejectsHmacAndNone) {
  // HS256 "signed" with the public key as the secret: the classic algorithm confusion.
  const std::string input = b64(json{{"alg", "HS256"}, {"kid", "k1"}}.dump()) + "." +
                            b64(claims().dump());
  expect_rejected(input + "." + b64(std::string(32, 'x')));
  expect_rejected(b64(R"({"alg":"none"})") + "." + b64(claims().dump()) + ".");
  expect_rejected(sign_compact(key_, json{{"alg", "RS256"}, {"kid", "k1"}}, claims()));
}

TEST_F(ClientAssertionTest, RejectsMissingJtiAndWrongTyp) {
  auto c = claims();
  c.erase("jti");
  expect_rejected(sign_compact(key_, header(), c));
  c["jti"] = "";
  expect_rejected(sign_compact(key_, header(), c));
  expect_rejected(sign_compact(key_, json{{"alg", "ES256"}, {"typ", "dpop+jwt"}}, claims()));
}

TEST_F(ClientAssertionTest, RejectsDuplicateClaims) {
  const std::string payload =
      claims().dump().substr(0, claims().dump().size() - 1) + R"(,"sub":"client-1"})";
  expect_rejected(testing::sign_compact_raw(key_, header().dump(), payload));
}

// ---- request objects (RFC 9101) ----------------------------------------------------------

TEST_F(ClientAssertionTest, TakesOnlyTheAlgTheClientRegistered) {
  const auto jwt = sign_compact(key_, header(), claims());  // ES256
  auto same = verify_client_assertion(jwt, keys_, "client-1", kAudiences, kNow, "ES256");
  EXPECT_TRUE(same) << same.error().description;
  for (const char* registered : {"PS256", "EdDSA", "RS256"}) {
    auto other = verify_client_assertion(jwt, keys_, "client-1", kAudiences, kNow, registered);
    ASSERT_FALSE(other) << registered;
    EXPECT_EQ(other.error().error, "invalid_client");
    EXPECT_NE(other.error().description.find("token_endpoint_auth_signing_alg"),
              std::string::npos);
  }
}

class RequestObjectTest : public ClientAssertionTest {
 protected:
  json request() const {
    return {{"iss", "client-1"},
            {"aud", "https://as.example"},
            {"client_id", "client-1"},
            {"exp", kNow + 300},
            {"nbf", kNow},
            {"iat", kNow},
            {"jti", "r-1"},
            {"response_type", "code"},
            {"redirect_uri", "https://rp.example/cb"},
            {"scope", "openid"},
            {"state", "s"},
            {"code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},
            {"code_challenge_method", "S256"}};
  }
  json header(std::string typ = "oauth-authz-req+jwt") const {
    return {{"alg", "ES256"}, {"kid", "k1"}, {"typ", typ}};
  }
  Expected<Params> verify(const std::string& jwt) const {
    return verify_request_object(jwt, keys_, "client-1", "https://as.example", kNow);
  }
  void expect_rejected(const std::string& jwt, std::string_view why) const {
    auto result = verify(jwt);
    ASSERT_FALSE(result) << why;
    EXPECT_EQ(result.error().error, "invalid_request_object") << why;
  }
};

TEST_F(RequestObjectTest, CarriesTheAuthorizationRequestWithoutTheJwtClaims) {
  auto r = request();
  r["max_age"] = 300;
  r["authorization_details"] = json::array({{{"type", "personal_data_provision"}}});
  r["resource"] = json::array({"https://a.example", "https://b.example"});
  r["claims"] = json::object({{"userinfo", json::object()}});
  auto params = verify(sign_compact(key_, header(), r));
  ASSERT_TRUE(params) << params.error().description;
  EXPECT_EQ(params->value("client_id"), "client-1");
  EXPECT_EQ(params->value("redirect_uri"), "https://rp.example/cb");
  EXPECT_EQ(params->value("state"), "s");
  EXPECT_EQ(params->value("max_age"), "300");
  EXPECT_EQ(json::parse(params->value("authorization_details")), r["authorization_details"]);
  EXPECT_EQ(params->all("resource"),
            (std::vector<std::string>{"https://a.example", "https://b.example"}));
  EXPECT_EQ(json::parse(params->value("claims")), r["claims"]) << "OIDC Core §5.5, as JSON text";
  for (const char* claim : {"iss", "aud", "exp", "nbf", "iat", "jti"})
    EXPECT_FALSE(params->has(claim)) << claim;
  // The plain typ most clients send, and none at all, are accepted too.
  EXPECT_TRUE(verify(sign_compact(key_, header("JWT"), request())));
  EXPECT_TRUE(verify(sign_compact(key_, json{{"alg", "ES256"}}, request())));
  EXPECT_TRUE(verify(sign_compact(key_, header("application/oauth-authz-req+jwt"), request())));
}

TEST_F(RequestObjectTest, TakesOnlyTheAlgTheClientRegistered) {
  const auto jwt = sign_compact(key_, header(), request());  // ES256
  auto same = verify_request_object(jwt, keys_, "client-1", "https://as.example", kNow, "ES256");
  EXPECT_TRUE(same) << same.error().description;
  auto other = verify_request_object(jwt, keys_, "client-1", "https://as.example", kNow, "PS256");
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().error, "invalid_request_object");
  EXPECT_NE(other.error().description.find("request_object_signing_alg"), std::string::npos);
}

TEST_F(RequestObjectTest, RefusesWhatTheClientDidNotSign) {
  const SigningKey other = SigningKey::generate_es256();
  expect_rejected(sign_compact(other, header(), request()), "another key");
  expect_rejected(sign_compact(key_, json{{"alg", "ES256"}, {"kid", "k2"}}, request()), "kid");
  expect_rejected(b64(R"({"alg":"none"})") + "." + b64(request().dump()) + ".", "alg none");
  const std::string hs = b64(json{{"alg", "HS256"}}.dump()) + "." + b64(request().dump());
  expect_rejected(hs + "." + b64(std::string(32, 'x')), "HS256");
  expect_rejected("a.b.c.d.e", "an encrypted (JWE) object");
  expect_rejected(sign_compact(key_, header("dpop+jwt"), request()), "a DPoP proof's typ");
  expect_rejected(sign_compact(key_, header("at+jwt"), request()), "an access token's typ");
}

TEST_F(RequestObjectTest, RefusesTheWrongIssuerClientAudienceAndTimes) {
  auto with = [&](const char* name, json value) {
    auto r = request();
    if (value.is_null()) {
      r.erase(name);
    } else {
      r[name] = std::move(value);
    }
    return sign_compact(key_, header(), r);
  };
  expect_rejected(with("iss", "client-2"), "iss of another client");
  expect_rejected(with("iss", nullptr), "no iss");
  expect_rejected(with("client_id", "client-2"), "client_id of another client");
  expect_rejected(with("client_id", nullptr), "no client_id");
  expect_rejected(with("aud", "https://other.example"), "aud of another server");
  expect_rejected(with("aud", nullptr), "no aud");
  expect_rejected(with("exp", kNow - 61), "expired");
  expect_rejected(with("exp", kNow + 3601), "lives too long");
  expect_rejected(with("exp", nullptr), "no exp");
  expect_rejected(with("nbf", kNow + 600), "not yet valid");
  expect_rejected(with("nbf", kNow - 3601), "nbf too old");
  EXPECT_TRUE(verify(with("aud", json::array({"https://x.example", "https://as.example"}))));
  EXPECT_TRUE(verify(with("nbf", nullptr)));
}

TEST_F(RequestObjectTest, RefusesNestedRequestsAndValuesOfTheWrongType) {
  auto with = [&](const char* name, json value) {
    auto r = request();
    r[name] = std::move(value);
    return sign_compact(key_, header(), r);
  };
  expect_rejected(with("request", "x.y.z"), "a nested request");
  expect_rejected(with("request_uri", "urn:x"), "a nested request_uri");
  expect_rejected(with("state", 5), "a number as state");
  expect_rejected(with("scope", json::array({"openid"})), "an array as scope");
  expect_rejected(with("max_age", -1), "a negative max_age");
  expect_rejected(with("max_age", 1.5), "a fractional max_age");
  expect_rejected(with("resource", json::array({1})), "a number as resource");
  const std::string duplicate =
      request().dump().substr(0, request().dump().size() - 1) + R"(,"state":"t"})";
  expect_rejected(testing::sign_compact_raw(key_, header().dump(), duplicate), "duplicates");
}

}  // namespace
}  // namespace authz
