#pragma once

// Thin RAII layer over the SQLite C API: a connection with its cache of prepared statements,
// a statement lease that binds and reads columns, an IMMEDIATE transaction guard and a small
// pool of connections shared by the worker threads.

#include <sqlite3.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace storage::sqlite {

/// How long a connection that finds the database locked (by another process, or by the
/// checkpointer's RESTART, which holds writers off while readers move on) sleeps before its
/// try number `tries` (0, 1, ...) again, in microseconds; -1 once 5 s have passed in all, and
/// the statement fails with SQLITE_BUSY. SQLite's own busy_timeout sleeps 1, 2, 5, 10, 15,
/// 20, 25 ... 100 ms, so a lock held for 200 µs cost a writer 1 ms or more, and a few such
/// waits in a row made the token endpoint's slowest percent ~20 ms. This starts at 50 µs and
/// doubles up to 2 ms.
std::int64_t busy_retry_delay_us(int tries);

/// Throws storage::StorageError with `what` and SQLite's message for `db`. Messages from SQLite
/// name tables and columns, never bound values, so they are safe to log.
[[noreturn]] void throw_error(sqlite3* db, std::string_view what);

class Connection;

/// Bytes bound as a BLOB rather than as TEXT (a hash, not a string).
struct Blob {
  std::string_view bytes;
};

/// A prepared statement borrowed from a connection's cache for one use. Binds are 1-based
/// like SQLite's; columns are 0-based. The statement is reset when the lease ends, so a cached
/// statement never holds a read snapshot open between calls.
class Statement {
 public:
  Statement(Connection& connection, sqlite3_stmt* stmt) : connection_(&connection), stmt_(stmt) {}
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, Blob blob);
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
  Statement& bind(int index, bool value) { return bind(index, std::int64_t{value ? 1 : 0}); }

  /// Binds every argument in order, starting at parameter 1.
  template <typename... Args>
  Statement& bind_all(const Args&... args) {
    return bind_at(1, args...);
  }

  /// Binds every argument in order, starting at parameter `first` (a row of a multi-row
  /// INSERT).
  template <typename... Args>
  Statement& bind_at(int first, const Args&... args) {
    int index = first;
    (bind(index++, args), ...);
    return *this;
  }

  /// As bind_at, but text is bound without a copy (SQLITE_STATIC): the caller keeps every text
  /// it passes alive and unchanged until this lease ends, and the lease then clears its
  /// bindings, so no later use of the cached statement can reach them. For the hot inserts,
  /// where copying every column was a good part of a write's cost.
  template <typename... Args>
  Statement& bind_views_at(int first, const Args&... args) {
    views_ = true;
    int index = first;
    (bind_view(index++, args), ...);
    return *this;
  }

  /// Advances; true while a row is available.
  bool step();
  /// Runs a statement that returns no rows (or ignores them).
  void run();

  [[nodiscard]] std::string text(int column) const;
  /// A BLOB column's bytes (empty for NULL).
  [[nodiscard]] std::string blob(int column) const;
  [[nodiscard]] std::int64_t int64(int column) const;
  [[nodiscard]] bool boolean(int column) const { return int64(column) != 0; }

 private:
  void bind_view(int index, std::string_view text);
  void bind_view(int index, Blob blob);
  void bind_view(int index, std::int64_t value) { bind(index, value); }
  void bind_view(int index, int value) { bind(index, value); }
  void bind_view(int index, bool value) { bind(index, value); }

  Connection* connection_;
  sqlite3_stmt* stmt_;
  bool views_ = false;  ///< text or blobs bound by bind_views_at: cleared when the lease ends
};

/// One sqlite3 handle. Used by one thread at a time (the pool guarantees it), so it is opened
/// with SQLITE_OPEN_NOMUTEX.
class Connection {
 public:
  explicit Connection(const std::string& path);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  /// A cached statement for `sql`, prepared once with SQLITE_PREPARE_PERSISTENT. `sql` must be
  /// a single statement whose values are all bound parameters.
  Statement prepare(std::string_view sql);
  /// Runs a script of constant SQL (migrations, pragmas) without caching.
  void exec_script(const char* sql, std::string_view what);
  /// Rows changed by the last INSERT/UPDATE/DELETE.
  [[nodiscard]] int changes() const;

  [[nodiscard]] sqlite3* handle() const { return db_; }

 private:
  void close() noexcept;

  // Transparent hash: look statements up by string_view without building a std::string.
  struct SqlHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view sql) const {
      return std::hash<std::string_view>{}(sql);
    }
  };

  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*, SqlHash, std::equal_to<>> statements_;
};

/// BEGIN IMMEDIATE ... COMMIT, rolled back if not committed. IMMEDIATE takes the write lock up
/// front: a DEFERRED transaction that reads and then writes can fail with SQLITE_BUSY_SNAPSHOT
/// in WAL mode (its snapshot went stale) without the busy handler ever being called.
/// `write_mutex` (ConnectionPool::write_mutex) is held for the transaction's lifetime.
class WriteTransaction {
 public:
  WriteTransaction(Connection& connection, std::mutex& write_mutex);
  WriteTransaction(const WriteTransaction&) = delete;
  WriteTransaction& operator=(const WriteTransaction&) = delete;
  ~WriteTransaction();

  void commit();

 private:
  std::unique_lock<std::mutex> lock_;
  Connection& connection_;
  bool open_ = false;
};

class ConnectionPool;

/// A connection borrowed from the pool for the duration of one Store call.
class PooledConnection {
 public:
  PooledConnection(ConnectionPool& pool, std::unique_ptr<Connection> connection)
      : pool_(&pool), connection_(std::move(connection)) {}
  PooledConnection(const PooledConnection&) = delete;
  PooledConnection& operator=(const PooledConnection&) = delete;
  ~PooledConnection();

  Connection& operator*() const { return *connection_; }
  Connection* operator->() const { return connection_.get(); }

 private:
  ConnectionPool* pool_;
  std::unique_ptr<Connection> connection_;
};

/// A mutex-guarded free list of connections. A caller takes an idle connection or opens a new
/// one, up to `max_connections`; past that it waits. In WAL mode each connection reads from
/// its own snapshot, so readers on different threads run in parallel and never wait for the
/// writer.
class ConnectionPool {
 public:
  ConnectionPool(std::string path, std::size_t max_connections);

  PooledConnection acquire();

  /// Writers take this before BEGIN IMMEDIATE. SQLite's file lock stays the real guard (and
  /// serves other processes, such as `infobank migrate`, through busy_timeout), but waiting
  /// on a mutex hands the lock over at once, where SQLite's busy handler polls with sleeps of
  /// up to 100 ms.
  std::mutex& write_mutex() { return write_mutex_; }

 private:
  friend class PooledConnection;
  void release(std::unique_ptr<Connection> connection);

  std::string path_;
  std::size_t max_connections_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t open_ = 0;
  std::mutex write_mutex_;
};

}  // namespace storage::sqlite
