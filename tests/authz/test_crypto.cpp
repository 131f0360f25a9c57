#include "authz/crypto.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "authz/base64url.hpp"
#include "authz/random.hpp"
#include "jose_test_helpers.hpp"

namespace authz {
namespace {

// RFC 7638 §3.1: the example RSA key and its SHA-256 thumbprint.
constexpr const char* kRfc7638N =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
    "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY"
    "368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0f"
    "M4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
constexpr const char* kRfc7638Thumbprint = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

// RFC 7515 Appendix A.3: an ES256 key and a JWS signed with it.
constexpr const char* kA3X = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
constexpr const char* kA3Y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
constexpr const char* kA3SigningInput =
    "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNv"
    "bS9pc19yb290Ijp0cnVlfQ";
constexpr const char* kA3Signature =
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

// RFC 8037 Appendix A.2 and A.4: an Ed25519 public key and an EdDSA JWS.
constexpr const char* kEdX = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
constexpr const char* kEdSigningInput =
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
constexpr const char* kEdSignature =
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

std::string ec_jwk(const std::string& x, const std::string& y) {
  return nlohmann::json{{"kty", "EC"}, {"crv", "P-256"}, {"x", x}, {"y", y}}.dump();
}

using testing::b64;

using OsslKey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

// A SigningKey's PEM read by OpenSSL itself, to check its signatures with no code of ours.
OsslKey openssl_key_of(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  BIO_write(bio.get(), pem.data(), static_cast<int>(pem.size()));
  return {PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free};
}

// The PKCS#8 PEM of a key OpenSSL made (taking it over), for SigningKey::from_pem.
std::string pem_of(EVP_PKEY* raw) {
  OsslKey key(raw, EVP_PKEY_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  EXPECT_EQ(PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr),
            1);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return {data, static_cast<std::size_t>(len)};
}

TEST(Sha256, KnownAnswer) {
  // FIPS 180-2 "abc".
  EXPECT_EQ(sha256_b64url("abc"), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
  EXPECT_EQ(sha256("abc").size(), 32U);
  EXPECT_EQ(sha256_b64url(""), "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
}

TEST(ConstantTimeEqual, ComparesContentAndLength) {
  EXPECT_TRUE(constant_time_equal("secret", "secret"));
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_FALSE(constant_time_equal("secret", "secreT"));
  EXPECT_FALSE(constant_time_equal("secret", "secret2"));
  EXPECT_FALSE(constant_time_equal("", "x"));
}

TEST(Password, Argon2idRoundTrip) {
  const std::string hash = hash_password("correct horse battery staple");
  EXPECT_EQ(hash.rfind("$argon2id$", 0), 0U) << hash;
  EXPECT_TRUE(verify_password(hash, "correct horse battery staple"));
  EXPECT_FALSE(verify_password(hash, "correct horse battery stapl"));
  EXPECT_FALSE(verify_password(hash, ""));
  EXPECT_NE(hash, hash_password("correct horse battery staple"));  // salted
}

TEST(Password, GarbageHashNeverVerifies) {
  EXPECT_FALSE(verify_password("", ""));
  EXPECT_FALSE(verify_password("$argon2id$v=19$m=1,t=1,p=1$AAAA$AAAA", "x"));
  EXPECT_FALSE(verify_password(std::string(500, 'a'), "x"));
}

TEST(Random, SeededIsDeterministicAndTokenIsBase64url) {
  SeededRandom a(42);
  SeededRandom b(42);
  SeededRandom c(43);
  const std::string ta = a.token();
  EXPECT_EQ(ta.size(), 43U);
  EXPECT_EQ(ta, b.token());
  EXPECT_NE(ta, c.token());
  EXPECT_NE(a.token(), ta);  // the stream advances
  EXPECT_TRUE(base64url_decode(ta).has_value());
  EXPECT_EQ(a.token(16).size(), 22U);
}

TEST(Random, IdentifiersNeverBeginWithADash) {
  SeededRandom random(7);
  int dashed_tokens = 0;
  for (int i = 0; i < 2000; ++i) {
    if (random.token(16).front() == '-') ++dashed_tokens;
    const auto id = random.identifier(16);
    ASSERT_EQ(id.size(), 22U);
    ASSERT_NE(id.front(), '-') << id;
    ASSERT_TRUE(base64url_decode(id).has_value());
  }
  // Plain tokens do begin with '-' now and then (1 in 64): the case identifier() avoids.
  EXPECT_GT(dashed_tokens, 0);
}

TEST(Random, OsRandomProducesDistinctTokens) {
  OsRandom random;
  std::set<std::string> seen;
  for (int i = 0; i < 32; ++i) seen.insert(random.token());
  EXPECT_EQ(seen.size(), 32U);
  // Past the 4 KiB a thread buffers, small and large requests mixed: still all distinct.
  for (int i = 0; i < 600; ++i) seen.insert(random.token(i % 50 == 0 ? 1024 : 12));
  EXPECT_EQ(seen.size(), 632U);
}

// Small requests come from a per-thread buffer, which fork() copies into the child: the child
// must not hand out what the parent hands out next.
TEST(Random, OsRandomDiffersInAForkedChild) {
  OsRandom random;
  (void)random.token(12);  // this thread's buffer is filled
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::array<std::uint8_t, 16> bytes{};
    random.fill(bytes);
    const bool written = write(fds[1], bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
    _exit(written ? 0 : 1);
  }
  close(fds[1]);
  std::array<std::uint8_t, 16> mine{};
  random.fill(mine);
  std::array<std::uint8_t, 16> theirs{};
  std::size_t got = 0;
  while (got < theirs.size()) {
    const ssize_t n = read(fds[0], theirs.data() + got, theirs.size() - got);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_EQ(got, theirs.size());
  EXPECT_NE(mine, theirs);
}

TEST(PublicKey, Rfc7638ThumbprintOfRsaExample) {
  const std::string jwk = nlohmann::json{{"kty", "RSA"},
                                         {"n", kRfc7638N},
                                         {"e", "AQAB"},
                                         {"alg", "RS256"},
                                         {"kid", "2011-04-29"}}
                              .dump();
  auto key = PublicKey::from_jwk(jwk);
  ASSERT_TRUE(key) << key.error().description;
  EXPECT_EQ(key->thumbprint(), kRfc7638Thumbprint);
  EXPECT_EQ(key->kid(), "2011-04-29");
  EXPECT_TRUE(key->supports_alg("RS256"));
  EXPECT_FALSE(key->supports_alg("PS256"));  // the JWK names its algorithm
  EXPECT_FALSE(key->supports_alg("ES256"));
  // Round trip through to_jwk_json keeps the thumbprint and the metadata.
  auto again = PublicKey::from_jwk(key->to_jwk_json());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->thumbprint(), kRfc7638Thumbprint);
  EXPECT_EQ(again->kid(), "2011-04-29");
}

TEST(PublicKey, Rfc7515A3Es256SignatureVerifies) {
  auto key = PublicKey::from_jwk(ec_jwk(kA3X, kA3Y));
  ASSERT_TRUE(key) << key.error().description;
  const std::string sig = *base64url_decode(kA3Signature);
  EXPECT_TRUE(key->verify("ES256", kA3SigningInput, sig));
  std::string tampered_input = kA3SigningInput;
  tampered_input.back() = 'R';
  EXPECT_FALSE(key->verify("ES256", tampered_input, sig));
  EXPECT_FALSE(key->verify("RS256", kA3SigningInput, sig));
  EXPECT_FALSE(key->verify("ES256", kA3SigningInput, sig.substr(1)));
}

TEST(PublicKey, Rfc8037EdDsaSignatureVerifies) {
  auto key = PublicKey::from_jwk(
      nlohmann::json{{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", kEdX}}.dump());
  ASSERT_TRUE(key) << key.error().description;
  const std::string sig = *base64url_decode(kEdSignature);
  EXPECT_TRUE(key->supports_alg("EdDSA"));
  EXPECT_TRUE(key->verify("EdDSA", kEdSigningInput, sig));
  EXPECT_FALSE(key->verify("EdDSA", std::string(kEdSigningInput) + "x", sig));
  EXPECT_FALSE(key->verify("ES256", kEdSigningInput, sig));
  // RFC 8037 Appendix A.3 thumbprint.
  EXPECT_EQ(key->thumbprint(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
}

TEST(PublicKey, RejectsPrivateAndMalformedKeys) {
  const std::string y_bad = b64(std::string(32, '\x01'));
  EXPECT_FALSE(PublicKey::from_jwk(ec_jwk(kA3X, y_bad)));  // not on the curve
  EXPECT_FALSE(PublicKey::from_jwk(ec_jwk(kA3X, b64(std::string(31, '\x01')))));
  EXPECT_FALSE(PublicKey::from_jwk(ec_jwk(kA3X, std::string(kA3Y) + "=")));
  auto with = [](std::string name, nlohmann::json value) {
    auto jwk = nlohmann::json::parse(ec_jwk(kA3X, kA3Y));
    jwk[name] = std::move(value);
    return jwk.dump();
  };
  EXPECT_TRUE(PublicKey::from_jwk(with("kid", "k1")));
  EXPECT_TRUE(PublicKey::from_jwk(with("x5t", "ignored")));  // unknown members are ignored
  EXPECT_FALSE(PublicKey::from_jwk(with("d", "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI")));
  EXPECT_FALSE(PublicKey::from_jwk(with("crv", "P-384")));
  EXPECT_FALSE(PublicKey::from_jwk(with("kty", "oct")));
  EXPECT_FALSE(PublicKey::from_jwk(with("kid", 7)));
  EXPECT_FALSE(PublicKey::from_jwk(R"({"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ"})"));
  // Duplicate member names are an error, not "last one wins".
  const std::string dup = std::string(R"({"kty":"EC","crv":"P-256","x":")") + kA3X +
                          R"(","y":")" + kA3Y + R"(","x":")" + kA3X + R"("})";
  EXPECT_FALSE(PublicKey::from_jwk(dup));
  EXPECT_FALSE(PublicKey::from_jwk("[]"));
  EXPECT_FALSE(PublicKey::from_jwk(""));
  EXPECT_FALSE(PublicKey::from_jwk(R"({"kty":"RSA","n":"AQAB"})"));
  EXPECT_FALSE(PublicKey::from_jwk(R"({"kty":"RSA","n":"AAEB","e":"AQAB"})"));  // leading 0
  EXPECT_FALSE(PublicKey::from_jwk(
      nlohmann::json{{"kty", "OKP"}, {"crv", "X25519"}, {"x", kEdX}}.dump()));
}

TEST(PublicKey, SmallRsaKeyIsParsedButNotUsable) {
  // 1024-bit modulus: RFC 7518 §3.3 requires 2048 bits or more.
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
      EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(1024)), EVP_PKEY_free);
  ASSERT_TRUE(pkey);
  BIGNUM* n = nullptr;
  ASSERT_EQ(EVP_PKEY_get_bn_param(pkey.get(), OSSL_PKEY_PARAM_RSA_N, &n), 1);
  std::string n_bytes(static_cast<std::size_t>(BN_num_bytes(n)), '\0');
  BN_bn2bin(n, reinterpret_cast<unsigned char*>(n_bytes.data()));
  BN_free(n);
  auto key = PublicKey::from_jwk(
      nlohmann::json{{"kty", "RSA"}, {"n", b64(n_bytes)}, {"e", "AQAB"}}.dump());
  ASSERT_TRUE(key);
  EXPECT_FALSE(key->supports_alg("RS256"));
  EXPECT_FALSE(key->supports_alg("PS256"));
}

// RS256 and PS256 signatures made with OpenSSL directly verify through PublicKey.
TEST(PublicKey, RsaSignaturesVerify) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
      EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)), EVP_PKEY_free);
  ASSERT_TRUE(pkey);
  auto bn = [&](const char* name) {
    BIGNUM* v = nullptr;
    EXPECT_EQ(EVP_PKEY_get_bn_param(pkey.get(), name, &v), 1);
    std::string out(static_cast<std::size_t>(BN_num_bytes(v)), '\0');
    BN_bn2bin(v, reinterpret_cast<unsigned char*>(out.data()));
    BN_free(v);
    return out;
  };
  auto key = PublicKey::from_jwk(nlohmann::json{{"kty", "RSA"},
                                                {"n", b64(bn(OSSL_PKEY_PARAM_RSA_N))},
                                                {"e", b64(bn(OSSL_PKEY_PARAM_RSA_E))}}
                                     .dump());
  ASSERT_TRUE(key) << key.error().description;
  const std::string input = "header.payload";
  auto sign = [&](bool pss) {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                 EVP_MD_CTX_free);
    EVP_PKEY_CTX* pctx = nullptr;
    EXPECT_EQ(EVP_DigestSignInit_ex(ctx.get(), &pctx, "SHA256", nullptr, nullptr, pkey.get(),
                                    nullptr),
              1);
    if (pss) {
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
    }
    std::size_t len = 0;
    const auto* data = reinterpret_cast<const unsigned char*>(input.data());
    EVP_DigestSign(ctx.get(), nullptr, &len, data, input.size());
    std::string sig(len, '\0');
    EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data,
                   input.size());
    sig.resize(len);
    return sig;
  };
  const std::string rs = sign(false);
  const std::string ps = sign(true);
  EXPECT_TRUE(key->verify("RS256", input, rs));
  EXPECT_TRUE(key->verify("PS256", input, ps));
  EXPECT_FALSE(key->verify("PS256", input, rs));
  EXPECT_FALSE(key->verify("RS256", input, ps));
  EXPECT_FALSE(key->verify("RS256", input + "x", rs));
}

TEST(SigningKey, Es256SignVerifyRoundTripAndTamper) {
  const SigningKey key = SigningKey::generate_es256();
  const PublicKey pub = key.public_key();
  const std::string input = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0";
  const std::string sig = key.sign(input);
  ASSERT_EQ(sig.size(), 64U);
  EXPECT_TRUE(pub.verify("ES256", input, sig));
  std::string bad_sig = sig;
  bad_sig[10] = static_cast<char>(bad_sig[10] ^ 0x01);
  EXPECT_FALSE(pub.verify("ES256", input, bad_sig));
  EXPECT_FALSE(pub.verify("ES256", input + "A", sig));
  EXPECT_FALSE(pub.verify("ES256", input, sig + "x"));
  EXPECT_FALSE(pub.verify("ES256", input, ""));
  EXPECT_FALSE(pub.verify("EdDSA", input, sig));
  // Another key does not verify it.
  EXPECT_FALSE(SigningKey::generate_es256().public_key().verify("ES256", input, sig));
}

// A key keeps signing contexts for reuse, shared with its copies: threads signing at once with
// one key and its copies each get a context of their own, and every signature verifies as
// ES256 (SHA-256 over the input, checked by the digest-verify path) and is fresh (ECDSA's
// random nonce).
TEST(SigningKey, SignsFromManyThreadsAtOnce) {
  const SigningKey key = SigningKey::generate_es256();
  const PublicKey pub = key.public_key();
  constexpr int kThreads = 8;
  constexpr int kEach = 50;
  std::vector<std::vector<std::string>> signatures(kThreads);
  {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t, copy = key] {
        for (int i = 0; i < kEach; ++i) {
          signatures[t].push_back((t % 2 == 0 ? key : copy).sign("input " + std::to_string(i)));
        }
      });
    }
    for (auto& thread : threads) thread.join();
  }
  std::set<std::string> distinct;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(signatures[t].size(), static_cast<std::size_t>(kEach));
    for (int i = 0; i < kEach; ++i) {
      EXPECT_TRUE(pub.verify("ES256", "input " + std::to_string(i), signatures[t][i])) << t << " " << i;
      EXPECT_FALSE(pub.verify("ES256", "input " + std::to_string(i + 1), signatures[t][i]));
      distinct.insert(signatures[t][i]);
    }
  }
  EXPECT_EQ(distinct.size(), static_cast<std::size_t>(kThreads * kEach));
}

TEST(SigningKey, PublicJwkHasNoPrivateMembers) {
  const SigningKey key = SigningKey::generate_es256();
  auto jwk = nlohmann::json::parse(key.public_key().to_jwk_json());
  EXPECT_EQ(jwk.at("kty"), "EC");
  EXPECT_EQ(jwk.at("crv"), "P-256");
  EXPECT_FALSE(jwk.contains("d"));
  EXPECT_EQ(base64url_decode(jwk.at("x").get<std::string>())->size(), 32U);
  auto parsed = PublicKey::from_jwk(jwk.dump());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->thumbprint(), key.public_key().thumbprint());
}

TEST(SigningKey, PemRoundTrip) {
  const SigningKey key = SigningKey::generate_es256();
  const std::string pem = key.to_pem();
  EXPECT_NE(pem.find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
  auto loaded = SigningKey::from_pem(pem);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->public_key().thumbprint(), key.public_key().thumbprint());
  EXPECT_TRUE(key.public_key().verify("ES256", "x", loaded->sign("x")));
  EXPECT_FALSE(SigningKey::from_pem("not a pem"));
  EXPECT_FALSE(SigningKey::from_pem(pem.substr(0, pem.size() / 2)));
  EXPECT_EQ(key.alg(), "ES256");
  EXPECT_EQ(loaded->alg(), "ES256");
}

// RS256 (RFC 7518 §3.3), the algorithm OpenID Connect requires a provider to sign ID tokens
// with: RSASSA-PKCS1-v1_5 over SHA-256, a signature as long as the modulus, the same for the
// same input (no randomness in v1.5), verified as RS256 and never as PS256.
TEST(SigningKey, Rs256SignVerifyPemAndJwk) {
  const SigningKey key = SigningKey::generate("RS256");
  EXPECT_EQ(key.alg(), "RS256");
  const PublicKey pub = key.public_key();
  const std::string input = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0";
  const std::string sig = key.sign(input);
  ASSERT_EQ(sig.size(), static_cast<std::size_t>(SigningKey::kRsaSigningBits / 8));
  EXPECT_EQ(key.sign(input), sig);
  EXPECT_TRUE(pub.verify("RS256", input, sig));
  EXPECT_FALSE(pub.verify("PS256", input, sig));
  EXPECT_FALSE(pub.verify("RS256", input + "A", sig));
  std::string bad = sig;
  bad[100] = static_cast<char>(bad[100] ^ 0x01);
  EXPECT_FALSE(pub.verify("RS256", input, bad));

  auto jwk = nlohmann::json::parse(pub.to_jwk_json());
  EXPECT_EQ(jwk.at("kty"), "RSA");
  EXPECT_EQ(jwk.at("e"), "AQAB");
  EXPECT_FALSE(jwk.contains("d"));
  EXPECT_EQ(base64url_decode(jwk.at("n").get<std::string>())->size(), 256U);
  auto parsed = PublicKey::from_jwk(jwk.dump());
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->verify("RS256", input, sig));

  auto loaded = SigningKey::from_pem(key.to_pem());
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->alg(), "RS256");
  EXPECT_EQ(loaded->sign(input), sig);
  EXPECT_THROW((void)SigningKey::generate("PS384"), std::invalid_argument);
  EXPECT_THROW((void)SigningKey::generate_rsa("ES256"), std::invalid_argument);
}

// PS256 (RFC 7518 §3.5), which FAPI 2.0 allows where it forbids RS256: RSASSA-PSS with SHA-256,
// MGF1 over SHA-256 and a 32-byte salt, so two signatures of one input differ. Checked against
// OpenSSL told exactly those parameters, not only against our own verifier. The PEM does not
// say which RSA algorithm a key is for: the key ring passes the stored one back.
TEST(SigningKey, Ps256SignVerifyAndPem) {
  const SigningKey key = SigningKey::generate("PS256");
  EXPECT_EQ(key.alg(), "PS256");
  const PublicKey pub = key.public_key();
  const std::string input = "eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiJhIn0";
  const std::string sig = key.sign(input);
  ASSERT_EQ(sig.size(), static_cast<std::size_t>(SigningKey::kRsaSigningBits / 8));
  EXPECT_NE(key.sign(input), sig) << "a random salt each time";
  EXPECT_TRUE(pub.verify("PS256", input, sig));
  EXPECT_FALSE(pub.verify("RS256", input, sig));
  EXPECT_FALSE(pub.verify("PS256", input + "A", sig));

  auto strict_verify = [&](int salt_length) {
    const OsslKey pkey = openssl_key_of(key.to_pem());
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                 EVP_MD_CTX_free);
    EVP_PKEY_CTX* pctx = nullptr;
    EXPECT_EQ(EVP_DigestVerifyInit_ex(ctx.get(), &pctx, "SHA256", nullptr, nullptr, pkey.get(),
                                      nullptr),
              1);
    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, "SHA256", nullptr);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, salt_length);
    return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()),
                            sig.size(), reinterpret_cast<const unsigned char*>(input.data()),
                            input.size()) == 1;
  };
  EXPECT_TRUE(strict_verify(32));
  EXPECT_FALSE(strict_verify(20));

  auto loaded = SigningKey::from_pem(key.to_pem(), "PS256");
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->alg(), "PS256");
  EXPECT_TRUE(pub.verify("PS256", input, loaded->sign(input)));
  EXPECT_EQ(SigningKey::from_pem(key.to_pem())->alg(), "RS256");  // what an RSA PEM is read as
  EXPECT_FALSE(SigningKey::from_pem(key.to_pem(), "ES256"));
  EXPECT_FALSE(SigningKey::from_pem(SigningKey::generate_es256().to_pem(), "PS256"));
  EXPECT_EQ(SigningKey::from_pem(SigningKey::generate_es256().to_pem(), "ES256")->alg(), "ES256");
}

// EdDSA (RFC 8037): Ed25519 over the signing input itself, deterministic (RFC 8032 §5.1.6),
// 64 bytes. Checked against OpenSSL's own one-shot verification of the PEM's key, and read
// back from its PEM as EdDSA only.
TEST(SigningKey, EdDsaSignVerifyAndPem) {
  const SigningKey key = SigningKey::generate("EdDSA");
  EXPECT_EQ(key.alg(), "EdDSA");
  const PublicKey pub = key.public_key();
  const std::string input = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhIn0";
  const std::string sig = key.sign(input);
  ASSERT_EQ(sig.size(), 64U);
  EXPECT_EQ(key.sign(input), sig) << "Ed25519 is deterministic";
  EXPECT_TRUE(pub.verify("EdDSA", input, sig));
  EXPECT_FALSE(pub.verify("ES256", input, sig));
  EXPECT_FALSE(pub.verify("EdDSA", input + "A", sig));
  const auto jwk = nlohmann::json::parse(pub.to_jwk_json());
  EXPECT_EQ(jwk["kty"], "OKP");
  EXPECT_EQ(jwk["crv"], "Ed25519");
  EXPECT_FALSE(jwk.contains("d"));

  const std::string pem = key.to_pem();
  const OsslKey pkey = openssl_key_of(pem);
  ASSERT_TRUE(pkey);
  EXPECT_TRUE(EVP_PKEY_is_a(pkey.get(), "ED25519"));
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  ASSERT_EQ(EVP_DigestVerifyInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, pkey.get(),
                                    nullptr),
            1);
  EXPECT_EQ(EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()),
                             sig.size(), reinterpret_cast<const unsigned char*>(input.data()),
                             input.size()),
            1);

  auto loaded = SigningKey::from_pem(pem, "EdDSA");
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->alg(), "EdDSA");
  EXPECT_EQ(loaded->sign(input), sig);
  EXPECT_EQ(SigningKey::from_pem(pem)->alg(), "EdDSA");
  EXPECT_FALSE(SigningKey::from_pem(pem, "ES256"));
  EXPECT_FALSE(SigningKey::from_pem(pem, "RS256"));
  EXPECT_FALSE(SigningKey::from_pem(SigningKey::generate_es256().to_pem(), "EdDSA"));
}

// at_hash / c_hash (OIDC Core §3.3.2.11): the left half of the alg's hash. SHA-256 for the
// ES, RS and PS algorithms (16 bytes); SHA-512 for EdDSA over Ed25519 (32 bytes, Core errata
// set 2, as openid-client and jose compute it). SHA-512 is taken from OpenSSL's EVP here.
TEST(IdTokenHalfHash, FollowsTheAlgorithm) {
  const std::string token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
  for (const char* alg : {"ES256", "RS256", "PS256"})
    EXPECT_EQ(id_token_half_hash(alg, token), base64url_encode(sha256(token).substr(0, 16)));
  std::array<unsigned char, 64> full{};
  unsigned int len = 0;
  ASSERT_EQ(EVP_Digest(token.data(), token.size(), full.data(), &len, EVP_sha512(), nullptr), 1);
  ASSERT_EQ(len, 64U);
  const std::string half(reinterpret_cast<const char*>(full.data()), 32);
  EXPECT_EQ(id_token_half_hash("EdDSA", token), base64url_encode(half));
  EXPECT_EQ(base64url_decode(id_token_half_hash("EdDSA", token))->size(), 32U);
}

// RFC 8037 Appendix A.1 and A.4: its private key signs its JWS to exactly its signature.
TEST(SigningKey, EdDsaKnownAnswer) {
  const auto d = base64url_decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A");
  ASSERT_TRUE(d);
  EVP_PKEY* raw = EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(d->data()), d->size());
  ASSERT_TRUE(raw);
  auto key = SigningKey::from_pem(pem_of(raw), "EdDSA");
  ASSERT_TRUE(key);
  EXPECT_EQ(nlohmann::json::parse(key->public_key().to_jwk_json())["x"], kEdX);
  EXPECT_EQ(base64url_encode(key->sign(kEdSigningInput)), kEdSignature);
}

// Only the keys the server signs with are read back: a P-256 or an RSA key of 2048 bits or
// more; not an RSA key of 1024 bits (RFC 7518 §3.3) nor another curve.
TEST(SigningKey, FromPemRefusesOtherKeys) {
  EXPECT_FALSE(SigningKey::from_pem(pem_of(EVP_RSA_gen(1024))));
  EXPECT_FALSE(SigningKey::from_pem(pem_of(EVP_EC_gen("P-384"))));
  EXPECT_TRUE(SigningKey::from_pem(pem_of(EVP_EC_gen("P-256"))));
}

}  // namespace
}  // namespace authz
