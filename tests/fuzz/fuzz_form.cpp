// Fuzz target: application/x-www-form-urlencoded bodies and URL queries.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "authz/form.hpp"
#include "fuzz_check.hpp"

namespace {

void check_round_trip(const authz::Params& params) {
  (void)params.first_duplicate();
  // Re-encoding what we decoded and parsing again gives the same pairs.
  std::string encoded;
  for (const auto& [name, value] : params.items()) {
    if (!encoded.empty()) encoded.push_back('&');
    encoded += authz::form_encode(name) + "=" + authz::form_encode(value);
  }
  auto again = authz::parse_form(encoded);
  FUZZ_CHECK(again.has_value());
  // Pairs with an empty name and value encode to "=", which is kept; empty pairs vanish.
  FUZZ_CHECK(again->items() == params.items());
  for (const auto& [name, value] : params.items()) {
    FUZZ_CHECK(name.find('\0') == std::string::npos);
    FUZZ_CHECK(value.find('\0') == std::string::npos);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto form = authz::parse_form(input)) {
    check_round_trip(*form);
  } else {
    FUZZ_CHECK(form.error().error == "invalid_request");
  }
  if (auto query = authz::parse_query(input)) check_round_trip(*query);
  return 0;
}
