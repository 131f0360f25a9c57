// storage::Store on PostgreSQL through libpq. Every method borrows one pooled connection;
// every write runs in one READ COMMITTED transaction, retried as a whole when the server
// reports a serialization failure or a deadlock; every read is a single SELECT and so reads
// one consistent snapshot without an explicit transaction.
//
// Several nodes may share the database, so what SQLite gets from its single writer is asked
// for explicitly here:
// - read-then-write methods lock the row they read (SELECT ... FOR UPDATE): of two racing
//   redemptions of a code or rotations of a refresh token, the second waits and then reads the
//   first one's result;
// - one-statement writes (take_pending's DELETE ... RETURNING, remember_jti's upsert,
//   get_or_create_*'s INSERT ... ON CONFLICT) are atomic by themselves;
// - the audit log's appends, across every node, are serialized by one transaction-level
//   advisory lock, so seq = size + 1 and the Merkle nodes follow one total order.

#include <algorithm>
#include <array>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "audit_tail.hpp"
#include "audit_tree.hpp"
#include "group_commit.hpp"
#include "list_codec.hpp"
#include "retention.hpp"
#include "rows.hpp"
#include "connection.hpp"
#include "migrations.hpp"
#include "storage/store.hpp"

namespace storage {
namespace {

constexpr auto read_service = rows::read_service<postgres::Row>;
constexpr auto read_contract = rows::read_contract<postgres::Row>;
constexpr auto read_transfer = rows::read_transfer<postgres::Row>;
constexpr auto read_transfer_dataset = rows::read_transfer_dataset<postgres::Row>;
constexpr auto read_client = rows::read_client<postgres::Row>;
constexpr auto read_pending = rows::read_pending<postgres::Row>;
constexpr auto read_code = rows::read_code<postgres::Row>;
constexpr auto read_access_token = rows::read_access_token<postgres::Row>;
constexpr auto read_refresh_token = rows::read_refresh_token<postgres::Row>;

using postgres::Bytes;
using postgres::Connection;
using postgres::PgError;
using postgres::Result;
using postgres::Row;
using postgres::Transaction;

// The rows of the group commit batch that this thread is running (commit_batch), on the
// connection `db`, queued until the batch's COMMIT: its audit entries, and its access tokens
// unless its writes are `isolated`; null outside a batch. A queued row is not in the table
// until then: no write of a batch may read what an earlier one of the same batch queued.
struct BatchRows {
  const Connection* db = nullptr;
  bool isolated = false;      ///< each write in a savepoint: its failure must be its own
  bool tail_checked = false;  ///< the advisory lock taken and the tail checked in this batch
  std::vector<PendingAuditRow> pending;
  std::vector<AccessTokenRecord> tokens;
};
thread_local BatchRows* current_batch_rows = nullptr;

// Enough for the worker pool plus the occasional purge task; a caller past it waits for a
// connection. Each node opens at most this many, so the server's max_connections must cover
// nodes × 16 plus the CLI's.
constexpr std::size_t kMaxConnections = 16;

// A transaction that lost a race (40001/40P01) runs again; a deadlock between two nodes
// resolves in one retry, so running out of attempts means something is wrong.
constexpr int kMaxAttempts = 5;


// ---------------------------------------------------------------------------------------------
// Row mapping. Each read_* matches the column order of its k*Columns list.

#define INFOBANK_RESIDENT_COLUMNS "id, username, password_hash, name, email, created_at"
#define INFOBANK_PENDING_COLUMNS                                                            \
  "handle, client_id, redirect_uri, scope, state, nonce, code_challenge, "                  \
  "authorization_details, resources, prompt, max_age, dpop_jkt, response_mode, pushed, "   \
  "expires_at, ui_locales, login_hint, subject_hint, redirect_uri_given, id_token_claims"
#define INFOBANK_CODE_COLUMNS                                                                \
  "code_hash, client_id, resident_id, redirect_uri, scope, nonce, code_challenge, "         \
  "authorization_details, resources, dpop_jkt, grant_id, auth_time, expires_at, used, sid, "  \
  "id_token_claims"
#define INFOBANK_GRANT_COLUMNS \
  "id, resident_id, client_id, scope, authorization_details, created_at, expires_at, revoked"
#define INFOBANK_ACCESS_TOKEN_COLUMNS                                                         \
  "jti, token_hash, client_id, resident_id, scope, audience, authorization_details, cnf_jkt, " \
  "code_hash, family_id, issued_at, expires_at, revoked, cnf_x5t"
#define INFOBANK_REFRESH_TOKEN_COLUMNS                                                         \
  "token_hash, family_id, client_id, resident_id, scope, authorization_details, resources, "  \
  "cnf_jkt, grant_id, code_hash, auth_time, issued_at, expires_at, rotated, revoked, cnf_x5t"
// An entry's leaf hash is its leaf's node in the tree (the first 32 bytes of the leaf's row);
// an entry that is no leaf of the tree (added behind the log's back) reads with none.
#define INFOBANK_EVENT_COLUMNS                                                               \
  "seq, time, actor, action, resident, client_id, purpose, datasets, outcome, detail, "     \
  "request_id, coalesce(substring(hashes FROM 1 FOR 32), ''::bytea)"
#define INFOBANK_EVENTS_FROM \
  " FROM audit_entries LEFT JOIN audit_tree ON audit_tree.leaf = audit_entries.seq - 1"

ResidentRecord read_resident(const Row& row) {
  return {row.text(0), row.text(1), row.text(2), row.text(3), row.text(4), row.int64(5)};
}

Grant read_grant(const Row& row) {
  return {row.text(0),  row.text(1),  row.text(2),  row.text(3),
          row.text(4),  row.int64(5), row.int64(6), row.boolean(7)};
}

SigningKeyRecord read_signing_key(const Row& row) {
  return {row.text(0), row.text(1), row.text(2), row.int64(3), row.int64(4), row.int64(5)};
}

#define INFOBANK_SERVICE_COLUMNS \
  "id, name, base_url, audience, datasets, \"authorization\", created_at"
#define INFOBANK_CONTRACT_COLUMNS \
  "id, resident_id, service_id, subject, status, since, until, reason, transfer_id"
#define INFOBANK_TRANSFER_COLUMNS                                                  \
  "id, resident_id, client_id, source_id, destination_id, source_subject, "       \
  "destination_subject, datasets, delete_at_source, state, step, error, retries, " \
  "next_attempt_at, lease_owner, lease_until, report, created_at, updated_at"
#define INFOBANK_TRANSFER_DATASET_COLUMNS                                                  \
  "transfer_id, dataset, source_format, destination_format, cursor, exported_all, "       \
  "pages_done, items_done, bytes_done, items_total, bytes_total, digest, not_carried, "   \
  "verified, deleted, not_read"

Event read_event(const Row& row) {
  Event e;
  e.seq = row.int64(0);
  e.time = row.int64(1);
  e.actor = row.text(2);
  e.action = row.text(3);
  e.resident = row.text(4);
  e.client_id = row.text(5);
  e.purpose = row.text(6);
  e.datasets = decode_list(row.text(7));
  e.outcome = row.text(8);
  e.detail = row.text(9);
  e.request_id = row.text(10);
  e.leaf_hash = row.text(11);  // BYTEA: the 32 raw bytes
  return e;
}

template <typename Reader>
auto optional_row(const Result& result, Reader read) -> std::optional<decltype(read(Row(result, 0)))> {
  if (result.empty()) return std::nullopt;
  return read(Row(result, 0));
}

template <typename Reader>
auto all_rows(const Result& result, Reader read) -> std::vector<decltype(read(Row(result, 0)))> {
  std::vector<decltype(read(Row(result, 0)))> rows;
  rows.reserve(static_cast<std::size_t>(result.rows()));
  for (int i = 0; i < result.rows(); ++i) rows.push_back(read(Row(result, i)));
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Statements shared by several methods.

void insert_refresh_token_row(Connection& db, const RefreshTokenRecord& t) {
  db.exec(
      "INSERT INTO refresh_tokens (token_hash, family_id, client_id, resident_id, scope, "
      "authorization_details, resources, cnf_jkt, grant_id, code_hash, auth_time, issued_at, "
      "expires_at, rotated, revoked, cnf_x5t) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
      "$11, $12, $13, $14, $15, $16)",
      t.token_hash, t.family_id, t.client_id, t.resident_id, t.scope, t.authorization_details,
      encode_list(t.resources), t.cnf_jkt, t.grant_id, t.code_hash, t.auth_time, t.issued_at,
      t.expires_at, t.rotated, t.revoked, t.cnf_x5t);
}

// Writes `tokens` (up to kMaxAuditRowsPerInsert per statement) and empties it, also when it
// throws.
void flush_access_token_rows(Connection& db, std::vector<AccessTokenRecord>& tokens) {
  struct Clear {
    std::vector<AccessTokenRecord>& rows;
    ~Clear() { rows.clear(); }
  } clear{tokens};
  static const auto kSql = multi_row_inserts(
      "INSERT INTO access_tokens (jti, token_hash, client_id, resident_id, scope, audience, "
      "authorization_details, cnf_jkt, code_hash, family_id, issued_at, expires_at, revoked, "
      "cnf_x5t) VALUES ",
      14, '$');
  for (std::span<const AccessTokenRecord> left = tokens; !left.empty();) {
    const auto n = std::min(left.size(), kMaxAuditRowsPerInsert);
    postgres::Params params;
    for (const auto& t : left.first(n)) {
      for (const std::string* text : {&t.jti, &t.token_hash, &t.client_id, &t.resident_id,
                                      &t.scope, &t.audience, &t.authorization_details,
                                      &t.cnf_jkt, &t.code_hash, &t.family_id}) {
        params.add(*text);
      }
      params.add(t.issued_at);
      params.add(t.expires_at);
      params.add(t.revoked);
      params.add(t.cnf_x5t);
    }
    db.exec_params(kSql[n], params);
    left = left.subspan(n);
  }
}

// In a batch whose writes are not isolated, the row is queued and written with the batch's
// others before its COMMIT (one multi-row INSERT instead of a round trip per token).
void insert_access_token_row(Connection& db, const AccessTokenRecord& t) {
  if (current_batch_rows != nullptr && current_batch_rows->db == &db &&
      !current_batch_rows->isolated) {
    current_batch_rows->tokens.push_back(t);
    return;
  }
  std::vector<AccessTokenRecord> one{t};
  flush_access_token_rows(db, one);
}

void insert_signing_key_row(Connection& db, const SigningKeyRecord& k) {
  db.exec(
      "INSERT INTO signing_keys (kid, alg, private_pem, created_at, retired_at, activates_at) "
      "VALUES ($1, $2, $3, $4, $5, $6)",
      k.kid, k.alg, k.private_pem, k.created_at, k.retired_at, k.activates_at);
}

// RFC 9700 §4.14.2: a family is every refresh token rotated from one original, and the access
// tokens issued alongside them. The empty family_id marks tokens outside any family and must
// never match: it would revoke every client_credentials token.
void revoke_family_rows(Connection& db, std::string_view family_id) {
  if (family_id.empty()) return;
  db.exec("UPDATE refresh_tokens SET revoked = true WHERE family_id = $1", family_id);
  db.exec("UPDATE access_tokens SET revoked = true WHERE family_id = $1 AND family_id <> ''", family_id);
}

void upsert_contract_row(Connection& db, const ContractRecord& c) {
  db.exec(
      "INSERT INTO contracts (id, resident_id, service_id, subject, status, since, until, "
      "reason, transfer_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
      "ON CONFLICT (id) DO UPDATE SET status = excluded.status, until = excluded.until, "
      "reason = excluded.reason, transfer_id = excluded.transfer_id, subject = excluded.subject",
      c.id, c.resident_id, c.service_id, c.subject, c.status, c.since, c.until, c.reason,
      c.transfer_id);
}

void write_transfer_dataset_row(Connection& db, const TransferDatasetRecord& d) {
  db.exec(
      "INSERT INTO transfer_datasets (transfer_id, dataset, source_format, destination_format, "
      "cursor, exported_all, pages_done, items_done, bytes_done, items_total, bytes_total, "
      "digest, not_carried, verified, deleted, not_read) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
      "$9, $10, $11, $12, $13, $14, $15, $16) "
      "ON CONFLICT (transfer_id, dataset) DO UPDATE SET cursor = excluded.cursor, "
      "exported_all = excluded.exported_all, pages_done = excluded.pages_done, "
      "items_done = excluded.items_done, bytes_done = excluded.bytes_done, "
      "items_total = excluded.items_total, bytes_total = excluded.bytes_total, "
      "digest = excluded.digest, not_carried = excluded.not_carried, "
      "verified = excluded.verified, deleted = excluded.deleted, not_read = excluded.not_read",
      d.transfer_id, d.dataset, d.source_format, d.destination_format, d.cursor, d.exported_all,
      d.pages_done, d.items_done, d.bytes_done, d.items_total, d.bytes_total, d.digest,
      encode_list(d.not_carried), d.verified, d.deleted, encode_list(d.not_read));
}

int count_failures(Connection& db, std::string_view key, std::int64_t now, std::int64_t window) {
  const Result r = db.exec(
      "SELECT count(*) FROM login_failures WHERE key = $1 AND at > $2 AND at <= $3", key,
      now - window, now);
  if (r.empty()) throw StorageError("login_failures: no count");
  return static_cast<int>(r.int64(0, 0));
}

// ---------------------------------------------------------------------------------------------

class PostgresStore final : public Store {
 public:
  PostgresStore(const std::string& conninfo, std::shared_ptr<const LogHasher> hasher)
      : hasher_(std::move(hasher)),
        pool_(conninfo, kMaxConnections),
        // PostgreSQL's stores keep no stamp (token_state_stamp): the batch's kind is not needed.
        group_([this](std::span<const Write* const> writes, std::span<std::exception_ptr> errors,
                      bool /*adding_only*/) { commit_batch(writes, errors); }) {
    if (!hasher_) throw StorageError("open postgres: no audit log hasher");
  }

  int migrate() override {
    auto db = pool_.acquire();
    return postgres::migrate(*db);
  }

  int schema_version() override {
    auto db = pool_.acquire();
    return postgres::schema_version(*db);
  }

  // --- Clients ---------------------------------------------------------------------------------

  bool insert_client(const ClientRecord& c) override {
    return transact([&](Connection& db) {
      static const std::string sql = rows::client_insert_sql('$');
      return rows::client_values_but_created_at(c, [&](const auto&... values) {
        return db.exec(sql, values..., c.created_at).affected() == 1;
      });
    });
  }

  std::optional<ClientRecord> find_client(std::string_view client_id) override {
    static const std::string sql =
        "SELECT " + rows::client_columns() + " FROM clients WHERE client_id = $1";
    auto db = pool_.acquire();
    return optional_row(db->exec(sql, client_id), read_client);
  }

  // COLLATE "C": byte order, as SQLite sorts, whatever the database's locale.
  std::vector<ClientRecord> list_clients() override {
    static const std::string sql =
        "SELECT " + rows::client_columns() + " FROM clients ORDER BY client_id COLLATE \"C\"";
    auto db = pool_.acquire();
    return all_rows(db->exec(sql), read_client);
  }

  bool update_client(const ClientRecord& c) override {
    return transact([&](Connection& db) {
      static const std::string sql = rows::client_update_sql('$');
      return rows::client_values_but_created_at(
          c, [&](const auto&... values) { return db.exec(sql, values...).affected() == 1; });
    });
  }

  bool remove_client(std::string_view client_id) override {
    return transact([&](Connection& db) {
      const bool removed =
          db.exec("DELETE FROM clients WHERE client_id = $1", client_id).affected() == 1;
      // Dependents go even when the client row is already gone: nothing may outlive it.
      for (const auto* sql :
           {"DELETE FROM pending WHERE client_id = $1", "DELETE FROM codes WHERE client_id = $1",
            "DELETE FROM grants WHERE client_id = $1",
            "DELETE FROM access_tokens WHERE client_id = $1",
            "DELETE FROM refresh_tokens WHERE client_id = $1",
            "DELETE FROM session_clients WHERE client_id = $1",
            "DELETE FROM logout_deliveries WHERE client_id = $1"}) {
        db.exec(sql, client_id);
      }
      return removed;
    });
  }

  std::optional<RevokedTokens> revoke_client_tokens(std::string_view client_id,
                                                    const Event& event) override {
    return transact([&](Connection& db) -> std::optional<RevokedTokens> {
      // The client's row locked: a removal at the same moment waits, or came first.
      if (db.exec("SELECT 1 FROM clients WHERE client_id = $1 FOR UPDATE", client_id).empty())
        return std::nullopt;
      RevokedTokens revoked;
      revoked.access_tokens =
          db.exec("UPDATE access_tokens SET revoked = true WHERE client_id = $1 AND NOT revoked",
                  client_id)
              .affected();
      revoked.refresh_tokens =
          db.exec("UPDATE refresh_tokens SET revoked = true WHERE client_id = $1 AND NOT revoked",
                  client_id)
              .affected();
      revoked.codes =
          db.exec("DELETE FROM codes WHERE client_id = $1 AND NOT used", client_id).affected();
      append_event_row(db, event);
      return revoked;
    });
  }

  // --- Residents -------------------------------------------------------------------------------

  bool insert_resident(const ResidentRecord& r) override {
    return transact([&](Connection& db) {
      // Without a conflict target, DO NOTHING covers both the id and the username.
      return db.exec(
                   "INSERT INTO residents (id, username, password_hash, name, email, created_at) "
                   "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                   r.id, r.username, r.password_hash, r.name, r.email, r.created_at)
                 .affected() == 1;
    });
  }

  std::optional<ResidentRecord> find_resident_by_username(std::string_view username) override {
    auto db = pool_.acquire();
    return optional_row(
        db->exec("SELECT " INFOBANK_RESIDENT_COLUMNS " FROM residents WHERE username = $1",
                 username),
        read_resident);
  }

  std::optional<ResidentRecord> find_resident(std::string_view id) override {
    auto db = pool_.acquire();
    return optional_row(
        db->exec("SELECT " INFOBANK_RESIDENT_COLUMNS " FROM residents WHERE id = $1", id),
        read_resident);
  }

  std::vector<ResidentRecord> list_residents() override {
    auto db = pool_.acquire();
    return all_rows(db->exec("SELECT " INFOBANK_RESIDENT_COLUMNS
                             " FROM residents ORDER BY username COLLATE \"C\""),
                    read_resident);
  }

  bool remove_resident_by_username(std::string_view username) override {
    return transact([&](Connection& db) {
      const Result found =
          db.exec("SELECT id FROM residents WHERE username = $1 FOR UPDATE", username);
      if (found.empty()) return false;
      const std::string id = found.text(0, 0);
      // Every session of the resident ends with them: the clients signed in within one are
      // told, as at a logout (due at once; deliveries already queued for them go out too).
      db.exec("INSERT INTO logout_deliveries (sid, client_id, resident_id, attempts, next_at) "
              "SELECT s.sid, s.client_id, s.resident_id, 0, 0 FROM session_clients AS s "
              "JOIN clients AS c ON c.client_id = s.client_id "
              "WHERE s.resident_id = $1 AND c.backchannel_logout_uri <> '' "
              "ON CONFLICT DO NOTHING",
              id);
      // The log keeps its pseudonyms (it is append-only); erasing the mapping is what makes
      // them anonymous.
      for (const auto* sql :
           {"DELETE FROM residents WHERE id = $1", "DELETE FROM sessions WHERE resident_id = $1",
            "DELETE FROM resident_pseudonyms WHERE resident_id = $1",
            "DELETE FROM grants WHERE resident_id = $1", "DELETE FROM codes WHERE resident_id = $1",
            "DELETE FROM access_tokens WHERE resident_id = $1 AND resident_id <> ''",
            "DELETE FROM refresh_tokens WHERE resident_id = $1",
            "DELETE FROM session_clients WHERE resident_id = $1",
            "DELETE FROM contracts WHERE resident_id = $1",
            "DELETE FROM transfer_datasets WHERE transfer_id IN "
            "(SELECT id FROM transfers WHERE resident_id = $1)",
            "DELETE FROM transfers WHERE resident_id = $1"}) {
        db.exec(sql, id);
      }
      return true;
    });
  }

  // --- Failed logins ---------------------------------------------------------------------------

  // The window is (now - window, now]. A per-key advisory lock makes concurrent failures of
  // one key count each other, as SQLite's single writer does: without it two nodes could both
  // count n + 1 and let one guess more through the throttle.
  int record_login_failure(std::string_view key, std::int64_t now, std::int64_t window) override {
    return transact([&](Connection& db) {
      lock_until_commit(db, key);
      db.exec("DELETE FROM login_failures WHERE key = $1 AND at <= $2", key, now - window);
      db.exec("INSERT INTO login_failures (key, at) VALUES ($1, $2)", key, now);
      return count_failures(db, key, now, window);
    });
  }

  int login_failures(std::string_view key, std::int64_t now, std::int64_t window) override {
    auto db = pool_.acquire();
    return count_failures(*db, key, now, window);
  }

  void clear_login_failures(std::string_view key) override {
    transact([&](Connection& db) { db.exec("DELETE FROM login_failures WHERE key = $1", key); });
  }

  // --- Sessions --------------------------------------------------------------------------------

  void insert_session(const LoginSession& s) override {
    transact([&](Connection& db) { insert_session_row(db, s); });
  }

  void renew_session(std::string_view old_id_hash, const LoginSession& fresh) override {
    transact([&](Connection& db) {
      db.exec("DELETE FROM sessions WHERE id_hash = $1", old_id_hash);
      insert_session_row(db, fresh);
      // Its clients are remembered as long as the session lasts now.
      db.exec("UPDATE session_clients SET expires_at = $2 WHERE sid = $1 AND sid <> ''",
              fresh.sid, fresh.expires_at);
    });
  }

  static void insert_session_row(Connection& db, const LoginSession& s) {
    db.exec(
        "INSERT INTO sessions (id_hash, resident_id, csrf_token, auth_time, expires_at, sid) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        s.id_hash, s.resident_id, s.csrf_token, s.auth_time, s.expires_at, s.sid);
  }

  std::optional<LoginSession> find_session(std::string_view id_hash, std::int64_t now) override {
    auto db = pool_.acquire();
    return optional_row(
        db->exec("SELECT id_hash, resident_id, csrf_token, auth_time, expires_at, sid "
                 "FROM sessions WHERE id_hash = $1 AND expires_at > $2",
                 id_hash, now),
        [](const Row& row) {
          return LoginSession{row.text(0),  row.text(1),  row.text(2),
                              row.int64(3), row.int64(4), row.text(5)};
        });
  }

  int end_session(std::string_view id_hash, std::int64_t now) override {
    return transact([&](Connection& db) {
      const Result ended =
          db.exec("DELETE FROM sessions WHERE id_hash = $1 RETURNING sid", id_hash);
      if (ended.empty() || ended.text(0, 0).empty()) return 0;
      const std::string sid = ended.text(0, 0);
      const int queued =
          static_cast<int>(db.exec("INSERT INTO logout_deliveries (sid, client_id, resident_id, "
                                   "attempts, next_at) SELECT s.sid, s.client_id, s.resident_id, "
                                   "0, $2 FROM session_clients AS s JOIN clients AS c ON "
                                   "c.client_id = s.client_id WHERE s.sid = $1 AND "
                                   "c.backchannel_logout_uri <> '' ON CONFLICT DO NOTHING",
                                   sid, now)
                               .affected());
      db.exec("DELETE FROM session_clients WHERE sid = $1", sid);
      return queued;
    });
  }

  std::vector<std::string> session_client_ids(std::string_view sid) override {
    auto db = pool_.acquire();
    return all_rows(db->exec("SELECT client_id FROM session_clients WHERE sid = $1 "
                             "ORDER BY client_id COLLATE \"C\"",
                             sid),
                    [](const auto& row) { return row.text(0); });
  }

  void add_session_client(const SessionClient& c) override {
    transact([&](Connection& db) {
      db.exec(
          "INSERT INTO session_clients (sid, client_id, resident_id, expires_at) "
          "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
          c.sid, c.client_id, c.resident_id, c.expires_at);
    });
  }

  // SKIP LOCKED: nodes claiming at once take different rows instead of waiting for each other.
  std::vector<LogoutDelivery> claim_logout_deliveries(std::int64_t now, std::int64_t lease_until,
                                                      int limit) override {
    return transact([&](Connection& db) {
      const Result claimed = db.exec(
          "UPDATE logout_deliveries SET attempts = attempts + 1, next_at = $2 WHERE (sid, "
          "client_id) IN (SELECT sid, client_id FROM logout_deliveries WHERE next_at <= $1 "
          "ORDER BY next_at LIMIT $3 FOR UPDATE SKIP LOCKED) "
          "RETURNING sid, client_id, resident_id, attempts",
          now, lease_until, static_cast<std::int64_t>(limit));
      std::vector<LogoutDelivery> out;
      for (int i = 0; i < claimed.rows(); ++i) {
        out.push_back({claimed.text(i, 0), claimed.text(i, 1), claimed.text(i, 2),
                       static_cast<int>(claimed.int64(i, 3))});
      }
      return out;
    });
  }

  bool settle_logout_delivery(const LogoutDelivery& claimed, std::int64_t retry_at) override {
    const auto attempts = static_cast<std::int64_t>(claimed.attempts);
    return transact([&](Connection& db) {
      if (retry_at == 0) {
        return db.exec("DELETE FROM logout_deliveries "
                       "WHERE sid = $1 AND client_id = $2 AND attempts = $3",
                       claimed.sid, claimed.client_id, attempts)
                   .affected() == 1;
      }
      return db.exec("UPDATE logout_deliveries SET next_at = $4 "
                     "WHERE sid = $1 AND client_id = $2 AND attempts = $3",
                     claimed.sid, claimed.client_id, attempts, retry_at)
                 .affected() == 1;
    });
  }

  // --- Pending authorization requests ----------------------------------------------------------

  void insert_pending(const PendingAuthorization& p) override {
    transact([&](Connection& db) {
      db.exec(
          "INSERT INTO pending (handle, client_id, redirect_uri, scope, state, nonce, "
          "code_challenge, authorization_details, resources, prompt, max_age, dpop_jkt, "
          "response_mode, pushed, expires_at, ui_locales, login_hint, subject_hint, "
          "redirect_uri_given, id_token_claims) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
          "$11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
          p.handle, p.client_id, p.redirect_uri, p.scope, p.state, p.nonce, p.code_challenge,
          p.authorization_details, encode_list(p.resources), p.prompt, p.max_age, p.dpop_jkt,
          p.response_mode, p.pushed, p.expires_at, p.ui_locales, p.login_hint, p.subject_hint,
          p.redirect_uri_given, p.id_token_claims);
    });
  }

  std::optional<PendingAuthorization> find_pending(std::string_view handle,
                                                   std::int64_t now) override {
    auto db = pool_.acquire();
    return optional_row(db->exec("SELECT " INFOBANK_PENDING_COLUMNS
                                 " FROM pending WHERE handle = $1 AND expires_at > $2",
                                 handle, now),
                        read_pending);
  }

  // RFC 9126 §4: a request_uri is one-time use. DELETE ... RETURNING removes and reads in one
  // statement; a racing second DELETE waits for the row lock and then finds the row gone.
  std::optional<PendingAuthorization> take_pending(std::string_view handle,
                                                   std::int64_t now) override {
    auto pending = transact([&](Connection& db) {
      return optional_row(
          db.exec("DELETE FROM pending WHERE handle = $1 RETURNING " INFOBANK_PENDING_COLUMNS,
                  handle),
          read_pending);
    });
    if (pending && pending->expires_at <= now) return std::nullopt;  // expired: gone anyway
    return pending;
  }

  // --- Authorization codes ---------------------------------------------------------------------

  void insert_code(const AuthorizationCode& c) override {
    transact([&](Connection& db) {
      db.exec(
          "INSERT INTO codes (code_hash, client_id, resident_id, redirect_uri, scope, nonce, "
          "code_challenge, authorization_details, resources, dpop_jkt, grant_id, auth_time, "
          "expires_at, used, sid, id_token_claims) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
          "$10, $11, $12, $13, $14, $15, $16)",
          c.code_hash, c.client_id, c.resident_id, c.redirect_uri, c.scope, c.nonce,
          c.code_challenge, c.authorization_details, encode_list(c.resources), c.dpop_jkt,
          c.grant_id, c.auth_time, c.expires_at, c.used, c.sid, c.id_token_claims);
    });
  }

  // RFC 9700 §4.5 / RFC 6749 §4.1.2: one-time codes. FOR UPDATE: a racing redemption on any
  // node waits for this transaction and then reads used = true.
  std::optional<AuthorizationCode> consume_code(std::string_view code_hash) override {
    return transact([&](Connection& db) {
      auto code = optional_row(
          db.exec("SELECT " INFOBANK_CODE_COLUMNS " FROM codes WHERE code_hash = $1 FOR UPDATE",
                  code_hash),
          read_code);
      if (code && !code->used) {
        db.exec("UPDATE codes SET used = true WHERE code_hash = $1", code_hash);
      }
      return code;
    });
  }

  // --- Grants ----------------------------------------------------------------------------------

  bool save_grant(const Grant& g, const std::optional<Grant>& previous,
                  const Event& event) override {
    return transact([&](Connection& db) {
      if (previous) {
        // The row's lock orders this after any other writer of the grant, and the condition
        // is evaluated again on the row as they left it.
        const Result updated = db.exec(
            "UPDATE grants SET scope = $2, authorization_details = $3, expires_at = $4 "
            "WHERE id = $1 AND NOT revoked AND scope = $5 AND authorization_details = $6 "
            "AND expires_at = $7",
            previous->id, g.scope, g.authorization_details, g.expires_at, previous->scope,
            previous->authorization_details, previous->expires_at);
        if (updated.affected() != 1) return false;
      } else {
        if (!g.revoked) {
          // No row to lock yet: a lock on the pair, held to the commit, orders the approvals
          // of one resident to one client, across nodes.
          lock_until_commit(db, "grant\x1f" + g.resident_id + '\x1f' + g.client_id);
          if (!db.exec("SELECT 1 FROM grants WHERE resident_id = $1 AND client_id = $2 AND "
                       "NOT revoked",
                       g.resident_id, g.client_id)
                   .empty())
            return false;
        }
        db.exec(
            "INSERT INTO grants (id, resident_id, client_id, scope, authorization_details, "
            "created_at, expires_at, revoked) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            g.id, g.resident_id, g.client_id, g.scope, g.authorization_details, g.created_at,
            g.expires_at, g.revoked);
      }
      append_event_row(db, event);
      return true;
    });
  }

  std::optional<Grant> find_active_grant(std::string_view resident_id, std::string_view client_id,
                                         std::int64_t now) override {
    auto db = pool_.acquire();
    return optional_row(
        db->exec("SELECT " INFOBANK_GRANT_COLUMNS
                 " FROM grants WHERE resident_id = $1 AND client_id = $2 AND NOT revoked "
                 "AND (expires_at = 0 OR expires_at > $3) "
                 "ORDER BY created_at DESC, id COLLATE \"C\" LIMIT 1",
                 resident_id, client_id, now),
        read_grant);
  }

  std::optional<Grant> find_grant(std::string_view grant_id) override {
    auto db = pool_.acquire();
    return optional_row(
        db->exec("SELECT " INFOBANK_GRANT_COLUMNS " FROM grants WHERE id = $1", grant_id),
        read_grant);
  }

  std::vector<Grant> list_grants(std::string_view resident_id) override {
    auto db = pool_.acquire();
    return all_rows(db->exec("SELECT " INFOBANK_GRANT_COLUMNS
                             " FROM grants WHERE resident_id = $1 "
                             "ORDER BY created_at DESC, id COLLATE \"C\"",
                             resident_id),
                    read_grant);
  }

  std::vector<Grant> list_ended_grants(std::int64_t now, int limit) override {
    auto db = pool_.acquire();
    return all_rows(db->exec("SELECT " INFOBANK_GRANT_COLUMNS
                             " FROM grants WHERE NOT revoked AND expires_at > 0 AND "
                             "expires_at <= $1 ORDER BY expires_at, id COLLATE \"C\" LIMIT $2",
                             now, static_cast<std::int64_t>(limit)),
                    read_grant);
  }

  // The same sweep as the SQLite store (see the comment there): the grant's unredeemed codes,
  // the families of its refresh tokens with their access tokens, and every access token of its
  // resident and client. The grant row is locked first, so two callers do not both end it.
  bool revoke_grant(std::string_view grant_id, const Event& event,
                    std::int64_t ended_by) override {
    return transact([&](Connection& db) {
      const Result grant = db.exec(
          "SELECT resident_id, client_id, revoked, expires_at FROM grants WHERE id = $1 "
          "FOR UPDATE",
          grant_id);
      if (grant.empty() || grant.boolean(0, 2)) return false;
      const std::int64_t expires_at = grant.int64(0, 3);
      if (ended_by > 0 && (expires_at == 0 || expires_at > ended_by)) return false;
      const std::string resident_id = grant.text(0, 0);
      const std::string client_id = grant.text(0, 1);
      db.exec("UPDATE grants SET revoked = true WHERE id = $1", grant_id);
      db.exec("DELETE FROM codes WHERE grant_id = $1", grant_id);
      db.exec(
          "UPDATE access_tokens SET revoked = true WHERE family_id <> '' AND family_id IN "
          "(SELECT family_id FROM refresh_tokens WHERE grant_id = $1 AND family_id <> '')",
          grant_id);
      db.exec(
          "UPDATE refresh_tokens SET revoked = true WHERE grant_id = $1 OR family_id IN (SELECT "
          "family_id FROM refresh_tokens WHERE grant_id = $1 AND family_id <> '')",
          grant_id);
      if (!resident_id.empty()) {
        db.exec("UPDATE access_tokens SET revoked = true WHERE resident_id = $1 AND "
                "client_id = $2 AND resident_id <> ''",
                resident_id, client_id);
      }
      append_event_row(db, event);
      return true;
    });
  }

  // --- Tokens ----------------------------------------------------------------------------------

  // On the token endpoint's path: batched with concurrent writes (group commit).
  void insert_access_token(const AccessTokenRecord& t) override {
    group_.run([&t](Connection& db) { insert_access_token_row(db, t); });
  }

  void insert_access_token(const AccessTokenRecord& t, const Event& e) override {
    group_.run([this, &t, &e](Connection& db) {
      insert_access_token_row(db, t);
      append_event_row(db, e);
    });
  }

  void submit_access_token(AccessTokenRecord t, Event e, Done done) override {
    group_.submit(
        [this, t = std::move(t), e = std::move(e)](Connection& db) {
          insert_access_token_row(db, t);
          append_event_row(db, e);
        },
        std::move(done));
  }

  std::optional<AccessTokenRecord> find_access_token(std::string_view jti) override {
    auto db = pool_.acquire();
    return optional_row(
        db->exec("SELECT " INFOBANK_ACCESS_TOKEN_COLUMNS " FROM access_tokens WHERE jti = $1", jti),
        read_access_token);
  }

  bool revoke_access_token(std::string_view jti) override {
    return transact([&](Connection& db) {
      return db.exec("UPDATE access_tokens SET revoked = true WHERE jti = $1", jti).affected() == 1;
    });
  }

  void insert_refresh_token(const RefreshTokenRecord& t) override {
    transact([&](Connection& db) { insert_refresh_token_row(db, t); });
  }

  std::optional<RefreshTokenRecord> find_refresh_token(std::string_view token_hash) override {
    auto db = pool_.acquire();
    return optional_row(db->exec("SELECT " INFOBANK_REFRESH_TOKEN_COLUMNS
                                 " FROM refresh_tokens WHERE token_hash = $1",
                                 token_hash),
                        read_refresh_token);
  }

  // RFC 9700 §4.14.2. Returns the record as it was before the call. FOR UPDATE: of two racing
  // rotations (on any nodes) the second waits, then reads rotated = true and revokes the family.
  std::optional<RefreshTokenRecord> rotate_refresh_token(
      std::string_view token_hash, const RefreshTokenRecord& successor) override {
    return transact([&](Connection& db) {
      auto old = optional_row(db.exec("SELECT " INFOBANK_REFRESH_TOKEN_COLUMNS
                                      " FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
                                      token_hash),
                              read_refresh_token);
      if (!old) return old;
      if (old->rotated) {
        // Reuse: either the client or an attacker holds a stale token; revoke them both out.
        revoke_family_rows(db, old->family_id);
      } else if (!old->revoked) {
        db.exec("UPDATE refresh_tokens SET rotated = true WHERE token_hash = $1", token_hash);
        insert_refresh_token_row(db, successor);
      }
      return old;
    });
  }

  bool revoke_refresh_token(std::string_view token_hash) override {
    return transact([&](Connection& db) {
      return db.exec("UPDATE refresh_tokens SET revoked = true WHERE token_hash = $1", token_hash)
                 .affected() == 1;
    });
  }

  void revoke_family(std::string_view family_id) override {
    transact([&](Connection& db) { revoke_family_rows(db, family_id); });
  }

  // RFC 9700 §4.5: a replayed code revokes the access tokens issued from it, and the refresh
  // families started from it with every access token issued along them.
  void revoke_tokens_from_code(std::string_view code_hash) override {
    if (code_hash.empty()) return;  // tokens not from a code carry an empty code_hash
    transact([&](Connection& db) {
      // Two statements, each matching its partial index (tokens without a code or family are
      // not indexed by them).
      db.exec("UPDATE access_tokens SET revoked = true WHERE code_hash = $1 AND code_hash <> ''",
              code_hash);
      db.exec(
          "UPDATE access_tokens SET revoked = true WHERE family_id <> '' AND family_id IN (SELECT "
          "family_id FROM refresh_tokens WHERE code_hash = $1 AND family_id <> '')",
          code_hash);
      db.exec(
          "UPDATE refresh_tokens SET revoked = true WHERE code_hash = $1 OR family_id IN (SELECT "
          "family_id FROM refresh_tokens WHERE code_hash = $1 AND family_id <> '')",
          code_hash);
    });
  }

  // --- Replay caches ---------------------------------------------------------------------------

  // One statement: a new (scope, jti) inserts; a known one is only overwritten when its entry
  // has expired. A concurrent insert of the same key on another node waits for this one and
  // then takes the DO UPDATE path, whose WHERE fails: exactly one caller sees a row change.
  bool remember_jti(std::string_view scope, std::string_view jti, std::int64_t expires_at,
                    std::int64_t now) override {
    bool first = false;
    group_.run([&](Connection& db) {
      first = db.exec(
                      "INSERT INTO seen_jtis (scope, jti, expires_at) VALUES ($1, $2, $3) "
                      "ON CONFLICT (scope, jti) DO UPDATE SET expires_at = excluded.expires_at "
                      "WHERE seen_jtis.expires_at <= $4",
                      scope, jti, expires_at, now)
                  .affected() == 1;
    });
    return first;
  }

  // --- Signing keys ----------------------------------------------------------------------------

  void insert_signing_key(const SigningKeyRecord& k) override {
    transact([&](Connection& db) { insert_signing_key_row(db, k); });
  }

  std::vector<SigningKeyRecord> list_signing_keys() override {
    auto db = pool_.acquire();
    return all_rows(db->exec("SELECT kid, alg, private_pem, created_at, retired_at, activates_at "
                             "FROM signing_keys ORDER BY created_at DESC, ord DESC"),
                    read_signing_key);
  }

  // The table lock (self-conflicting, readers unaffected) serializes rotations across nodes:
  // without it, two nodes' UPDATEs would each miss the key the other inserts, and both new
  // keys would stay current.
  bool rotate_signing_key(const SigningKeyRecord& next, std::int64_t now,
                          bool unless_pending) override {
    const std::int64_t at = std::max(next.activates_at, now);
    bool rotated = false;
    transact([&](Connection& db) {
      db.exec_script("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE", "rotate_signing_key");
      if (unless_pending &&
          !db.exec("SELECT 1 FROM signing_keys WHERE alg = $1 AND activates_at > $2 AND "
                   "(retired_at = 0 OR retired_at > activates_at)",
                   next.alg, now)
               .empty())
        return;
      db.exec("UPDATE signing_keys SET retired_at = $1 "
              "WHERE alg = $2 AND (retired_at = 0 OR retired_at > $1)",
              at, next.alg);
      insert_signing_key_row(db, next);
      rotated = true;
    });
    return rotated;
  }

  // --- Events ----------------------------------------------------------------------------------

  // Every request that changes something appends one: batched (group commit).
  std::int64_t append_event(const Event& e) override {
    std::int64_t seq = 0;
    group_.run([this, &e, &seq](Connection& db) { seq = append_event_row(db, e); });
    return seq;
  }

  // One leaf: the entry, and its row of the tree (AuditTail::append).
  //
  // One total order across nodes: the advisory lock is taken before the log's size is read and
  // held until COMMIT, and READ COMMITTED reads the size with a snapshot taken after the lock
  // was granted, so it includes the previous holder's committed leaves. The tail this store
  // keeps (tail_) is checked against the stored log's last leaf then, once per transaction:
  // it is read back only when someone else appended (another node, another store) or a
  // transaction of ours did not commit.
  //
  // In a group commit's batch (commit_batch on this thread and connection) the rows are only
  // queued, and reach the tables with the rest of the batch's leaves before its COMMIT: two
  // multi-row INSERTs for the batch instead of a lock, a read of the size, the Merkle nodes'
  // reads and two INSERTs per leaf, each a round trip to the server. Elsewhere (one write in
  // its own transaction) they are written at once.
  std::int64_t append_event_row(Connection& db, const Event& in) {
    BatchRows* batch =
        (current_batch_rows != nullptr && current_batch_rows->db == &db) ? current_batch_rows
                                                                         : nullptr;
    if (batch == nullptr || !batch->tail_checked) {
      // Before tail_mutex_: the lock may wait for another node's or thread's COMMIT.
      db.exec("SELECT pg_advisory_xact_lock($1::integer, $2::integer)", postgres::kLockClass,
              postgres::kAuditLogLock);
    }
    // Only the advisory lock's holder gets here, and it holds it until COMMIT; the mutex
    // makes this store's tail visible from one holder's thread to the next.
    std::lock_guard lock(tail_mutex_);
    if (batch == nullptr || !batch->tail_checked) {
      check_audit_tail(db);
      if (batch != nullptr) batch->tail_checked = true;
    }
    Event e = in;
    e.seq = tail_.size() + 1;
    PendingAuditRow row;
    row.tree_hashes = tail_.append(hasher_->leaf_hash(e), *hasher_);
    row.datasets = encode_list(e.datasets);
    row.event = std::move(e);
    const std::int64_t seq = row.event.seq;
    if (batch != nullptr) {
      batch->pending.push_back(std::move(row));
    } else {
      std::vector<PendingAuditRow> one;
      one.push_back(std::move(row));
      flush_audit_rows(db, one);
    }
    return seq;
  }

  // Makes tail_ match the audit log as the open transaction sees it (under the advisory lock):
  // the last leaf (its index and hash) tells whether it still does; if not, the frontier is
  // read back, its rows in one statement (with two nodes appending in turn, that is every
  // batch).
  void check_audit_tail(Connection& db) {
    const Result last =
        db.exec("SELECT leaf + 1, substring(hashes FROM 1 FOR 32) FROM audit_tree "
                "ORDER BY leaf DESC LIMIT 1");
    const std::int64_t size = last.empty() ? 0 : last.int64(0, 0);
    std::string last_leaf = last.empty() ? std::string() : last.text(0, 1);
    if (tail_.matches(size, last_leaf)) return;

    // At most one node per level below 63: statements for 1 to 63 leaves' rows.
    static const auto kSql = [] {
      std::array<std::string, 64> sql;
      std::string in;
      for (std::size_t n = 1; n < sql.size(); ++n) {
        in += (n > 1 ? ", $" : "$") + std::to_string(n);
        sql[n] = "SELECT leaf, hashes FROM audit_tree WHERE leaf IN (" + in + ")";
      }
      return sql;
    }();
    const auto nodes = AuditTail::frontier_nodes(size);
    std::vector<std::pair<std::int64_t, std::string>> rows;  // leaf -> its hashes
    if (!nodes.empty()) {
      postgres::Params leaves;
      for (const auto& [level, index] : nodes) {
        if (const auto at = audit_node_at(level, index)) leaves.add(at->leaf);
      }
      const Result r = db.exec_params(kSql.at(static_cast<std::size_t>(leaves.size())), leaves);
      for (int i = 0; i < r.rows(); ++i) rows.emplace_back(r.int64(i, 0), r.text(i, 1));
    }
    // A node whose row is missing or too short reads as missing, as read_audit_node has it.
    tail_ = AuditTail::load(size, std::move(last_leaf),
                            [&](unsigned level, std::int64_t index) -> std::optional<std::string> {
                              const auto at = audit_node_at(level, index);
                              if (!at) return std::nullopt;
                              for (const auto& [leaf, hashes] : rows) {
                                if (leaf == at->leaf &&
                                    static_cast<std::int64_t>(hashes.size()) >= at->offset + 32) {
                                  return hashes.substr(static_cast<std::size_t>(at->offset), 32);
                                }
                              }
                              return std::nullopt;
                            });
  }

  // Writes `rows` (queued audit entries with their leaves' rows of the tree), up to
  // kMaxAuditRowsPerInsert per statement, and empties it, also when it throws (the
  // transaction then fails as a whole).
  static void flush_audit_rows(Connection& db, std::vector<PendingAuditRow>& rows) {
    struct Clear {
      std::vector<PendingAuditRow>& rows;
      ~Clear() { rows.clear(); }
    } clear{rows};
    static const auto kEntrySql = multi_row_inserts(
        "INSERT INTO audit_entries (seq, time, actor, action, resident, client_id, purpose, "
        "datasets, outcome, detail, request_id) VALUES ",
        11, '$');
    static const auto kTreeSql =
        multi_row_inserts("INSERT INTO audit_tree (leaf, hashes) VALUES ", 2, '$');
    for (std::span<const PendingAuditRow> left = rows; !left.empty();) {
      const auto n = std::min(left.size(), kMaxAuditRowsPerInsert);
      postgres::Params entries;
      postgres::Params tree;
      for (const auto& r : left.first(n)) {
        const Event& e = r.event;
        entries.add(e.seq);
        entries.add(e.time);
        entries.add(e.actor);
        entries.add(e.action);
        entries.add(e.resident);
        entries.add(e.client_id);
        entries.add(e.purpose);
        entries.add(r.datasets);
        entries.add(e.outcome);
        entries.add(e.detail);
        entries.add(e.request_id);
        tree.add(e.seq - 1);
        tree.add(Bytes{r.tree_hashes});
      }
      db.exec_params(kEntrySql[n], entries);
      db.exec_params(kTreeSql[n], tree);
      left = left.subspan(n);
    }
  }

  std::vector<Event> list_events(std::int64_t after_seq, int limit) override {
    if (limit <= 0) return {};  // as on SQLite; PostgreSQL refuses a negative LIMIT
    auto db = pool_.acquire();
    return all_rows(db->exec("SELECT " INFOBANK_EVENT_COLUMNS INFOBANK_EVENTS_FROM
                             " WHERE seq > $1 ORDER BY seq LIMIT $2",
                             after_seq, limit),
                    read_event);
  }

  std::vector<Event> query_events(const EventQuery& q) override {
    if (q.limit <= 0) return {};
    auto db = pool_.acquire();
    // One statement per order for every combination of the other filters: an empty one
    // matches all. A resident filter is written out so that the partial (resident, seq) index
    // serves it (`resident <> ''` is that index's condition). Datasets are stored encoded
    // ("len:name,"), so a dataset matches as the exact item "len:name,".
#define INFOBANK_EVENT_FILTER(RESIDENT)                                         \
  "SELECT " INFOBANK_EVENT_COLUMNS INFOBANK_EVENTS_FROM " WHERE " RESIDENT      \
  " AND seq > $1 AND ($3 = '' OR client_id = $3)"                               \
  " AND ($4 = '' OR action = $4) AND ($5 = '' OR purpose = $5)"                 \
  " AND ($6 = '' OR strpos(datasets, $6) > 0)"                                  \
  " AND time >= $7 AND ($8 = 0 OR time < $8)"
#define INFOBANK_ANY_RESIDENT "$2::text = ''"
#define INFOBANK_ONE_RESIDENT "resident = $2 AND resident <> ''"
    const std::string dataset = q.dataset.empty() ? std::string() : encode_list({q.dataset});
    // [resident filter?][newest first?]
    static constexpr const char* kSql[2][2] = {
        {INFOBANK_EVENT_FILTER(INFOBANK_ANY_RESIDENT) " ORDER BY seq LIMIT $9",
         INFOBANK_EVENT_FILTER(INFOBANK_ANY_RESIDENT) " ORDER BY seq DESC LIMIT $9"},
        {INFOBANK_EVENT_FILTER(INFOBANK_ONE_RESIDENT) " ORDER BY seq LIMIT $9",
         INFOBANK_EVENT_FILTER(INFOBANK_ONE_RESIDENT) " ORDER BY seq DESC LIMIT $9"}};
    const Result rows =
        db->exec(kSql[q.resident.empty() ? 0 : 1][q.newest_first ? 1 : 0],
                 q.newest_first ? std::int64_t{0} : q.after_seq, q.resident, q.client_id,
                 q.action, q.purpose, dataset, q.from, q.until, q.limit);
#undef INFOBANK_ANY_RESIDENT
#undef INFOBANK_ONE_RESIDENT
#undef INFOBANK_EVENT_FILTER
    return all_rows(rows, read_event);
  }

  std::int64_t audit_size() override {
    auto db = pool_.acquire();
    // The leaves the tree committed to (not the entries table, which an intruder could
    // extend). Leaves are 0..n-1 without gaps, so the last one's index gives n.
    const Result r = db->exec("SELECT leaf + 1 FROM audit_tree ORDER BY leaf DESC LIMIT 1");
    return r.empty() ? 0 : r.int64(0, 0);
  }

  std::optional<std::string> audit_node(unsigned level, std::int64_t index) override {
    auto db = pool_.acquire();
    return read_audit_node(*db, level, index);
  }

  // A row too short for the node (it is missing) reads as missing.
  static std::optional<std::string> read_audit_node(Connection& db, unsigned level,
                                                    std::int64_t index) {
    const auto at = audit_node_at(level, index);
    if (!at) return std::nullopt;
    const Result r = db.exec(
        "SELECT substring(hashes FROM $2::integer FOR 32) FROM audit_tree"
        " WHERE leaf = $1 AND octet_length(hashes) >= $3",
        at->leaf, at->offset + 1, at->offset + 32);
    if (r.empty()) return std::nullopt;
    return r.text(0, 0);
  }

  // INSERT ... ON CONFLICT DO NOTHING waits for a concurrent insert of the same resident and
  // then does nothing; the SELECT after it (a new snapshot) reads whichever row won.
  std::string get_or_create_pseudonym(std::string_view resident_id,
                                      std::string_view candidate) override {
    std::string value;
    group_.run([&](Connection& db) {
      db.exec(
          "INSERT INTO resident_pseudonyms (pseudonym, resident_id) VALUES ($1, $2) "
          "ON CONFLICT DO NOTHING",
          candidate, resident_id);
      const Result r =
          db.exec("SELECT pseudonym FROM resident_pseudonyms WHERE resident_id = $1", resident_id);
      if (r.empty()) throw StorageError("get_or_create_pseudonym: row vanished");
      value = r.text(0, 0);
    });
    return value;
  }

  std::optional<std::string> find_pseudonym(std::string_view resident_id) override {
    auto db = pool_.acquire();
    const Result r =
        db->exec("SELECT pseudonym FROM resident_pseudonyms WHERE resident_id = $1", resident_id);
    if (r.empty()) return std::nullopt;
    return r.text(0, 0);
  }

  std::string get_or_create_secret(std::string_view name,
                                   std::string_view value_if_absent) override {
    std::string value;
    group_.run([&](Connection& db) {
      db.exec("INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
              name, value_if_absent);
      const Result r = db.exec("SELECT value FROM secrets WHERE name = $1", name);
      if (r.empty()) throw StorageError("get_or_create_secret: row vanished");
      value = r.text(0, 0);
    });
    return value;
  }

  // --- Portability broker ----------------------------------------------------------------------

  bool insert_service(const ServiceRecord& v) override {
    return transact([&](Connection& db) {
      return db.exec("INSERT INTO services (" INFOBANK_SERVICE_COLUMNS
                     ") VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                     v.id, v.name, v.base_url, v.audience, encode_list(v.datasets),
                     v.authorization, v.created_at)
                 .affected() > 0;
    });
  }

  std::optional<ServiceRecord> find_service(std::string_view id) override {
    auto db = pool_.acquire();
    return optional_row(
        db->exec("SELECT " INFOBANK_SERVICE_COLUMNS " FROM services WHERE id = $1", id),
        read_service);
  }

  std::vector<ServiceRecord> list_services() override {
    auto db = pool_.acquire();
    return all_rows(
        db->exec("SELECT " INFOBANK_SERVICE_COLUMNS " FROM services ORDER BY id COLLATE \"C\""),
        read_service);
  }

  bool remove_service(std::string_view id) override {
    return transact([&](Connection& db) {
      return db.exec("DELETE FROM services WHERE id = $1", id).affected() > 0;
    });
  }

  void upsert_contract(const ContractRecord& c, const Event& e) override {
    transact([&](Connection& db) {
      upsert_contract_row(db, c);
      append_event_row(db, e);
    });
  }

  std::vector<ContractRecord> list_contracts(std::string_view resident_id) override {
    auto db = pool_.acquire();
    return all_rows(db->exec("SELECT " INFOBANK_CONTRACT_COLUMNS
                             " FROM contracts WHERE resident_id = $1 "
                             "ORDER BY since DESC, id COLLATE \"C\"",
                             resident_id),
                    read_contract);
  }

  std::optional<ContractRecord> find_active_contract(std::string_view resident_id,
                                                     std::string_view service_id) override {
    auto db = pool_.acquire();
    return optional_row(db->exec("SELECT " INFOBANK_CONTRACT_COLUMNS
                                 " FROM contracts WHERE resident_id = $1 AND service_id = $2 "
                                 "AND status = 'active' ORDER BY since DESC, id COLLATE \"C\" "
                                 "LIMIT 1",
                                 resident_id, service_id),
                        read_contract);
  }

  void insert_transfer(const TransferRecord& t, const std::vector<TransferDatasetRecord>& datasets,
                       const Event& e) override {
    transact([&](Connection& db) {
      db.exec("INSERT INTO transfers (" INFOBANK_TRANSFER_COLUMNS
              ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, "
              "$17, $18, $19)",
              t.id, t.resident_id, t.client_id, t.source_id, t.destination_id, t.source_subject,
              t.destination_subject, encode_list(t.datasets), t.delete_at_source, t.state, t.step,
              t.error, t.retries, t.next_attempt_at, t.lease_owner, t.lease_until, t.report,
              t.created_at, t.updated_at);
      for (const auto& d : datasets) write_transfer_dataset_row(db, d);
      append_event_row(db, e);
    });
  }

  std::optional<TransferRecord> find_transfer(std::string_view id) override {
    auto db = pool_.acquire();
    return optional_row(
        db->exec("SELECT " INFOBANK_TRANSFER_COLUMNS " FROM transfers WHERE id = $1", id),
        read_transfer);
  }

  std::vector<TransferDatasetRecord> list_transfer_datasets(
      std::string_view transfer_id) override {
    auto db = pool_.acquire();
    return all_rows(db->exec("SELECT " INFOBANK_TRANSFER_DATASET_COLUMNS
                             " FROM transfer_datasets WHERE transfer_id = $1 ORDER BY ord",
                             transfer_id),
                    read_transfer_dataset);
  }

  std::vector<TransferRecord> list_transfers(std::string_view resident_id) override {
    auto db = pool_.acquire();
    return all_rows(db->exec("SELECT " INFOBANK_TRANSFER_COLUMNS
                             " FROM transfers WHERE resident_id = $1 "
                             "ORDER BY created_at DESC, id COLLATE \"C\"",
                             resident_id),
                    read_transfer);
  }

  // transfers_state (state, created_at) narrows the scan to the one state's rows.
  std::vector<TransferRecord> list_transfers_waiting(std::string_view state,
                                                     std::int64_t changed_before,
                                                     int limit) override {
    auto db = pool_.acquire();
    return all_rows(db->exec("SELECT " INFOBANK_TRANSFER_COLUMNS
                             " FROM transfers WHERE state = $1 AND updated_at < $2 "
                             "ORDER BY updated_at, id COLLATE \"C\" LIMIT $3",
                             state, changed_before, static_cast<std::int64_t>(limit)),
                    read_transfer);
  }

  // The guarded UPDATE is atomic on its own: a second node's UPDATE of the same row waits,
  // then re-checks state and lease_owner against the committed row and changes nothing.
  bool update_transfer(const TransferRecord& t, std::string_view expected_state,
                       const std::vector<TransferDatasetRecord>& progress,
                       const std::vector<ContractRecord>& contracts,
                       const std::vector<Event>& events) override {
    return transact([&](Connection& db) {
      const auto updated =
          db.exec("UPDATE transfers SET state = $3, step = $4, error = $5, retries = $6, "
                  "next_attempt_at = $7, lease_until = $8, report = $9, updated_at = $10 "
                  "WHERE id = $1 AND state = $2 AND lease_owner = $11",
                  t.id, expected_state, t.state, t.step, t.error, t.retries, t.next_attempt_at,
                  t.lease_until, t.report, t.updated_at, t.lease_owner)
              .affected();
      if (updated == 0) return false;  // committed empty: nothing was written
      for (const auto& d : progress) write_transfer_dataset_row(db, d);
      for (const auto& c : contracts) upsert_contract_row(db, c);
      for (const auto& e : events) append_event_row(db, e);
      return true;
    });
  }

  // One statement across nodes: FOR UPDATE SKIP LOCKED passes over a transfer another node is
  // claiming right now (and re-checks a row changed since the snapshot), so two nodes claim
  // two different transfers instead of waiting for each other.
  std::optional<TransferRecord> claim_transfer(std::string_view owner, std::int64_t now,
                                               std::int64_t lease_until) override {
    return transact([&](Connection& db) {
      // Built once: the statement's text is its cache key on each connection.
      static const std::string sql =
          "UPDATE transfers SET lease_owner = $2, lease_until = $3 WHERE id = (SELECT id FROM "
          "transfers WHERE " + rows::runnable_states_sql() +
          " AND next_attempt_at <= $1 AND (lease_owner = '' OR lease_until < $1) ORDER BY "
          "created_at, id COLLATE \"C\" LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING "
          INFOBANK_TRANSFER_COLUMNS;
      return optional_row(db.exec(sql, now, owner, lease_until), read_transfer);
    });
  }

  void release_transfer(std::string_view id, std::string_view owner) override {
    transact([&](Connection& db) {
      db.exec("UPDATE transfers SET lease_owner = '', lease_until = 0 "
              "WHERE id = $1 AND lease_owner = $2",
              id, owner);
    });
  }

  void release_transfers(std::string_view owner) override {
    transact([&](Connection& db) {
      db.exec("UPDATE transfers SET lease_owner = '', lease_until = 0 WHERE lease_owner = $1",
              owner);
    });
  }

  // --- Housekeeping ----------------------------------------------------------------------------

  // As on SQLite: each table in batches of kPurgeBatch rows, each its own transaction, so that
  // no sweep holds row locks (or a long transaction that keeps VACUUM from its work) for long.
  void purge_expired(std::int64_t now) override {
    const std::pair<const char*, std::int64_t> batches[] = {
        {"DELETE FROM codes WHERE ctid = ANY (ARRAY("
         "SELECT ctid FROM codes WHERE expires_at <= $1 LIMIT $2))", now},
        {"DELETE FROM pending WHERE ctid = ANY (ARRAY("
         "SELECT ctid FROM pending WHERE expires_at <= $1 LIMIT $2))", now},
        {"DELETE FROM sessions WHERE ctid = ANY (ARRAY("
         "SELECT ctid FROM sessions WHERE expires_at <= $1 LIMIT $2))", now},
        {"DELETE FROM session_clients WHERE ctid = ANY (ARRAY("
         "SELECT ctid FROM session_clients WHERE expires_at <= $1 LIMIT $2))", now},
        {"DELETE FROM seen_jtis WHERE ctid = ANY (ARRAY("
         "SELECT ctid FROM seen_jtis WHERE expires_at <= $1 LIMIT $2))", now},
        {"DELETE FROM access_tokens WHERE ctid = ANY (ARRAY("
         "SELECT ctid FROM access_tokens WHERE expires_at <= $1 LIMIT $2))",
         now - kExpiredTokenRetention},
        {"DELETE FROM refresh_tokens WHERE ctid = ANY (ARRAY("
         "SELECT ctid FROM refresh_tokens WHERE expires_at <= $1 LIMIT $2))",
         now - kExpiredTokenRetention},
        {"DELETE FROM login_failures WHERE ctid = ANY (ARRAY("
         "SELECT ctid FROM login_failures WHERE at <= $1 LIMIT $2))",
         now - kLoginFailureRetention},
    };
    for (const auto& batch : batches) {
      for (std::int64_t deleted = kPurgeBatch; deleted == kPurgeBatch;) {
        deleted = transact([&](Connection& db) {
          return db.exec(batch.first, batch.second, kPurgeBatch).affected();
        });
      }
    }
  }

 private:
  using Group = GroupCommit<Connection>;
  using Write = Group::Write;

  // A transaction-scoped lock on a name (PostgreSQL's advisory locks): writers that take the
  // same name wait for each other's commit. Names of different kinds share the hash space; a
  // collision only makes two unrelated writers wait.
  static void lock_until_commit(Connection& db, std::string_view name) {
    db.exec("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", name);
  }

  // Runs body(connection) in one transaction and commits; runs it again, from the start and
  // on a fresh transaction, when PostgreSQL aborted it to resolve a serialization failure or
  // a deadlock (nothing of it was committed). Other errors roll back and propagate.
  template <typename Body>
  auto transact(Body&& body) -> std::invoke_result_t<Body&, Connection&> {
    using R = std::invoke_result_t<Body&, Connection&>;
    for (int attempt = 1;; ++attempt) {
      try {
        auto db = pool_.acquire();
        Transaction transaction(*db);
        if constexpr (std::is_void_v<R>) {
          body(*db);
          transaction.commit();
          return;
        } else {
          R result = body(*db);
          transaction.commit();
          return result;
        }
      } catch (const PgError& e) {
        if (!e.retryable() || attempt >= kMaxAttempts) throw;
      }
    }
  }

  // The PostgreSQL side of GroupCommit: every write of the batch in one transaction, its
  // access tokens and audit rows queued (BatchRows) and written before the COMMIT; the whole
  // batch again when the transaction lost a race. The writes run one after the other; should
  // one fail (but a lone one, whose transaction is then simply rolled back), the batch runs
  // again with each write in a savepoint of its own, so that the failure undoes that write
  // alone. A savepoint is a round trip to the server per write, which most batches, where
  // nothing fails, do not pay.
  void commit_batch(std::span<const Write* const> writes, std::span<std::exception_ptr> errors) {
    bool isolated = false;
    for (int attempt = 1;;) {
      std::fill(errors.begin(), errors.end(), nullptr);
      try {
        if (run_batch(writes, errors, isolated)) return;
        isolated = true;  // the same attempt again, write by write
      } catch (const PgError& e) {
        if (!e.retryable() || ++attempt > kMaxAttempts) throw;
      }
    }
  }

  // Returns false, with everything rolled back, when a write of several failed and they were
  // not `isolated`; true once committed (or a lone write failed). A write's failure is stored
  // in errors[i]; a serialization failure or deadlock (the transaction is lost) is thrown.
  bool run_batch(std::span<const Write* const> writes, std::span<std::exception_ptr> errors,
                 bool isolated) {
    auto db = pool_.acquire();
    BatchRows batch{&*db, isolated, false, {}, {}};
    struct Current {
      explicit Current(BatchRows& rows) { current_batch_rows = &rows; }
      Current(const Current&) = delete;
      Current& operator=(const Current&) = delete;
      ~Current() { current_batch_rows = nullptr; }
    } current(batch);
    Transaction transaction(*db);
    for (std::size_t i = 0; i < writes.size(); ++i) {
      if (isolated) {
        // The last write's RELEASE and this one's SAVEPOINT in one round trip.
        db->exec_script(i == 0 ? "SAVEPOINT group_write"
                               : "RELEASE SAVEPOINT group_write; SAVEPOINT group_write",
                        "savepoint");
      }
      const std::size_t queued = batch.pending.size();
      try {
        (*writes[i])(*db);
        continue;
      } catch (const PgError& e) {
        if (e.retryable()) throw;  // the whole transaction is lost: the batch runs again
        errors[i] = std::current_exception();
      } catch (...) {
        errors[i] = std::current_exception();
      }
      if (writes.size() == 1) return true;  // the Transaction rolls it back
      if (!isolated) return false;
      db->exec_script("ROLLBACK TO SAVEPOINT group_write", "rollback to savepoint");
      // The failed write's audit rows go with it; those of the writes before it are written
      // now, and the next append checks the tail against the tables again (the failed write
      // may have moved it without queueing its leaf).
      batch.pending.resize(queued);
      flush_audit_rows(*db, batch.pending);
      batch.tail_checked = false;
    }
    try {
      flush_access_token_rows(*db, batch.tokens);
    } catch (const PgError& e) {
      // Which write's token failed (a taken jti, say) is not known here: again, write by write.
      if (e.retryable() || isolated) throw;
      return false;
    }
    flush_audit_rows(*db, batch.pending);
    transaction.commit();
    return true;
  }

  std::shared_ptr<const LogHasher> hasher_;
  // The audit log's right edge as this store last wrote or read it (append_event_row): used
  // only by the holder of the log's advisory lock, under tail_mutex_.
  std::mutex tail_mutex_;
  AuditTail tail_;
  postgres::ConnectionPool pool_;
  Group group_;
};

}  // namespace

std::unique_ptr<Store> open_postgres(const std::string& conninfo,
                                     std::shared_ptr<const LogHasher> hasher) {
  return std::make_unique<PostgresStore>(conninfo, std::move(hasher));
}

}  // namespace storage
