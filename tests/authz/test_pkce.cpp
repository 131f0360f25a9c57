#include "authz/pkce.hpp"

#include <gtest/gtest.h>

#include <string>

namespace authz {
namespace {

// RFC 7636 Appendix B.
constexpr const char* kVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
constexpr const char* kChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

TEST(Pkce, Rfc7636AppendixB) {
  EXPECT_TRUE(pkce_verifier_well_formed(kVerifier));
  EXPECT_TRUE(pkce_challenge_well_formed(kChallenge));
  EXPECT_TRUE(pkce_s256_matches(kVerifier, kChallenge));
}

TEST(Pkce, MismatchesAreRejected) {
  std::string other = kVerifier;
  other[0] = 'e';
  EXPECT_FALSE(pkce_s256_matches(other, kChallenge));
  EXPECT_FALSE(pkce_s256_matches(kVerifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"));
  EXPECT_FALSE(pkce_s256_matches(kVerifier, kVerifier));  // "plain" is not accepted
  EXPECT_FALSE(pkce_s256_matches(kVerifier, ""));
}

TEST(Pkce, VerifierLengthAndAlphabet) {
  EXPECT_FALSE(pkce_verifier_well_formed(std::string(42, 'a')));
  EXPECT_TRUE(pkce_verifier_well_formed(std::string(43, 'a')));
  EXPECT_TRUE(pkce_verifier_well_formed(std::string(128, '~')));
  EXPECT_FALSE(pkce_verifier_well_formed(std::string(129, 'a')));
  EXPECT_TRUE(pkce_verifier_well_formed(std::string(40, 'a') + "-._~"));
  EXPECT_FALSE(pkce_verifier_well_formed(std::string(42, 'a') + "+"));
  EXPECT_FALSE(pkce_verifier_well_formed(std::string(42, 'a') + "="));
  EXPECT_FALSE(pkce_verifier_well_formed(std::string(42, 'a') + " "));
  EXPECT_FALSE(pkce_verifier_well_formed(std::string(42, 'a') + "\xC3\xA9"));
  // An ill-formed verifier never matches, even against its own hash.
  EXPECT_FALSE(pkce_s256_matches(std::string(42, 'a'), "anything"));
}

TEST(Pkce, ChallengeShape) {
  EXPECT_FALSE(pkce_challenge_well_formed(""));
  EXPECT_FALSE(pkce_challenge_well_formed(std::string(kChallenge) + "A"));
  EXPECT_FALSE(pkce_challenge_well_formed(std::string(kChallenge).substr(1)));
  EXPECT_FALSE(pkce_challenge_well_formed(std::string(kChallenge) + "="));
  EXPECT_FALSE(pkce_challenge_well_formed("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"));
  // 43 characters whose last one carries non-zero spare bits cannot be a SHA-256 digest.
  EXPECT_FALSE(pkce_challenge_well_formed("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"));
}

}  // namespace
}  // namespace authz
