// Fuzz target: Authorization (Basic, Bearer, DPoP) and Cookie header values.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "authz/base64url.hpp"
#include "authz/form.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  if (auto basic = authz::parse_basic_authorization(input)) {
    FUZZ_CHECK(!basic->client_id.empty());
    // What we accepted re-encodes to something we accept with the same result.
    auto again = authz::parse_basic_authorization(
        "Basic " + authz::base64_encode(authz::form_encode(basic->client_id) + ":" +
                                        authz::form_encode(basic->client_secret)));
    FUZZ_CHECK(again && again->client_id == basic->client_id &&
               again->client_secret == basic->client_secret);
  }

  if (auto token = authz::parse_token_authorization(input)) {
    FUZZ_CHECK(token->scheme == "bearer" || token->scheme == "dpop");
    FUZZ_CHECK(!token->token.empty());
    FUZZ_CHECK(input.size() > token->token.size());
    FUZZ_CHECK(input.substr(input.size() - token->token.size()) == token->token);
  }

  for (const auto& [name, value] : authz::parse_cookies(input)) {
    FUZZ_CHECK(!name.empty());
    FUZZ_CHECK(name.find_first_of(" ;=\t") == std::string_view::npos);
    FUZZ_CHECK(value.find(';') == std::string_view::npos);
  }

  // Strict base64 decoders: anything accepted is the one canonical encoding of its bytes.
  if (auto bytes = authz::base64url_decode(input)) {
    FUZZ_CHECK(authz::base64url_encode(*bytes) == input);
  }
  if (auto bytes = authz::base64_decode(input)) {
    FUZZ_CHECK(authz::base64_encode(*bytes) == input);
  }
  return 0;
}
