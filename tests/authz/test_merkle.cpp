// RFC 9162 §2.1 Merkle trees: checked against a naive implementation written straight from the
// RFC's recursive definitions (MTH, PATH, PROOF) with its own SHA-256 calls, and against the
// Certificate Transparency reference vectors.

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "authz/merkle.hpp"

namespace authz::merkle {
namespace {

// ---- naive reference, from the RFC's definitions ------------------------------------------

using Bytes = std::string;

Bytes sha256(std::string_view data) {
  Bytes out(32, '\0');
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &len,
                 EVP_sha256(), nullptr) != 1) {
    std::abort();
  }
  return out;
}

Bytes prefixed(char prefix, std::string_view a, std::string_view b = {}) {
  Bytes input(1, prefix);
  input.append(a);
  input.append(b);
  return sha256(input);
}

// "k is the largest power of two smaller than n"
std::uint64_t largest_power_of_two_below(std::uint64_t n) {
  std::uint64_t k = 1;
  while (k <= (n - 1) / 2) k *= 2;  // k * 2 < n, without overflowing near 2^64
  return k;
}

// RFC 9162 §2.1.1 MTH(D[n]).
Bytes naive_mth(std::span<const Bytes> d) {
  if (d.empty()) return sha256("");
  if (d.size() == 1) return prefixed('\x00', d[0]);
  const std::uint64_t k = largest_power_of_two_below(d.size());
  return prefixed('\x01', naive_mth(d.first(k)), naive_mth(d.subspan(k)));
}

// RFC 9162 §2.1.3.1 PATH(m, D[n]).
std::vector<Bytes> naive_path(std::uint64_t m, std::span<const Bytes> d) {
  if (d.size() == 1) return {};
  const std::uint64_t k = largest_power_of_two_below(d.size());
  std::vector<Bytes> out;
  if (m < k) {
    out = naive_path(m, d.first(k));
    out.push_back(naive_mth(d.subspan(k)));
  } else {
    out = naive_path(m - k, d.subspan(k));
    out.push_back(naive_mth(d.first(k)));
  }
  return out;
}

// RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b).
std::vector<Bytes> naive_subproof(std::uint64_t m, std::span<const Bytes> d, bool b) {
  if (m == d.size()) {
    if (b) return {};
    return {naive_mth(d)};
  }
  const std::uint64_t k = largest_power_of_two_below(d.size());
  std::vector<Bytes> out;
  if (m <= k) {
    out = naive_subproof(m, d.first(k), b);
    out.push_back(naive_mth(d.subspan(k)));
  } else {
    out = naive_subproof(m - k, d.subspan(k), false);
    out.push_back(naive_mth(d.first(k)));
  }
  return out;
}

std::vector<Bytes> naive_proof(std::uint64_t m, std::span<const Bytes> d) {
  return naive_subproof(m, d, true);
}

// Independent verifiers: undo PATH's / SUBPROOF's recursion, consuming the proof from its end.
std::optional<Bytes> naive_root_from_path(std::uint64_t m, std::uint64_t n, const Bytes& leaf,
                                          std::span<const Bytes> proof) {
  if (m >= n) return std::nullopt;
  if (n == 1) return proof.empty() ? std::optional<Bytes>(leaf) : std::nullopt;
  if (proof.empty()) return std::nullopt;
  const std::uint64_t k = largest_power_of_two_below(n);
  const Bytes& last = proof.back();
  const auto rest = proof.first(proof.size() - 1);
  if (m < k) {
    const auto sub = naive_root_from_path(m, k, leaf, rest);
    if (!sub) return std::nullopt;
    return prefixed('\x01', *sub, last);
  }
  const auto sub = naive_root_from_path(m - k, n - k, leaf, rest);
  if (!sub) return std::nullopt;
  return prefixed('\x01', last, *sub);
}

// (MTH(D[0:m]), MTH(D[0:n])) as SUBPROOF(m, D[n], b) determines them.
std::optional<std::pair<Bytes, Bytes>> naive_roots_from_subproof(std::uint64_t m, std::uint64_t n,
                                                                 bool b, const Bytes& old_root,
                                                                 std::span<const Bytes> proof) {
  if (m == n) {
    if (b) return proof.empty() ? std::optional(std::pair(old_root, old_root)) : std::nullopt;
    if (proof.size() != 1) return std::nullopt;
    return std::pair(proof[0], proof[0]);
  }
  if (proof.empty()) return std::nullopt;
  const std::uint64_t k = largest_power_of_two_below(n);
  const Bytes& last = proof.back();
  const auto rest = proof.first(proof.size() - 1);
  if (m <= k) {
    const auto sub = naive_roots_from_subproof(m, k, b, old_root, rest);
    if (!sub) return std::nullopt;
    return std::pair(sub->first, prefixed('\x01', sub->second, last));
  }
  const auto sub = naive_roots_from_subproof(m - k, n - k, false, old_root, rest);
  if (!sub) return std::nullopt;
  return std::pair(prefixed('\x01', last, sub->first), prefixed('\x01', last, sub->second));
}

// ---- conversions and fixtures --------------------------------------------------------------

Bytes to_bytes(const Hash& h) { return {reinterpret_cast<const char*>(h.data()), h.size()}; }

Hash to_hash(const Bytes& b) {
  Hash h{};
  if (b.size() != h.size()) std::abort();
  std::copy(b.begin(), b.end(), reinterpret_cast<char*>(h.data()));
  return h;
}

std::vector<Bytes> to_bytes(const std::vector<Hash>& v) {
  std::vector<Bytes> out;
  for (const auto& h : v) out.push_back(to_bytes(h));
  return out;
}

Bytes unhex(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    std::abort();
  };
  Bytes out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(nibble(hex[i]) * 16 + nibble(hex[i + 1])));
  }
  return out;
}

Hash hash_hex(std::string_view hex) { return to_hash(unhex(hex)); }

bool naive_verify_inclusion(const Hash& leaf, std::uint64_t m, std::uint64_t n,
                            const std::vector<Hash>& proof, const Hash& root) {
  const auto bytes = to_bytes(proof);
  const auto r = naive_root_from_path(m, n, to_bytes(leaf), bytes);
  return r && *r == to_bytes(root);
}

bool naive_verify_consistency(std::uint64_t m, std::uint64_t n, const Hash& old_root,
                              const Hash& new_root, const std::vector<Hash>& proof) {
  if (m == 0 || m > n) return false;
  const auto bytes = to_bytes(proof);
  const auto r = naive_roots_from_subproof(m, n, true, to_bytes(old_root), bytes);
  return r && r->first == to_bytes(old_root) && r->second == to_bytes(new_root);
}

// Leaf entries of varying lengths (0..6 bytes) so that leaf hashing sees more than one shape.
std::vector<Bytes> entries(std::uint64_t count) {
  std::vector<Bytes> out;
  for (std::uint64_t i = 0; i < count; ++i) {
    Bytes e(i % 7, static_cast<char>('a' + i % 26));
    e.push_back(static_cast<char>(i & 0xFF));
    e.push_back(static_cast<char>(i >> 8));
    out.push_back(std::move(e));
  }
  return out;
}

MemoryTree tree_of(const std::vector<Bytes>& data) {
  MemoryTree tree;
  for (const auto& e : data) tree.append(leaf_hash(e));
  return tree;
}

constexpr std::uint64_t kMaxSize = 70;  // covers 1, 2, 3, 2^k and 2^k + 1 up to 65

// Sizes other than `size` for the wrong-size probes: every size up to 33 when `size` is
// small, otherwise the neighbours, halves, doubles and the powers of two around it.
std::vector<std::uint64_t> other_sizes(std::uint64_t size) {
  std::vector<std::uint64_t> out;
  if (size <= 33) {
    for (std::uint64_t s = 0; s <= 40; ++s) out.push_back(s);
  } else {
    out = {0,
           1,
           size - 2,
           size - 1,
           size + 1,
           size + 2,
           size / 2,
           size * 2,
           size ^ 1,
           size ^ 2,
           std::bit_floor(size),
           std::bit_ceil(size),
           std::bit_floor(size) + 1,
           std::numeric_limits<std::uint64_t>::max()};
  }
  std::erase(out, size);
  return out;
}

Hash flipped(Hash h, std::size_t bit) {
  h[bit / 8] ^= static_cast<std::uint8_t>(1U << (bit % 8));
  return h;
}

// Certificate Transparency's reference tree (transparency-dev/merkle testonly/constants.go,
// as used by RFC 6962 implementations): 8 entries, roots for sizes 0..8, all perfect nodes.
const std::vector<Bytes>& reference_entries() {
  static const std::vector<Bytes> kEntries = {unhex(""),
                                              unhex("00"),
                                              unhex("10"),
                                              unhex("2021"),
                                              unhex("3031"),
                                              unhex("40414243"),
                                              unhex("5051525354555657"),
                                              unhex("606162636465666768696a6b6c6d6e6f")};
  return kEntries;
}

constexpr std::array<std::string_view, 9> kReferenceRoots = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

// ---- hashing ---------------------------------------------------------------------------------

TEST(Merkle, EmptyTreeRootIsSha256OfNothing) {
  EXPECT_EQ(to_hex(empty_root()), kReferenceRoots[0]);
  EXPECT_EQ(to_bytes(empty_root()), naive_mth({}));
  const MemoryTree tree;
  EXPECT_EQ(tree.size(), 0U);
  EXPECT_EQ(tree.root(), empty_root());
  EXPECT_EQ(root(tree.nodes(), 0), empty_root());
}

TEST(Merkle, LeafAndNodeHashesUseTheDomainSeparationPrefixes) {
  for (const auto& e : entries(20)) {
    EXPECT_EQ(to_bytes(leaf_hash(e)), prefixed('\x00', e));
  }
  const Hash a = leaf_hash("a");
  const Hash b = leaf_hash("b");
  EXPECT_EQ(to_bytes(node_hash(a, b)), prefixed('\x01', to_bytes(a), to_bytes(b)));
  EXPECT_NE(node_hash(a, b), node_hash(b, a));
}

// ---- reference vectors -----------------------------------------------------------------------

TEST(Merkle, NaiveReferenceAgreesWithPublishedRoots) {
  // The naive implementation is checked first, so that the rest of the file can trust it.
  const auto& data = reference_entries();
  for (std::size_t n = 0; n <= data.size(); ++n) {
    EXPECT_EQ(naive_mth(std::span(data).first(n)), unhex(kReferenceRoots[n])) << "size " << n;
  }
}

TEST(Merkle, ReferenceTreeRootsForEverySize) {
  const auto& data = reference_entries();
  MemoryTree tree;
  EXPECT_EQ(to_hex(tree.root()), kReferenceRoots[0]);
  for (std::size_t n = 1; n <= data.size(); ++n) {
    tree.append(leaf_hash(data[n - 1]));
    EXPECT_EQ(to_hex(tree.root()), kReferenceRoots[n]) << "size " << n;
  }
}

TEST(Merkle, ReferenceTreePerfectNodes) {
  const std::vector<std::vector<std::string_view>> kNodes = {
      {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
       "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
       "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
       "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
       "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
       "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
       "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
       "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"},
      {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
       "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
       "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
       "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"},
      {"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
       "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"},
      {"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"}};
  const MemoryTree tree = tree_of(reference_entries());
  const PerfectNode nodes = tree.nodes();
  for (unsigned level = 0; level < kNodes.size(); ++level) {
    for (std::uint64_t i = 0; i < kNodes[level].size(); ++i) {
      EXPECT_EQ(to_hex(nodes(level, i)), kNodes[level][i]) << level << "/" << i;
    }
  }
}

struct ReferenceProof {
  std::uint64_t a;  // leaf index, or old size
  std::uint64_t n;  // tree size, or new size
  std::vector<std::string_view> proof;
};

TEST(Merkle, ReferenceInclusionProofs) {
  // transparency-dev/merkle proof/verify_test.go, with its 1-based leaf numbers made 0-based.
  const std::vector<ReferenceProof> kProofs = {
      {0, 1, {}},
      {0,
       8,
       {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
      {5,
       8,
       {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
      {2, 3, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
      {1,
       5,
       {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
  };
  const MemoryTree tree = tree_of(reference_entries());
  for (const auto& v : kProofs) {
    std::vector<Hash> expected;
    for (const auto hex : v.proof) expected.push_back(hash_hex(hex));
    EXPECT_EQ(inclusion_proof(tree.nodes(), v.a, v.n), expected) << v.a << " in " << v.n;
    EXPECT_TRUE(verify_inclusion(leaf_hash(reference_entries()[v.a]), v.a, v.n, expected,
                                 hash_hex(kReferenceRoots[v.n])));
  }
}

TEST(Merkle, ReferenceConsistencyProofs) {
  const std::vector<ReferenceProof> kProofs = {
      {1, 1, {}},
      {1,
       8,
       {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
      {6,
       8,
       {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
      {2,
       5,
       {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
      {6,
       7,
       {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
  };
  const MemoryTree tree = tree_of(reference_entries());
  for (const auto& v : kProofs) {
    std::vector<Hash> expected;
    for (const auto hex : v.proof) expected.push_back(hash_hex(hex));
    EXPECT_EQ(consistency_proof(tree.nodes(), v.a, v.n), expected) << v.a << " to " << v.n;
    EXPECT_TRUE(verify_consistency(v.a, v.n, hash_hex(kReferenceRoots[v.a]),
                                   hash_hex(kReferenceRoots[v.n]), expected));
  }
}

// ---- against the naive implementation, every size 1..70 -----------------------------------

TEST(Merkle, RootAndEverySubtreeMatchNaiveMth) {
  const auto data = entries(kMaxSize);
  MemoryTree tree;
  for (std::uint64_t n = 1; n <= kMaxSize; ++n) {
    tree.append(leaf_hash(data[n - 1]));
    ASSERT_EQ(tree.size(), n);
    EXPECT_EQ(to_bytes(tree.root()), naive_mth(std::span(data).first(n))) << "size " << n;
    EXPECT_EQ(root(tree.nodes(), n), tree.root());
  }
  // Every range RFC 9162's recursion can produce starts at a multiple of bit_floor(size).
  for (std::uint64_t size = 1; size <= kMaxSize; ++size) {
    for (std::uint64_t start = 0; start + size <= kMaxSize; start += std::bit_floor(size)) {
      EXPECT_EQ(to_bytes(subtree_hash(tree.nodes(), start, size)),
                naive_mth(std::span(data).subspan(start, size)))
          << start << "+" << size;
    }
  }
}

TEST(Merkle, InclusionProofsMatchNaivePathForEveryIndex) {
  const auto data = entries(kMaxSize);
  MemoryTree tree;
  for (std::uint64_t n = 1; n <= kMaxSize; ++n) {
    tree.append(leaf_hash(data[n - 1]));
    const Hash tree_root = tree.root();
    for (std::uint64_t m = 0; m < n; ++m) {
      const auto proof = inclusion_proof(tree.nodes(), m, n);
      ASSERT_EQ(to_bytes(proof), naive_path(m, std::span(data).first(n))) << m << " in " << n;
      EXPECT_TRUE(verify_inclusion(leaf_hash(data[m]), m, n, proof, tree_root)) << m << "/" << n;
      EXPECT_TRUE(naive_verify_inclusion(leaf_hash(data[m]), m, n, proof, tree_root));
    }
  }
}

TEST(Merkle, ConsistencyProofsMatchNaiveProofForEveryOldSize) {
  const auto data = entries(kMaxSize);
  const MemoryTree tree = tree_of(data);
  for (std::uint64_t n = 1; n <= kMaxSize; ++n) {
    const Hash new_root = root(tree.nodes(), n);
    for (std::uint64_t m = 1; m <= n; ++m) {
      const Hash old_root = root(tree.nodes(), m);
      const auto proof = consistency_proof(tree.nodes(), m, n);
      ASSERT_EQ(to_bytes(proof), naive_proof(m, std::span(data).first(n))) << m << " to " << n;
      EXPECT_EQ(proof.empty(), m == n);
      EXPECT_TRUE(verify_consistency(m, n, old_root, new_root, proof)) << m << " to " << n;
      EXPECT_TRUE(naive_verify_consistency(m, n, old_root, new_root, proof));
    }
  }
}

// ---- verification rejects what it must ------------------------------------------------------

TEST(Merkle, InclusionVerificationRejectsTampering) {
  const auto data = entries(kMaxSize);
  const MemoryTree tree = tree_of(data);
  const Hash other = leaf_hash("not in the tree");
  std::uint64_t accepted_for_other_size = 0;
  for (std::uint64_t n = 1; n <= kMaxSize; ++n) {
    const Hash r = root(tree.nodes(), n);
    for (std::uint64_t m = 0; m < n; ++m) {
      const Hash leaf = leaf_hash(data[m]);
      const auto proof = inclusion_proof(tree.nodes(), m, n);
      // A flipped bit in any element: every one of the 256 bits for small trees and for the
      // ends and middle of the 2^k and 2^k + 1 trees, five spread bits otherwise.
      const bool every_bit =
          n <= 9 || ((n == 64 || n == 65) && (m == 0 || m == n / 2 || m == n - 1));
      for (std::size_t i = 0; i < proof.size(); ++i) {
        for (std::size_t bit = every_bit ? 0 : (m + i) % 8; bit < 256; bit += every_bit ? 1 : 61) {
          auto bad = proof;
          bad[i] = flipped(bad[i], bit);
          EXPECT_FALSE(verify_inclusion(leaf, m, n, bad, r)) << m << "/" << n << " " << i;
        }
      }
      EXPECT_FALSE(verify_inclusion(flipped(leaf, m % 256), m, n, proof, r));
      EXPECT_FALSE(verify_inclusion(other, m, n, proof, r));
      EXPECT_FALSE(verify_inclusion(leaf, m, n, proof, flipped(r, 255)));
      EXPECT_FALSE(verify_inclusion(leaf, m, n, proof, empty_root()));
      // Wrong index: every other index, and indices outside the tree.
      for (std::uint64_t j = 0; j < n + 2; ++j) {
        if (j != m) {
          EXPECT_FALSE(verify_inclusion(leaf, j, n, proof, r)) << j << " for " << m;
        }
      }
      EXPECT_FALSE(verify_inclusion(leaf, std::numeric_limits<std::uint64_t>::max(), n, proof, r));
      // Truncated or extended.
      if (!proof.empty()) {
        auto bad = proof;
        bad.pop_back();
        EXPECT_FALSE(verify_inclusion(leaf, m, n, bad, r));
        bad = proof;
        bad.erase(bad.begin());
        EXPECT_FALSE(verify_inclusion(leaf, m, n, bad, r));
      }
      for (const Hash& extra : {r, leaf, Hash{}}) {
        auto bad = proof;
        bad.push_back(extra);
        EXPECT_FALSE(verify_inclusion(leaf, m, n, bad, r));
        bad = proof;
        bad.insert(bad.begin(), extra);
        EXPECT_FALSE(verify_inclusion(leaf, m, n, bad, r));
      }
      // Wrong size. The proof does not carry the size (the signed tree head does), so another
      // size whose path has the same shape also verifies. The RFC algorithm must accept
      // exactly when the definition of PATH does.
      for (const std::uint64_t other_n : other_sizes(n)) {
        const bool got = verify_inclusion(leaf, m, other_n, proof, r);
        EXPECT_EQ(got, naive_verify_inclusion(leaf, m, other_n, proof, r)) << m << "/" << other_n;
        accepted_for_other_size += got ? 1 : 0;
      }
      EXPECT_FALSE(verify_inclusion(leaf, m, 0, proof, r));
      EXPECT_FALSE(verify_inclusion(leaf, m, std::numeric_limits<std::uint64_t>::max(), proof, r));
      if (n > 1) {
        EXPECT_FALSE(verify_inclusion(leaf, m, n * 2, proof, r));
        if (m < n / 2) {
          EXPECT_FALSE(verify_inclusion(leaf, m, n / 2, proof, r));
        }
      }
    }
  }
  // The same-shape coincidences are real but rare; the point is that the two agree.
  EXPECT_GT(accepted_for_other_size, 0U);
}

TEST(Merkle, InclusionVerificationOfSingleLeafTree) {
  const Hash leaf = leaf_hash("only");
  EXPECT_TRUE(verify_inclusion(leaf, 0, 1, {}, leaf));
  EXPECT_FALSE(verify_inclusion(leaf, 0, 1, {}, empty_root()));
  EXPECT_FALSE(verify_inclusion(leaf, 1, 1, {}, leaf));
  EXPECT_FALSE(verify_inclusion(leaf, 0, 0, {}, leaf));
  EXPECT_FALSE(verify_inclusion(leaf, 0, 1, {leaf}, leaf));
}

TEST(Merkle, ConsistencyVerificationRejectsTampering) {
  const auto data = entries(kMaxSize);
  const MemoryTree tree = tree_of(data);
  std::vector<Hash> roots{empty_root()};
  for (std::uint64_t n = 1; n <= kMaxSize; ++n) roots.push_back(root(tree.nodes(), n));
  std::uint64_t accepted_for_other_sizes = 0;
  for (std::uint64_t n = 2; n <= kMaxSize; ++n) {
    for (std::uint64_t m = 1; m < n; ++m) {
      const Hash& old_root = roots[m];
      const Hash& new_root = roots[n];
      const auto proof = consistency_proof(tree.nodes(), m, n);
      ASSERT_TRUE(verify_consistency(m, n, old_root, new_root, proof));
      // Flipped bits in every element.
      for (std::size_t i = 0; i < proof.size(); ++i) {
        for (const std::size_t bit : {std::size_t{0}, std::size_t{100}, (m * 31 + i) % 256}) {
          auto bad = proof;
          bad[i] = flipped(bad[i], bit);
          EXPECT_FALSE(verify_consistency(m, n, old_root, new_root, bad)) << m << "->" << n;
        }
      }
      // Wrong roots: the old root of any other size (including the new one), a flipped bit,
      // swapped.
      for (const std::uint64_t other : {std::uint64_t{0}, m - 1, m + 1, n, kMaxSize}) {
        EXPECT_FALSE(verify_consistency(m, n, roots[other], new_root, proof)) << other;
      }
      EXPECT_FALSE(verify_consistency(m, n, flipped(old_root, m % 256), new_root, proof));
      EXPECT_FALSE(verify_consistency(m, n, old_root, flipped(new_root, n % 256), proof));
      EXPECT_FALSE(verify_consistency(m, n, new_root, old_root, proof));
      EXPECT_FALSE(verify_consistency(m, n, old_root, old_root, proof));
      // Truncated, extended, empty.
      EXPECT_FALSE(verify_consistency(m, n, old_root, new_root, {}));
      {
        auto bad = proof;
        bad.pop_back();
        EXPECT_FALSE(verify_consistency(m, n, old_root, new_root, bad));
        bad = proof;
        bad.erase(bad.begin());
        EXPECT_FALSE(verify_consistency(m, n, old_root, new_root, bad));
      }
      for (const Hash& extra : {old_root, new_root, proof.front(), Hash{}}) {
        auto bad = proof;
        bad.push_back(extra);
        EXPECT_FALSE(verify_consistency(m, n, old_root, new_root, bad));
        bad = proof;
        bad.insert(bad.begin(), extra);
        EXPECT_FALSE(verify_consistency(m, n, old_root, new_root, bad));
      }
      // Wrong sizes: as for inclusion, sizes are bound by the tree heads, not the proof, so
      // the RFC algorithm must accept exactly when the definition of PROOF does.
      const auto check_sizes = [&](std::uint64_t other_m, std::uint64_t other_n) {
        const bool got = verify_consistency(other_m, other_n, old_root, new_root, proof);
        EXPECT_EQ(got, naive_verify_consistency(other_m, other_n, old_root, new_root, proof))
            << m << "->" << n << " as " << other_m << "->" << other_n;
        accepted_for_other_sizes += got ? 1 : 0;
      };
      for (const std::uint64_t other : other_sizes(n)) check_sizes(m, other);
      for (const std::uint64_t other : other_sizes(m)) check_sizes(other, n);
      for (const std::uint64_t other_m : {std::uint64_t{0}, m - 1, m + 1, m * 2, m / 2}) {
        for (const std::uint64_t other_n : {n - 1, n + 1, n * 2, n / 2}) {
          if (other_m != m) check_sizes(other_m, other_n);
        }
      }
      EXPECT_FALSE(verify_consistency(0, n, old_root, new_root, proof));
      EXPECT_FALSE(verify_consistency(n, m, old_root, new_root, proof));
      EXPECT_FALSE(verify_consistency(m, std::numeric_limits<std::uint64_t>::max(), old_root,
                                      new_root, proof));
    }
  }
  EXPECT_GT(accepted_for_other_sizes, 0U);
}

TEST(Merkle, ConsistencyOfEqualSizesAndTheEmptyTree) {
  const Hash a = leaf_hash("a");
  const Hash b = leaf_hash("b");
  EXPECT_TRUE(verify_consistency(1, 1, a, a, {}));
  EXPECT_TRUE(verify_consistency(5, 5, b, b, {}));
  EXPECT_FALSE(verify_consistency(5, 5, a, b, {}));
  EXPECT_FALSE(verify_consistency(5, 5, a, a, {a}));
  // RFC 9162 §2.1.4 defines proofs for 0 < m only; the empty tree is never "proven" here.
  EXPECT_FALSE(verify_consistency(0, 0, empty_root(), empty_root(), {}));
  EXPECT_FALSE(verify_consistency(0, 1, empty_root(), a, {}));
  EXPECT_FALSE(verify_consistency(2, 1, a, b, {a}));
}

// ---- preconditions, cost and the append schedule ---------------------------------------------

TEST(Merkle, ProofPreconditionsAreEnforced) {
  const MemoryTree tree = tree_of(entries(5));
  EXPECT_THROW((void)inclusion_proof(tree.nodes(), 5, 5), std::invalid_argument);
  EXPECT_THROW((void)inclusion_proof(tree.nodes(), 0, 0), std::invalid_argument);
  EXPECT_THROW((void)consistency_proof(tree.nodes(), 0, 5), std::invalid_argument);
  EXPECT_THROW((void)consistency_proof(tree.nodes(), 4, 3), std::invalid_argument);
  EXPECT_THROW((void)subtree_hash(tree.nodes(), 1, 2), std::invalid_argument);
  EXPECT_THROW((void)subtree_hash(tree.nodes(), 2, 4), std::invalid_argument);
  EXPECT_THROW((void)subtree_hash(tree.nodes(), 1, 3), std::invalid_argument);
  EXPECT_THROW((void)subtree_hash(tree.nodes(), std::numeric_limits<std::uint64_t>::max(), 1),
               std::invalid_argument);
  // Nodes that do not exist (yet) are a bug in the caller, not a wrong hash.
  EXPECT_THROW((void)tree.nodes()(0, 5), std::out_of_range);
  EXPECT_THROW((void)tree.nodes()(1, 2), std::out_of_range);
  EXPECT_THROW((void)tree.nodes()(3, 0), std::out_of_range);
  EXPECT_THROW((void)root(tree.nodes(), 6), std::out_of_range);
}

TEST(Merkle, ProofsNeedOnlyPolylogLookupsInsideTheTree) {
  // A tree far too large to build: node hashes are synthetic, which is all the proof
  // construction needs; what is checked is how many nodes it asks for, and which.
  constexpr std::uint64_t kSize = (std::uint64_t{1} << 40) + 12345;
  std::uint64_t lookups = 0;
  bool outside = false;
  const PerfectNode nodes = [&](unsigned level, std::uint64_t index) {
    ++lookups;
    if (level >= 64 || index + 1 > (kSize >> level)) outside = true;
    Hash h{};
    h[0] = static_cast<std::uint8_t>(level);
    for (int i = 0; i < 8; ++i) h[1 + i] = static_cast<std::uint8_t>(index >> (8 * i));
    return h;
  };
  (void)root(nodes, kSize);
  EXPECT_LE(lookups, 41U);
  const std::uint64_t bound = 41 * 41;
  for (const std::uint64_t m : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{777777},
                                kSize / 2, kSize - 2, kSize - 1}) {
    lookups = 0;
    const auto proof = inclusion_proof(nodes, m, kSize);
    EXPECT_LE(lookups, bound) << m;
    EXPECT_LE(proof.size(), 41U) << m;
  }
  for (const std::uint64_t m : {std::uint64_t{1}, std::uint64_t{3}, std::uint64_t{1} << 39,
                                (std::uint64_t{1} << 40) + 1, kSize - 1, kSize}) {
    lookups = 0;
    const auto proof = consistency_proof(nodes, m, kSize);
    EXPECT_LE(lookups, bound) << m;
    EXPECT_LE(proof.size(), 2U * 41U) << m;
  }
  EXPECT_FALSE(outside);
}

TEST(Merkle, CompletedByAppendNamesExactlyTheNodesThatBecomeComplete) {
  EXPECT_TRUE(completed_by_append(0).empty());
  EXPECT_EQ(completed_by_append(1), (std::vector<std::pair<unsigned, std::uint64_t>>{{1, 0}}));
  EXPECT_TRUE(completed_by_append(2).empty());
  EXPECT_EQ(completed_by_append(7),
            (std::vector<std::pair<unsigned, std::uint64_t>>{{1, 3}, {2, 1}, {3, 0}}));
  // Brute force: perfect node (l, i) is complete once the tree holds (i + 1) * 2^l leaves.
  for (std::uint64_t index = 0; index < 2000; ++index) {
    std::vector<std::pair<unsigned, std::uint64_t>> expected;
    for (unsigned level = 1; (std::uint64_t{1} << level) <= index + 1; ++level) {
      const std::uint64_t width = std::uint64_t{1} << level;
      if ((index + 1) % width == 0) expected.emplace_back(level, (index + 1) / width - 1);
    }
    EXPECT_EQ(completed_by_append(index), expected) << index;
  }
  const auto top = completed_by_append((std::uint64_t{1} << 63) - 1);
  ASSERT_EQ(top.size(), 63U);
  EXPECT_EQ(top.back(), (std::pair<unsigned, std::uint64_t>{63, 0}));
  EXPECT_TRUE(completed_by_append(std::numeric_limits<std::uint64_t>::max() - 1).empty());
  EXPECT_TRUE(completed_by_append(std::numeric_limits<std::uint64_t>::max()).empty());
}

// ---- encodings -------------------------------------------------------------------------------

TEST(Merkle, HexAndBase64) {
  EXPECT_EQ(to_hex(empty_root()), kReferenceRoots[0]);
  EXPECT_EQ(to_base64(empty_root()), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
  for (const auto& e : entries(50)) {
    const Hash h = leaf_hash(e);
    const std::string text = to_base64(h);
    ASSERT_EQ(text.size(), 44U);
    EXPECT_EQ(from_base64(text), h);
  }
}

TEST(Merkle, FromBase64IsStrict) {
  const std::string good = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
  ASSERT_EQ(from_base64(good), empty_root());
  EXPECT_FALSE(from_base64(""));
  EXPECT_FALSE(from_base64(good.substr(0, 43)));                              // padding missing
  EXPECT_FALSE(from_base64("47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU="));  // base64url
  EXPECT_FALSE(from_base64("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV="));  // trailing bits
  EXPECT_FALSE(from_base64(" " + good));
  EXPECT_FALSE(from_base64(good + "\n"));
  EXPECT_FALSE(
      from_base64("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=AAAA"));       // data after padding
  EXPECT_FALSE(from_base64("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hS"));      // 30 bytes
  EXPECT_FALSE(from_base64("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuA=="));  // 31 bytes
}

}  // namespace
}  // namespace authz::merkle
