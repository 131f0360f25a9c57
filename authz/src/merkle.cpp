#include "authz/merkle.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <limits>
#include <memory>
#include <span>
#include <stdexcept>

#include "authz/base64url.hpp"
#include "authz/openssl_ptr.hpp"
#include "internal.hpp"

namespace authz::merkle {
namespace {

// RFC 9162 §2.1.1 domain separation: leaves and interior nodes can never collide.
constexpr std::uint8_t kLeafPrefix = 0x00;
constexpr std::uint8_t kNodePrefix = 0x01;

// Hashing dominates building and verifying. EVP_Digest allocates a context per call, so we
// keep one per thread (and the digest fetched once, sha256_md()).

using MdCtxFree = OsslFree<EVP_MD_CTX_free>;

EVP_MD_CTX* thread_ctx() {
  thread_local const std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx{EVP_MD_CTX_new()};
  if (!ctx) std::abort();
  return ctx.get();
}

Hash digest(std::span<const std::span<const std::uint8_t>> parts) {
  EVP_MD_CTX* ctx = thread_ctx();
  Hash out{};
  unsigned int len = 0;
  bool ok = EVP_DigestInit_ex2(ctx, sha256_md(), nullptr) == 1;
  for (const auto& part : parts) {
    ok = ok && EVP_DigestUpdate(ctx, part.data(), part.size()) == 1;
  }
  ok = ok && EVP_DigestFinal_ex(ctx, out.data(), &len) == 1;
  if (!ok || len != out.size()) std::abort();  // only fails if the library is broken
  return out;
}

std::span<const std::uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// log2 of a power of two.
unsigned level_of(std::uint64_t power_of_two) {
  return static_cast<unsigned>(std::countr_zero(power_of_two));
}

// RFC 9162 §2.1.1: "k is the largest power of two smaller than n"; requires n > 1.
std::uint64_t split_point(std::uint64_t n) { return std::bit_floor(n - 1); }

}  // namespace

Hash leaf_hash(std::string_view leaf) {
  const std::array<std::uint8_t, 1> prefix{kLeafPrefix};
  const std::array<std::span<const std::uint8_t>, 2> parts{std::span{prefix}, bytes(leaf)};
  return digest(parts);
}

Hash node_hash(const Hash& left, const Hash& right) {
  const std::array<std::uint8_t, 1> prefix{kNodePrefix};
  const std::array<std::span<const std::uint8_t>, 3> parts{std::span{prefix}, std::span{left},
                                                           std::span{right}};
  return digest(parts);
}

Hash empty_root() { return digest({}); }

Hash subtree_hash(const PerfectNode& nodes, std::uint64_t start, std::uint64_t size) {
  if (size == 0) return empty_root();
  const std::uint64_t top = std::bit_floor(size);
  if (start % top != 0 || start > std::numeric_limits<std::uint64_t>::max() - size) {
    throw std::invalid_argument("merkle::subtree_hash: range is not one of RFC 9162's subtrees");
  }
  // MTH splits at the largest power of two below the size, so the range is the perfect
  // subtrees given by the set bits of `size`, largest first, each aligned to its own size,
  // and MTH is their right fold: H(P1, H(P2, ... H(Pk-1, Pk))).
  std::array<Hash, 64> pieces{};
  std::size_t count = 0;
  std::uint64_t offset = start;
  for (std::uint64_t bit = top; bit != 0; bit >>= 1) {
    if ((size & bit) == 0) continue;
    pieces[count++] = nodes(level_of(bit), offset >> level_of(bit));
    offset += bit;
  }
  Hash acc = pieces[count - 1];
  for (std::size_t i = count - 1; i-- > 0;) acc = node_hash(pieces[i], acc);
  return acc;
}

Hash root(const PerfectNode& nodes, std::uint64_t tree_size) {
  return subtree_hash(nodes, 0, tree_size);
}

std::vector<Hash> inclusion_proof(const PerfectNode& nodes, std::uint64_t index,
                                  std::uint64_t tree_size) {
  if (index >= tree_size) {
    throw std::invalid_argument("merkle::inclusion_proof: index must be below tree_size");
  }
  // PATH(m, D[n]) recurses into the half holding m and appends the other half's MTH after
  // the recursive result; walking down from the root collects those in reverse.
  std::vector<Hash> proof;
  std::uint64_t start = 0;
  std::uint64_t size = tree_size;
  while (size > 1) {
    const std::uint64_t k = split_point(size);
    if (index - start < k) {
      proof.push_back(subtree_hash(nodes, start + k, size - k));
      size = k;
    } else {
      proof.push_back(subtree_hash(nodes, start, k));
      start += k;
      size -= k;
    }
  }
  std::reverse(proof.begin(), proof.end());
  return proof;
}

std::vector<Hash> consistency_proof(const PerfectNode& nodes, std::uint64_t old_size,
                                    std::uint64_t new_size) {
  if (old_size == 0 || old_size > new_size) {
    throw std::invalid_argument("merkle::consistency_proof: requires 0 < old_size <= new_size");
  }
  // SUBPROOF(m, D[n], b), walked from the root like PATH above.
  std::vector<Hash> proof;
  std::uint64_t start = 0;
  std::uint64_t size = new_size;
  std::uint64_t m = old_size;
  bool whole_old_tree = true;  // the RFC's b: the old root is still the node we stand on
  while (m != size) {
    const std::uint64_t k = split_point(size);
    if (m <= k) {
      proof.push_back(subtree_hash(nodes, start + k, size - k));
      size = k;
    } else {
      proof.push_back(subtree_hash(nodes, start, k));
      start += k;
      size -= k;
      m -= k;
      whole_old_tree = false;
    }
  }
  // SUBPROOF(m, D[m], true) = {}: the verifier already has MTH(D[m]), the old root.
  if (!whole_old_tree) proof.push_back(subtree_hash(nodes, start, size));
  std::reverse(proof.begin(), proof.end());
  return proof;
}

// The two verifiers follow RFC 9162's numbered steps literally; the step numbers are the RFC's.
// Roots and proof nodes are public, so comparing them with == leaks nothing.

bool verify_inclusion(const Hash& leaf, std::uint64_t index, std::uint64_t tree_size,
                      const std::vector<Hash>& proof, const Hash& root) {
  // 1.
  if (index >= tree_size) return false;
  // 2., 3.
  std::uint64_t fn = index;
  std::uint64_t sn = tree_size - 1;
  Hash r = leaf;
  // 4.
  for (const Hash& p : proof) {
    if (sn == 0) return false;         // a.
    if ((fn & 1U) != 0 || fn == sn) {  // b.
      r = node_hash(p, r);
      if ((fn & 1U) == 0) {
        while ((fn & 1U) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = node_hash(r, p);
    }
    fn >>= 1;  // c.
    sn >>= 1;
  }
  // 5.
  return sn == 0 && r == root;
}

bool verify_consistency(std::uint64_t old_size, std::uint64_t new_size, const Hash& old_root,
                        const Hash& new_root, const std::vector<Hash>& proof) {
  if (old_size == 0 || old_size > new_size) return false;
  // PROOF(m, D[m]) is empty: a tree head is consistent only with itself.
  if (old_size == new_size) return proof.empty() && old_root == new_root;

  const std::uint64_t first = old_size;
  const std::uint64_t second = new_size;
  // 1.
  if (proof.empty()) return false;
  // 2. Prepending first_hash is done by viewing the path as `head` followed by `rest`.
  const bool first_is_power_of_two = std::has_single_bit(first);
  const Hash& head = first_is_power_of_two ? old_root : proof.front();
  const std::span<const Hash> rest = first_is_power_of_two
                                         ? std::span<const Hash>(proof)
                                         : std::span<const Hash>(proof).subspan(1);
  // 3.
  std::uint64_t fn = first - 1;
  std::uint64_t sn = second - 1;
  // 4.
  while ((fn & 1U) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  // 5.
  Hash fr = head;
  Hash sr = head;
  // 6.
  for (const Hash& c : rest) {
    if (sn == 0) return false;         // a.
    if ((fn & 1U) != 0 || fn == sn) {  // b.
      fr = node_hash(c, fr);
      sr = node_hash(c, sr);
      if ((fn & 1U) == 0) {
        while ((fn & 1U) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = node_hash(sr, c);
    }
    fn >>= 1;  // c.
    sn >>= 1;
  }
  // 7.
  return fr == old_root && sr == new_root && sn == 0;
}

std::vector<std::pair<unsigned, std::uint64_t>> completed_by_append(std::uint64_t index) {
  // After the append the tree holds count = index + 1 leaves. The perfect node (l, i) becomes
  // complete exactly when its last leaf arrives: when 2^l divides count, with i = count/2^l - 1.
  std::vector<std::pair<unsigned, std::uint64_t>> completed;
  if (index == std::numeric_limits<std::uint64_t>::max()) return completed;  // no leaf 2^64
  const std::uint64_t count = index + 1;
  const auto top = static_cast<unsigned>(std::countr_zero(count));
  completed.reserve(top);
  for (unsigned level = 1; level <= top; ++level) {
    completed.emplace_back(level, (count >> level) - 1);
  }
  return completed;
}

void MemoryTree::append(const Hash& leaf_hash) {
  if (levels_.empty()) levels_.emplace_back();
  const std::uint64_t index = levels_[0].size();
  levels_[0].push_back(leaf_hash);
  for (const auto& [level, node] : completed_by_append(index)) {
    if (levels_.size() <= level) levels_.emplace_back();
    const std::vector<Hash>& below = levels_[level - 1];
    levels_[level].push_back(node_hash(below[2 * node], below[2 * node + 1]));
  }
}

std::uint64_t MemoryTree::size() const { return levels_.empty() ? 0 : levels_[0].size(); }

PerfectNode MemoryTree::nodes() const {
  return [this](unsigned level, std::uint64_t index) -> Hash {
    if (level >= levels_.size() || index >= levels_[level].size()) {
      throw std::out_of_range("merkle::MemoryTree: no such perfect node");
    }
    return levels_[level][index];
  };
}

Hash MemoryTree::root() const { return merkle::root(nodes(), size()); }

std::string to_hex(const Hash& hash) {
  constexpr std::string_view kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(hash.size() * 2);
  for (const std::uint8_t b : hash) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0x0F]);
  }
  return out;
}

std::string to_base64(const Hash& hash) {
  return base64_encode(std::string_view(reinterpret_cast<const char*>(hash.data()), hash.size()));
}

std::optional<Hash> from_base64(std::string_view text) {
  // base64_decode is strict (padding required, alphabet only, zero trailing bits), so the
  // only remaining check is the length.
  const std::optional<std::string> decoded = base64_decode(text);
  if (!decoded || decoded->size() != Hash{}.size()) return std::nullopt;
  Hash out{};
  std::copy(decoded->begin(), decoded->end(), reinterpret_cast<char*>(out.data()));
  return out;
}

}  // namespace authz::merkle
