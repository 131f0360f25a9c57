#pragma once

// Merkle Tree Hash, inclusion and consistency proofs of RFC 9162 §2.1 (Certificate
// Transparency 2.0), with SHA-256, for the tamper-evident audit log.

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace authz::merkle {

using Hash = std::array<std::uint8_t, 32>;

/// RFC 9162 §2.1.1: MTH({d0}) = SHA-256(0x00 || d0).
Hash leaf_hash(std::string_view leaf);
/// RFC 9162 §2.1.1: SHA-256(0x01 || left || right).
Hash node_hash(const Hash& left, const Hash& right);
/// RFC 9162 §2.1.1: MTH({}) = SHA-256() of the empty string.
Hash empty_root();

/// Where perfect subtree hashes come from: the hash of the perfect (complete) subtree of
/// 2^level leaves starting at leaf index*2^level. Level 0 is the leaf hashes. Storage keeps
/// these, so proofs need O(log^2 n) lookups, never a pass over all leaves.
/// Only nodes inside the tree being proved are asked for (index*2^level + 2^level <= size).
using PerfectNode = std::function<Hash(unsigned level, std::uint64_t index)>;

/// MTH(D[start:start+size]) for any aligned range that RFC 9162's recursion produces
/// (start a multiple of the largest power of two <= size); MTH({}) when size is 0.
/// O(log size) lookups. Throws std::invalid_argument for an unaligned or overflowing range
/// (a caller bug).
Hash subtree_hash(const PerfectNode& nodes, std::uint64_t start, std::uint64_t size);
/// MTH(D[tree_size]); empty_root() for tree_size 0.
Hash root(const PerfectNode& nodes, std::uint64_t tree_size);

/// RFC 9162 §2.1.3.1 PATH(m, D[n]), leaf level first; requires m < n (std::invalid_argument
/// otherwise: callers validate request parameters first). O(log^2 n) lookups.
std::vector<Hash> inclusion_proof(const PerfectNode& nodes, std::uint64_t index,
                                  std::uint64_t tree_size);
/// RFC 9162 §2.1.4.1 PROOF(m, D[n]); requires 0 < m <= n (std::invalid_argument otherwise);
/// empty when m == n. O(log^2 n) lookups.
std::vector<Hash> consistency_proof(const PerfectNode& nodes, std::uint64_t old_size,
                                    std::uint64_t new_size);

/// RFC 9162 §2.1.3.2, exactly as specified. `leaf` is the leaf hash (leaf_hash() of the
/// entry), not the entry. Never throws; any malformed input is simply false.
/// Note: the proof does not bind tree_size; a proof may also verify for another size whose
/// path has the same shape. The signed tree head is what binds the size to the root.
bool verify_inclusion(const Hash& leaf, std::uint64_t index, std::uint64_t tree_size,
                      const std::vector<Hash>& proof, const Hash& root);
/// RFC 9162 §2.1.4.2, exactly as specified, for 0 < old_size < new_size. The algorithm
/// rejects an empty proof, so the case the RFC leaves out is decided before it runs:
/// old_size == new_size holds iff the proof is empty and the roots are equal (the proof
/// consistency_proof() returns). old_size 0 or old_size > new_size is false. Never throws.
bool verify_consistency(std::uint64_t old_size, std::uint64_t new_size, const Hash& old_root,
                        const Hash& new_root, const std::vector<Hash>& proof);

/// Which perfect nodes appending leaf number `index` (0-based) completes: (level, node index)
/// pairs for levels 1.. , in increasing level, each computed from its two children. Storage
/// calls this on every append to keep the node table up to date in O(1) amortised.
std::vector<std::pair<unsigned, std::uint64_t>> completed_by_append(std::uint64_t index);

/// In-memory reference tree for tests and for tools that hold all leaf hashes: stores every
/// perfect node; append is O(1) amortised; `nodes()` returns a PerfectNode over it.
class MemoryTree {
 public:
  void append(const Hash& leaf_hash);
  [[nodiscard]] std::uint64_t size() const;
  /// Refers to this tree: valid while the tree lives, and sees later appends. Throws
  /// std::out_of_range for a node that is not (yet) complete.
  [[nodiscard]] PerfectNode nodes() const;
  [[nodiscard]] Hash root() const;

 private:
  std::vector<std::vector<Hash>> levels_;  // levels_[l][i]: perfect node (l, i)
};

/// Lowercase hex, 64 characters.
std::string to_hex(const Hash& hash);
/// Standard base64 with padding (RFC 4648 §4), as RFC 9162's JSON uses.
std::string to_base64(const Hash& hash);
/// Strict: exactly the 44-character padded encoding of 32 bytes, nothing repaired.
std::optional<Hash> from_base64(std::string_view text);

}  // namespace authz::merkle
