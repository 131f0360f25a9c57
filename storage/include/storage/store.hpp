#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "storage/log_hasher.hpp"
#include "storage/records.hpp"

namespace storage {

/// Everything the authorization server keeps. Every method is one transaction and is safe to
/// call from several threads at once. Methods block (disk I/O): never call them on an I/O
/// thread. Errors of the back end (disk full, corrupt file) throw storage::StorageError; they
/// are bugs or outages, not input errors.
class Store {
 public:
  virtual ~Store() = default;

  /// Apply pending migrations; returns the schema version after.
  virtual int migrate() = 0;
  virtual int schema_version() = 0;

  // Clients.
  /// False if the client_id already exists.
  virtual bool insert_client(const ClientRecord& client) = 0;
  virtual std::optional<ClientRecord> find_client(std::string_view client_id) = 0;
  virtual std::vector<ClientRecord> list_clients() = 0;
  /// Replaces the metadata of an existing client (all but client_id and created_at). False if
  /// unknown.
  virtual bool update_client(const ClientRecord& client) = 0;
  /// Removes the client and every code, token and grant it holds. False if unknown.
  virtual bool remove_client(std::string_view client_id) = 0;
  /// What revoke_client_tokens changed: tokens that were active, codes not yet redeemed.
  struct RevokedTokens {
    std::int64_t access_tokens = 0;
    std::int64_t refresh_tokens = 0;
    std::int64_t codes = 0;
  };
  /// Revokes every access and refresh token issued to the client, deletes its codes not yet
  /// redeemed, and appends `event`, in one transaction (after a leaked secret or key). Its
  /// registration and its residents' grants stay, so a resident who authorizes it again is not
  /// asked again. Nullopt, writing nothing, if the client is unknown.
  virtual std::optional<RevokedTokens> revoke_client_tokens(std::string_view client_id,
                                                            const Event& event) = 0;

  // Residents.
  virtual bool insert_resident(const ResidentRecord& resident) = 0;
  virtual std::optional<ResidentRecord> find_resident_by_username(std::string_view username) = 0;
  virtual std::optional<ResidentRecord> find_resident(std::string_view id) = 0;
  virtual std::vector<ResidentRecord> list_residents() = 0;
  /// Removes the resident with their sessions, grants, codes and tokens. False if unknown.
  virtual bool remove_resident_by_username(std::string_view username) = 0;

  // Failed-login throttling, keyed by e.g. "user:<name>" or "ip:<addr>".
  /// Records one failure at `now`, returns the number of failures in the window ending now.
  virtual int record_login_failure(std::string_view key, std::int64_t now,
                                   std::int64_t window) = 0;
  virtual int login_failures(std::string_view key, std::int64_t now, std::int64_t window) = 0;
  virtual void clear_login_failures(std::string_view key) = 0;

  // Login sessions.
  virtual void insert_session(const LoginSession& session) = 0;
  /// Only unexpired sessions (expires_at > now).
  virtual std::optional<LoginSession> find_session(std::string_view id_hash,
                                                   std::int64_t now) = 0;
  /// Removes the session and, in the same transaction, queues a back-channel logout (due at
  /// `now`) for each client given a code in it that registered a backchannel_logout_uri.
  /// Returns the number queued.
  virtual int end_session(std::string_view id_hash, std::int64_t now) = 0;
  /// Replaces a session by a fresh one (a new cookie after signing in again) in one
  /// transaction; the clients signed in within it stay with its sid, which `fresh` carries on.
  virtual void renew_session(std::string_view old_id_hash, const LoginSession& fresh) = 0;
  /// Remembers that `client.client_id` was given a code in session `client.sid` (idempotent).
  virtual void add_session_client(const SessionClient& client) = 0;
  /// The clients given a code in session `sid`, by id.
  virtual std::vector<std::string> session_client_ids(std::string_view sid) = 0;

  // Back-channel logouts waiting to be sent.
  /// Claims up to `limit` due ones (next_at <= now), oldest first: each gets one more attempt
  /// and is not due again before `lease_until`. Atomic across processes and nodes.
  virtual std::vector<LogoutDelivery> claim_logout_deliveries(std::int64_t now,
                                                             std::int64_t lease_until,
                                                             int limit) = 0;
  /// Done with a claimed one: `retry_at` 0 removes it (sent, or given up), otherwise it is due
  /// then. Only while the claim is the latest (its attempts): a claimant whose lease ran out
  /// and whose delivery another claim has taken over changes nothing, and gets false.
  virtual bool settle_logout_delivery(const LogoutDelivery& claimed, std::int64_t retry_at) = 0;

  // Pending authorization requests (login/consent in progress, and PAR request_uris).
  virtual void insert_pending(const PendingAuthorization& pending) = 0;
  /// Only unexpired ones.
  virtual std::optional<PendingAuthorization> find_pending(std::string_view handle,
                                                           std::int64_t now) = 0;
  /// Atomically removes and returns it (one-time use); nullopt if absent or expired.
  virtual std::optional<PendingAuthorization> take_pending(std::string_view handle,
                                                           std::int64_t now) = 0;

  // Authorization codes.
  virtual void insert_code(const AuthorizationCode& code) = 0;
  /// Atomically marks the code used and returns it as it was before (so `used` tells a
  /// replay). nullopt if unknown.
  virtual std::optional<AuthorizationCode> consume_code(std::string_view code_hash) = 0;

  // Grants.
  /// Saves a resident's consent to a client and appends `event`, in one transaction. Without
  /// `previous`, adds `grant` unless it is active (not revoked) and its pair already has a grant
  /// not ended (revoked = 0, whatever its expires_at); with it, amends `previous` (scope,
  /// authorization details, end) unless it has ended or changed since it was read. False,
  /// writing nothing, when it does not: the caller reads again and merges, so two approvals at
  /// once leave one grant, which ending a grant (and its pair's tokens) relies on.
  virtual bool save_grant(const Grant& grant, const std::optional<Grant>& previous,
                          const Event& event) = 0;
  /// The active (not revoked, not expired) grant of resident to client, if any.
  virtual std::optional<Grant> find_active_grant(std::string_view resident_id,
                                                 std::string_view client_id,
                                                 std::int64_t now) = 0;
  virtual std::optional<Grant> find_grant(std::string_view grant_id) = 0;
  virtual std::vector<Grant> list_grants(std::string_view resident_id) = 0;
  /// Ends an active grant in one transaction: marks it revoked, revokes every token issued
  /// under it and appends `event`. With `ended_by` > 0 it ends the grant only if the grant has
  /// an end (expires_at > 0) no later than `ended_by` (the sweep of consents that expired).
  /// False, writing nothing, if the grant is unknown, already ended, or not due: each grant's
  /// end is logged once, however many callers race.
  virtual bool revoke_grant(std::string_view grant_id, const Event& event,
                            std::int64_t ended_by = 0) = 0;
  /// Active grants whose end has come (0 < expires_at <= now), earliest end first.
  virtual std::vector<Grant> list_ended_grants(std::int64_t now, int limit) = 0;

  // Tokens.
  virtual void insert_access_token(const AccessTokenRecord& token) = 0;
  /// Inserts the token and appends `event` in the same transaction (the token endpoint's one
  /// write per request).
  virtual void insert_access_token(const AccessTokenRecord& token, const Event& event) = 0;
  /// Called once a submitted write has committed (null) or failed (its exception), on a
  /// storage thread: it must be quick (hand the outcome to another thread) and not throw.
  using Done = std::function<void(std::exception_ptr)>;
  /// insert_access_token(token, event) without waiting: it only queues the write (a short
  /// lock; the first call starts the committer thread), so an I/O thread may call it, and
  /// `done` reports the outcome once the transaction holding the write has ended. A server thread is thus not held while the write waits for its group commit.
  virtual void submit_access_token(AccessTokenRecord token, Event event, Done done) = 0;
  virtual std::optional<AccessTokenRecord> find_access_token(std::string_view jti) = 0;
  virtual bool revoke_access_token(std::string_view jti) = 0;
  virtual void insert_refresh_token(const RefreshTokenRecord& token) = 0;
  virtual std::optional<RefreshTokenRecord> find_refresh_token(std::string_view token_hash) = 0;
  /// Refresh rotation in one transaction (RFC 9700 §4.14.2): if the token exists, is not
  /// rotated and not revoked, marks it rotated, inserts `successor` and returns the old
  /// record. If it was already rotated, revokes the whole family (refresh tokens and access
  /// tokens) and returns the old record with rotated=true, inserting nothing.
  virtual std::optional<RefreshTokenRecord> rotate_refresh_token(
      std::string_view token_hash, const RefreshTokenRecord& successor) = 0;
  virtual bool revoke_refresh_token(std::string_view token_hash) = 0;
  /// Revokes every refresh and access token of a family.
  virtual void revoke_family(std::string_view family_id) = 0;
  /// RFC 9700 §4.5: revokes every token issued from the code (and their families).
  virtual void revoke_tokens_from_code(std::string_view code_hash) = 0;

  // Replay caches (DPoP proof jti, client assertion jti). Returns true if first seen and
  // records it until `expires_at`; false if already seen and unexpired.
  virtual bool remember_jti(std::string_view scope, std::string_view jti, std::int64_t expires_at,
                            std::int64_t now) = 0;

  // Signing keys.
  virtual void insert_signing_key(const SigningKeyRecord& key) = 0;
  /// Newest first.
  virtual std::vector<SigningKeyRecord> list_signing_keys() = 0;
  /// Inserts `next`, which signs from next.activates_at (0: from `now`), and retires at that
  /// moment every other key of next.alg that would still sign then, atomically; keys of other
  /// algorithms stay as they are. With `unless_pending`, nothing is done (false) when a key of
  /// next.alg is already waiting to start (activates_at after `now`): a rotation another
  /// process scheduled first.
  virtual bool rotate_signing_key(const SigningKeyRecord& next, std::int64_t now,
                                  bool unless_pending = false) = 0;

  // The audit log. Appends are batched (group commit), assign seq = size + 1, store the leaf
  // hash and every Merkle node the leaf completes, all in one transaction; entries and nodes
  // are append-only (triggers refuse UPDATE and DELETE).
  virtual std::int64_t append_event(const Event& event) = 0;

  /// A value that stays the same for as long as no write has committed, in this process or any
  /// other, that may have changed or removed stored rows: writes that only add rows (new
  /// tokens with their audit entries, audit entries, remembered jtis) leave it as it was. So an
  /// answer about a stored token read while it was S may be given again from memory while it is
  /// still S. nullopt when the store cannot tell at this moment (the answer must then be read
  /// again), which is always the case on PostgreSQL. Cheap, and allowed on an I/O thread: it
  /// touches the back end only outside a StorageForbidden scope, and then rarely.
  virtual std::optional<std::uint64_t> token_state_stamp() { return std::nullopt; }
  virtual std::vector<Event> list_events(std::int64_t after_seq, int limit) = 0;
  virtual std::vector<Event> query_events(const EventQuery& query) = 0;
  /// The number of leaves in the tree (entries committed to the log).
  virtual std::int64_t audit_size() = 0;
  /// The hash (32 raw bytes) of the perfect subtree of 2^level leaves starting at leaf
  /// index * 2^level; level 0 are the leaves.
  virtual std::optional<std::string> audit_node(unsigned level, std::int64_t index) = 0;
  /// The resident -> pseudonym mapping, kept apart from the log. A pseudonym is random, not
  /// derived from the resident, so once the mapping is erased with the resident nothing can
  /// lead from them to their entries. Atomic: returns the stored pseudonym, storing
  /// `candidate` first if the resident has none.
  virtual std::string get_or_create_pseudonym(std::string_view resident_id,
                                              std::string_view candidate) = 0;
  /// The resident's pseudonym, if they have one (read only).
  virtual std::optional<std::string> find_pseudonym(std::string_view resident_id) = 0;

  /// A named secret created once and shared by every process and node (the log's signing and
  /// pseudonym keys): returns the stored value, storing `value_if_absent` first if none.
  virtual std::string get_or_create_secret(std::string_view name,
                                           std::string_view value_if_absent) = 0;


  // The portability broker. -------------------------------------------------------------------

  /// False if the id exists.
  virtual bool insert_service(const ServiceRecord& service) = 0;
  virtual std::optional<ServiceRecord> find_service(std::string_view id) = 0;
  virtual std::vector<ServiceRecord> list_services() = 0;
  /// False if unknown. Contracts and transfers that name it stay (they are history).
  virtual bool remove_service(std::string_view id) = 0;

  /// Inserts or replaces the contract with this id, appending `event` in the same transaction.
  virtual void upsert_contract(const ContractRecord& contract, const Event& event) = 0;
  /// Newest first.
  virtual std::vector<ContractRecord> list_contracts(std::string_view resident_id) = 0;
  virtual std::optional<ContractRecord> find_active_contract(std::string_view resident_id,
                                                             std::string_view service_id) = 0;

  /// Inserts a transfer with one progress row per dataset and appends `event`, atomically.
  virtual void insert_transfer(const TransferRecord& transfer,
                               const std::vector<TransferDatasetRecord>& datasets,
                               const Event& event) = 0;
  virtual std::optional<TransferRecord> find_transfer(std::string_view id) = 0;
  virtual std::vector<TransferDatasetRecord> list_transfer_datasets(
      std::string_view transfer_id) = 0;
  /// The resident's transfers, newest first.
  virtual std::vector<TransferRecord> list_transfers(std::string_view resident_id) = 0;
  /// Transfers in `state` whose last change (updated_at, which every state change writes) is
  /// before `changed_before`: those that have waited in it since then. Longest waiting first
  /// (updated_at, then id); at most `limit`.
  virtual std::vector<TransferRecord> list_transfers_waiting(std::string_view state,
                                                             std::int64_t changed_before,
                                                             int limit) = 0;

  /// One step of the state machine in one transaction: writes every mutable field of
  /// `transfer` (state, step, error, retries, next_attempt_at, lease, report, updated_at) only
  /// if the stored row still has state `expected_state` and lease_owner == transfer.lease_owner
  /// (so a node that lost its lease, or a second click, changes nothing); then writes the
  /// `progress` rows, upserts `contracts`, and appends `events`. False if the guard failed.
  virtual bool update_transfer(const TransferRecord& transfer, std::string_view expected_state,
                               const std::vector<TransferDatasetRecord>& progress,
                               const std::vector<ContractRecord>& contracts,
                               const std::vector<Event>& events) = 0;

  /// Claims the oldest transfer that is runnable (consented, exporting, importing, verifying,
  /// deleting), due (next_attempt_at <= now) and not leased (no owner, or lease_until < now):
  /// sets lease_owner = owner, lease_until and returns it.
  /// Atomic across processes and nodes.
  virtual std::optional<TransferRecord> claim_transfer(std::string_view owner, std::int64_t now,
                                                       std::int64_t lease_until) = 0;
  /// Clears every lease `owner` holds (a node starting again, or stopping).
  virtual void release_transfers(std::string_view owner) = 0;
  /// Clears the lease of transfer `id` if `owner` holds it (a run that failed midway: any
  /// worker may take the transfer again at once rather than when the lease runs out).
  virtual void release_transfer(std::string_view id, std::string_view owner) = 0;

  /// Deletes expired codes, pending requests, sessions, jti entries and long-expired tokens.
  /// Unlike the other methods it is many short transactions, each deleting a bounded batch of
  /// one table (retention.hpp), so that writers never wait for a whole sweep.
  virtual void purge_expired(std::int64_t now) = 0;
};

class StorageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Thrown, instead of touching the back end, by a store used on a thread where a
/// StorageForbidden scope is alive.
class StorageNotAllowed : public std::logic_error {
 public:
  StorageNotAllowed() : std::logic_error("storage used where it is forbidden") {}
};

/// While one is alive, every Store method called on this thread that would read or write the
/// back end throws StorageNotAllowed: an I/O thread that tries to answer from memory is told,
/// rather than blocked, when it cannot, and hands the request to a worker. (Handing a write to
/// the group commit, Store::submit_access_token, does not block and stays allowed.)
class StorageForbidden {
 public:
  StorageForbidden();
  ~StorageForbidden();
  StorageForbidden(const StorageForbidden&) = delete;
  StorageForbidden& operator=(const StorageForbidden&) = delete;
  /// Whether one is alive on this thread.
  static bool active();

 private:
  bool outer_;
};

/// Opens (creating if needed) a SQLite database in WAL mode at `path`; `hasher` hashes the
/// audit log's leaves and nodes.
std::unique_ptr<Store> open_sqlite(const std::string& path,
                                   std::shared_ptr<const LogHasher> hasher);

/// How far a backup_sqlite has come, after each step.
struct BackupProgress {
  std::int64_t pages_total = 0;      ///< pages in the snapshot being copied
  std::int64_t pages_remaining = 0;  ///< pages still to copy
};

struct BackupOptions {
  /// Pages copied per step (sqlite3_backup_step). The source's write lock is never taken, and
  /// between steps nothing of the copy is held in memory.
  int pages_per_step = 1024;
  /// Called after every step (progress reports; the tests use it to write during a backup).
  std::function<void(const BackupProgress&)> on_step;
};

struct BackupResult {
  std::int64_t pages = 0;
  std::int64_t page_size = 0;
  std::int64_t steps = 0;
};

/// Copies the SQLite database at `database` to `destination` while other connections and
/// processes (a running server) go on reading and writing it, with SQLite's online backup API
/// (sqlite3_backup_init/step/finish), page by page. The copy is one consistent snapshot: a
/// read transaction is held on the source from the first page to the last (in WAL mode that
/// blocks no writer; only checkpoints cannot pass it meanwhile). The copy is written to a
/// temporary file beside `destination`, checked (PRAGMA quick_check), switched to a rollback
/// journal so that it is a single self-contained file, synced, and renamed over
/// `destination`: `destination` is either the old file or the whole new copy, never half of
/// one. Refuses a missing source and a destination that is the source. Throws StorageError.
BackupResult backup_sqlite(const std::string& database, const std::string& destination,
                           const BackupOptions& options = {});

/// Connects to PostgreSQL with `conninfo` (a libpq keyword/value string or a postgresql:// URI,
/// which may hold a password and is never put into an error message); `hasher` hashes the
/// audit log's leaves and nodes. Several processes and nodes may share one database: one-time
/// operations still have one winner and the audit log one order. Like open_sqlite, it does not
/// migrate.
std::unique_ptr<Store> open_postgres(const std::string& conninfo,
                                     std::shared_ptr<const LogHasher> hasher);

}  // namespace storage
