#include "migrations.hpp"

#include <array>
#include <string>

#include "storage/store.hpp"

namespace storage::sqlite {
namespace {

// Conventions of the schema:
// - STRICT tables: a value of the wrong type is an error, not silently stored.
// - Booleans are INTEGER 0/1; times are INTEGER seconds since the epoch.
// - Lists of strings (redirect_uris, grant_types, resources) are TEXT in the length-prefixed
//   encoding of list_codec.hpp, which round-trips any string, including empty ones.
// - No REFERENCES: dependents are deleted explicitly by remove_client and
//   remove_resident_by_username. Tokens of client_credentials have no resident, and a code or
//   a token outlives nothing it points to (each has its own expiry and purge).
// - Indexes follow the lookups of sqlite_store.cpp; each names the method that needs it.
constexpr std::string_view kInit = R"sql(
CREATE TABLE clients (
  client_id TEXT PRIMARY KEY,
  client_name TEXT NOT NULL,
  secret_hash TEXT NOT NULL,
  token_endpoint_auth_method TEXT NOT NULL,
  redirect_uris TEXT NOT NULL,
  grant_types TEXT NOT NULL,
  scope TEXT NOT NULL,
  jwks TEXT NOT NULL,
  default_audience TEXT NOT NULL,
  require_par INTEGER NOT NULL,
  require_dpop INTEGER NOT NULL,
  registration_access_token_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE residents (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  name TEXT NOT NULL,
  email TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;

-- One row per failure; record_login_failure trims a key's rows older than its window.
CREATE TABLE login_failures (
  key TEXT NOT NULL,
  at INTEGER NOT NULL
) STRICT;
CREATE INDEX login_failures_key_at ON login_failures (key, at);

CREATE TABLE sessions (
  id_hash TEXT PRIMARY KEY,
  resident_id TEXT NOT NULL,
  csrf_token TEXT NOT NULL,
  auth_time INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_resident ON sessions (resident_id);   -- remove_resident
CREATE INDEX sessions_expires ON sessions (expires_at);     -- purge_expired

CREATE TABLE pending (
  handle TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  redirect_uri TEXT NOT NULL,
  scope TEXT NOT NULL,
  state TEXT NOT NULL,
  nonce TEXT NOT NULL,
  code_challenge TEXT NOT NULL,
  authorization_details TEXT NOT NULL,
  resources TEXT NOT NULL,
  prompt TEXT NOT NULL,
  max_age INTEGER NOT NULL,
  dpop_jkt TEXT NOT NULL,
  response_mode TEXT NOT NULL,
  pushed INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX pending_client ON pending (client_id);         -- remove_client
CREATE INDEX pending_expires ON pending (expires_at);       -- purge_expired

CREATE TABLE codes (
  code_hash TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  resident_id TEXT NOT NULL,
  redirect_uri TEXT NOT NULL,
  scope TEXT NOT NULL,
  nonce TEXT NOT NULL,
  code_challenge TEXT NOT NULL,
  authorization_details TEXT NOT NULL,
  resources TEXT NOT NULL,
  dpop_jkt TEXT NOT NULL,
  grant_id TEXT NOT NULL,
  auth_time INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used INTEGER NOT NULL
) STRICT;
CREATE INDEX codes_client ON codes (client_id);             -- remove_client
CREATE INDEX codes_resident ON codes (resident_id);         -- remove_resident
CREATE INDEX codes_grant ON codes (grant_id);               -- revoke_grant
CREATE INDEX codes_expires ON codes (expires_at);           -- purge_expired

CREATE TABLE grants (
  id TEXT PRIMARY KEY,
  resident_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  scope TEXT NOT NULL,
  authorization_details TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  revoked INTEGER NOT NULL
) STRICT;
CREATE INDEX grants_resident_client ON grants (resident_id, client_id);
CREATE INDEX grants_client ON grants (client_id);           -- remove_client

CREATE TABLE access_tokens (
  jti TEXT PRIMARY KEY,
  token_hash TEXT NOT NULL,
  client_id TEXT NOT NULL,
  resident_id TEXT NOT NULL,
  scope TEXT NOT NULL,
  audience TEXT NOT NULL,
  authorization_details TEXT NOT NULL,
  cnf_jkt TEXT NOT NULL,
  code_hash TEXT NOT NULL,
  family_id TEXT NOT NULL,
  issued_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  revoked INTEGER NOT NULL
) STRICT;
CREATE INDEX access_tokens_client ON access_tokens (client_id);
CREATE INDEX access_tokens_resident_client ON access_tokens (resident_id, client_id);
CREATE INDEX access_tokens_code ON access_tokens (code_hash);
CREATE INDEX access_tokens_family ON access_tokens (family_id);
CREATE INDEX access_tokens_expires ON access_tokens (expires_at);

CREATE TABLE refresh_tokens (
  token_hash TEXT PRIMARY KEY,
  family_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  resident_id TEXT NOT NULL,
  scope TEXT NOT NULL,
  authorization_details TEXT NOT NULL,
  resources TEXT NOT NULL,
  cnf_jkt TEXT NOT NULL,
  grant_id TEXT NOT NULL,
  code_hash TEXT NOT NULL,
  auth_time INTEGER NOT NULL,
  issued_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  rotated INTEGER NOT NULL,
  revoked INTEGER NOT NULL
) STRICT;
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_client ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_resident ON refresh_tokens (resident_id);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_code ON refresh_tokens (code_hash);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

-- Replay caches: DPoP proof jti (RFC 9449 §11.1), client assertion jti (RFC 7523 §3).
CREATE TABLE seen_jtis (
  scope TEXT NOT NULL,
  jti TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (scope, jti)
) STRICT, WITHOUT ROWID;
CREATE INDEX seen_jtis_expires ON seen_jtis (expires_at);

CREATE TABLE signing_keys (
  kid TEXT PRIMARY KEY,
  alg TEXT NOT NULL,
  private_pem TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  retired_at INTEGER NOT NULL
) STRICT;

-- AUTOINCREMENT: seq never goes back, even after the newest row is gone, so a reader that
-- remembers the last seq it saw never misses or repeats an event.
CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  time INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  resident TEXT NOT NULL,
  client_id TEXT NOT NULL,
  detail TEXT NOT NULL,
  request_id TEXT NOT NULL
) STRICT;
-- The audit trail is append-only, whoever opens the file.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
)sql";

// The audit log becomes an RFC 9162 Merkle tree: entries carry their leaf hash and the
// perfect subtrees' hashes are kept in audit_nodes, so proofs need O(log^2 n) lookups. The
// events of version 1 had no leaf hashes and are not carried over (nothing was deployed with
// them). Hashes are lower-case hex, readable with the sqlite3 shell.
constexpr std::string_view kAuditLog = R"sql(
DROP TRIGGER events_no_update;
DROP TRIGGER events_no_delete;
DROP TABLE events;

CREATE TABLE audit_entries (
  seq INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  resident TEXT NOT NULL,
  client_id TEXT NOT NULL,
  purpose TEXT NOT NULL,
  datasets TEXT NOT NULL,
  outcome TEXT NOT NULL,
  detail TEXT NOT NULL,
  request_id TEXT NOT NULL,
  leaf_hash TEXT NOT NULL
) STRICT;
CREATE INDEX audit_entries_resident ON audit_entries (resident, seq);
CREATE INDEX audit_entries_client ON audit_entries (client_id, seq);
CREATE INDEX audit_entries_time ON audit_entries (time, seq);

CREATE TABLE audit_nodes (
  level INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  hash TEXT NOT NULL,
  PRIMARY KEY (level, idx)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_nodes_no_update BEFORE UPDATE ON audit_nodes
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_nodes_no_delete BEFORE DELETE ON audit_nodes
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

CREATE TABLE resident_pseudonyms (
  pseudonym TEXT PRIMARY KEY,
  resident_id TEXT NOT NULL
) STRICT;
CREATE INDEX resident_pseudonyms_resident ON resident_pseudonyms (resident_id);

CREATE TABLE secrets (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;
)sql";

// One pseudonym per resident (random, so that erasing the mapping makes it anonymous).
constexpr std::string_view kOnePseudonym = R"sql(
DROP INDEX resident_pseudonyms_resident;
CREATE UNIQUE INDEX resident_pseudonyms_resident ON resident_pseudonyms (resident_id);
)sql";


// The portability broker: services, contracts, transfers and their per-dataset progress.
constexpr std::string_view kBroker = R"sql(
CREATE TABLE services (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  base_url TEXT NOT NULL,
  audience TEXT NOT NULL,
  datasets TEXT NOT NULL,
  authorization TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE contracts (
  id TEXT PRIMARY KEY,
  resident_id TEXT NOT NULL,
  service_id TEXT NOT NULL,
  subject TEXT NOT NULL,
  status TEXT NOT NULL,
  since INTEGER NOT NULL,
  until INTEGER NOT NULL,
  reason TEXT NOT NULL,
  transfer_id TEXT NOT NULL
) STRICT;
CREATE INDEX contracts_resident ON contracts (resident_id, since);  -- list_contracts

CREATE TABLE transfers (
  id TEXT PRIMARY KEY,
  resident_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  source_id TEXT NOT NULL,
  destination_id TEXT NOT NULL,
  source_subject TEXT NOT NULL,
  destination_subject TEXT NOT NULL,
  datasets TEXT NOT NULL,
  delete_at_source INTEGER NOT NULL,
  state TEXT NOT NULL,
  step TEXT NOT NULL,
  error TEXT NOT NULL,
  retries INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  lease_owner TEXT NOT NULL,
  lease_until INTEGER NOT NULL,
  report TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX transfers_resident ON transfers (resident_id, created_at);  -- list_transfers
CREATE INDEX transfers_state ON transfers (state, created_at);           -- claim_transfer

CREATE TABLE transfer_datasets (
  transfer_id TEXT NOT NULL,
  dataset TEXT NOT NULL,
  source_format TEXT NOT NULL,
  destination_format TEXT NOT NULL,
  cursor TEXT NOT NULL,
  exported_all INTEGER NOT NULL,
  pages_done INTEGER NOT NULL,
  items_done INTEGER NOT NULL,
  bytes_done INTEGER NOT NULL,
  items_total INTEGER NOT NULL,
  bytes_total INTEGER NOT NULL,
  digest TEXT NOT NULL,
  not_carried TEXT NOT NULL,
  verified INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  PRIMARY KEY (transfer_id, dataset)
) STRICT;
)sql";

// Version 5: access tokens without a code, a refresh family or a resident (client_credentials)
// are left out of the indexes that look them up by those: each index an insert touches is one
// more page its transaction writes. Queries on these columns carry the same `<> ''` condition,
// which lets them use the partial indexes.
constexpr std::string_view kPartialTokenIndexes = R"sql(
DROP INDEX access_tokens_code;
DROP INDEX access_tokens_family;
DROP INDEX access_tokens_resident_client;
CREATE INDEX access_tokens_code ON access_tokens (code_hash) WHERE code_hash <> '';
CREATE INDEX access_tokens_family ON access_tokens (family_id) WHERE family_id <> '';
CREATE INDEX access_tokens_resident_client ON access_tokens (resident_id, client_id)
  WHERE resident_id <> '';
)sql";

// Version 6: the audit log's entries are indexed only where a query uses the index. The
// client and time indexes served no query (the filters are written so that one statement covers
// every combination, which no planner turns into an index range) and cost every append a page
// each. The resident index, which the resident's own view and resident filters use, leaves out
// entries without a resident (client and system entries): queries by resident carry the same
// `resident <> ''` condition. Appends touch one index instead of three.
constexpr std::string_view kAuditIndexes = R"sql(
DROP INDEX audit_entries_client;
DROP INDEX audit_entries_time;
DROP INDEX audit_entries_resident;
CREATE INDEX audit_entries_resident ON audit_entries (resident, seq) WHERE resident <> '';
)sql";

// Version 7: Merkle nodes are keyed by the order appends make them (node (level, idx) is made by leaf i = (idx + 1) * 2^level - 1, after
// the 2i - popcount(i) nodes of the leaves before it). Keyed by (level, idx), each level's new
// nodes went to a region of their own, and every commit wrote a page per level; now a batch's
// nodes are the last rows, one or two pages. level and idx stay, so lookups check them and the
// table still reads as before. The copy computes popcount by SWAR (0x5555..., 0x3333...,
// 0x0f0f... in decimal, which both SQL dialects read alike).
constexpr std::string_view kAuditNodesByPosition = R"sql(
CREATE TABLE audit_nodes_by_pos (
  pos INTEGER PRIMARY KEY,
  level INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  hash TEXT NOT NULL
) STRICT;
WITH a AS (SELECT level, idx, hash, ((idx + 1) << CAST(level AS INTEGER)) - 1 AS i
           FROM audit_nodes),
b AS (SELECT level, idx, hash, i, i - ((i >> 1) & 6148914691236517205) AS x FROM a),
c AS (SELECT level, idx, hash, i,
             (x & 3689348814741910323) + ((x >> 2) & 3689348814741910323) AS y FROM b),
d AS (SELECT level, idx, hash, i, (y + (y >> 4)) & 1085102592571150095 AS z FROM c)
INSERT INTO audit_nodes_by_pos (pos, level, idx, hash)
SELECT 2 * i - ((z + (z >> 8) + (z >> 16) + (z >> 24) + (z >> 32) + (z >> 40) + (z >> 48)
                 + (z >> 56)) & 255) + level,
       level, idx, hash
FROM d;
DROP TRIGGER audit_nodes_no_update;
DROP TRIGGER audit_nodes_no_delete;
DROP TABLE audit_nodes;
ALTER TABLE audit_nodes_by_pos RENAME TO audit_nodes;
CREATE TRIGGER audit_nodes_no_update BEFORE UPDATE ON audit_nodes
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_nodes_no_delete BEFORE DELETE ON audit_nodes
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
)sql";

// Version 8: the Merkle tree is stored one row per leaf, in audit_tree: the leaf's hash and the
// hash of every perfect subtree the leaf completes (levels 0 to t, t the number of trailing 1
// bits of the leaf's index), 32 raw bytes each, lowest level first. Node (level, idx) is bytes
// 32 * level .. 32 * level + 31 of leaf (idx + 1) * 2^level - 1's row. An append writes one
// row of ~70 bytes instead of about two rows of ~80 (hex, level, idx, pos); the tree's size is
// still the number of leaves in the tree's table, not the number of rows in audit_entries.
// `hex(hashes)` shows them in the sqlite3 shell. The copy walks up each leaf's levels while
// the leaf completes them (an index on (level, idx), dropped with the old table, makes each
// step one lookup); unhex() is SQLite's (3.41) or, before it, the one migrate() provides.
// audit_entries loses its leaf_hash, a second copy of the leaf's node (its first 32 bytes in
// audit_tree), ~70 of an entry's ~300 bytes: an entry's leaf hash is read from the tree.
constexpr std::string_view kAuditTreeByLeaf = R"sql(
CREATE INDEX audit_nodes_by_level ON audit_nodes (level, idx);
CREATE TABLE audit_tree (
  leaf INTEGER PRIMARY KEY,
  hashes BLOB NOT NULL
) STRICT;
INSERT INTO audit_tree (leaf, hashes)
SELECT l.idx,
       unhex((WITH RECURSIVE walk(level, acc) AS (
                SELECT 0, l.hash
                UNION ALL
                SELECT walk.level + 1, walk.acc || n.hash
                FROM walk JOIN audit_nodes AS n
                  ON n.level = walk.level + 1 AND n.idx = ((l.idx + 1) >> (walk.level + 1)) - 1
                WHERE walk.level < 62 AND (l.idx + 1) % (1 << (walk.level + 1)) = 0)
              SELECT acc FROM walk ORDER BY level DESC LIMIT 1))
FROM audit_nodes AS l WHERE l.level = 0 ORDER BY l.idx;
DROP TRIGGER audit_nodes_no_update;
DROP TRIGGER audit_nodes_no_delete;
DROP TABLE audit_nodes;

CREATE TABLE audit_entries_v8 (
  seq INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  resident TEXT NOT NULL,
  client_id TEXT NOT NULL,
  purpose TEXT NOT NULL,
  datasets TEXT NOT NULL,
  outcome TEXT NOT NULL,
  detail TEXT NOT NULL,
  request_id TEXT NOT NULL
) STRICT;
INSERT INTO audit_entries_v8 (seq, time, actor, action, resident, client_id, purpose, datasets,
                              outcome, detail, request_id)
SELECT seq, time, actor, action, resident, client_id, purpose, datasets, outcome, detail,
       request_id
FROM audit_entries ORDER BY seq;
DROP TRIGGER audit_entries_no_update;
DROP TRIGGER audit_entries_no_delete;
DROP TABLE audit_entries;
ALTER TABLE audit_entries_v8 RENAME TO audit_entries;
CREATE INDEX audit_entries_resident ON audit_entries (resident, seq) WHERE resident <> '';
CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

CREATE TRIGGER audit_tree_no_update BEFORE UPDATE ON audit_tree
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_tree_no_delete BEFORE DELETE ON audit_tree
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
)sql";

// Version 9: grants end when the consent's authorization details say so (retention_until). The
// sweep that ends them looks for active grants whose end has come; the index holds only grants
// that have an end and are still active, so it stays small and the sweep reads no other row.
constexpr std::string_view kGrantEnds = R"sql(
CREATE INDEX grants_ending ON grants (expires_at) WHERE revoked = 0 AND expires_at > 0;
)sql";

// Version 10: the pending request keeps OIDC's ui_locales (the language of the sign-in and
// consent pages) and login_hint (the name the sign-in form suggests).
constexpr std::string_view kPendingHints = R"sql(
ALTER TABLE pending ADD COLUMN ui_locales TEXT NOT NULL DEFAULT '';
ALTER TABLE pending ADD COLUMN login_hint TEXT NOT NULL DEFAULT '';
)sql";

// Version 11: a transfer's report names, per dataset, what the source's items held that the
// common model has no field for (Format::to_model's not_read), next to what the destination
// could not hold.
constexpr std::string_view kNotRead = R"sql(
ALTER TABLE transfer_datasets ADD COLUMN not_read TEXT NOT NULL DEFAULT '';
)sql";

// Version 12: OpenID Connect's end of a session. A client registers where the end-session
// endpoint may send the browser back (RP-Initiated Logout §3.1), and a pending request keeps
// the resident its id_token_hint names (OIDC Core §3.1.2.1), the only one who may complete it.
constexpr std::string_view kSessionEnd = R"sql(
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '';
ALTER TABLE pending ADD COLUMN subject_hint TEXT NOT NULL DEFAULT '';
)sql";

// Version 13: a client's OIDC subject type (Core §8): "public" or "pairwise".
constexpr std::string_view kSubjectType = R"sql(
ALTER TABLE clients ADD COLUMN subject_type TEXT NOT NULL DEFAULT 'public';
)sql";

// Version 14: OIDC Back-Channel Logout 1.0. A client's backchannel_logout_uri and whether it
// needs `sid`; a session's `sid` (random, what ID tokens carry) and the code's copy of it; the
// clients given a code in each session (they are told when it ends); and the logouts waiting to
// be sent, each until the client answered or the sender gave up.
constexpr std::string_view kBackchannelLogout = R"sql(
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN sid TEXT NOT NULL DEFAULT '';
ALTER TABLE codes ADD COLUMN sid TEXT NOT NULL DEFAULT '';
CREATE TABLE session_clients (
  sid TEXT NOT NULL,
  client_id TEXT NOT NULL,
  resident_id TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (sid, client_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX session_clients_expires ON session_clients (expires_at);  -- purge_expired
CREATE INDEX session_clients_client ON session_clients (client_id);    -- remove_client
CREATE INDEX session_clients_resident ON session_clients (resident_id);  -- remove_resident
CREATE TABLE logout_deliveries (
  sid TEXT NOT NULL,
  client_id TEXT NOT NULL,
  resident_id TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  next_at INTEGER NOT NULL,
  PRIMARY KEY (sid, client_id)
) STRICT;
CREATE INDEX logout_deliveries_due ON logout_deliveries (next_at);
)sql";

// Version 15: RFC 9101 (JAR). A client may be required to send every authorization request as
// a request object signed with its registered keys.
constexpr std::string_view kSignedRequestObjects = R"sql(
ALTER TABLE clients ADD COLUMN require_signed_request_object INTEGER NOT NULL DEFAULT 0;
)sql";

// Version 16: OIDC Front-Channel Logout 1.0. A client's frontchannel_logout_uri and whether it
// needs `iss` and `sid` there.
constexpr std::string_view kFrontchannelLogout = R"sql(
ALTER TABLE clients ADD COLUMN frontchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN frontchannel_logout_session_required INTEGER NOT NULL DEFAULT 0;
)sql";

// Version 17: a resident has at most one active contract with a service. Two transfers to one
// service that completed at the same moment could each start one there (each saw none before
// its transaction); from now on the second transaction fails and its transfer completes again
// and finds the first. A database that already holds such twins keeps the oldest active and
// ends the others.
constexpr std::string_view kOneActiveContract = R"sql(
UPDATE contracts SET status = 'terminated', until = since,
       reason = reason || ' (ended: another active contract with this service was older)'
 WHERE status = 'active' AND EXISTS (
       SELECT 1 FROM contracts AS older
        WHERE older.resident_id = contracts.resident_id
          AND older.service_id = contracts.service_id AND older.status = 'active'
          AND (older.since < contracts.since
               OR (older.since = contracts.since AND older.id < contracts.id)));
CREATE UNIQUE INDEX contracts_one_active ON contracts (resident_id, service_id)
  WHERE status = 'active';
)sql";

// Version 18: OIDC Dynamic Client Registration §2. The JWS alg a client's private_key_jwt
// assertions and request objects must be signed with, when it registered one.
constexpr std::string_view kSigningAlgs = R"sql(
ALTER TABLE clients ADD COLUMN token_endpoint_auth_signing_alg TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN request_object_signing_alg TEXT NOT NULL DEFAULT '';
)sql";

// Version 19: RFC 6749 §4.1.3. Whether an authorization request named its redirect_uri (one
// left out, as a client with exactly one registered may, is not asked for at the token endpoint).
constexpr std::string_view kRedirectUriGiven = R"sql(
ALTER TABLE pending ADD COLUMN redirect_uri_given INTEGER NOT NULL DEFAULT 1;
)sql";

// Version 20: OIDC Core §5.3.2. A client's UserInfo answers signed, when it registered so.
constexpr std::string_view kSignedUserinfo = R"sql(
ALTER TABLE clients ADD COLUMN userinfo_signed_response_alg TEXT NOT NULL DEFAULT '';
)sql";

// Version 21: RFC 8705. Clients that authenticate with a TLS client certificate (the name it
// must carry), certificate-bound access tokens, and the binding kept with each token.
constexpr std::string_view kMutualTls = R"sql(
ALTER TABLE clients ADD COLUMN tls_client_auth_name TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN tls_client_auth_value TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN tls_bound_access_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE access_tokens ADD COLUMN cnf_x5t TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN cnf_x5t TEXT NOT NULL DEFAULT '';
)sql";

// Version 22: OIDC Core §5.5. The claims a request asked for in the ID token, carried from the
// request to its code.
constexpr std::string_view kIdTokenClaims = R"sql(
ALTER TABLE pending ADD COLUMN id_token_claims TEXT NOT NULL DEFAULT '';
ALTER TABLE codes ADD COLUMN id_token_claims TEXT NOT NULL DEFAULT '';
)sql";

// Version 23: OIDC Core §15.1 (RS256 for ID tokens). The algorithm each client's ID tokens,
// logout tokens, signed introspection answers and JARM responses are signed with; the clients
// stored before keep ES256, the only one there was.
constexpr std::string_view kResponseSigningAlgs = R"sql(
ALTER TABLE clients ADD COLUMN id_token_signed_response_alg TEXT NOT NULL DEFAULT 'ES256';
ALTER TABLE clients ADD COLUMN introspection_signed_response_alg TEXT NOT NULL DEFAULT 'ES256';
ALTER TABLE clients ADD COLUMN authorization_signed_response_alg TEXT NOT NULL DEFAULT 'ES256';
)sql";

// Version 24: keys published before they sign. A key signs from activates_at (0: from its
// creation), so that a relying party that keeps the key set it fetched has the next key before
// anything is signed with it; the keys stored before sign from their creation.
constexpr std::string_view kKeyActivation = R"sql(
ALTER TABLE signing_keys ADD COLUMN activates_at INTEGER NOT NULL DEFAULT 0;
)sql";

// Append new migrations at the end; never edit one that has shipped.
constexpr std::array<std::string_view, 24> kMigrations = {
    kInit,         kAuditLog,             kOnePseudonym,    kBroker,    kPartialTokenIndexes,
    kAuditIndexes, kAuditNodesByPosition, kAuditTreeByLeaf, kGrantEnds, kPendingHints,
    kNotRead,      kSessionEnd,           kSubjectType,     kBackchannelLogout,
    kSignedRequestObjects, kFrontchannelLogout, kOneActiveContract, kSigningAlgs,
    kRedirectUriGiven, kSignedUserinfo, kMutualTls,
    kIdTokenClaims, kResponseSigningAlgs, kKeyActivation};

// unhex(X) as SQLite 3.41 defines it for one argument: the bytes that the hexadecimal text X
// spells (either case), or NULL when X is NULL, of odd length or not hexadecimal. Registered on
// the connection that migrates, so that migrations can use it on the SQLite of Debian 12
// (3.40); on a newer SQLite it stands in for the built-in one, with the same results.
void unhex(sqlite3_context* context, int /*argc*/, sqlite3_value** argv) {
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return sqlite3_result_null(context);
  const auto* text = sqlite3_value_text(argv[0]);
  const int size = sqlite3_value_bytes(argv[0]);
  if (text == nullptr || size % 2 != 0) return sqlite3_result_null(context);
  auto nibble = [](unsigned char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string bytes(static_cast<std::size_t>(size / 2), '\0');
  for (int i = 0; i < size; i += 2) {
    const int hi = nibble(text[i]);
    const int lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return sqlite3_result_null(context);
    bytes[static_cast<std::size_t>(i / 2)] = static_cast<char>(hi * 16 + lo);
  }
  sqlite3_result_blob64(context, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
}

}  // namespace

std::span<const std::string_view> migrations() { return kMigrations; }

int schema_version(Connection& connection) {
  Statement pragma = connection.prepare("PRAGMA user_version");
  if (!pragma.step()) throw StorageError("schema_version: no result");
  return static_cast<int>(pragma.int64(0));
}

int migrate(Connection& connection, std::mutex& write_mutex) {
  const int latest = static_cast<int>(kMigrations.size());
  if (sqlite3_create_function_v2(connection.handle(), "unhex", 1,
                                 SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, nullptr,
                                 unhex, nullptr, nullptr, nullptr) != SQLITE_OK) {
    throw_error(connection.handle(), "migrate: register unhex");
  }
  for (;;) {
    // The version is read inside the transaction: another process may be migrating too.
    WriteTransaction transaction(connection, write_mutex);
    const int version = schema_version(connection);
    if (version > latest) {
      throw StorageError("migrate: database schema version " + std::to_string(version) +
                         " is newer than this binary's " + std::to_string(latest));
    }
    if (version == latest) {
      transaction.commit();
      return version;
    }
    // The scripts are constants of this file, hence sqlite3_exec. PRAGMA takes no bound
    // parameters; the version is our own integer, not input.
    const std::string script = std::string(kMigrations[static_cast<std::size_t>(version)]) +
                               "\nPRAGMA user_version = " + std::to_string(version + 1) + ";";
    connection.exec_script(script.c_str(), "migrate to version " + std::to_string(version + 1));
    transaction.commit();
  }
}

}  // namespace storage::sqlite
