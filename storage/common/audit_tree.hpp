#pragma once

#include <cstdint>
#include <limits>
#include <optional>

namespace storage {

/// Where the audit log's Merkle node (level, idx) is stored (migration 8, both back ends):
/// one row per leaf in audit_tree holds the hashes the leaf made, 32 bytes each, level 0 up.
/// Node (level, idx) is made by leaf (idx + 1) * 2^level - 1, at byte 32 * level of that row.
struct AuditNodeAt {
  std::int64_t leaf;
  std::int64_t offset;  ///< 0-based byte offset in the leaf's hashes
};

/// Nothing for a node no leaf index can make (a negative idx, level 63 and up, or a leaf past
/// the largest int64).
constexpr std::optional<AuditNodeAt> audit_node_at(unsigned level, std::int64_t idx) {
  if (level >= 63 || idx < 0 || idx >= (std::numeric_limits<std::int64_t>::max() >> level)) {
    return std::nullopt;
  }
  return AuditNodeAt{((idx + 1) << level) - 1, std::int64_t{32} * level};
}

}  // namespace storage
