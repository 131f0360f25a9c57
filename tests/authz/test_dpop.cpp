#include "authz/dpop.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

#include "authz/base64url.hpp"
#include "authz/crypto.hpp"
#include "jose_test_helpers.hpp"

namespace authz {
namespace {

using nlohmann::json;

using testing::kNow;
constexpr const char* kUrl = "https://server.example.com/token";

class DpopTest : public ::testing::Test {
 protected:
  json claims() const {
    return {{"jti", "e1j3V_bKic8-LAEB"}, {"htm", "POST"}, {"htu", kUrl}, {"iat", kNow}};
  }
  std::string proof(const json& c) const {
    return testing::sign_compact(key_, testing::dpop_header(key_), c);
  }
  std::string proof_with_header(const json& h) const {
    return testing::sign_compact(key_, h, claims());
  }
  DpopCheck check() const {
    DpopCheck c;
    c.method = "POST";
    c.url = kUrl;
    c.now = kNow;
    return c;
  }
  void expect_rejected(const std::string& p, const DpopCheck& c) const {
    auto result = dpop_verify(p, c);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().error, "invalid_dpop_proof");
  }
  void expect_rejected(const std::string& p) const { expect_rejected(p, check()); }

  SigningKey key_ = SigningKey::generate_es256();
};

TEST_F(DpopTest, AcceptsAValidProof) {
  auto result = dpop_verify(proof(claims()), check());
  ASSERT_TRUE(result) << result.error().description;
  EXPECT_EQ(result->jkt, key_.public_key().thumbprint());
  EXPECT_EQ(result->jti, "e1j3V_bKic8-LAEB");
  EXPECT_EQ(result->iat, kNow);
}

// RFC 9449 §8, §9: when the server asks for a nonce, a proof carries one of those it gave out.
// One without, or with another, is use_dpop_nonce (try again with the nonce); a proof that is
// bad for any other reason stays invalid_dpop_proof, nonce or not.
TEST_F(DpopTest, NonceWhenAskedFor) {
  auto asking = check();
  asking.nonces = {"n-now", "n-before"};
  auto c = claims();
  for (const char* nonce : {"n-now", "n-before"}) {
    c["nonce"] = nonce;
    EXPECT_TRUE(dpop_verify(proof(c), asking)) << nonce;
  }
  EXPECT_TRUE(dpop_verify(proof(c), check())) << "a nonce nobody asked for is no harm";
  for (const json& nonce : {json("n-older"), json(""), json(42)}) {
    c["nonce"] = nonce;
    auto result = dpop_verify(proof(c), asking);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().error, "use_dpop_nonce") << nonce;
  }
  c.erase("nonce");
  auto missing = dpop_verify(proof(c), asking);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().error, "use_dpop_nonce");
  c["htm"] = "GET";
  expect_rejected(proof(c), asking);
}

TEST_F(DpopTest, HtuIsComparedAfterNormalisation) {
  for (const char* htu : {"https://server.example.com/token",
                          "HTTPS://Server.EXAMPLE.com/token",
                          "https://server.example.com:443/token",
                          "https://server.example.com/token?x=1#frag",
                          "https://server.example.com/a/../token",
                          "https://server.example.com/%74oken"}) {
    auto c = claims();
    c["htu"] = htu;
    EXPECT_TRUE(dpop_verify(proof(c), check())) << htu;
  }
  // The request URL is normalised the same way; its query is ignored.
  auto chk = check();
  chk.url = "https://server.example.com/token?client_id=x";
  EXPECT_TRUE(dpop_verify(proof(claims()), chk));
  auto c = claims();
  c["htu"] = "http://api.example.com:80";
  chk.url = "http://api.example.com/";
  EXPECT_TRUE(dpop_verify(proof(c), chk));
}

TEST_F(DpopTest, RejectsWrongHtm) {
  auto c = claims();
  c["htm"] = "GET";
  expect_rejected(proof(c));
  c["htm"] = "post";  // methods are case-sensitive
  expect_rejected(proof(c));
  c.erase("htm");
  expect_rejected(proof(c));
}

TEST_F(DpopTest, RejectsWrongHtu) {
  for (const char* htu : {"https://server.example.com/token2", "http://server.example.com/token",
                          "https://server.example.com:8443/token",
                          "https://other.example.com/token", "https://server.example.com/Token",
                          "/token", "server.example.com/token", ""}) {
    auto c = claims();
    c["htu"] = htu;
    expect_rejected(proof(c));
  }
  auto c = claims();
  c["htu"] = 42;
  expect_rejected(proof(c));
}

TEST_F(DpopTest, RejectsIatOutsideTheWindow) {
  auto c = claims();
  c["iat"] = kNow - 301;
  expect_rejected(proof(c));
  c["iat"] = kNow + 301;
  expect_rejected(proof(c));
  c["iat"] = kNow - 300;  // the window is inclusive
  EXPECT_TRUE(dpop_verify(proof(c), check()));
  c["iat"] = "now";
  expect_rejected(proof(c));
  c.erase("iat");
  expect_rejected(proof(c));
  auto chk = check();
  chk.max_age = 10;
  c["iat"] = kNow - 11;
  expect_rejected(proof(c), chk);
}

TEST_F(DpopTest, RejectsBadTyp) {
  auto h = testing::dpop_header(key_);
  for (const char* typ : {"DPoP+jwt", "jwt", "JWT", "application/dpop+jwt", ""}) {
    h["typ"] = typ;
    expect_rejected(proof_with_header(h));
  }
  h.erase("typ");
  expect_rejected(proof_with_header(h));
}

TEST_F(DpopTest, RejectsPrivateKeyInJwk) {
  // Take the private scalar from the PEM would be overkill: any "d" member must be refused.
  auto h = testing::dpop_header(key_);
  h["jwk"]["d"] = base64url_encode(std::string(32, '\x07'));
  expect_rejected(proof_with_header(h));
}

TEST_F(DpopTest, RejectsMissingOrForeignJwk) {
  auto h = testing::dpop_header(key_);
  h.erase("jwk");
  expect_rejected(proof_with_header(h));
  // A jwk that is not the signing key.
  h["jwk"] = json::parse(SigningKey::generate_es256().public_key().to_jwk_json());
  expect_rejected(proof_with_header(h));
  h["jwk"] = json{{"kty", "oct"}, {"k", "c2VjcmV0"}};
  expect_rejected(proof_with_header(h));
}

TEST_F(DpopTest, RejectsAthMismatch) {
  auto chk = check();
  const std::string token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
  chk.access_token = token;
  auto c = claims();
  expect_rejected(proof(c), chk);  // ath required with a token
  c["ath"] = sha256_b64url(token + "x");
  expect_rejected(proof(c), chk);
  c["ath"] = sha256_b64url(token);
  EXPECT_TRUE(dpop_verify(proof(c), chk));
}

TEST_F(DpopTest, RejectsAlgNoneAndHmac) {
  const std::string payload = base64url_encode(claims().dump());
  auto h = testing::dpop_header(key_);
  h["alg"] = "none";
  expect_rejected(base64url_encode(h.dump()) + "." + payload + ".");
  expect_rejected(base64url_encode(h.dump()) + "." + payload + "." + base64url_encode("x"));
  h["alg"] = "HS256";
  expect_rejected(base64url_encode(h.dump()) + "." + payload + "." +
                  base64url_encode(std::string(32, 'x')));
  h["alg"] = "RS256";  // an asymmetric alg that does not fit the key
  expect_rejected(proof_with_header(h));
}

TEST_F(DpopTest, RejectsTamperingMissingJtiAndDuplicates) {
  std::string p = proof(claims());
  p[p.size() - 5] = p[p.size() - 5] == 'A' ? 'B' : 'A';
  expect_rejected(p);
  auto c = claims();
  c.erase("jti");
  expect_rejected(proof(c));
  const std::string dup = R"({"jti":"a","htm":"GET","htm":"POST","htu":")" + std::string(kUrl) +
                          R"(","iat":)" + std::to_string(kNow) + "}";
  expect_rejected(testing::sign_compact_raw(key_, testing::dpop_header(key_).dump(), dup));
  expect_rejected("");
  expect_rejected("not.a.jwt");
}

}  // namespace
}  // namespace authz
