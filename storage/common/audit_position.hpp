#pragma once

#include <bit>
#include <cstdint>

namespace storage {

/// Where the audit log's Merkle node (level, idx) is stored: its place in the order nodes are
/// made by appends (0, 1, 2, ...). Leaf i makes its own node and every perfect subtree it
/// completes, levels 0 to t where t is the number of trailing 1 bits of i, so the leaves
/// before i made sum(1 + t(j), j < i) = 2i - popcount(i) nodes. Node (level, idx) is made by
/// leaf i = (idx + 1) * 2^level - 1, after that leaf's lower levels.
///
/// Keyed by this, a batch's new nodes are the table's last rows: one or two pages per commit,
/// where keys by (level, idx) put each level in a region of its own (a page per level).
/// Migration 7 computes the same number in SQL for the nodes stored before it.
constexpr std::int64_t audit_node_position(unsigned level, std::int64_t idx) {
  const auto leaf = static_cast<std::uint64_t>(((idx + 1) << level) - 1);
  return static_cast<std::int64_t>(2 * leaf - static_cast<std::uint64_t>(std::popcount(leaf)) +
                                   level);
}

}  // namespace storage
