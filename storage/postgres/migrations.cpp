#include "migrations.hpp"

#include <array>
#include <string>

namespace storage::postgres {
namespace {

// Conventions of the schema (those of the SQLite schema, in PostgreSQL's types):
// - Times and sequence numbers are BIGINT seconds / counts; flags are BOOLEAN.
// - Lists of strings (redirect_uris, grant_types, resources, datasets) are TEXT in the
//   length-prefixed encoding of storage/common/list_codec.hpp, so both back ends store and
//   filter them the same way.
// - Hashes of the audit log are BYTEA (32 raw bytes); the SQLite file keeps them as hex.
// - No REFERENCES: dependents are deleted explicitly by remove_client and
//   remove_resident_by_username, as on SQLite.
// - Indexes follow the lookups of postgres_store.cpp; each names the method that needs it.
//
// Version 1 is SQLite's version 1 without its `events` table, which version 2 dropped for the
// Merkle log before any PostgreSQL database existed; the version numbers stay aligned, so a
// schema version means the same tables on both back ends.
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
  require_par BOOLEAN NOT NULL,
  require_dpop BOOLEAN NOT NULL,
  registration_access_token_hash TEXT NOT NULL,
  created_at BIGINT NOT NULL
);

CREATE TABLE residents (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  name TEXT NOT NULL,
  email TEXT NOT NULL,
  created_at BIGINT NOT NULL
);

-- One row per failure; record_login_failure trims a key's rows older than its window.
CREATE TABLE login_failures (
  key TEXT NOT NULL,
  at BIGINT NOT NULL
);
CREATE INDEX login_failures_key_at ON login_failures (key, at);

CREATE TABLE sessions (
  id_hash TEXT PRIMARY KEY,
  resident_id TEXT NOT NULL,
  csrf_token TEXT NOT NULL,
  auth_time BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
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
  max_age BIGINT NOT NULL,
  dpop_jkt TEXT NOT NULL,
  response_mode TEXT NOT NULL,
  pushed BOOLEAN NOT NULL,
  expires_at BIGINT NOT NULL
);
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
  auth_time BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used BOOLEAN NOT NULL
);
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
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  revoked BOOLEAN NOT NULL
);
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
  issued_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  revoked BOOLEAN NOT NULL
);
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
  auth_time BIGINT NOT NULL,
  issued_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  rotated BOOLEAN NOT NULL,
  revoked BOOLEAN NOT NULL
);
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
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (scope, jti)
);
CREATE INDEX seen_jtis_expires ON seen_jtis (expires_at);

-- ord stands in for SQLite's rowid: the insertion order breaks ties of created_at.
CREATE TABLE signing_keys (
  kid TEXT PRIMARY KEY,
  alg TEXT NOT NULL,
  private_pem TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  retired_at BIGINT NOT NULL,
  ord BIGINT GENERATED ALWAYS AS IDENTITY
);
)sql";

// The audit log as an RFC 9162 Merkle tree: entries carry their leaf hash and the perfect
// subtrees' hashes are kept in audit_nodes, so proofs need O(log^2 n) lookups. Append-only
// whoever connects: row triggers refuse UPDATE and DELETE, a statement trigger TRUNCATE
// (which fires no row triggers).
constexpr std::string_view kAuditLog = R"sql(
CREATE TABLE audit_entries (
  seq BIGINT PRIMARY KEY,
  time BIGINT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  resident TEXT NOT NULL,
  client_id TEXT NOT NULL,
  purpose TEXT NOT NULL,
  datasets TEXT NOT NULL,
  outcome TEXT NOT NULL,
  detail TEXT NOT NULL,
  request_id TEXT NOT NULL,
  leaf_hash BYTEA NOT NULL
);
CREATE INDEX audit_entries_resident ON audit_entries (resident, seq);
CREATE INDEX audit_entries_client ON audit_entries (client_id, seq);
CREATE INDEX audit_entries_time ON audit_entries (time, seq);

CREATE TABLE audit_nodes (
  level BIGINT NOT NULL,
  idx BIGINT NOT NULL,
  hash BYTEA NOT NULL,
  PRIMARY KEY (level, idx)
);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_nodes_append_only BEFORE UPDATE OR DELETE ON audit_nodes
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_nodes_no_truncate BEFORE TRUNCATE ON audit_nodes
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE resident_pseudonyms (
  pseudonym TEXT PRIMARY KEY,
  resident_id TEXT NOT NULL
);
CREATE INDEX resident_pseudonyms_resident ON resident_pseudonyms (resident_id);

CREATE TABLE secrets (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
)sql";

// One pseudonym per resident (random, so that erasing the mapping makes it anonymous).
constexpr std::string_view kOnePseudonym = R"sql(
DROP INDEX resident_pseudonyms_resident;
CREATE UNIQUE INDEX resident_pseudonyms_resident ON resident_pseudonyms (resident_id);
)sql";

// The portability broker: services, contracts, transfers and their per-dataset progress.
// "authorization" is a reserved word in PostgreSQL, hence quoted. transfer_datasets.ord stands
// in for SQLite's rowid (list_transfer_datasets keeps the insertion order).
constexpr std::string_view kBroker = R"sql(
CREATE TABLE services (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  base_url TEXT NOT NULL,
  audience TEXT NOT NULL,
  datasets TEXT NOT NULL,
  "authorization" TEXT NOT NULL,
  created_at BIGINT NOT NULL
);

CREATE TABLE contracts (
  id TEXT PRIMARY KEY,
  resident_id TEXT NOT NULL,
  service_id TEXT NOT NULL,
  subject TEXT NOT NULL,
  status TEXT NOT NULL,
  since BIGINT NOT NULL,
  until BIGINT NOT NULL,
  reason TEXT NOT NULL,
  transfer_id TEXT NOT NULL
);
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
  delete_at_source BOOLEAN NOT NULL,
  state TEXT NOT NULL,
  step TEXT NOT NULL,
  error TEXT NOT NULL,
  retries BIGINT NOT NULL,
  next_attempt_at BIGINT NOT NULL,
  lease_owner TEXT NOT NULL,
  lease_until BIGINT NOT NULL,
  report TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX transfers_resident ON transfers (resident_id, created_at);  -- list_transfers
CREATE INDEX transfers_state ON transfers (state, created_at);           -- claim_transfer

CREATE TABLE transfer_datasets (
  transfer_id TEXT NOT NULL,
  dataset TEXT NOT NULL,
  source_format TEXT NOT NULL,
  destination_format TEXT NOT NULL,
  cursor TEXT NOT NULL,
  exported_all BOOLEAN NOT NULL,
  pages_done BIGINT NOT NULL,
  items_done BIGINT NOT NULL,
  bytes_done BIGINT NOT NULL,
  items_total BIGINT NOT NULL,
  bytes_total BIGINT NOT NULL,
  digest TEXT NOT NULL,
  not_carried TEXT NOT NULL,
  verified BOOLEAN NOT NULL,
  deleted BOOLEAN NOT NULL,
  ord BIGINT GENERATED ALWAYS AS IDENTITY,
  PRIMARY KEY (transfer_id, dataset)
);
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
  pos BIGINT PRIMARY KEY,
  level BIGINT NOT NULL,
  idx BIGINT NOT NULL,
  hash BYTEA NOT NULL
);
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
DROP TABLE audit_nodes;
ALTER TABLE audit_nodes_by_pos RENAME TO audit_nodes;
CREATE TRIGGER audit_nodes_append_only BEFORE UPDATE OR DELETE ON audit_nodes
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_nodes_no_truncate BEFORE TRUNCATE ON audit_nodes
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
)sql";

// Version 8: the Merkle tree is stored one row per leaf, in audit_tree: the leaf's hash and the
// hash of every perfect subtree the leaf completes (levels 0 to t), 32 bytes each, lowest level
// first, as on SQLite. The copy keeps a leaf's levels from 0 up to the first one missing
// (row_number counts them: after a gap, level > rank), so a damaged tree stays as damaged as it
// was, and a leaf without its own node is no leaf of the tree. audit_entries loses its
// leaf_hash, a second copy of the leaf's node: an entry's leaf hash is read from the tree.
constexpr std::string_view kAuditTreeByLeaf = R"sql(
CREATE TABLE audit_tree (
  leaf BIGINT PRIMARY KEY,
  hashes BYTEA NOT NULL
);
INSERT INTO audit_tree (leaf, hashes)
SELECT leaf, string_agg(hash, ''::bytea ORDER BY level)
FROM (SELECT leaf, level, hash,
             row_number() OVER (PARTITION BY leaf ORDER BY level) - 1 AS rank
      FROM (SELECT ((idx + 1) << CAST(level AS INTEGER)) - 1 AS leaf, level, hash
            FROM audit_nodes) AS made) AS ranked
WHERE level = rank
GROUP BY leaf;
DROP TABLE audit_nodes;
ALTER TABLE audit_entries DROP COLUMN leaf_hash;
CREATE TRIGGER audit_tree_append_only BEFORE UPDATE OR DELETE ON audit_tree
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_tree_no_truncate BEFORE TRUNCATE ON audit_tree
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
)sql";

// Version 9: grants end when the consent's authorization details say so (retention_until). The
// sweep that ends them looks for active grants whose end has come; the index holds only grants
// that have an end and are still active, so it stays small and the sweep reads no other row.
constexpr std::string_view kGrantEnds = R"sql(
CREATE INDEX grants_ending ON grants (expires_at) WHERE NOT revoked AND expires_at > 0;
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
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE sessions ADD COLUMN sid TEXT NOT NULL DEFAULT '';
ALTER TABLE codes ADD COLUMN sid TEXT NOT NULL DEFAULT '';
CREATE TABLE session_clients (
  sid TEXT NOT NULL,
  client_id TEXT NOT NULL,
  resident_id TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (sid, client_id)
);
CREATE INDEX session_clients_expires ON session_clients (expires_at);  -- purge_expired
CREATE INDEX session_clients_client ON session_clients (client_id);    -- remove_client
CREATE INDEX session_clients_resident ON session_clients (resident_id);  -- remove_resident
CREATE TABLE logout_deliveries (
  sid TEXT NOT NULL,
  client_id TEXT NOT NULL,
  resident_id TEXT NOT NULL,
  attempts BIGINT NOT NULL,
  next_at BIGINT NOT NULL,
  PRIMARY KEY (sid, client_id)
);
CREATE INDEX logout_deliveries_due ON logout_deliveries (next_at);
)sql";

// Version 15: RFC 9101 (JAR). A client may be required to send every authorization request as
// a request object signed with its registered keys.
constexpr std::string_view kSignedRequestObjects = R"sql(
ALTER TABLE clients ADD COLUMN require_signed_request_object BOOLEAN NOT NULL DEFAULT FALSE;
)sql";

// Version 16: OIDC Front-Channel Logout 1.0. A client's frontchannel_logout_uri and whether it
// needs `iss` and `sid` there.
constexpr std::string_view kFrontchannelLogout = R"sql(
ALTER TABLE clients ADD COLUMN frontchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN frontchannel_logout_session_required BOOLEAN NOT NULL DEFAULT FALSE;
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
ALTER TABLE pending ADD COLUMN redirect_uri_given BOOLEAN NOT NULL DEFAULT TRUE;
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
ALTER TABLE clients ADD COLUMN tls_bound_access_tokens BOOLEAN NOT NULL DEFAULT FALSE;
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
ALTER TABLE signing_keys ADD COLUMN activates_at BIGINT NOT NULL DEFAULT 0;
)sql";

// Append new migrations at the end; never edit one that has shipped.
constexpr std::array<std::string_view, 24> kMigrations = {
    kInit,         kAuditLog,             kOnePseudonym,    kBroker,    kPartialTokenIndexes,
    kAuditIndexes, kAuditNodesByPosition, kAuditTreeByLeaf, kGrantEnds, kPendingHints,
    kNotRead,      kSessionEnd,           kSubjectType,     kBackchannelLogout,
    kSignedRequestObjects, kFrontchannelLogout, kOneActiveContract, kSigningAlgs,
    kRedirectUriGiven, kSignedUserinfo, kMutualTls,
    kIdTokenClaims, kResponseSigningAlgs, kKeyActivation};

constexpr std::string_view kCreateVersionTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
    "applied_at BIGINT NOT NULL)";

}  // namespace

std::span<const std::string_view> migrations() { return kMigrations; }

int schema_version(Connection& connection) {
  // to_regclass: NULL rather than an error when the table does not exist (a fresh database).
  const Result exists = connection.exec("SELECT to_regclass('schema_migrations') IS NOT NULL");
  if (exists.empty() || !exists.boolean(0, 0)) return 0;
  const Result version = connection.exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  return static_cast<int>(version.int64(0, 0));
}

int migrate(Connection& connection) {
  const int latest = static_cast<int>(kMigrations.size());
  for (;;) {
    Transaction transaction(connection);
    // Every node takes the same lock before reading the version, so of two nodes starting at
    // once one migrates and the other then finds the work done. The lock ends with the
    // transaction.
    connection.exec("SELECT pg_advisory_xact_lock($1::integer, $2::integer)", kLockClass,
                    kMigrationLock);
    connection.exec_script(std::string(kCreateVersionTable), "migrate");
    const int version = schema_version(connection);
    if (version > latest) {
      throw StorageError("migrate: database schema version " + std::to_string(version) +
                         " is newer than this binary's " + std::to_string(latest));
    }
    if (version == latest) {
      transaction.commit();
      return version;
    }
    connection.exec_script(std::string(kMigrations[static_cast<std::size_t>(version)]),
                           "migrate to version " + std::to_string(version + 1));
    connection.exec(
        "INSERT INTO schema_migrations (version, applied_at) "
        "VALUES ($1::integer, extract(epoch FROM now())::bigint)",
        version + 1);
    transaction.commit();
  }
}

}  // namespace storage::postgres
