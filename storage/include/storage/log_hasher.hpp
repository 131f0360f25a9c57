#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "storage/records.hpp"

namespace storage {

/// How the audit log hashes its entries (RFC 9162 §2.1). The domain supplies it, so storage
/// can keep the Merkle tree's nodes next to the entries, in the same transaction, without
/// knowing how an entry is serialised.
class LogHasher {
 public:
  virtual ~LogHasher() = default;
  /// SHA-256(0x00 || canonical(entry)), 32 raw bytes; `entry.seq` and `entry.time` are set.
  [[nodiscard]] virtual std::string leaf_hash(const Event& entry) const = 0;

  /// An entry's serialisation around its seq, made before the seq is known: the appending
  /// thread prepares it, and the thread that assigns seqs (one per store, serial) only hashes.
  struct Prepared {
    std::string before_seq;  ///< up to the seq's decimal digits
    std::string after_seq;   ///< from just after them to the end
  };
  /// `entry` with any seq; leaf_hash(prepare(e), n) == leaf_hash(e with seq n).
  [[nodiscard]] virtual Prepared prepare(const Event& entry) const = 0;
  [[nodiscard]] virtual std::string leaf_hash(const Prepared& entry, std::int64_t seq) const = 0;
  /// SHA-256(0x01 || left || right), 32 raw bytes.
  [[nodiscard]] virtual std::string node_hash(std::string_view left,
                                              std::string_view right) const = 0;
};

}  // namespace storage
