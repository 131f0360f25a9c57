#pragma once

// The right edge of the audit log's Merkle tree, kept in memory by a back end's writer so that
// an append reads nothing back, and the audit rows it queues for one multi-row INSERT each.
// Both back ends use it: SQLite within its write transaction, PostgreSQL within a group
// commit's batch under the audit log's advisory lock.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/log_hasher.hpp"
#include "storage/store.hpp"

namespace storage {

/// For a log of `size` leaves, frontier[l] is the perfect subtree of 2^l leaves that ends at
/// the last leaf, for every bit l set in size (RFC 9162 §2.1.1: those subtrees, left to right
/// from the highest, make up the tree), and empty for the other levels. The last leaf's hash
/// tells a writer whether anyone else appended since it last looked (matches()).
class AuditTail {
 public:
  /// Unknown: must be loaded before the first append.
  AuditTail() = default;

  /// The tail of a stored log of `size` leaves whose last leaf hash is `last_leaf`, its
  /// frontier read through `read(level, index)` (one node per level that has one; an
  /// std::optional<std::string>, empty when the node is missing: the append that needs it then
  /// fails, as reading it would).
  template <typename ReadNode>
  static AuditTail load(std::int64_t size, std::string last_leaf, ReadNode&& read) {
    AuditTail tail;
    for (const auto& [level, index] : frontier_nodes(size)) {
      if (tail.frontier_.size() <= level) tail.frontier_.resize(level + 1);
      tail.frontier_[level] = read(level, index);
    }
    tail.size_ = size;
    tail.last_leaf_ = std::move(last_leaf);
    return tail;
  }

  /// The nodes load() reads for a log of `size` leaves, (level, index), lowest level first: for
  /// a back end that fetches them all at once.
  static std::vector<std::pair<unsigned, std::int64_t>> frontier_nodes(std::int64_t size) {
    std::vector<std::pair<unsigned, std::int64_t>> nodes;
    for (unsigned level = 0; (size >> level) != 0; ++level) {
      if (((size >> level) & 1) != 0) nodes.emplace_back(level, (size >> level) - 1);
    }
    return nodes;
  }

  [[nodiscard]] bool known() const { return size_ >= 0; }
  /// Leaves in the log; -1 when unknown.
  [[nodiscard]] std::int64_t size() const { return size_; }
  /// Whether this is the tail of a log of `size` leaves whose last leaf hash is `last_leaf`.
  [[nodiscard]] bool matches(std::int64_t size, std::string_view last_leaf) const {
    return known() && size == size_ && last_leaf == last_leaf_;
  }

  /// Appends leaf number size() + 1 (its seq), whose hash is `leaf`: returns the leaf's row of
  /// the tree, the leaf node and every perfect subtree it completes, 32 raw bytes each, level 0
  /// up (RFC 9162 §2.1: node = H(0x01 || left || right)). Leaf i completes the node at level
  /// l whenever i + 1 is a multiple of 2^l; its right child is the node just made, its left one
  /// the frontier at level l - 1. Throws StorageError (and changes nothing) when a frontier
  /// node it needs is missing.
  std::string append(std::string leaf, const LogHasher& hasher);

 private:
  std::int64_t size_ = -1;
  std::string last_leaf_;
  std::vector<std::optional<std::string>> frontier_;
};

/// An audit entry appended in a batch but not written yet, with its leaf's row of the tree.
struct PendingAuditRow {
  Event event;              ///< with its seq
  std::string datasets;     ///< encoded
  std::string tree_hashes;  ///< the leaf's nodes, level 0 up, 32 raw bytes each
};

/// Rows per multi-row INSERT of queued audit rows: a full batch of 32 writers' entries in one
/// statement, and their leaves' rows of the tree in another.
inline constexpr std::size_t kMaxAuditRowsPerInsert = 32;

/// sql[n] = head + n copies of a row of `columns` parameters, comma-separated, for n = 1 to
/// kMaxAuditRowsPerInsert; `mark` is the back end's parameter sign: '?' (SQLite, unnumbered)
/// or '$' (PostgreSQL, numbered from 1). Built once per statement: the text is the statement
/// cache's key, so each size is prepared once per connection.
std::array<std::string, kMaxAuditRowsPerInsert + 1> multi_row_inserts(std::string_view head,
                                                                       std::size_t columns,
                                                                       char mark);

}  // namespace storage
