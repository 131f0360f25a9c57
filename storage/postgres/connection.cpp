#include "connection.hpp"

#include <charconv>
#include <cstring>
#include <string>
#include <system_error>
#include <utility>

namespace storage::postgres {
namespace {

// Type OIDs of pg_type (stable since PostgreSQL 7).
constexpr Oid kBoolOid = 16;
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kTextOid = 25;

constexpr int kBinary = 1;

// The server's primary message and SQLSTATE for `result`, or libpq's message when there is no
// result (connection lost). DETAIL is left out on purpose: for a unique violation it reads
// "Key (id_hash)=(...) already exists" and would put a stored value into a log.
[[noreturn]] void throw_result_error(PGconn* conn, const PGresult* result, std::string_view what) {
  std::string message(what);
  message += ": ";
  std::string sqlstate;
  const char* primary =
      result != nullptr ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  if (primary != nullptr) {
    message += primary;
    if (const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE)) sqlstate = state;
  } else {
    std::string text = conn != nullptr ? PQerrorMessage(conn) : "out of memory";
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    message += text.empty() ? "connection lost" : text;
  }
  if (!sqlstate.empty()) message += " (SQLSTATE " + sqlstate + ")";
  throw PgError(message, sqlstate);
}

bool ok(const PGresult* result) {
  const auto status = PQresultStatus(result);
  return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
}

std::uint64_t big_endian(const char* data, int size) {
  std::uint64_t value = 0;
  for (int i = 0; i < size; ++i) value = (value << 8) | static_cast<unsigned char>(data[i]);
  return value;
}

// The password of `conninfo`, if it names one; empty when the string does not parse.
std::string password_of(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (error != nullptr) PQfreemem(error);
  std::string password;
  if (options == nullptr) return password;
  for (const PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (std::strcmp(o->keyword, "password") == 0 && o->val != nullptr) password = o->val;
  }
  PQconninfoFree(options);
  return password;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Params

void Params::add(std::string_view text) {
  values_.emplace_back(text);
  types_.push_back(kTextOid);
}

void Params::add(std::int64_t value) {
  std::string bytes(8, '\0');
  auto u = static_cast<std::uint64_t>(value);
  for (int i = 7; i >= 0; --i) {
    bytes[static_cast<std::size_t>(i)] = static_cast<char>(u & 0xff);
    u >>= 8;
  }
  values_.push_back(std::move(bytes));
  types_.push_back(kInt8Oid);
}

void Params::add(bool value) {
  values_.emplace_back(1, value ? '\1' : '\0');
  types_.push_back(kBoolOid);
}

void Params::add(Bytes bytes) {
  values_.emplace_back(bytes.data);
  types_.push_back(kByteaOid);
}

void Params::pointers(std::vector<const char*>& values, std::vector<int>& lengths) const {
  values.clear();
  lengths.clear();
  for (const auto& v : values_) {
    values.push_back(v.data());
    lengths.push_back(static_cast<int>(v.size()));
  }
}

// ---------------------------------------------------------------------------------------------
// Result

std::int64_t Result::affected() const {
  const char* text = PQcmdTuples(result_.get());
  std::int64_t n = 0;
  if (text == nullptr || *text == '\0') return 0;
  std::from_chars(text, text + std::strlen(text), n);
  return n;
}

std::string Result::text(int row, int column) const {
  if (is_null(row, column)) return {};
  return {PQgetvalue(result_.get(), row, column),
          static_cast<std::size_t>(PQgetlength(result_.get(), row, column))};
}

std::int64_t Result::int64(int row, int column) const {
  if (is_null(row, column)) return 0;
  const int size = PQgetlength(result_.get(), row, column);
  const std::uint64_t raw = big_endian(PQgetvalue(result_.get(), row, column), size);
  switch (size) {
    case 2: return static_cast<std::int16_t>(raw);
    case 4: return static_cast<std::int32_t>(raw);
    case 8: return static_cast<std::int64_t>(raw);
    default: throw StorageError("postgres: a column is not an integer");
  }
}

bool Result::boolean(int row, int column) const {
  if (is_null(row, column)) return false;
  if (PQgetlength(result_.get(), row, column) != 1) {
    throw StorageError("postgres: a column is not a boolean");
  }
  return *PQgetvalue(result_.get(), row, column) != 0;
}

// ---------------------------------------------------------------------------------------------
// Connection

Connection::Connection(const std::string& conninfo) {
  // A malformed string is reported without libpq's message, which quotes the string (and so
  // the password in a URI).
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (error != nullptr) PQfreemem(error);
  if (options == nullptr) {
    throw StorageError("postgres: the connection string (storage.postgres_url) is malformed");
  }
  PQconninfoFree(options);

  conn_ = PQconnectdb(conninfo.c_str());
  if (conn_ == nullptr) throw StorageError("postgres: out of memory");
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string message = PQerrorMessage(conn_);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
      message.pop_back();
    }
    // libpq's connection errors name host, port and user, not the password; a server could
    // still echo what it was sent, so strip the password wherever it appears.
    if (const std::string password = password_of(conninfo); !password.empty()) {
      for (auto at = message.find(password); at != std::string::npos;
           at = message.find(password, at)) {
        message.replace(at, password.size(), "***");
      }
    }
    PQfinish(conn_);
    conn_ = nullptr;
    throw StorageError("postgres: cannot connect: " + message);
  }
  // Notices ("relation already exists, skipping" from IF NOT EXISTS) are informational, and
  // libpq's default processor would print them to stderr, where the server writes JSON logs.
  PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
  if (PQsetClientEncoding(conn_, "UTF8") != 0) {
    PQfinish(conn_);
    conn_ = nullptr;
    throw StorageError("postgres: cannot set client encoding UTF8");
  }
}

Connection::~Connection() {
  if (conn_ != nullptr) PQfinish(conn_);
}

Result Connection::exec_params(std::string_view sql, const Params& params) {
  auto found = statements_.find(sql);
  if (found == statements_.end()) {
    const std::string name = "infobank_" + std::to_string(statements_.size() + 1);
    const std::string text(sql);
    Result prepared(PQprepare(conn_, name.c_str(), text.c_str(), params.size(),
                              params.types().data()));
    if (!ok(prepared.raw())) throw_result_error(conn_, prepared.raw(), "prepare");
    found = statements_.emplace(text, name).first;
  }
  std::vector<const char*> values;
  std::vector<int> lengths;
  params.pointers(values, lengths);
  const std::vector<int> formats(values.size(), kBinary);
  Result result(PQexecPrepared(conn_, found->second.c_str(), params.size(), values.data(),
                               lengths.data(), formats.data(), kBinary));
  if (!ok(result.raw())) throw_result_error(conn_, result.raw(), "execute");
  return result;
}

void Connection::exec_script(const std::string& sql, std::string_view what) {
  Result result(PQexec(conn_, sql.c_str()));
  if (!ok(result.raw())) throw_result_error(conn_, result.raw(), what);
}

bool Connection::reusable() const {
  return PQstatus(conn_) == CONNECTION_OK && PQtransactionStatus(conn_) == PQTRANS_IDLE;
}

// ---------------------------------------------------------------------------------------------
// Transaction

Transaction::Transaction(Connection& connection) : connection_(connection) {
  connection_.exec_script("BEGIN", "begin");
  open_ = true;
}

Transaction::~Transaction() {
  if (!open_) return;
  // After an error the transaction is already aborted; ROLLBACK ends it. If the connection is
  // gone, the pool drops it (reusable() is false).
  PGresult* result = PQexec(connection_.handle(), "ROLLBACK");
  PQclear(result);
}

void Transaction::commit() {
  open_ = false;  // a failed COMMIT has ended the transaction too
  Result result(PQexec(connection_.handle(), "COMMIT"));
  if (!ok(result.raw())) throw_result_error(connection_.handle(), result.raw(), "commit");
  // COMMIT of a transaction that had failed "succeeds" as ROLLBACK: never report that as
  // written.
  if (std::strcmp(PQcmdStatus(const_cast<PGresult*>(result.raw())), "COMMIT") != 0) {
    throw PgError("commit: the transaction was rolled back", "");
  }
}

// ---------------------------------------------------------------------------------------------
// ConnectionPool

PooledConnection::~PooledConnection() {
  if (connection_) pool_->release(std::move(connection_));
}

ConnectionPool::ConnectionPool(std::string conninfo, std::size_t max_connections)
    : conninfo_(std::move(conninfo)), max_connections_(max_connections) {
  // Open one now so that a wrong address or password fails at start-up.
  idle_.push_back(std::make_unique<Connection>(conninfo_));
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
    return {*this, std::make_unique<Connection>(conninfo_)};
  } catch (...) {
    lock.lock();
    --open_;
    available_.notify_one();
    throw;
  }
}

void ConnectionPool::release(std::unique_ptr<Connection> connection) {
  // Never hand out a connection stuck inside a transaction (a bug, but not one to spread).
  if (PQstatus(connection->handle()) == CONNECTION_OK &&
      PQtransactionStatus(connection->handle()) != PQTRANS_IDLE) {
    PQclear(PQexec(connection->handle(), "ROLLBACK"));
  }
  {
    std::lock_guard lock(mutex_);
    if (connection->reusable()) {
      idle_.push_back(std::move(connection));
    } else {
      --open_;  // broken: closed below, and the next caller opens a fresh one
    }
  }
  available_.notify_one();
}

}  // namespace storage::postgres
