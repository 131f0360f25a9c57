#include "authz/random.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdlib>
#include <vector>

#include "authz/base64url.hpp"
#include "authz/crypto.hpp"

namespace authz {

std::string Random::token(std::size_t bytes) {
  std::vector<std::uint8_t> buffer(bytes);
  fill(buffer);
  return base64url_encode(std::span<const std::uint8_t>(buffer));
}

void OsRandom::fill(std::span<std::uint8_t> out) {
  // RAND_bytes takes an int; split large requests rather than truncate them.
  while (!out.empty()) {
    const std::size_t chunk = std::min<std::size_t>(out.size(), INT_MAX);
    if (RAND_bytes(out.data(), static_cast<int>(chunk)) != 1) {
      // A failing CSPRNG is not recoverable: continuing would hand out guessable tokens.
      std::abort();
    }
    out = out.subspan(chunk);
  }
}

void SeededRandom::fill(std::span<std::uint8_t> out) {
  // Each block is SHA-256("infobank-seeded-random" || counter), the counter starting at the
  // seed. Deterministic and well spread, which is all tests need.
  while (!out.empty()) {
    std::string input = "infobank-seeded-random";
    for (int shift = 56; shift >= 0; shift -= 8) {
      input.push_back(static_cast<char>((state_ >> shift) & 0xFF));
    }
    ++state_;
    const std::string block = sha256(input);
    const std::size_t n = std::min(out.size(), block.size());
    std::copy_n(reinterpret_cast<const std::uint8_t*>(block.data()), n, out.begin());
    out = out.subspan(n);
  }
}

std::string Random::identifier(std::size_t bytes) {
  // One draw in 64 begins with '-': draw again (the rest stays uniform).
  for (;;) {
    auto id = token(bytes);
    if (id.empty() || id.front() != '-') return id;
  }
}

}  // namespace authz
