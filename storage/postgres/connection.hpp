#pragma once

// Thin RAII layer over libpq: a connection with its prepared statements (PQprepare once per
// connection, then PQexecPrepared), a result in binary format, a transaction guard and a pool
// of connections shared by the worker threads.
//
// Every parameter and every result column travels in binary format: text as its bytes, BIGINT
// as 8 big-endian bytes, BOOLEAN as one byte, BYTEA as raw bytes. Nothing is quoted or parsed
// as text, and hashes need no hex.

#include <libpq-fe.h>

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

#include "storage/store.hpp"

namespace storage::postgres {

/// An error reported by the server or libpq. The message is the server's primary message and
/// the SQLSTATE, never the DETAIL (which quotes key values) nor the connection string (which
/// may hold a password).
class PgError : public StorageError {
 public:
  PgError(const std::string& message, std::string sqlstate)
      : StorageError(message), sqlstate_(std::move(sqlstate)) {}
  [[nodiscard]] const std::string& sqlstate() const { return sqlstate_; }
  /// serialization_failure (40001) or deadlock_detected (40P01): the transaction was rolled
  /// back as a whole and may simply run again.
  [[nodiscard]] bool retryable() const { return sqlstate_ == "40001" || sqlstate_ == "40P01"; }

 private:
  std::string sqlstate_;
};

/// Bytes for a BYTEA parameter (a plain std::string binds as TEXT).
struct Bytes {
  std::string_view data;
};

/// The parameters of one statement, $1 first, each with its type.
class Params {
 public:
  void add(std::string_view text);
  void add(const std::string& text) { add(std::string_view(text)); }
  void add(const char* text) { add(std::string_view(text)); }
  void add(std::int64_t value);
  void add(int value) { add(static_cast<std::int64_t>(value)); }
  void add(unsigned value) { add(static_cast<std::int64_t>(value)); }
  void add(bool value);
  void add(Bytes bytes);

  [[nodiscard]] int size() const { return static_cast<int>(values_.size()); }
  [[nodiscard]] const std::vector<Oid>& types() const { return types_; }

  /// Pointers for PQexecPrepared; valid while this object lives unchanged.
  void pointers(std::vector<const char*>& values, std::vector<int>& lengths) const;

 private:
  std::vector<std::string> values_;
  std::vector<Oid> types_;
};

/// A PGresult in binary format. Rows and columns are 0-based.
class Result {
 public:
  explicit Result(PGresult* result) : result_(result, &PQclear) {}

  [[nodiscard]] int rows() const { return PQntuples(result_.get()); }
  [[nodiscard]] bool empty() const { return rows() == 0; }
  /// Rows changed by an INSERT/UPDATE/DELETE (PQcmdTuples).
  [[nodiscard]] std::int64_t affected() const;

  [[nodiscard]] bool is_null(int row, int column) const {
    return PQgetisnull(result_.get(), row, column) != 0;
  }
  /// TEXT or BYTEA as bytes; NULL reads as empty.
  [[nodiscard]] std::string text(int row, int column) const;
  /// SMALLINT, INTEGER or BIGINT; NULL reads as 0.
  [[nodiscard]] std::int64_t int64(int row, int column) const;
  [[nodiscard]] bool boolean(int row, int column) const;

  [[nodiscard]] const PGresult* raw() const { return result_.get(); }

 private:
  std::unique_ptr<PGresult, decltype(&PQclear)> result_;
};

/// One row of a Result, so that row mappers read like the SQLite ones.
class Row {
 public:
  Row(const Result& result, int row) : result_(&result), row_(row) {}
  [[nodiscard]] std::string text(int column) const { return result_->text(row_, column); }
  [[nodiscard]] std::int64_t int64(int column) const { return result_->int64(row_, column); }
  [[nodiscard]] bool boolean(int column) const { return result_->boolean(row_, column); }

 private:
  const Result* result_;
  int row_;
};

/// One PGconn. Used by one thread at a time (the pool guarantees it).
class Connection {
 public:
  /// `conninfo` is a libpq keyword/value string or a postgresql:// URI.
  explicit Connection(const std::string& conninfo);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  /// Runs `sql` (one statement with $1..$n placeholders) as a statement prepared on this
  /// connection the first time it is seen; the parameter types are those of the arguments.
  /// `sql` must be a constant of the caller: it is the cache key.
  template <typename... Args>
  Result exec(std::string_view sql, const Args&... args) {
    Params params;
    (params.add(args), ...);
    return exec_params(sql, params);
  }
  Result exec_params(std::string_view sql, const Params& params);

  /// Runs constant SQL (migrations, BEGIN, COMMIT) through the simple query protocol: several
  /// statements allowed, no parameters, nothing cached.
  void exec_script(const std::string& sql, std::string_view what);

  /// True when the connection is up and outside any transaction: fit to go back to the pool.
  [[nodiscard]] bool reusable() const;
  [[nodiscard]] PGconn* handle() const { return conn_; }

 private:
  struct SqlHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view sql) const {
      return std::hash<std::string_view>{}(sql);
    }
  };

  PGconn* conn_ = nullptr;
  std::unordered_map<std::string, std::string, SqlHash, std::equal_to<>> statements_;  // sql -> name
};

/// BEGIN ... COMMIT at READ COMMITTED, rolled back if not committed. The methods that read
/// before they write lock what they read (SELECT ... FOR UPDATE, ON CONFLICT, advisory locks),
/// which READ COMMITTED re-reads after waiting, so two nodes cannot both win a race.
class Transaction {
 public:
  explicit Transaction(Connection& connection);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  void commit();

 private:
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
/// one, up to `max_connections`; past that it waits. A connection that broke (server restart,
/// network) or is stuck in a transaction is closed instead of going back, so the next caller
/// opens a fresh one.
class ConnectionPool {
 public:
  ConnectionPool(std::string conninfo, std::size_t max_connections);

  PooledConnection acquire();

 private:
  friend class PooledConnection;
  void release(std::unique_ptr<Connection> connection);

  std::string conninfo_;
  std::size_t max_connections_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t open_ = 0;
};

/// Keys of pg_advisory_xact_lock(int, int): the two-integer key space, apart from the
/// one-bigint space used per login-failure key.
constexpr int kLockClass = 0x1f0b;  // "infobank"
constexpr int kMigrationLock = 1;
constexpr int kAuditLogLock = 2;

}  // namespace storage::postgres
