// Fuzz target: compact JWS parsing, JWK Sets and single JWKs, and request objects (RFC 9101)
// checked with the key their header embeds (a stand-in for the client's registered keys, so
// that seeds from make_request_object_corpus.mjs verify and reach the claims).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "authz/base64url.hpp"
#include "authz/crypto.hpp"
#include "authz/jws.hpp"
#include "fuzz_check.hpp"

namespace {

void check_key(const authz::PublicKey& key) {
  const std::string thumbprint = key.thumbprint();
  FUZZ_CHECK(thumbprint.size() == 43);
  // The serialised public JWK parses back to the same key.
  auto again = authz::PublicKey::from_jwk(key.to_jwk_json());
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(again->thumbprint() == thumbprint);
  // Nothing verifies an empty signature.
  for (const char* alg : {"ES256", "RS256", "PS256", "EdDSA"}) {
    FUZZ_CHECK(!key.verify(alg, "a.b", ""));
  }
}

void check_request_object(std::string_view input) {
  constexpr std::int64_t kNow = 1'700'000'000;  // make_request_object_corpus.mjs's now
  std::vector<authz::PublicKey> keys;
  if (auto parts = authz::jws_parse(input); parts && !parts->jwk_json.empty()) {
    if (auto key = authz::PublicKey::from_jwk(parts->jwk_json)) keys.push_back(std::move(*key));
  }
  auto params = authz::verify_request_object(input, keys, "client-1", "https://as.example", kNow);
  if (!params) {
    FUZZ_CHECK(params.error().error == "invalid_request_object");
    return;
  }
  FUZZ_CHECK(!keys.empty());
  FUZZ_CHECK(params->value("client_id") == "client-1");
  for (const char* claim : {"request", "request_uri", "iss", "aud", "exp", "nbf", "iat", "jti"})
    FUZZ_CHECK(!params->has(claim));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  if (auto parts = authz::jws_parse(input)) {
    FUZZ_CHECK(!parts->alg.empty() && parts->alg != "none");
    FUZZ_CHECK(!parts->signature.empty());
    FUZZ_CHECK(input.substr(0, parts->signing_input.size()) == parts->signing_input);
    if (!parts->jwk_json.empty()) {
      if (auto key = authz::PublicKey::from_jwk(parts->jwk_json)) {
        check_key(*key);
        (void)authz::jws_verify(*parts, *key);
      }
    }
  } else {
    FUZZ_CHECK(parts.error().error == "invalid_request");
  }
  (void)authz::client_assertion_subject(input);
  check_request_object(input);

  if (auto keys = authz::parse_jwk_set(input)) {
    for (const auto& key : *keys) check_key(key);
  }
  if (auto key = authz::PublicKey::from_jwk(input)) check_key(*key);
  return 0;
}
