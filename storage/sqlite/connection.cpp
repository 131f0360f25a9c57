#include "connection.hpp"

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "storage/store.hpp"
#include "storage/wal_vfs.hpp"

namespace storage::sqlite {
namespace {

// Long enough to ride out a checkpoint or another process (`infobank migrate`, the sqlite3
// shell) holding the write lock; short enough that a stuck lock surfaces as an error.
constexpr int kBusyTimeoutMs = 5000;

int busy_wait(void* /*unused*/, int tries) {
  const std::int64_t next_us = busy_retry_delay_us(tries);
  if (next_us < 0) return 0;
  std::this_thread::sleep_for(std::chrono::microseconds(next_us));
  return 1;
}

// Process-wide settings, made once before SQLite initialises (sqlite3_open_v2 does that).
// Memory statistics off: with them, every allocation SQLite makes takes a global mutex that all
// connections share, and nothing here reads the statistics. If SQLite was initialised earlier
// (a tool opened a database directly), the call fails and the defaults stay: slower, not wrong.
void configure_sqlite_once() {
  static std::once_flag once;
  std::call_once(once, [] { (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
}

}  // namespace

std::int64_t busy_retry_delay_us(int tries) {
  constexpr std::int64_t kFirstUs = 50;
  constexpr int kDoublings = 5;  // 50 µs .. 1.6 ms, then 2 ms
  constexpr std::int64_t kLastUs = 2000;
  const std::int64_t waited_us =
      tries <= kDoublings ? kFirstUs * ((std::int64_t{1} << tries) - 1)
                          : kFirstUs * ((std::int64_t{1} << (kDoublings + 1)) - 1) +
                                (tries - kDoublings - 1) * kLastUs;
  if (waited_us >= std::int64_t{kBusyTimeoutMs} * 1000) return -1;
  return tries <= kDoublings ? kFirstUs << tries : kLastUs;
}

void throw_error(sqlite3* db, std::string_view what) {
  std::string message(what);
  message += ": ";
  message += db != nullptr ? sqlite3_errmsg(db) : "out of memory";
  throw StorageError(message);
}

// ---------------------------------------------------------------------------------------------
// Statement

Statement::~Statement() {
  // The return value of reset repeats the last step's error, which step() already threw.
  sqlite3_reset(stmt_);
  if (views_) sqlite3_clear_bindings(stmt_);
}

Statement& Statement::bind(int index, std::string_view text) {
  // SQLITE_TRANSIENT: SQLite copies, so binding a temporary (an encoded list) is safe.
  if (sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8) !=
      SQLITE_OK) {
    throw_error(connection_->handle(), "bind");
  }
  return *this;
}

void Statement::bind_view(int index, std::string_view text) {
  if (sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8) !=
      SQLITE_OK) {
    throw_error(connection_->handle(), "bind");
  }
}

Statement& Statement::bind(int index, Blob blob) {
  if (sqlite3_bind_blob64(stmt_, index, blob.bytes.data(), blob.bytes.size(), SQLITE_TRANSIENT) !=
      SQLITE_OK) {
    throw_error(connection_->handle(), "bind");
  }
  return *this;
}

void Statement::bind_view(int index, Blob blob) {
  if (sqlite3_bind_blob64(stmt_, index, blob.bytes.data(), blob.bytes.size(), SQLITE_STATIC) !=
      SQLITE_OK) {
    throw_error(connection_->handle(), "bind");
  }
}

Statement& Statement::bind(int index, std::int64_t value) {
  if (sqlite3_bind_int64(stmt_, index, value) != SQLITE_OK) {
    throw_error(connection_->handle(), "bind");
  }
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  throw_error(connection_->handle(), "step");
}

void Statement::run() {
  while (step()) {
  }
}

std::string Statement::text(int column) const {
  const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  const int size = sqlite3_column_bytes(stmt_, column);
  if (data == nullptr) return {};
  return {data, static_cast<std::size_t>(size)};
}

std::string Statement::blob(int column) const {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
  const int size = sqlite3_column_bytes(stmt_, column);
  if (data == nullptr) return {};
  return {data, static_cast<std::size_t>(size)};
}

std::int64_t Statement::int64(int column) const { return sqlite3_column_int64(stmt_, column); }

// ---------------------------------------------------------------------------------------------
// Connection

Connection::Connection(const std::string& path) {
  configure_sqlite_once();
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db_, flags, coalescing_wal_vfs()) != SQLITE_OK) {
    const std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw StorageError("open " + path + ": " + message);
  }
  try {
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_handler(db_, busy_wait, nullptr);

    // WAL lets readers run beside the single writer. The mode is stored in the file, so only the
    // first connection really switches it; check that it took (it cannot on some file systems).
    {
      Statement mode = prepare("PRAGMA journal_mode=WAL");
      if (!mode.step() || mode.text(0) != "wal") {
        throw StorageError("open " + path + ": cannot enable WAL journal mode");
      }
    }
    // synchronous=NORMAL in WAL mode: a process killed at any instant (SIGKILL, OOM, crash)
    // loses nothing that was committed, because the WAL is in the OS page cache; only a power
    // cut or kernel crash can roll back the last commits. FULL would add one fsync per write
    // (measured: ~400 writes/s against ~5,000 with NORMAL on the CI disk), which no token
    // endpoint can afford. The window a power cut reopens (a used code or rotated refresh token
    // forgotten) is the price; PostgreSQL with synchronous_commit=on does not pay it.
    // foreign_keys=ON: the schema deletes dependents explicitly (see migrations.cpp), but any
    // REFERENCES a later migration adds must be enforced, and the setting is per connection.
    exec_script("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint=0;", "open");
  } catch (...) {
    close();
    throw;
  }
}

Connection::~Connection() { close(); }

void Connection::close() noexcept {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  statements_.clear();
  sqlite3_close_v2(db_);
  db_ = nullptr;
}

Statement Connection::prepare(std::string_view sql) {
  auto found = statements_.find(sql);
  if (found != statements_.end()) return {*this, found->second};

  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &stmt, &tail) != SQLITE_OK) {
    throw_error(db_, "prepare");
  }
  if (stmt == nullptr || tail != sql.data() + sql.size()) {
    sqlite3_finalize(stmt);
    throw StorageError("prepare: expected exactly one SQL statement");
  }
  statements_.emplace(std::string(sql), stmt);
  return {*this, stmt};
}

void Connection::exec_script(const char* sql, std::string_view what) {
  if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) throw_error(db_, what);
}

int Connection::changes() const { return sqlite3_changes(db_); }

// ---------------------------------------------------------------------------------------------
// WriteTransaction

WriteTransaction::WriteTransaction(Connection& connection, std::mutex& write_mutex)
    : lock_(write_mutex), connection_(connection) {
  connection_.prepare("BEGIN IMMEDIATE").run();
  open_ = true;
}

WriteTransaction::~WriteTransaction() {
  if (!open_) return;
  // A failed statement may already have rolled back; ROLLBACK then fails harmlessly.
  sqlite3_exec(connection_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void WriteTransaction::commit() {
  connection_.prepare("COMMIT").run();
  open_ = false;
}

// ---------------------------------------------------------------------------------------------
// ConnectionPool

PooledConnection::~PooledConnection() {
  if (connection_) pool_->release(std::move(connection_));
}

ConnectionPool::ConnectionPool(std::string path, std::size_t max_connections)
    : path_(std::move(path)), max_connections_(max_connections) {
  // Each connection is used by one thread at a time (SQLITE_OPEN_NOMUTEX), which needs a
  // library built thread-safe; single-thread builds would corrupt memory.
  if (sqlite3_threadsafe() == 0) throw StorageError("SQLite was built without thread support");
  // Open one now so that a bad path or a file system without WAL fails at start-up.
  idle_.push_back(std::make_unique<Connection>(path_));
  open_ = 1;
}

PooledConnection ConnectionPool::acquire() {
  if (StorageForbidden::active()) throw StorageNotAllowed();
  std::unique_lock lock(mutex_);
  available_.wait(lock, [&] { return !idle_.empty() || open_ < max_connections_; });
  if (!idle_.empty()) {
    auto connection = std::move(idle_.back());
    idle_.pop_back();
    return {*this, std::move(connection)};
  }
  ++open_;
  lock.unlock();
  try {
    return {*this, std::make_unique<Connection>(path_)};
  } catch (...) {
    lock.lock();
    --open_;
    available_.notify_one();
    throw;
  }
}

void ConnectionPool::release(std::unique_ptr<Connection> connection) {
  // Never hand out a connection stuck inside a transaction (a bug, but not one to spread).
  if (sqlite3_get_autocommit(connection->handle()) == 0) {
    sqlite3_exec(connection->handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
  {
    std::lock_guard lock(mutex_);
    idle_.push_back(std::move(connection));
  }
  available_.notify_one();
}

}  // namespace storage::sqlite
