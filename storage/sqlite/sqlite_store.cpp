// storage::Store on SQLite. Every method borrows one pooled connection; every write runs in
// one BEGIN IMMEDIATE transaction (see connection.hpp), every read is a single SELECT and so
// reads one consistent snapshot without an explicit transaction.

#include <algorithm>
#include <array>
#include <atomic>
#include <filesystem>
#include <sqlite3.h>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <span>
#include <vector>

#include "audit_tail.hpp"
#include "audit_tree.hpp"
#include "checkpointer.hpp"
#include "connection.hpp"
#include "group_commit.hpp"
#include "list_codec.hpp"
#include "retention.hpp"
#include "rows.hpp"
#include "migrations.hpp"
#include "storage/store.hpp"
#include "storage/wal_vfs.hpp"

namespace storage {
namespace {

constexpr auto read_service = rows::read_service<sqlite::Statement>;
constexpr auto read_contract = rows::read_contract<sqlite::Statement>;
constexpr auto read_transfer = rows::read_transfer<sqlite::Statement>;
constexpr auto read_transfer_dataset = rows::read_transfer_dataset<sqlite::Statement>;
constexpr auto read_client = rows::read_client<sqlite::Statement>;
constexpr auto read_pending = rows::read_pending<sqlite::Statement>;
constexpr auto read_code = rows::read_code<sqlite::Statement>;
constexpr auto read_access_token = rows::read_access_token<sqlite::Statement>;
constexpr auto read_refresh_token = rows::read_refresh_token<sqlite::Statement>;

using sqlite::Blob;
using sqlite::Connection;
using sqlite::Statement;
using sqlite::WriteTransaction;

// Enough for the worker pool plus the occasional CLI or purge task; a caller past it waits
// for a connection instead of opening file handles without bound.
constexpr std::size_t kMaxConnections = 16;

// ---------------------------------------------------------------------------------------------
// Row mapping. Each read_* matches the column order of its k*Columns list.

constexpr std::string_view kResidentColumns =
    "id, username, password_hash, name, email, created_at";
constexpr std::string_view kPendingColumns =
    "handle, client_id, redirect_uri, scope, state, nonce, code_challenge, "
    "authorization_details, resources, prompt, max_age, dpop_jkt, response_mode, pushed, "
    "expires_at, ui_locales, login_hint, subject_hint, redirect_uri_given, id_token_claims";
constexpr std::string_view kCodeColumns =
    "code_hash, client_id, resident_id, redirect_uri, scope, nonce, code_challenge, "
    "authorization_details, resources, dpop_jkt, grant_id, auth_time, expires_at, used, sid, "
    "id_token_claims";
constexpr std::string_view kGrantColumns =
    "id, resident_id, client_id, scope, authorization_details, created_at, expires_at, revoked";
constexpr std::string_view kAccessTokenColumns =
    "jti, token_hash, client_id, resident_id, scope, audience, authorization_details, cnf_jkt, "
    "code_hash, family_id, issued_at, expires_at, revoked, cnf_x5t";
constexpr std::string_view kRefreshTokenColumns =
    "token_hash, family_id, client_id, resident_id, scope, authorization_details, resources, "
    "cnf_jkt, grant_id, code_hash, auth_time, issued_at, expires_at, rotated, revoked, cnf_x5t";

constexpr std::string_view kServiceColumns =
    "id, name, base_url, audience, datasets, authorization, created_at";
constexpr std::string_view kContractColumns =
    "id, resident_id, service_id, subject, status, since, until, reason, transfer_id";
constexpr std::string_view kTransferColumns =
    "id, resident_id, client_id, source_id, destination_id, source_subject, "
    "destination_subject, datasets, delete_at_source, state, step, error, retries, "
    "next_attempt_at, lease_owner, lease_until, report, created_at, updated_at";
constexpr std::string_view kTransferDatasetColumns =
    "transfer_id, dataset, source_format, destination_format, cursor, exported_all, "
    "pages_done, items_done, bytes_done, items_total, bytes_total, digest, not_carried, "
    "verified, deleted, not_read";

ResidentRecord read_resident(const Statement& row) {
  ResidentRecord r;
  r.id = row.text(0);
  r.username = row.text(1);
  r.password_hash = row.text(2);
  r.name = row.text(3);
  r.email = row.text(4);
  r.created_at = row.int64(5);
  return r;
}

Grant read_grant(const Statement& row) {
  Grant g;
  g.id = row.text(0);
  g.resident_id = row.text(1);
  g.client_id = row.text(2);
  g.scope = row.text(3);
  g.authorization_details = row.text(4);
  g.created_at = row.int64(5);
  g.expires_at = row.int64(6);
  g.revoked = row.boolean(7);
  return g;
}

SigningKeyRecord read_signing_key(const Statement& row) {
  SigningKeyRecord k;
  k.kid = row.text(0);
  k.alg = row.text(1);
  k.private_pem = row.text(2);
  k.created_at = row.int64(3);
  k.retired_at = row.int64(4);
  k.activates_at = row.int64(5);
  return k;
}

// An entry's leaf hash is its leaf's node in the tree (the first 32 bytes of the leaf's row);
// an entry that is no leaf of the tree (added behind the log's back) reads with none.
constexpr const char* kEventColumns =
    "seq, time, actor, action, resident, client_id, purpose, datasets, outcome, detail, "
    "request_id, substr(hashes, 1, 32)";
constexpr const char* kEventsFrom =
    " FROM audit_entries LEFT JOIN audit_tree ON audit_tree.leaf = audit_entries.seq - 1";

Event read_event(const Statement& row) {
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
  e.leaf_hash = row.blob(11);
  return e;
}

template <typename Record, typename Reader>
std::optional<Record> optional_row(Statement& stmt, Reader read) {
  if (!stmt.step()) return std::nullopt;
  return read(stmt);
}

template <typename Record, typename Reader>
std::vector<Record> all_rows(Statement& stmt, Reader read) {
  std::vector<Record> rows;
  while (stmt.step()) rows.push_back(read(stmt));
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Statements shared by several methods.

void insert_refresh_token_row(Connection& db, const RefreshTokenRecord& t) {
  db.prepare(
        "INSERT INTO refresh_tokens (token_hash, family_id, client_id, resident_id, scope, "
        "authorization_details, resources, cnf_jkt, grant_id, code_hash, auth_time, issued_at, "
        "expires_at, rotated, revoked, cnf_x5t) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
        "?10, ?11, ?12, ?13, ?14, ?15, ?16)")
      .bind_all(t.token_hash, t.family_id, t.client_id, t.resident_id, t.scope,
                t.authorization_details, encode_list(t.resources), t.cnf_jkt, t.grant_id,
                t.code_hash, t.auth_time, t.issued_at, t.expires_at, t.rotated, t.revoked,
                t.cnf_x5t)
      .run();
}

// RFC 9700 §4.14.2: a family is every refresh token rotated from one original, and the access
// tokens issued alongside them. The empty family_id marks tokens outside any family and must
// never match: it would revoke every client_credentials token.
void revoke_family_rows(Connection& db, std::string_view family_id) {
  if (family_id.empty()) return;
  db.prepare("UPDATE refresh_tokens SET revoked = 1 WHERE family_id = ?1")
      .bind_all(family_id)
      .run();
  db.prepare("UPDATE access_tokens SET revoked = 1 WHERE family_id = ?1 AND family_id <> ''").bind_all(family_id).run();
}

// ---------------------------------------------------------------------------------------------

class SqliteStore final : public Store {
 public:
  SqliteStore(const std::string& path, std::shared_ptr<const LogHasher> hasher)
      : hasher_(std::move(hasher)),
        pool_(path, kMaxConnections),
        watching_(std::make_unique<sqlite::Connection>(path)),
        watch_(sqlite::commit_watch(watching_->handle())),
        group_([this](std::span<const Group::Write* const> writes,
                      std::span<std::exception_ptr> errors,
                      bool adding_only) { commit_batch(writes, errors, adding_only); }),
        checkpointer_(path, pool_) {
    if (!hasher_) throw StorageError("open " + path + ": no audit log hasher");
    // A read maps the WAL index, which the watch reads, for as long as this connection lives.
    watching_->prepare("SELECT count(*) FROM sqlite_schema").step();
  }

  std::optional<std::uint64_t> token_state_stamp() override {
    if (!watch_) return std::nullopt;
    if (auto stamp = watch_->stamp()) return stamp;
    // Another process has committed since this one last wrote. One empty write transaction
    // lets the watch take in the header as it is now; at most every 100 ms, and never where
    // storage is forbidden (an I/O thread).
    if (StorageForbidden::active() || !watch_->behind()) return std::nullopt;
    const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::steady_clock::now().time_since_epoch())
                                 .count();
    auto last = last_resync_ms_.load();
    if (now - last < 100 || !last_resync_ms_.compare_exchange_strong(last, now))
      return std::nullopt;
    try {
      auto db = pool_.acquire();
      WriteTransaction transaction(*db, pool_.write_mutex());
      transaction.commit();
    } catch (const StorageError&) {
      return std::nullopt;  // busy past the timeout: the answer is read, as without a stamp
    }
    return watch_->stamp();
  }

  int migrate() override {
    auto db = pool_.acquire();
    return sqlite::migrate(*db, pool_.write_mutex());
  }

  int schema_version() override {
    auto db = pool_.acquire();
    return sqlite::schema_version(*db);
  }

  // --- Clients ---------------------------------------------------------------------------------

  bool insert_client(const ClientRecord& c) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    static const std::string sql = rows::client_insert_sql('?');
    rows::client_values_but_created_at(c, [&](const auto&... values) {
      db->prepare(sql).bind_all(values..., c.created_at).run();
    });
    const bool inserted = db->changes() == 1;
    transaction.commit();
    return inserted;
  }

  std::optional<ClientRecord> find_client(std::string_view client_id) override {
    auto db = pool_.acquire();
    auto stmt = db->prepare(select(rows::client_columns(), "clients WHERE client_id = ?1"));
    stmt.bind_all(client_id);
    return optional_row<ClientRecord>(stmt, read_client);
  }

  std::vector<ClientRecord> list_clients() override {
    auto db = pool_.acquire();
    auto stmt = db->prepare(select(rows::client_columns(), "clients ORDER BY client_id"));
    return all_rows<ClientRecord>(stmt, read_client);
  }

  bool update_client(const ClientRecord& c) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    static const std::string sql = rows::client_update_sql('?');
    rows::client_values_but_created_at(
        c, [&](const auto&... values) { db->prepare(sql).bind_all(values...).run(); });
    const bool updated = db->changes() == 1;
    transaction.commit();
    return updated;
  }

  bool remove_client(std::string_view client_id) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    db->prepare("DELETE FROM clients WHERE client_id = ?1").bind_all(client_id).run();
    const bool removed = db->changes() == 1;
    // Dependents go even when the client row is already gone: nothing may outlive it.
    for (const auto* sql :
         {"DELETE FROM pending WHERE client_id = ?1", "DELETE FROM codes WHERE client_id = ?1",
          "DELETE FROM grants WHERE client_id = ?1",
          "DELETE FROM access_tokens WHERE client_id = ?1",
          "DELETE FROM refresh_tokens WHERE client_id = ?1",
          "DELETE FROM session_clients WHERE client_id = ?1",
          "DELETE FROM logout_deliveries WHERE client_id = ?1"}) {
      db->prepare(sql).bind_all(client_id).run();
    }
    transaction.commit();
    return removed;
  }

  std::optional<RevokedTokens> revoke_client_tokens(std::string_view client_id,
                                                    const Event& event) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    {
      auto stmt = db->prepare("SELECT 1 FROM clients WHERE client_id = ?1");
      stmt.bind_all(client_id);
      if (!stmt.step()) return std::nullopt;
    }
    RevokedTokens revoked;
    const auto run = [&](const char* sql) {
      db->prepare(sql).bind_all(client_id).run();
      return static_cast<std::int64_t>(db->changes());
    };
    revoked.access_tokens =
        run("UPDATE access_tokens SET revoked = 1 WHERE client_id = ?1 AND revoked = 0");
    revoked.refresh_tokens =
        run("UPDATE refresh_tokens SET revoked = 1 WHERE client_id = ?1 AND revoked = 0");
    revoked.codes = run("DELETE FROM codes WHERE client_id = ?1 AND used = 0");
    append_event_row(*db, event);
    transaction.commit();
    return revoked;
  }

  // --- Residents -------------------------------------------------------------------------------

  bool insert_resident(const ResidentRecord& r) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    // Without a conflict target, DO NOTHING covers both the id and the username.
    db->prepare(
          "INSERT INTO residents (id, username, password_hash, name, email, created_at) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING")
        .bind_all(r.id, r.username, r.password_hash, r.name, r.email, r.created_at)
        .run();
    const bool inserted = db->changes() == 1;
    transaction.commit();
    return inserted;
  }

  std::optional<ResidentRecord> find_resident_by_username(std::string_view username) override {
    auto db = pool_.acquire();
    auto stmt = db->prepare(select(kResidentColumns, "residents WHERE username = ?1"));
    stmt.bind_all(username);
    return optional_row<ResidentRecord>(stmt, read_resident);
  }

  std::optional<ResidentRecord> find_resident(std::string_view id) override {
    auto db = pool_.acquire();
    auto stmt = db->prepare(select(kResidentColumns, "residents WHERE id = ?1"));
    stmt.bind_all(id);
    return optional_row<ResidentRecord>(stmt, read_resident);
  }

  std::vector<ResidentRecord> list_residents() override {
    auto db = pool_.acquire();
    auto stmt = db->prepare(select(kResidentColumns, "residents ORDER BY username"));
    return all_rows<ResidentRecord>(stmt, read_resident);
  }

  bool remove_resident_by_username(std::string_view username) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    std::string id;
    {
      auto stmt = db->prepare("SELECT id FROM residents WHERE username = ?1");
      stmt.bind_all(username);
      if (!stmt.step()) return false;  // the transaction rolls back: nothing was written
      id = stmt.text(0);
    }
    // Every session of the resident ends with them: the clients signed in within one are told,
    // as at a logout (due at once; deliveries already queued for them go out too).
    db->prepare(
          "INSERT OR IGNORE INTO logout_deliveries (sid, client_id, resident_id, attempts, "
          "next_at) SELECT s.sid, s.client_id, s.resident_id, 0, 0 FROM session_clients AS s "
          "JOIN clients AS c ON c.client_id = s.client_id "
          "WHERE s.resident_id = ?1 AND c.backchannel_logout_uri <> ''")
        .bind_all(id)
        .run();
    // The log keeps its pseudonyms (it is append-only); erasing the mapping is what makes
    // them anonymous.
    for (const auto* sql :
         {"DELETE FROM residents WHERE id = ?1", "DELETE FROM sessions WHERE resident_id = ?1",
          "DELETE FROM resident_pseudonyms WHERE resident_id = ?1",
          "DELETE FROM grants WHERE resident_id = ?1", "DELETE FROM codes WHERE resident_id = ?1",
          "DELETE FROM access_tokens WHERE resident_id = ?1 AND resident_id <> ''",
          "DELETE FROM refresh_tokens WHERE resident_id = ?1",
          "DELETE FROM session_clients WHERE resident_id = ?1",
          "DELETE FROM contracts WHERE resident_id = ?1",
          "DELETE FROM transfer_datasets WHERE transfer_id IN "
          "(SELECT id FROM transfers WHERE resident_id = ?1)",
          "DELETE FROM transfers WHERE resident_id = ?1"}) {
      db->prepare(sql).bind_all(id).run();
    }
    transaction.commit();
    return true;
  }

  // --- Failed logins ---------------------------------------------------------------------------

  // The window is (now - window, now]. Rows of the key older than the window are trimmed here,
  // so a key's rows stay bounded by its failure rate; callers use one window per key.
  int record_login_failure(std::string_view key, std::int64_t now, std::int64_t window) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    db->prepare("DELETE FROM login_failures WHERE key = ?1 AND at <= ?2")
        .bind_all(key, now - window)
        .run();
    db->prepare("INSERT INTO login_failures (key, at) VALUES (?1, ?2)").bind_all(key, now).run();
    const int count = count_failures(*db, key, now, window);
    transaction.commit();
    return count;
  }

  int login_failures(std::string_view key, std::int64_t now, std::int64_t window) override {
    auto db = pool_.acquire();
    return count_failures(*db, key, now, window);
  }

  void clear_login_failures(std::string_view key) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    db->prepare("DELETE FROM login_failures WHERE key = ?1").bind_all(key).run();
    transaction.commit();
  }

  // --- Sessions --------------------------------------------------------------------------------

  void insert_session(const LoginSession& s) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    insert_session_row(*db, s);
    transaction.commit();
  }

  void renew_session(std::string_view old_id_hash, const LoginSession& fresh) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    db->prepare("DELETE FROM sessions WHERE id_hash = ?1").bind_all(old_id_hash).run();
    insert_session_row(*db, fresh);
    // Its clients are remembered as long as the session lasts now.
    db->prepare("UPDATE session_clients SET expires_at = ?2 WHERE sid = ?1 AND sid <> ''")
        .bind_all(fresh.sid, fresh.expires_at)
        .run();
    transaction.commit();
  }

  static void insert_session_row(Connection& db, const LoginSession& s) {
    db.prepare(
          "INSERT INTO sessions (id_hash, resident_id, csrf_token, auth_time, expires_at, sid) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
        .bind_all(s.id_hash, s.resident_id, s.csrf_token, s.auth_time, s.expires_at, s.sid)
        .run();
  }

  std::optional<LoginSession> find_session(std::string_view id_hash, std::int64_t now) override {
    auto db = pool_.acquire();
    auto stmt = db->prepare(
        "SELECT id_hash, resident_id, csrf_token, auth_time, expires_at, sid FROM sessions "
        "WHERE id_hash = ?1 AND expires_at > ?2");
    stmt.bind_all(id_hash, now);
    return optional_row<LoginSession>(stmt, [](const Statement& row) {
      return LoginSession{row.text(0),  row.text(1),  row.text(2),
                          row.int64(3), row.int64(4), row.text(5)};
    });
  }

  int end_session(std::string_view id_hash, std::int64_t now) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    std::string sid;
    {
      auto stmt = db->prepare("DELETE FROM sessions WHERE id_hash = ?1 RETURNING sid");
      stmt.bind_all(id_hash);
      if (stmt.step()) sid = stmt.text(0);
    }
    int queued = 0;
    if (!sid.empty()) {
      db->prepare(
            "INSERT OR IGNORE INTO logout_deliveries (sid, client_id, resident_id, attempts, "
            "next_at) SELECT s.sid, s.client_id, s.resident_id, 0, ?2 FROM session_clients AS s "
            "JOIN clients AS c ON c.client_id = s.client_id "
            "WHERE s.sid = ?1 AND c.backchannel_logout_uri <> ''")
          .bind_all(sid, now)
          .run();
      queued = db->changes();
      db->prepare("DELETE FROM session_clients WHERE sid = ?1").bind_all(sid).run();
    }
    transaction.commit();
    return queued;
  }

  std::vector<std::string> session_client_ids(std::string_view sid) override {
    auto db = pool_.acquire();
    auto stmt =
        db->prepare("SELECT client_id FROM session_clients WHERE sid = ?1 ORDER BY client_id");
    stmt.bind_all(sid);
    std::vector<std::string> out;
    while (stmt.step()) out.push_back(stmt.text(0));
    return out;
  }

  void add_session_client(const SessionClient& c) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    db->prepare(
          "INSERT OR IGNORE INTO session_clients (sid, client_id, resident_id, expires_at) "
          "VALUES (?1, ?2, ?3, ?4)")
        .bind_all(c.sid, c.client_id, c.resident_id, c.expires_at)
        .run();
    transaction.commit();
  }

  std::vector<LogoutDelivery> claim_logout_deliveries(std::int64_t now, std::int64_t lease_until,
                                                      int limit) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    std::vector<LogoutDelivery> out;
    {
      auto stmt = db->prepare(
          "UPDATE logout_deliveries SET attempts = attempts + 1, next_at = ?2 WHERE rowid IN "
          "(SELECT rowid FROM logout_deliveries WHERE next_at <= ?1 ORDER BY next_at LIMIT ?3) "
          "RETURNING sid, client_id, resident_id, attempts");
      stmt.bind_all(now, lease_until, limit);
      while (stmt.step()) {
        out.push_back(
            {stmt.text(0), stmt.text(1), stmt.text(2), static_cast<int>(stmt.int64(3))});
      }
    }
    transaction.commit();
    return out;
  }

  bool settle_logout_delivery(const LogoutDelivery& claimed, std::int64_t retry_at) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    if (retry_at == 0) {
      db->prepare(
            "DELETE FROM logout_deliveries WHERE sid = ?1 AND client_id = ?2 AND attempts = ?3")
          .bind_all(claimed.sid, claimed.client_id, claimed.attempts)
          .run();
    } else {
      db->prepare(
            "UPDATE logout_deliveries SET next_at = ?4 "
            "WHERE sid = ?1 AND client_id = ?2 AND attempts = ?3")
          .bind_all(claimed.sid, claimed.client_id, claimed.attempts, retry_at)
          .run();
    }
    if (db->changes() == 0) return false;
    transaction.commit();
    return true;
  }

  // --- Pending authorization requests ----------------------------------------------------------

  void insert_pending(const PendingAuthorization& p) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    db->prepare(
          "INSERT INTO pending (handle, client_id, redirect_uri, scope, state, nonce, "
          "code_challenge, authorization_details, resources, prompt, max_age, dpop_jkt, "
          "response_mode, pushed, expires_at, ui_locales, login_hint, subject_hint, "
          "redirect_uri_given, id_token_claims) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
          "?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)")
        .bind_all(p.handle, p.client_id, p.redirect_uri, p.scope, p.state, p.nonce,
                  p.code_challenge, p.authorization_details, encode_list(p.resources),
                  p.prompt, p.max_age, p.dpop_jkt, p.response_mode, p.pushed, p.expires_at,
                  p.ui_locales, p.login_hint, p.subject_hint, p.redirect_uri_given,
                  p.id_token_claims)
        .run();
    transaction.commit();
  }

  std::optional<PendingAuthorization> find_pending(std::string_view handle,
                                                   std::int64_t now) override {
    auto db = pool_.acquire();
    auto stmt =
        db->prepare(select(kPendingColumns, "pending WHERE handle = ?1 AND expires_at > ?2"));
    stmt.bind_all(handle, now);
    return optional_row<PendingAuthorization>(stmt, read_pending);
  }

  // RFC 9126 §4: a request_uri is one-time use. DELETE ... RETURNING removes and reads in one
  // statement, so two racing callers cannot both get it.
  std::optional<PendingAuthorization> take_pending(std::string_view handle,
                                                   std::int64_t now) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    std::optional<PendingAuthorization> pending;
    {
      auto stmt = db->prepare(std::string("DELETE FROM pending WHERE handle = ?1 RETURNING ") +
                              std::string(kPendingColumns));
      stmt.bind_all(handle);
      pending = optional_row<PendingAuthorization>(stmt, read_pending);
      stmt.run();  // finish the statement before COMMIT
    }
    transaction.commit();
    if (pending && pending->expires_at <= now) return std::nullopt;  // expired: gone anyway
    return pending;
  }

  // --- Authorization codes ---------------------------------------------------------------------

  void insert_code(const AuthorizationCode& c) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    db->prepare(
          "INSERT INTO codes (code_hash, client_id, resident_id, redirect_uri, scope, nonce, "
          "code_challenge, authorization_details, resources, dpop_jkt, grant_id, auth_time, "
          "expires_at, used, sid, id_token_claims) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
          "?10, ?11, ?12, ?13, ?14, ?15, ?16)")
        .bind_all(c.code_hash, c.client_id, c.resident_id, c.redirect_uri, c.scope, c.nonce,
                  c.code_challenge, c.authorization_details, encode_list(c.resources),
                  c.dpop_jkt, c.grant_id, c.auth_time, c.expires_at, c.used, c.sid,
                  c.id_token_claims)
        .run();
    transaction.commit();
  }

  // RFC 9700 §4.5 / RFC 6749 §4.1.2: one-time codes. The read and the mark happen under the
  // write lock, so of two racing redemptions exactly one sees used=false.
  std::optional<AuthorizationCode> consume_code(std::string_view code_hash) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    std::optional<AuthorizationCode> code;
    {
      auto stmt = db->prepare(select(kCodeColumns, "codes WHERE code_hash = ?1"));
      stmt.bind_all(code_hash);
      code = optional_row<AuthorizationCode>(stmt, read_code);
    }
    if (code && !code->used) {
      db->prepare("UPDATE codes SET used = 1 WHERE code_hash = ?1").bind_all(code_hash).run();
    }
    transaction.commit();
    return code;
  }

  // --- Grants ----------------------------------------------------------------------------------

  bool save_grant(const Grant& g, const std::optional<Grant>& previous,
                  const Event& event) override {
    auto db = pool_.acquire();
    // Writers are serialised: what is read here holds until the commit.
    WriteTransaction transaction(*db, pool_.write_mutex());
    if (previous) {
      db->prepare(
            "UPDATE grants SET scope = ?2, authorization_details = ?3, expires_at = ?4 "
            "WHERE id = ?1 AND revoked = 0 AND scope = ?5 AND authorization_details = ?6 "
            "AND expires_at = ?7")
          .bind_all(previous->id, g.scope, g.authorization_details, g.expires_at,
                    previous->scope, previous->authorization_details, previous->expires_at)
          .run();
      if (db->changes() != 1) return false;
    } else {
      if (!g.revoked) {
        auto live = db->prepare(
            "SELECT 1 FROM grants WHERE resident_id = ?1 AND client_id = ?2 AND revoked = 0");
        live.bind_all(g.resident_id, g.client_id);
        if (live.step()) return false;
      }
      db->prepare(
            "INSERT INTO grants (id, resident_id, client_id, scope, authorization_details, "
            "created_at, expires_at, revoked) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
          .bind_all(g.id, g.resident_id, g.client_id, g.scope, g.authorization_details,
                    g.created_at, g.expires_at, g.revoked)
          .run();
    }
    append_event_row(*db, event);
    transaction.commit();
    return true;
  }

  std::optional<Grant> find_active_grant(std::string_view resident_id, std::string_view client_id,
                                         std::int64_t now) override {
    auto db = pool_.acquire();
    auto stmt = db->prepare(
        select(kGrantColumns,
               "grants WHERE resident_id = ?1 AND client_id = ?2 AND revoked = 0 "
               "AND (expires_at = 0 OR expires_at > ?3) ORDER BY created_at DESC, id LIMIT 1"));
    stmt.bind_all(resident_id, client_id, now);
    return optional_row<Grant>(stmt, read_grant);
  }

  std::optional<Grant> find_grant(std::string_view grant_id) override {
    auto db = pool_.acquire();
    auto stmt = db->prepare(select(kGrantColumns, "grants WHERE id = ?1"));
    stmt.bind_all(grant_id);
    return optional_row<Grant>(stmt, read_grant);
  }

  std::vector<Grant> list_grants(std::string_view resident_id) override {
    auto db = pool_.acquire();
    auto stmt = db->prepare(
        select(kGrantColumns, "grants WHERE resident_id = ?1 ORDER BY created_at DESC, id"));
    stmt.bind_all(resident_id);
    return all_rows<Grant>(stmt, read_grant);
  }

  std::vector<Grant> list_ended_grants(std::int64_t now, int limit) override {
    auto db = pool_.acquire();
    auto stmt = db->prepare(select(kGrantColumns,
                                   "grants WHERE revoked = 0 AND expires_at > 0 AND "
                                   "expires_at <= ?1 ORDER BY expires_at, id LIMIT ?2"));
    stmt.bind_all(now, static_cast<std::int64_t>(limit));
    return all_rows<Grant>(stmt, read_grant);
  }

  // Access tokens carry no grant_id, so "every token issued under the grant" is:
  // - its unredeemed codes (deleted: a later exchange finds no code, RFC 6749 §5.2
  //   invalid_grant);
  // - the families of refresh tokens carrying the grant_id, with their access tokens;
  // - every access token of the grant's resident and client. A grant is the consent of one
  //   resident to one client (find_active_grant), so this also catches access tokens issued
  //   without a refresh token, whose code may already be purged. It fails closed: it would also
  //   revoke tokens of another live grant of the same pair, which the server does not create.
  // A grant already ended is left alone: the sweep ran the first time, tokens issued since
  // belong to a newer grant, and its end is logged once.
  bool revoke_grant(std::string_view grant_id, const Event& event,
                    std::int64_t ended_by) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    std::string resident_id;
    std::string client_id;
    {
      auto stmt = db->prepare(
          "SELECT resident_id, client_id, revoked, expires_at FROM grants WHERE id = ?1");
      stmt.bind_all(grant_id);
      if (!stmt.step() || stmt.boolean(2)) return false;
      const std::int64_t expires_at = stmt.int64(3);
      if (ended_by > 0 && (expires_at == 0 || expires_at > ended_by)) return false;
      resident_id = stmt.text(0);
      client_id = stmt.text(1);
    }
    db->prepare("UPDATE grants SET revoked = 1 WHERE id = ?1").bind_all(grant_id).run();
    db->prepare("DELETE FROM codes WHERE grant_id = ?1").bind_all(grant_id).run();
    db->prepare(
          "UPDATE access_tokens SET revoked = 1 WHERE family_id <> '' AND family_id IN "
          "(SELECT family_id FROM refresh_tokens WHERE grant_id = ?1 AND family_id <> '')")
        .bind_all(grant_id)
        .run();
    db->prepare(
          "UPDATE refresh_tokens SET revoked = 1 WHERE grant_id = ?1 OR family_id IN (SELECT "
          "family_id FROM refresh_tokens WHERE grant_id = ?1 AND family_id <> '')")
        .bind_all(grant_id)
        .run();
    if (!resident_id.empty()) {
      db->prepare("UPDATE access_tokens SET revoked = 1 WHERE resident_id = ?1 AND "
                  "client_id = ?2 AND resident_id <> ''")
          .bind_all(resident_id, client_id)
          .run();
    }
    append_event_row(*db, event);
    transaction.commit();
    return true;
  }

  // --- Tokens ----------------------------------------------------------------------------------

  // On the token endpoint's path: batched with concurrent writes (group commit).
  void insert_access_token(const AccessTokenRecord& t) override {
    group_.run([&t](Connection& db) { insert_access_token_row(db, t); }, Group::Effect::adds);
  }

  // The entry's serialisation is prepared here, on the caller's thread; the batch's thread
  // only hashes it with its seq.
  void insert_access_token(const AccessTokenRecord& t, const Event& e) override {
    const auto leaf = hasher_->prepare(e);
    group_.run(
        [this, &t, &e, &leaf](Connection& db) {
          insert_access_token_row(db, t);
          append_event_row(db, e, leaf);
        },
        Group::Effect::adds);
  }

  void submit_access_token(AccessTokenRecord t, Event e, Done done) override {
#ifdef INFOBANK_BENCH_WITHOUT_AUDIT_LOG
    // The benchmark build that measures the endpoint without the log (see CMakeLists.txt).
    group_.submit([t = std::move(t)](Connection& db) { insert_access_token_row(db, t); },
                  std::move(done), Group::Effect::adds);
    (void)e;
#else
    auto leaf = hasher_->prepare(e);
    group_.submit(
        // mutable: the write runs once, and its entry moves into the batch's pending rows.
        [this, t = std::move(t), e = std::move(e), leaf = std::move(leaf)](Connection& db) mutable {
          insert_access_token_row(db, t);
          append_event_row(db, std::move(e), leaf);
        },
        std::move(done), Group::Effect::adds);
#endif
  }

  static void insert_access_token_row(Connection& db, const AccessTokenRecord& t) {
      db.prepare(
            "INSERT INTO access_tokens (jti, token_hash, client_id, resident_id, scope, audience, "
            "authorization_details, cnf_jkt, code_hash, family_id, issued_at, expires_at, "
            "revoked, cnf_x5t) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
            "?14)")
          .bind_views_at(1, t.jti, t.token_hash, t.client_id, t.resident_id, t.scope,
                         t.audience, t.authorization_details, t.cnf_jkt, t.code_hash,
                         t.family_id, t.issued_at, t.expires_at, t.revoked, t.cnf_x5t)
          .run();
  }

  std::optional<AccessTokenRecord> find_access_token(std::string_view jti) override {
    auto db = pool_.acquire();
    auto stmt = db->prepare(select(kAccessTokenColumns, "access_tokens WHERE jti = ?1"));
    stmt.bind_all(jti);
    return optional_row<AccessTokenRecord>(stmt, read_access_token);
  }

  bool revoke_access_token(std::string_view jti) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    db->prepare("UPDATE access_tokens SET revoked = 1 WHERE jti = ?1").bind_all(jti).run();
    const bool found = db->changes() == 1;
    transaction.commit();
    return found;
  }

  void insert_refresh_token(const RefreshTokenRecord& t) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    insert_refresh_token_row(*db, t);
    transaction.commit();
  }

  std::optional<RefreshTokenRecord> find_refresh_token(std::string_view token_hash) override {
    auto db = pool_.acquire();
    auto stmt = db->prepare(select(kRefreshTokenColumns, "refresh_tokens WHERE token_hash = ?1"));
    stmt.bind_all(token_hash);
    return optional_row<RefreshTokenRecord>(stmt, read_refresh_token);
  }

  // RFC 9700 §4.14.2. Returns the record as it was before the call, so the caller tells
  // success (rotated=false, revoked=false) from reuse (rotated=true) and from a revoked token
  // (revoked=true, nothing changed).
  std::optional<RefreshTokenRecord> rotate_refresh_token(
      std::string_view token_hash, const RefreshTokenRecord& successor) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    std::optional<RefreshTokenRecord> old;
    {
      auto stmt = db->prepare(select(kRefreshTokenColumns, "refresh_tokens WHERE token_hash = ?1"));
      stmt.bind_all(token_hash);
      old = optional_row<RefreshTokenRecord>(stmt, read_refresh_token);
    }
    if (!old) return std::nullopt;
    if (old->rotated) {
      // Reuse: either the client or an attacker holds a stale token; revoke them both out.
      revoke_family_rows(*db, old->family_id);
    } else if (!old->revoked) {
      db->prepare("UPDATE refresh_tokens SET rotated = 1 WHERE token_hash = ?1")
          .bind_all(token_hash)
          .run();
      insert_refresh_token_row(*db, successor);
    }
    transaction.commit();
    return old;
  }

  bool revoke_refresh_token(std::string_view token_hash) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    db->prepare("UPDATE refresh_tokens SET revoked = 1 WHERE token_hash = ?1")
        .bind_all(token_hash)
        .run();
    const bool found = db->changes() == 1;
    transaction.commit();
    return found;
  }

  void revoke_family(std::string_view family_id) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    revoke_family_rows(*db, family_id);
    transaction.commit();
  }

  // RFC 9700 §4.5: a replayed code revokes the access tokens issued from it, and the refresh
  // families started from it with every access token issued along them.
  void revoke_tokens_from_code(std::string_view code_hash) override {
    if (code_hash.empty()) return;  // tokens not from a code carry an empty code_hash
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    // Two statements, each matching its partial index (tokens without a code or family are
    // not indexed by them).
    db->prepare("UPDATE access_tokens SET revoked = 1 WHERE code_hash = ?1 AND code_hash <> ''")
        .bind_all(code_hash)
        .run();
    db->prepare(
          "UPDATE access_tokens SET revoked = 1 WHERE family_id <> '' AND family_id IN (SELECT "
          "family_id FROM refresh_tokens WHERE code_hash = ?1 AND family_id <> '')")
        .bind_all(code_hash)
        .run();
    db->prepare(
          "UPDATE refresh_tokens SET revoked = 1 WHERE code_hash = ?1 OR family_id IN (SELECT "
          "family_id FROM refresh_tokens WHERE code_hash = ?1 AND family_id <> '')")
        .bind_all(code_hash)
        .run();
    transaction.commit();
  }

  // --- Replay caches ---------------------------------------------------------------------------

  // One statement: a new (scope, jti) inserts; a known one is only overwritten when its entry
  // has expired. changes() tells which happened, atomically.
  bool remember_jti(std::string_view scope, std::string_view jti, std::int64_t expires_at,
                    std::int64_t now) override {
    bool first = false;
    group_.run([&](Connection& db) {
      db.prepare(
            "INSERT INTO seen_jtis (scope, jti, expires_at) VALUES (?1, ?2, ?3) "
            "ON CONFLICT (scope, jti) DO UPDATE SET expires_at = excluded.expires_at "
            "WHERE seen_jtis.expires_at <= ?4")
          .bind_all(scope, jti, expires_at, now)
          .run();
      first = db.changes() == 1;
    }, Group::Effect::adds);  // an expired jti's row is reused, which no token's answer reads
    return first;
  }

  // --- Signing keys ----------------------------------------------------------------------------

  void insert_signing_key(const SigningKeyRecord& k) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    insert_signing_key_row(*db, k);
    transaction.commit();
  }

  std::vector<SigningKeyRecord> list_signing_keys() override {
    auto db = pool_.acquire();
    auto stmt = db->prepare(
        "SELECT kid, alg, private_pem, created_at, retired_at, activates_at FROM signing_keys "
        "ORDER BY created_at DESC, rowid DESC");
    return all_rows<SigningKeyRecord>(stmt, read_signing_key);
  }

  bool rotate_signing_key(const SigningKeyRecord& next, std::int64_t now,
                          bool unless_pending) override {
    const std::int64_t at = std::max(next.activates_at, now);
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    if (unless_pending &&
        db->prepare("SELECT 1 FROM signing_keys WHERE alg = ?1 AND activates_at > ?2 AND "
                    "(retired_at = 0 OR retired_at > activates_at)")
            .bind_all(next.alg, now)
            .step()) {
      return false;  // the transaction rolls back: nothing was written
    }
    db->prepare(
          "UPDATE signing_keys SET retired_at = ?1 "
          "WHERE alg = ?2 AND (retired_at = 0 OR retired_at > ?1)")
        .bind_all(at, next.alg)
        .run();
    insert_signing_key_row(*db, next);
    transaction.commit();
    return true;
  }

  // --- Events ----------------------------------------------------------------------------------

  // Every request that changes something appends one: batched (group commit).
  std::int64_t append_event(const Event& e) override {
    const auto leaf = hasher_->prepare(e);
    std::int64_t seq = 0;
    group_.run([this, &e, &leaf, &seq](Connection& db) { seq = append_event_row(db, e, leaf); },
               Group::Effect::adds);
    return seq;
  }

  // One leaf: the entry, and its row of the tree (AuditTail::append). Runs inside a write
  // transaction. In a batch the rows are only queued, and reach the tables with the rest of
  // the batch's leaves (flush_audit_rows) before its COMMIT: two multi-row INSERTs instead of
  // two statements per leaf.
  std::int64_t append_event_row(Connection& db, const Event& in) {
    return append_event_row(db, in, hasher_->prepare(in));
  }
  std::int64_t append_event_row(Connection& db, Event in, const LogHasher::Prepared& leaf) {
    if (!tail_checked_) {
      check_audit_tail(db);
      // Within a batch the write lock is held throughout: no one else appends until COMMIT.
      tail_checked_ = in_batch_;
    }
    const std::int64_t seq = tail_.size() + 1;
    PendingAuditRow row;
    row.tree_hashes = tail_.append(hasher_->leaf_hash(leaf, seq), *hasher_);
    row.event = std::move(in);
    row.event.seq = seq;
    row.datasets = encode_list(row.event.datasets);
    pending_entries_.push_back(std::move(row));
    if (!in_batch_) {
      flush_audit_rows(db);
      // The caller's transaction may yet roll back: the next append reads the tail back.
      tail_ = AuditTail{};
    }
    return seq;
  }

  std::vector<Event> list_events(std::int64_t after_seq, int limit) override {
    if (limit <= 0) return {};  // SQLite reads a negative LIMIT as "no limit"
    auto db = pool_.acquire();
    auto stmt = db->prepare(std::string("SELECT ") + kEventColumns + kEventsFrom +
                            " WHERE seq > ?1 ORDER BY seq LIMIT ?2");
    stmt.bind_all(after_seq, limit);
    return all_rows<Event>(stmt, read_event);
  }

  std::vector<Event> query_events(const EventQuery& q) override {
    if (q.limit <= 0) return {};
    auto db = pool_.acquire();
    // One statement for every combination of the other filters: an empty one matches all.
    // A resident filter is written out so that the partial (resident, seq) index serves it
    // (`resident <> ''` is that index's condition); without it the scan runs along seq.
    // Datasets are stored encoded ("len:name,"), so a dataset matches as the exact item
    // "len:name,".
    auto stmt = db->prepare(
        std::string("SELECT ") + kEventColumns + kEventsFrom + " WHERE " +
        (q.resident.empty() ? "?2 = ''" : "resident = ?2 AND resident <> ''") +
        " AND seq > ?1 AND (?3 = '' OR client_id = ?3)"
        " AND (?4 = '' OR action = ?4) AND (?5 = '' OR purpose = ?5)"
        " AND (?6 = '' OR instr(datasets, ?6) > 0)"
        " AND time >= ?7 AND (?8 = 0 OR time < ?8) ORDER BY " +
        (q.newest_first ? "seq DESC" : "seq") + " LIMIT ?9");
    const std::string dataset = q.dataset.empty() ? std::string() : encode_list({q.dataset});
    stmt.bind_all(q.newest_first ? std::int64_t{0} : q.after_seq, q.resident, q.client_id, q.action, q.purpose, dataset, q.from,
                  q.until, q.limit);
    return all_rows<Event>(stmt, read_event);
  }

  std::int64_t audit_size() override {
    auto db = pool_.acquire();
    // The leaves the tree committed to (not the entries table, which an intruder could extend).
    // Leaves are 0..n-1 without gaps, so the last one's index gives n (the table's last row:
    // COUNT(*) would walk all of them).
    auto stmt = db->prepare("SELECT leaf + 1 FROM audit_tree ORDER BY leaf DESC LIMIT 1");
    return stmt.step() ? stmt.int64(0) : 0;
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
    auto stmt = db.prepare(
        "SELECT substr(hashes, ?2, 32) FROM audit_tree WHERE leaf = ?1 AND length(hashes) >= ?3");
    stmt.bind_all(at->leaf, at->offset + 1, at->offset + 32);
    if (!stmt.step()) return std::nullopt;
    return stmt.blob(0);
  }

  std::string get_or_create_pseudonym(std::string_view resident_id,
                                      std::string_view candidate) override {
    std::string value;
    group_.run([&](Connection& db) {
      db.prepare(
            "INSERT INTO resident_pseudonyms (pseudonym, resident_id) VALUES (?1, ?2) "
            "ON CONFLICT DO NOTHING")
          .bind_all(candidate, resident_id)
          .run();
      auto stmt = db.prepare("SELECT pseudonym FROM resident_pseudonyms WHERE resident_id = ?1");
      stmt.bind_all(resident_id);
      if (!stmt.step()) throw StorageError("get_or_create_pseudonym: row vanished");
      value = stmt.text(0);
    });
    return value;
  }

  std::optional<std::string> find_pseudonym(std::string_view resident_id) override {
    auto db = pool_.acquire();
    auto stmt = db->prepare("SELECT pseudonym FROM resident_pseudonyms WHERE resident_id = ?1");
    stmt.bind_all(resident_id);
    if (!stmt.step()) return std::nullopt;
    return stmt.text(0);
  }

  std::string get_or_create_secret(std::string_view name, std::string_view value_if_absent) override {
    std::string value;
    group_.run([&](Connection& db) {
      db.prepare("INSERT INTO secrets (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING")
          .bind_all(name, value_if_absent)
          .run();
      auto stmt = db.prepare("SELECT value FROM secrets WHERE name = ?1");
      stmt.bind_all(name);
      if (!stmt.step()) throw StorageError("get_or_create_secret: row vanished");
      value = stmt.text(0);
    });
    return value;
  }

  // --- Portability broker ----------------------------------------------------------------------

  bool insert_service(const ServiceRecord& v) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    db->prepare(
          "INSERT INTO services (id, name, base_url, audience, datasets, authorization, "
          "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING")
        .bind_all(v.id, v.name, v.base_url, v.audience, encode_list(v.datasets),
                  v.authorization, v.created_at)
        .run();
    const bool inserted = db->changes() > 0;
    transaction.commit();
    return inserted;
  }

  std::optional<ServiceRecord> find_service(std::string_view id) override {
    auto db = pool_.acquire();
    auto stmt = db->prepare(select(kServiceColumns, "services WHERE id = ?1"));
    stmt.bind_all(id);
    return optional_row<ServiceRecord>(stmt, read_service);
  }

  std::vector<ServiceRecord> list_services() override {
    auto db = pool_.acquire();
    auto stmt = db->prepare(select(kServiceColumns, "services ORDER BY id"));
    return all_rows<ServiceRecord>(stmt, read_service);
  }

  bool remove_service(std::string_view id) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    db->prepare("DELETE FROM services WHERE id = ?1").bind_all(id).run();
    const bool removed = db->changes() > 0;
    transaction.commit();
    return removed;
  }

  void upsert_contract(const ContractRecord& c, const Event& e) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    upsert_contract_row(*db, c);
    append_event_row(*db, e);
    transaction.commit();
  }

  std::vector<ContractRecord> list_contracts(std::string_view resident_id) override {
    auto db = pool_.acquire();
    auto stmt = db->prepare(select(
        kContractColumns, "contracts WHERE resident_id = ?1 ORDER BY since DESC, id"));
    stmt.bind_all(resident_id);
    return all_rows<ContractRecord>(stmt, read_contract);
  }

  std::optional<ContractRecord> find_active_contract(std::string_view resident_id,
                                                     std::string_view service_id) override {
    auto db = pool_.acquire();
    auto stmt = db->prepare(select(kContractColumns,
                                   "contracts WHERE resident_id = ?1 AND service_id = ?2 AND "
                                   "status = 'active' ORDER BY since DESC, id LIMIT 1"));
    stmt.bind_all(resident_id, service_id);
    return optional_row<ContractRecord>(stmt, read_contract);
  }

  void insert_transfer(const TransferRecord& t, const std::vector<TransferDatasetRecord>& datasets,
                       const Event& e) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    db->prepare(
          "INSERT INTO transfers (id, resident_id, client_id, source_id, destination_id, "
          "source_subject, destination_subject, datasets, delete_at_source, state, step, error, "
          "retries, next_attempt_at, lease_owner, lease_until, report, created_at, updated_at) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, "
          "?18, ?19)")
        .bind_all(t.id, t.resident_id, t.client_id, t.source_id, t.destination_id,
                  t.source_subject, t.destination_subject, encode_list(t.datasets),
                  t.delete_at_source, t.state, t.step, t.error, t.retries, t.next_attempt_at,
                  t.lease_owner, t.lease_until, t.report, t.created_at, t.updated_at)
        .run();
    for (const auto& d : datasets) write_transfer_dataset_row(*db, d);
    append_event_row(*db, e);
    transaction.commit();
  }

  std::optional<TransferRecord> find_transfer(std::string_view id) override {
    auto db = pool_.acquire();
    auto stmt = db->prepare(select(kTransferColumns, "transfers WHERE id = ?1"));
    stmt.bind_all(id);
    return optional_row<TransferRecord>(stmt, read_transfer);
  }

  std::vector<TransferDatasetRecord> list_transfer_datasets(
      std::string_view transfer_id) override {
    auto db = pool_.acquire();
    auto stmt = db->prepare(select(kTransferDatasetColumns,
                                   "transfer_datasets WHERE transfer_id = ?1 ORDER BY rowid"));
    stmt.bind_all(transfer_id);
    return all_rows<TransferDatasetRecord>(stmt, read_transfer_dataset);
  }

  std::vector<TransferRecord> list_transfers(std::string_view resident_id) override {
    auto db = pool_.acquire();
    auto stmt = db->prepare(select(
        kTransferColumns, "transfers WHERE resident_id = ?1 ORDER BY created_at DESC, id"));
    stmt.bind_all(resident_id);
    return all_rows<TransferRecord>(stmt, read_transfer);
  }

  // transfers_state (state, created_at) narrows the scan to the one state's rows.
  std::vector<TransferRecord> list_transfers_waiting(std::string_view state,
                                                     std::int64_t changed_before,
                                                     int limit) override {
    auto db = pool_.acquire();
    auto stmt = db->prepare(select(kTransferColumns,
                                   "transfers WHERE state = ?1 AND updated_at < ?2 "
                                   "ORDER BY updated_at, id LIMIT ?3"));
    stmt.bind_all(state, changed_before, limit);
    return all_rows<TransferRecord>(stmt, read_transfer);
  }

  bool update_transfer(const TransferRecord& t, std::string_view expected_state,
                       const std::vector<TransferDatasetRecord>& progress,
                       const std::vector<ContractRecord>& contracts,
                       const std::vector<Event>& events) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    db->prepare(
          "UPDATE transfers SET state = ?3, step = ?4, error = ?5, retries = ?6, "
          "next_attempt_at = ?7, lease_until = ?8, report = ?9, updated_at = ?10 "
          "WHERE id = ?1 AND state = ?2 AND lease_owner = ?11")
        .bind_all(t.id, expected_state, t.state, t.step, t.error, t.retries, t.next_attempt_at,
                  t.lease_until, t.report, t.updated_at, t.lease_owner)
        .run();
    if (db->changes() == 0) return false;  // rolls back: nothing written
    for (const auto& d : progress) write_transfer_dataset_row(*db, d);
    for (const auto& c : contracts) upsert_contract_row(*db, c);
    for (const auto& e : events) append_event_row(*db, e);
    transaction.commit();
    return true;
  }

  std::optional<TransferRecord> claim_transfer(std::string_view owner, std::int64_t now,
                                               std::int64_t lease_until) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    std::optional<TransferRecord> t;
    {
      static const std::string sql =
          select(kTransferColumns, "transfers WHERE " + rows::runnable_states_sql() +
                                       " AND next_attempt_at <= ?1 AND (lease_owner = '' OR "
                                       "lease_until < ?1) ORDER BY created_at, id LIMIT 1");
      auto stmt = db->prepare(sql);
      stmt.bind_all(now);
      t = optional_row<TransferRecord>(stmt, read_transfer);
    }
    if (!t) return std::nullopt;
    db->prepare("UPDATE transfers SET lease_owner = ?2, lease_until = ?3 WHERE id = ?1")
        .bind_all(t->id, owner, lease_until)
        .run();
    transaction.commit();
    t->lease_owner = std::string(owner);
    t->lease_until = lease_until;
    return t;
  }

  void release_transfer(std::string_view id, std::string_view owner) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    db->prepare(
          "UPDATE transfers SET lease_owner = '', lease_until = 0 "
          "WHERE id = ?1 AND lease_owner = ?2")
        .bind_all(id, owner)
        .run();
    transaction.commit();
  }

  void release_transfers(std::string_view owner) override {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    db->prepare("UPDATE transfers SET lease_owner = '', lease_until = 0 WHERE lease_owner = ?1")
        .bind_all(owner)
        .run();
    transaction.commit();
  }

  // --- Housekeeping ----------------------------------------------------------------------------

  // Each table in batches of kPurgeBatch rows, each batch its own short transaction, so that
  // writers (the token endpoint) wait for one batch at most. Rows are picked through the
  // expiry indexes; seen_jtis has no rowid and is picked by its key.
  void purge_expired(std::int64_t now) override {
    const std::pair<const char*, std::int64_t> batches[] = {
        {"DELETE FROM codes WHERE rowid IN "
         "(SELECT rowid FROM codes WHERE expires_at <= ?1 LIMIT ?2)", now},
        {"DELETE FROM pending WHERE rowid IN "
         "(SELECT rowid FROM pending WHERE expires_at <= ?1 LIMIT ?2)", now},
        {"DELETE FROM sessions WHERE rowid IN "
         "(SELECT rowid FROM sessions WHERE expires_at <= ?1 LIMIT ?2)", now},
        {"DELETE FROM session_clients WHERE (sid, client_id) IN "
         "(SELECT sid, client_id FROM session_clients WHERE expires_at <= ?1 LIMIT ?2)", now},
        {"DELETE FROM seen_jtis WHERE (scope, jti) IN "
         "(SELECT scope, jti FROM seen_jtis WHERE expires_at <= ?1 LIMIT ?2)", now},
        {"DELETE FROM access_tokens WHERE rowid IN "
         "(SELECT rowid FROM access_tokens WHERE expires_at <= ?1 LIMIT ?2)",
         now - kExpiredTokenRetention},
        {"DELETE FROM refresh_tokens WHERE rowid IN "
         "(SELECT rowid FROM refresh_tokens WHERE expires_at <= ?1 LIMIT ?2)",
         now - kExpiredTokenRetention},
        {"DELETE FROM login_failures WHERE rowid IN "
         "(SELECT rowid FROM login_failures WHERE at <= ?1 LIMIT ?2)",
         now - kLoginFailureRetention},
    };
    auto db = pool_.acquire();
    for (const auto& [sql, before] : batches) {
      for (int deleted = kPurgeBatch; deleted == kPurgeBatch;) {
        WriteTransaction transaction(*db, pool_.write_mutex());
        db->prepare(sql).bind_all(before, kPurgeBatch).run();
        deleted = db->changes();
        transaction.commit();
      }
    }
  }

 private:
  using Group = GroupCommit<Connection>;

  // The SQLite side of GroupCommit: one BEGIN IMMEDIATE ... COMMIT for the whole batch (one
  // WAL append and its locks instead of one per request), each write in its own savepoint so
  // that one failing write does not undo the others.
  void commit_batch(std::span<const Group::Write* const> writes,
                    std::span<std::exception_ptr> errors, bool adding_only) {
    auto db = pool_.acquire();
    std::optional<sqlite::AddingOnly> adding;  // outlives the transaction, whose end it marks
    if (adding_only) adding.emplace();
    WriteTransaction transaction(*db, pool_.write_mutex());
    // The audit tail is checked against the database once per batch, at its first append.
    // A batch that does not commit forgets it: the next append reads it back.
    struct BatchScope {
      SqliteStore& store;
      bool committed = false;
      explicit BatchScope(SqliteStore& s) : store(s) {
        store.in_batch_ = true;
        store.tail_checked_ = false;
      }
      BatchScope(const BatchScope&) = delete;
      BatchScope& operator=(const BatchScope&) = delete;
      ~BatchScope() {
        store.in_batch_ = false;
        store.tail_checked_ = false;
        if (!committed) {
          store.tail_ = AuditTail{};
          store.pending_entries_.clear();
        }
      }
    } scope(*this);
    for (std::size_t i = 0; i < writes.size(); ++i) {
      const std::size_t entries_before = pending_entries_.size();
      db->prepare("SAVEPOINT group_write").run();
      try {
        (*writes[i])(*db);
        db->prepare("RELEASE group_write").run();
      } catch (...) {
        errors[i] = std::current_exception();
        db->prepare("ROLLBACK TO group_write").run();
        db->prepare("RELEASE group_write").run();
        // Leaves the failed write queued go with it. Those of the writes before it are
        // written now, and the next append checks the tail against the tables (the failed
        // write may have moved it without queueing its leaf).
        pending_entries_.resize(entries_before);
        flush_audit_rows(*db);
        tail_checked_ = false;
      }
    }
    flush_audit_rows(*db);
    transaction.commit();
    scope.committed = true;
  }

  // Writes the queued audit rows, up to kMaxAuditRowsPerInsert per statement (their text bound
  // without a copy: the queue outlives each statement), and empties the queue, also when it
  // throws: the transaction then fails as a whole. Hence OR FAIL: a
  // failing row need not undo the rows before it in its statement, so SQLite keeps no
  // statement journal (a copy of every page the statement changes, spilled to a temporary
  // file past 64 KiB) for these statements.
  void flush_audit_rows(Connection& db) {
    struct Clear {
      SqliteStore& store;
      explicit Clear(SqliteStore& s) : store(s) {}
      Clear(const Clear&) = delete;
      Clear& operator=(const Clear&) = delete;
      ~Clear() { store.pending_entries_.clear(); }
    } clear(*this);
    for (std::span<const PendingAuditRow> entries = pending_entries_; !entries.empty();) {
      const auto rows = std::min(entries.size(), kMaxAuditRowsPerInsert);
      static const auto kSql = multi_row_inserts(
          "INSERT OR FAIL INTO audit_entries (seq, time, actor, action, resident, client_id, "
          "purpose, datasets, outcome, detail, request_id) VALUES ",
          11, '?');
      auto stmt = db.prepare(kSql[rows]);
      int first = 1;
      for (const auto& r : entries.first(rows)) {
        const Event& e = r.event;
        stmt.bind_views_at(first, e.seq, e.time, e.actor, e.action, e.resident, e.client_id,
                           e.purpose, r.datasets, e.outcome, e.detail, e.request_id);
        first += 11;
      }
      stmt.run();
      entries = entries.subspan(rows);
    }
    for (std::span<const PendingAuditRow> leaves = pending_entries_; !leaves.empty();) {
      const auto rows = std::min(leaves.size(), kMaxAuditRowsPerInsert);
      static const auto kSql =
          multi_row_inserts("INSERT OR FAIL INTO audit_tree (leaf, hashes) VALUES ", 2, '?');
      auto stmt = db.prepare(kSql[rows]);
      int first = 1;
      for (const auto& r : leaves.first(rows)) {
        stmt.bind_views_at(first, r.event.seq - 1, Blob{r.tree_hashes});
        first += 2;
      }
      stmt.run();
      leaves = leaves.subspan(rows);
    }
  }

  // Makes tail_ match the audit log as the open write transaction sees it. tail_ outlives
  // batches: it stays right while every append is ours and committed (a batch that does not
  // commit, and an append outside a batch, clear it). The last leaf (its index and hash) tells
  // when another process or another Store appended; then, as after a clear, the frontier is
  // read back, one node per level.
  void check_audit_tail(Connection& db) {
    std::int64_t size = 0;
    std::string last_leaf;
    {
      auto stmt = db.prepare(
          "SELECT leaf + 1, substr(hashes, 1, 32) FROM audit_tree ORDER BY leaf DESC LIMIT 1");
      if (stmt.step()) {
        size = stmt.int64(0);
        last_leaf = stmt.blob(1);
      }
    }
    if (tail_.matches(size, last_leaf)) return;
    tail_ = AuditTail::load(size, std::move(last_leaf), [&](unsigned level, std::int64_t index) {
      return read_audit_node(db, level, index);
    });
  }

  // "SELECT <columns> FROM <rest>". Both parts are constants of this file; values are always
  // bound. The text is the statement cache's key, so it is built the same way on every call.
  static std::string select(std::string_view columns, std::string_view from_rest) {
    std::string sql = "SELECT ";
    sql += columns;
    sql += " FROM ";
    sql += from_rest;
    return sql;
  }

  static int count_failures(Connection& db, std::string_view key, std::int64_t now,
                            std::int64_t window) {
    auto stmt =
        db.prepare("SELECT count(*) FROM login_failures WHERE key = ?1 AND at > ?2 AND at <= ?3");
    stmt.bind_all(key, now - window, now);
    if (!stmt.step()) throw StorageError("login_failures: no count");
    return static_cast<int>(stmt.int64(0));
  }

  static void upsert_contract_row(Connection& db, const ContractRecord& c) {
    db.prepare(
          "INSERT INTO contracts (id, resident_id, service_id, subject, status, since, until, "
          "reason, transfer_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
          "ON CONFLICT (id) DO UPDATE SET status = excluded.status, until = excluded.until, "
          "reason = excluded.reason, transfer_id = excluded.transfer_id, "
          "subject = excluded.subject")
        .bind_all(c.id, c.resident_id, c.service_id, c.subject, c.status, c.since, c.until,
                  c.reason, c.transfer_id)
        .run();
  }

  static void write_transfer_dataset_row(Connection& db, const TransferDatasetRecord& d) {
    db.prepare(
          "INSERT INTO transfer_datasets (transfer_id, dataset, source_format, "
          "destination_format, cursor, exported_all, pages_done, items_done, bytes_done, "
          "items_total, bytes_total, digest, not_carried, verified, deleted, not_read) VALUES "
          "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) "
          "ON CONFLICT (transfer_id, dataset) DO UPDATE SET cursor = excluded.cursor, "
          "exported_all = excluded.exported_all, pages_done = excluded.pages_done, "
          "items_done = excluded.items_done, bytes_done = excluded.bytes_done, "
          "items_total = excluded.items_total, bytes_total = excluded.bytes_total, "
          "digest = excluded.digest, not_carried = excluded.not_carried, "
          "verified = excluded.verified, deleted = excluded.deleted, "
          "not_read = excluded.not_read")
        .bind_all(d.transfer_id, d.dataset, d.source_format, d.destination_format, d.cursor,
                  d.exported_all, d.pages_done, d.items_done, d.bytes_done, d.items_total,
                  d.bytes_total, d.digest, encode_list(d.not_carried), d.verified,
                  d.deleted, encode_list(d.not_read))
        .run();
  }

  static void insert_signing_key_row(Connection& db, const SigningKeyRecord& k) {
    db.prepare(
          "INSERT INTO signing_keys (kid, alg, private_pem, created_at, retired_at, activates_at) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
        .bind_all(k.kid, k.alg, k.private_pem, k.created_at, k.retired_at, k.activates_at)
        .run();
  }

  std::shared_ptr<const LogHasher> hasher_;
  sqlite::ConnectionPool pool_;
  // Keeps the WAL index mapped for the watch (which reads it) for as long as the store lives.
  std::unique_ptr<sqlite::Connection> watching_;
  std::optional<sqlite::CommitWatch> watch_;
  std::atomic<std::int64_t> last_resync_ms_{0};
  // Touched only inside a write transaction, that is with pool_.write_mutex() held.
  AuditTail tail_;
  bool in_batch_ = false;      ///< commit_batch is running its writes
  bool tail_checked_ = false;  ///< tail_ was checked in this batch's transaction
  std::vector<PendingAuditRow> pending_entries_;
  Group group_;
  sqlite::Checkpointer checkpointer_;  // last: stops (and joins) before the pool goes away
};

}  // namespace

std::unique_ptr<Store> open_sqlite(const std::string& path,
                                   std::shared_ptr<const LogHasher> hasher) {
  const std::filesystem::path file(path);
  if (file.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(file.parent_path(), ec);
    if (ec) throw StorageError("open " + path + ": cannot create directory: " + ec.message());
  }
  return std::make_unique<SqliteStore>(path, std::move(hasher));
}

}  // namespace storage
