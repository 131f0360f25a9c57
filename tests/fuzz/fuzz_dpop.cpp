// Fuzz target: DPoP proof verification (RFC 9449 §4.3) against a fixed request.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "authz/dpop.hpp"
#include "fuzz_check.hpp"

namespace {

// Must match tests/fuzz/make_dpop_corpus.py so that the seeds are valid proofs.
constexpr std::int64_t kNow = 1'700'000'000;
constexpr std::string_view kUrl = "https://server.example.com/token";
constexpr std::string_view kAccessToken = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  authz::DpopCheck check;
  check.method = "POST";
  check.url = kUrl;
  check.now = kNow;
  if (auto proof = authz::dpop_verify(input, check)) {
    FUZZ_CHECK(proof->jkt.size() == 43);
    FUZZ_CHECK(!proof->jti.empty());
    FUZZ_CHECK(proof->iat >= kNow - check.max_age && proof->iat <= kNow + check.max_age);
  } else {
    FUZZ_CHECK(proof.error().error == "invalid_dpop_proof");
  }
  check.method = "GET";
  check.url = "https://resource.example.org/protected?x=1";
  check.access_token = kAccessToken;
  if (auto proof = authz::dpop_verify(input, check)) FUZZ_CHECK(!proof->jti.empty());
  return 0;
}
