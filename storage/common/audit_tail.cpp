#include "audit_tail.hpp"

#include <utility>

namespace storage {

std::string AuditTail::append(std::string leaf, const LogHasher& hasher) {
  if (!known()) throw StorageError("audit log: the tail was not read");
  const std::int64_t index = size_;  // the new leaf's 0-based index
  std::string hashes = leaf;
  std::string right = std::move(leaf);
  std::size_t level = 1;
  // Only reads until every node is made: a missing one leaves the tail as it was.
  for (; level < 63 && ((index + 1) % (std::int64_t{1} << level)) == 0; ++level) {
    if (frontier_.size() < level || !frontier_[level - 1]) {
      throw StorageError("audit log: a Merkle node is missing");
    }
    right = hasher.node_hash(*frontier_[level - 1], right);
    hashes += right;
  }
  // The subtrees just combined leave the frontier; the one they made joins it.
  if (frontier_.size() < level) frontier_.resize(level);
  for (std::size_t l = 0; l + 1 < level; ++l) frontier_[l].reset();
  frontier_[level - 1] = std::move(right);
  size_ = index + 1;
  last_leaf_ = hashes.substr(0, 32);
  return hashes;
}

std::array<std::string, kMaxAuditRowsPerInsert + 1> multi_row_inserts(std::string_view head,
                                                                       std::size_t columns,
                                                                       char mark) {
  std::array<std::string, kMaxAuditRowsPerInsert + 1> sql;
  std::size_t parameter = 0;
  std::string rows(head);
  for (std::size_t n = 1; n <= kMaxAuditRowsPerInsert; ++n) {
    if (n > 1) rows += ", ";
    rows += '(';
    for (std::size_t c = 0; c < columns; ++c) {
      if (c > 0) rows += ", ";
      rows += mark;
      ++parameter;
      if (mark == '$') rows += std::to_string(parameter);
    }
    rows += ')';
    sql[n] = rows;
  }
  return sql;
}

}  // namespace storage
