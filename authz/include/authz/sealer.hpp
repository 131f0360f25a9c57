#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "authz/expected.hpp"

namespace authz {

/// Encryption at rest of the values the database must be able to give back (residents' names
/// and e-mail addresses, private keys, the audit log's secrets), as opposed to those it only
/// compares, which are hashed. AES-256-GCM with a fresh random 96-bit nonce per value (NIST SP
/// 800-38D §8.2.2) and associated data naming the value's place ("resident.name:" + id,
/// "signing_key:" + kid, "secret:" + name), so a ciphertext copied into another row or column
/// does not open.
///
/// Sealed form (ASCII, fits a TEXT column):
///
///     "v1." + key_id + "." + base64url(nonce[12] || ciphertext || tag[16])
///
/// `key_id` (8 base64url characters) is derived from the master key, never secret. The AES key
/// and the key id are both derived from the 256-bit master key with HKDF-SHA256 (RFC 5869),
/// with different `info`, so the master key itself is never used directly.
///
/// Rotating the master key is future work, and the format is ready for it: a Sealer would
/// hold the new key for seal() and the old ones by key id for open(); a one-off command opens
/// every sealed column with the key named in its value and seals it again with the new key,
/// after which the old key file can be destroyed. The "v1" prefix leaves room for a change of
/// algorithm the same way.
///
/// Thread-safe: seal() and open() may be called from many threads at once.
class Sealer {
 public:
  static constexpr std::size_t kKeyBytes = 32;

  /// A Sealer over `master_key` (exactly 32 raw bytes), or invalid_request.
  static Expected<Sealer> from_key(std::string_view master_key);

  /// Reads the 32-byte master key from `path`, creating it (random, mode 0600, atomically: a
  /// concurrent process either wins or reads the winner's key) when it does not exist. Throws
  /// std::runtime_error for a file that is not a regular file, is accessible by group or
  /// others, or is not exactly 32 bytes: a start-up error, never silently repaired.
  static Sealer load_or_create(const std::string& path);

  Sealer(const Sealer&) = delete;
  Sealer& operator=(const Sealer&) = delete;
  Sealer(Sealer&& other) noexcept;
  Sealer& operator=(Sealer&& other) noexcept;
  ~Sealer();

  /// Encrypts `plaintext` bound to `aad`; a different string every call (random nonce).
  [[nodiscard]] std::string seal(std::string_view plaintext, std::string_view aad) const;
  /// Decrypts a value seal() wrote with the same key and `aad`. Strict: an unknown version or
  /// key id, a malformed or short encoding or a failing tag (altered ciphertext, nonce, tag or
  /// aad) is an error ("invalid_sealed_value"), with no partial plaintext.
  [[nodiscard]] Expected<std::string> open(std::string_view sealed, std::string_view aad) const;

  /// The key id written into every sealed value.
  [[nodiscard]] const std::string& key_id() const { return key_id_; }

 private:
  Sealer() = default;
  std::array<std::uint8_t, kKeyBytes> aes_key_{};
  std::string key_id_;
};

}  // namespace authz
