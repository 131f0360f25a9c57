#include "authz/random.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>

#include <algorithm>
#include <array>
#include <atomic>
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

namespace {

void rand_bytes(std::span<std::uint8_t> out) {
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

// Bumped in a child process after fork(), which copies every thread's buffer below: the
// child must not hand out the bytes its parent hands out too.
std::atomic<unsigned> fork_generation{0};

// Small requests (identifiers, jtis, secrets, codes) are served from a per-thread buffer
// filled by RAND_bytes 4 KiB at a time: each RAND_bytes call pays for locks, the fork check
// and a reseed check, which cost more than the bytes themselves (3 µs for a jti's 12 bytes on
// the token endpoint). Bytes handed out are wiped from the buffer.
struct Pool {
  static constexpr std::size_t kSize = 4096;
  std::array<std::uint8_t, kSize> bytes{};
  std::size_t used = kSize;  ///< bytes[used..] are still unused
  unsigned generation = 0;

  Pool() {
    static const bool registered = [] {
      return pthread_atfork(nullptr, nullptr, [] { fork_generation.fetch_add(1); }) == 0;
    }();
    if (!registered) std::abort();
  }
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  ~Pool() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
};

}  // namespace

void OsRandom::fill(std::span<std::uint8_t> out) {
  if (out.size() > Pool::kSize / 8) {
    rand_bytes(out);
    return;
  }
  thread_local Pool pool;
  const unsigned generation = fork_generation.load(std::memory_order_relaxed);
  if (pool.generation != generation || Pool::kSize - pool.used < out.size()) {
    rand_bytes(pool.bytes);
    pool.used = 0;
    pool.generation = generation;
  }
  std::copy_n(pool.bytes.begin() + static_cast<std::ptrdiff_t>(pool.used), out.size(), out.begin());
  OPENSSL_cleanse(pool.bytes.data() + pool.used, out.size());
  pool.used += out.size();
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
