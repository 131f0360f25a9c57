#include "audit_tail.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "test_hasher.hpp"

namespace storage {
namespace {

std::string leaf(int i) { return std::string(32, static_cast<char>('a' + i % 26)); }

// Every node of the tree over leaves 0..n-1 that a leaf completes, keyed by (level, index), as
// RFC 9162 §2.1 builds them: the reference the tail's rows are checked against.
std::map<std::pair<unsigned, std::int64_t>, std::string> reference_nodes(int n,
                                                                         const LogHasher& h) {
  std::map<std::pair<unsigned, std::int64_t>, std::string> nodes;
  for (int i = 0; i < n; ++i) nodes[{0, i}] = leaf(i);
  for (unsigned level = 1; (std::int64_t{1} << level) <= n; ++level) {
    for (std::int64_t idx = 0; ((idx + 1) << level) <= n; ++idx) {
      nodes[{level, idx}] = h.node_hash(nodes.at({level - 1, 2 * idx}),
                                        nodes.at({level - 1, 2 * idx + 1}));
    }
  }
  return nodes;
}

// Each append returns the leaf's row: the leaf, then every perfect subtree it completes.
TEST(AuditTail, AppendReturnsTheNodesEachLeafCompletes) {
  const testing::TestLogHasher hasher;
  constexpr int kLeaves = 37;
  const auto nodes = reference_nodes(kLeaves, hasher);
  AuditTail tail = AuditTail::load(0, "", [](unsigned, std::int64_t) {
    return std::optional<std::string>();
  });
  for (int i = 0; i < kLeaves; ++i) {
    const std::string row = tail.append(leaf(i), hasher);
    std::string expected;
    for (unsigned level = 0; ((i + 1) % (std::int64_t{1} << level)) == 0; ++level) {
      expected += nodes.at({level, (i + 1) / (std::int64_t{1} << level) - 1});
    }
    EXPECT_EQ(row, expected) << "leaf " << i;
    EXPECT_EQ(tail.size(), i + 1);
    EXPECT_TRUE(tail.matches(i + 1, leaf(i)));
    EXPECT_FALSE(tail.matches(i + 1, leaf(i + 1)));
  }
}

// A tail loaded from a stored log's frontier nodes goes on exactly as one that saw every
// leaf; a missing frontier node fails the append that needs it and changes nothing.
TEST(AuditTail, LoadedFromTheFrontierGoesOnAsIfItHadSeenEveryLeaf) {
  const testing::TestLogHasher hasher;
  constexpr int kStored = 22;  // 10110: frontier nodes at levels 1, 2 and 4
  const auto nodes = reference_nodes(kStored + 10, hasher);
  std::vector<std::pair<unsigned, std::int64_t>> read;
  AuditTail tail = AuditTail::load(kStored, leaf(kStored - 1), [&](unsigned l, std::int64_t i) {
    read.emplace_back(l, i);
    return std::optional<std::string>(nodes.at({l, i}));
  });
  EXPECT_EQ(read, (std::vector<std::pair<unsigned, std::int64_t>>{{1, 10}, {2, 4}, {4, 0}}));
  EXPECT_TRUE(tail.matches(kStored, leaf(kStored - 1)));
  for (int i = kStored; i < kStored + 10; ++i) {
    const std::string row = tail.append(leaf(i), hasher);
    EXPECT_EQ(row.substr(row.size() - 32), [&] {
      unsigned top = 0;
      while (((i + 1) % (std::int64_t{1} << (top + 1))) == 0) ++top;
      return nodes.at({top, (i + 1) / (std::int64_t{1} << top) - 1});
    }()) << "leaf " << i;
  }

  // Leaf index 23 completes levels 1 to 3; without the stored level-1 node it cannot.
  AuditTail broken = AuditTail::load(23, leaf(22), [&](unsigned l, std::int64_t i) {
    return l == 1 ? std::nullopt : std::optional<std::string>(nodes.at({l, i}));
  });
  EXPECT_THROW(broken.append(leaf(23), hasher), StorageError);
  EXPECT_TRUE(broken.matches(23, leaf(22)));  // unchanged
  EXPECT_THROW(AuditTail().append(leaf(0), hasher), StorageError);  // never loaded
}

TEST(MultiRowInserts, NumbersPostgresParametersAndRepeatsSqlitesMarks) {
  const auto pg = multi_row_inserts("INSERT INTO t (a, b) VALUES ", 2, '$');
  EXPECT_EQ(pg[1], "INSERT INTO t (a, b) VALUES ($1, $2)");
  EXPECT_EQ(pg[3], "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4), ($5, $6)");
  const auto lite = multi_row_inserts("INSERT INTO t (a) VALUES ", 1, '?');
  EXPECT_EQ(lite[2], "INSERT INTO t (a) VALUES (?), (?)");
  EXPECT_EQ(lite[kMaxAuditRowsPerInsert].size(),
            std::string("INSERT INTO t (a) VALUES ").size() + 5 * kMaxAuditRowsPerInsert - 2);  // "(?), "
  EXPECT_TRUE(pg[0].empty());
}

}  // namespace
}  // namespace storage
