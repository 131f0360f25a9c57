#include "store.hpp"

#include <sqlite3.h>

#include <stdexcept>
#include <utility>

#include "storage/wal_vfs.hpp"

namespace sample_service {

namespace {

// A prepared statement for one use. Not cached: the sample service is a test fixture, and
// a statement per call keeps the code obvious.
class Stmt {
 public:
  Stmt(sqlite3* db, std::string_view sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr) !=
        SQLITE_OK) {
      fail("prepare");
    }
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, std::string_view text) {
    if (sqlite3_bind_text64(stmt_, i, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8) !=
        SQLITE_OK) {
      fail("bind");
    }
    return *this;
  }
  Stmt& bind(int i, std::int64_t v) {
    if (sqlite3_bind_int64(stmt_, i, v) != SQLITE_OK) fail("bind");
    return *this;
  }
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail("step");
  }
  void run() {
    while (step()) {
    }
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  [[nodiscard]] std::string text(int c) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, c));
    return p == nullptr ? std::string()
                        : std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, c)));
  }
  [[nodiscard]] std::int64_t int64(int c) const { return sqlite3_column_int64(stmt_, c); }

 private:
  [[noreturn]] void fail(const char* what) const {
    throw std::runtime_error(std::string("sqlite ") + what + ": " + sqlite3_errmsg(db_));
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN IMMEDIATE: take the write lock first, so a read-then-write transaction cannot fail
// with SQLITE_BUSY_SNAPSHOT (another process, e.g. `dump`, may hold a read snapshot).
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) { Stmt(db, "BEGIN IMMEDIATE").run(); }
  ~Transaction() {
    if (open_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit() {
    Stmt(db_, "COMMIT").run();
    open_ = false;
  }

 private:
  sqlite3* db_;
  bool open_ = true;
};

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  resident TEXT NOT NULL,
  native_id TEXT NOT NULL,
  native TEXT NOT NULL,
  model_hash TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS items_by_resident ON items(resident, id);
CREATE TABLE IF NOT EXISTS exported(
  transfer TEXT NOT NULL,
  item INTEGER NOT NULL,
  resident TEXT NOT NULL,
  PRIMARY KEY(transfer, item));
CREATE TABLE IF NOT EXISTS imports(
  transfer TEXT NOT NULL,
  item INTEGER NOT NULL,
  resident TEXT NOT NULL,
  PRIMARY KEY(transfer, item));
CREATE TABLE IF NOT EXISTS idempotency(
  resident TEXT NOT NULL,
  key TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  status INTEGER NOT NULL,
  response TEXT NOT NULL,
  PRIMARY KEY(resident, key));
)sql";

}  // namespace

Store::Store(const std::string& path, std::string_view format) {
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
  // infobank's own VFS: a commit's WAL frames reach the file in one write (an import page is
  // dozens of frames, each otherwise two writes).
  if (sqlite3_open_v2(path.c_str(), &db_, flags, storage::sqlite::coalescing_wal_vfs()) !=
      SQLITE_OK) {
    std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close_v2(db_);
    throw std::runtime_error("cannot open " + path + ": " + message);
  }
  try {
    sqlite3_busy_timeout(db_, 5000);
    {
      Stmt mode(db_, "PRAGMA journal_mode=WAL");
      if (!mode.step() || mode.text(0) != "wal") {
        throw std::runtime_error("cannot enable WAL on " + path);
      }
    }
    // NORMAL in WAL mode: a killed process loses nothing committed (see storage/sqlite).
    exec("PRAGMA synchronous=NORMAL");
    exec(kSchema);
    Transaction tx(db_);
    Stmt get(db_, "SELECT value FROM meta WHERE key='format'");
    if (get.step()) {
      format_ = get.text(0);
      if (!format.empty() && format_ != format) {
        throw std::runtime_error(path + " holds format " + format_ + ", not " +
                                 std::string(format));
      }
    } else {
      if (format.empty()) throw std::runtime_error(path + " is not a sample-service database");
      Stmt(db_, "INSERT INTO meta(key, value) VALUES('format', ?)").bind(1, format).run();
      format_ = format;
    }
    tx.commit();
  } catch (...) {
    sqlite3_close_v2(db_);
    throw;
  }
}

Store::~Store() { sqlite3_close_v2(db_); }

void Store::exec(const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error != nullptr ? error : "unknown error";
    sqlite3_free(error);
    throw std::runtime_error("sqlite: " + message);
  }
}

DatasetStats Store::stats(std::string_view resident) {
  std::lock_guard lock(mutex_);
  Stmt q(db_, "SELECT count(*), coalesce(sum(length(CAST(native AS BLOB))), 0) FROM items "
              "WHERE resident = ?");
  q.bind(1, resident);
  DatasetStats s;
  if (q.step()) {
    s.count = q.int64(0);
    s.bytes = q.int64(1);
  }
  return s;
}

bool Store::has_items(std::string_view resident) {
  std::lock_guard lock(mutex_);
  Stmt q(db_, "SELECT 1 FROM items WHERE resident = ? LIMIT 1");
  q.bind(1, resident);
  return q.step();
}

void Store::append(std::string_view resident, const std::vector<portability::NativeItem>& items,
                   const std::vector<std::string>& model_hashes) {
  std::lock_guard lock(mutex_);
  Transaction tx(db_);
  Stmt ins(db_, "INSERT INTO items(resident, native_id, native, model_hash) VALUES(?,?,?,?)");
  for (std::size_t i = 0; i < items.size(); ++i) {
    ins.bind(1, resident).bind(2, items[i].id).bind(3, items[i].text).bind(4, model_hashes[i]);
    ins.run();
    ins.reset();
  }
  tx.commit();
}

Page Store::read_page(std::string_view resident, std::int64_t after, int limit) {
  std::lock_guard lock(mutex_);
  Stmt q(db_, "SELECT id, native_id, native FROM items WHERE resident = ? AND id > ? "
              "ORDER BY id LIMIT ?");
  // One more than asked: whether a next page exists, without a second query.
  q.bind(1, resident).bind(2, after).bind(3, std::int64_t{limit} + 1);
  Page page;
  while (q.step()) {
    if (static_cast<int>(page.items.size()) == limit) {
      page.next_after = page.items.back().row;
      break;
    }
    page.items.push_back(StoredItem{q.int64(0), {q.text(1), q.text(2)}});
  }
  return page;
}

Page Store::export_page(std::string_view resident, std::string_view transfer, std::int64_t after,
                        int limit) {
  Page page = read_page(resident, after, limit);
  if (page.items.empty()) return page;
  std::lock_guard lock(mutex_);
  Transaction tx(db_);
  Stmt ins(db_, "INSERT OR IGNORE INTO exported(transfer, item, resident) VALUES(?,?,?)");
  for (const auto& item : page.items) {
    ins.bind(1, transfer).bind(2, item.row).bind(3, resident);
    ins.run();
    ins.reset();
  }
  tx.commit();
  return page;
}

std::vector<StoredItem> Store::imported(std::string_view resident, std::string_view transfer) {
  std::lock_guard lock(mutex_);
  Stmt q(db_, "SELECT items.id, items.native_id, items.native FROM imports "
              "JOIN items ON items.id = imports.item "
              "WHERE imports.transfer = ? AND imports.resident = ? AND items.resident = ? "
              "ORDER BY items.id");
  q.bind(1, transfer).bind(2, resident).bind(3, resident);
  std::vector<StoredItem> out;
  while (q.step()) out.push_back(StoredItem{q.int64(0), {q.text(1), q.text(2)}});
  return out;
}

ImportOutcome Store::import(
    std::string_view resident, std::string_view transfer, std::string_view key,
    std::string_view request_hash, const std::vector<portability::NativeItem>& items,
    const std::vector<std::string>& model_hashes,
    const std::function<std::string(const std::vector<std::string>&)>& respond) {
  std::lock_guard lock(mutex_);
  // One transaction for the key lookup and the writes: two identical requests racing each
  // other store the items once, and the loser replays the winner's answer.
  Transaction tx(db_);
  {
    Stmt q(db_, "SELECT request_hash, status, response FROM idempotency "
                "WHERE resident = ? AND key = ?");
    q.bind(1, resident).bind(2, key);
    if (q.step()) {
      if (q.text(0) != request_hash) return {ImportOutcome::Kind::key_reused, 422, {}};
      return {ImportOutcome::Kind::replayed, static_cast<int>(q.int64(1)), q.text(2)};
    }
  }
  Stmt ins(db_, "INSERT INTO items(resident, native_id, native, model_hash) VALUES(?,?,?,?)");
  Stmt mark(db_, "INSERT INTO imports(transfer, item, resident) VALUES(?,?,?)");
  std::vector<std::string> ids;
  ids.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    ins.bind(1, resident).bind(2, items[i].id).bind(3, items[i].text).bind(4, model_hashes[i]);
    ins.run();
    ins.reset();
    mark.bind(1, transfer).bind(2, sqlite3_last_insert_rowid(db_)).bind(3, resident);
    mark.run();
    mark.reset();
    ids.push_back(items[i].id);
  }
  std::string response = respond(ids);
  Stmt save(db_, "INSERT INTO idempotency(resident, key, request_hash, status, response) "
                 "VALUES(?,?,?,201,?)");
  save.bind(1, resident).bind(2, key).bind(3, request_hash).bind(4, response).run();
  tx.commit();
  return {ImportOutcome::Kind::stored, 201, std::move(response)};
}

DeleteOutcome Store::delete_exported(std::string_view resident, std::string_view transfer) {
  std::lock_guard lock(mutex_);
  Transaction tx(db_);
  Stmt del(db_, "DELETE FROM items WHERE resident = ? AND id IN "
                "(SELECT item FROM exported WHERE transfer = ? AND resident = ?)");
  del.bind(1, resident).bind(2, transfer).bind(3, resident).run();
  Stmt count(db_, "SELECT count(*), count(items.id) FROM exported "
                  "LEFT JOIN items ON items.id = exported.item "
                  "WHERE exported.transfer = ? AND exported.resident = ?");
  count.bind(1, transfer).bind(2, resident);
  DeleteOutcome out;
  if (count.step()) {
    out.remaining = count.int64(1);
    out.deleted = count.int64(0) - out.remaining;
  }
  tx.commit();
  return out;
}

}  // namespace sample_service
