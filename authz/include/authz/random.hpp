#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace authz {

/// Source of cryptographic randomness. Injected so tests are reproducible.
class Random {
 public:
  virtual ~Random() = default;
  virtual void fill(std::span<std::uint8_t> out) = 0;

  /// `bytes` random bytes as unpadded base64url (e.g. 32 bytes -> 43 characters, 256 bits).
  std::string token(std::size_t bytes = 32);
  /// A random identifier (`bytes` random bytes, base64url) that never begins with '-', so an
  /// operator can pass it on a command line (`infobank client show ID`) without it being taken
  /// for an option.
  std::string identifier(std::size_t bytes = 16);
};

/// OpenSSL's RAND_bytes; aborts if the generator fails (a bug or a broken host, not input).
class OsRandom final : public Random {
 public:
  void fill(std::span<std::uint8_t> out) override;
};

/// Deterministic generator for tests (a counter hashed with SHA-256); never use in production.
class SeededRandom final : public Random {
 public:
  explicit SeededRandom(std::uint64_t seed) : state_(seed) {}
  void fill(std::span<std::uint8_t> out) override;

 private:
  std::uint64_t state_;
};

}  // namespace authz
