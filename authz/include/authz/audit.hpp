#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "authz/clock.hpp"
#include "authz/crypto.hpp"
#include "authz/expected.hpp"
#include "authz/merkle.hpp"
#include "authz/sealer.hpp"
#include "storage/log_hasher.hpp"
#include "storage/store.hpp"

namespace authz {

/// The bytes an audit entry's leaf hash covers: a canonical JSON object (members sorted, no
/// whitespace) of seq, time, actor, action, resident, client_id, purpose, datasets, outcome,
/// detail (parsed, so its spelling does not matter) and request_id. The export file and
/// `infobank audit verify` use the same function.
std::string canonical_entry(const storage::Event& entry);
/// The same with `seq` in place of entry.seq.
std::string canonical_entry(const storage::Event& entry, std::int64_t seq);

/// One line of an export or of the JSON Lines API: the entry's JSON with "leaf_hash" (base64).
std::string export_line(const storage::Event& entry);
/// The first line of an export: {"tree_head": {...}, "log_key": {...JWK}}.
std::string export_header(const struct TreeHead& head, std::string_view log_key_jwk);

/// RFC 9162 §2.1 hashing over canonical_entry(), for storage.
std::shared_ptr<const storage::LogHasher> make_log_hasher();

/// A signed tree head (RFC 9162 §4.10, as a JWS): tree size, time and root, signed with the
/// log's own ES256 key (not a token signing key, so rotating those never touches the log).
struct TreeHead {
  std::int64_t tree_size = 0;
  std::int64_t timestamp = 0;
  std::string root_hash;  ///< base64 (standard, padded), as RFC 9162's JSON
  std::string signature;  ///< compact JWS over {"root_hash","timestamp","tree_size"}
  std::string kid;
  [[nodiscard]] std::string json() const;
};

/// Parses a tree head JSON (as json() writes it) and checks its signature with `key`: the
/// JWS payload must agree with the plain fields.
Expected<TreeHead> parse_tree_head(std::string_view json, const PublicKey& key);

/// The tamper-evident audit log over storage's entries and Merkle nodes.
class AuditLog {
 public:
  /// The log's secrets (its signing key and pseudonym key) are stored sealed with `sealer`,
  /// which must outlive the log.
  AuditLog(storage::Store& store, const Clock& clock, const Sealer& sealer);

  /// The resident's pseudonym in the log, created (random) on first use. The log never holds
  /// the resident id; the mapping is kept apart and erased with the resident, after which the
  /// entries can no longer be tied to them.
  std::string pseudonym(std::string_view resident_id);
  /// Lookup only (auditor queries): nothing is created, and an erased resident has none.
  std::optional<std::string> find_pseudonym(std::string_view resident_id);

  TreeHead tree_head();
  /// RFC 9162 §2.1.3.1 for entry `seq` (leaf seq-1) in the tree of `tree_size` (0 = current).
  Expected<std::vector<std::string>> inclusion_proof(std::int64_t seq, std::int64_t tree_size);
  /// RFC 9162 §2.1.4.1 between two tree sizes.
  Expected<std::vector<std::string>> consistency_proof(std::int64_t first, std::int64_t second);
  /// Writes an export, streaming: the header (a tree head signed now and the log key), then
  /// the entries the head covers, and any row put in the table behind the log's back (one with
  /// no leaf in the tree), for `verify` to name.
  void write_export(std::ostream& out);
  /// The log key as a JWK (public members, kid, alg, use).
  std::string public_jwk();
  PublicKey public_key();

 private:
  struct Keys {
    SigningKey signing_key;
    std::string kid;
  };
  const Keys& keys();

  std::string secret(std::string_view name, const std::string& candidate);
  /// Perfect subtree hashes, from storage through a cache of the upper levels: a node never
  /// changes once written, and the upper levels are on every proof's path.
  merkle::PerfectNode nodes();

  storage::Store& store_;
  const Clock& clock_;
  const Sealer& sealer_;
  std::mutex mutex_;
  std::optional<Keys> keys_;
  std::unordered_map<std::string, std::string> pseudonyms_;  ///< resident id -> pseudonym
  std::mutex nodes_mutex_;
  /// (level << 58 | index) -> hash, for levels >= kCachedLevel only (n / 16 nodes at most).
  std::unordered_map<std::uint64_t, merkle::Hash> node_cache_;
};

/// What `infobank audit verify` found.
struct VerifyReport {
  bool ok = false;
  std::string problem;           ///< empty when ok
  std::int64_t first_bad_seq = 0;  ///< the first entry that does not fit, 0 if none is named
  std::int64_t entries = 0;
};

/// Verifies an export (JSON Lines: a header line with "tree_head" and "log_key", then one
/// entry per line with its "leaf_hash"): each entry's content matches its leaf hash, seqs run
/// 1..n without gaps or reordering, the root over the leaves equals the signed tree head,
/// whose signature verifies with `pinned_key` (or the export's own key when none is pinned),
/// and, with `previous_tree_head`, that the earlier head is a prefix of this log (consistency).
VerifyReport verify_export(std::string_view export_jsonl,
                           std::optional<std::string_view> previous_tree_head,
                           std::optional<std::string_view> pinned_key_jwk);

}  // namespace authz
