#pragma once

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
  /// SHA-256(0x01 || left || right), 32 raw bytes.
  [[nodiscard]] virtual std::string node_hash(std::string_view left,
                                              std::string_view right) const = 0;
};

}  // namespace storage
