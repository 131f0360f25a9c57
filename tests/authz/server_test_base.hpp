#pragma once

// What the authorization server's tests share: a real SQLite file in a temporary directory, a
// master key, an injected clock and random source, and a shorthand for parameter lists.

#include <gtest/gtest.h>

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../storage/temp_dir.hpp"
#include "authz/oauth.hpp"

namespace authz::testing {

inline Params P(std::initializer_list<std::pair<std::string, std::string>> items) {
  return Params(std::vector<std::pair<std::string, std::string>>(items));
}

// RFC 7636 Appendix B.
inline constexpr std::string_view kVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
inline constexpr std::string_view kChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

class ServerTestBase : public ::testing::Test {
 protected:
  ServerTestBase()
      : store_(storage::open_sqlite(dir_.file("t.db"), make_log_hasher())),
        sealer_(Sealer::load_or_create(dir_.file("master.key"))),
        clock_(1'800'000'000),
        random_(7) {}

  storage::testing::TempDir dir_;
  std::unique_ptr<storage::Store> store_;
  Sealer sealer_;
  ManualClock clock_;
  SeededRandom random_;
};

}  // namespace authz::testing
