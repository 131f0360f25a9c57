#pragma once

// The back ends the store tests run on, and a fresh database per test on each.
//
// SQLite always runs. PostgreSQL runs when INFOBANK_TEST_PG_URL names a server where the test
// may CREATE DATABASE (tests/support/pg.sh starts one); each TestDatabase creates its own
// database with a random name and drops it at the end, so tests run in parallel. Without the
// variable the PostgreSQL instances are still registered and skip (GTEST_SKIP), so ctest lists
// the same tests on every machine and reports them as skipped, not passed.

// libpq's header lives in /usr/include/postgresql on Debian. tests/CMakeLists.txt links this
// executable with infobank::storage, which brings libpq at link time but not its include
// directory, hence the prefixed path.
#include <postgresql/libpq-fe.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <ostream>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "numbered.hpp"
#include "storage/store.hpp"
#include "temp_dir.hpp"
#include "test_hasher.hpp"

namespace storage::testing {

enum class Backend { sqlite, postgres };

/// The fixed "now" the store tests pass to the store.
inline constexpr std::int64_t kNow = 1'700'000'000;

/// Drops the columns that migrations 18 on added, for the tests that stand a database back at an
/// older schema (the same SQL on both back ends). A migration that adds columns adds its drops
/// here.
inline const std::string kDropColumnsSince18 =
    "ALTER TABLE clients DROP COLUMN token_endpoint_auth_signing_alg;"
    "ALTER TABLE clients DROP COLUMN request_object_signing_alg;"
    "ALTER TABLE pending DROP COLUMN redirect_uri_given;"
    "ALTER TABLE clients DROP COLUMN userinfo_signed_response_alg;"
    "ALTER TABLE clients DROP COLUMN tls_client_auth_name;"
    "ALTER TABLE clients DROP COLUMN tls_client_auth_value;"
    "ALTER TABLE clients DROP COLUMN tls_bound_access_tokens;"
    "ALTER TABLE access_tokens DROP COLUMN cnf_x5t;"
    "ALTER TABLE refresh_tokens DROP COLUMN cnf_x5t;"
    "ALTER TABLE pending DROP COLUMN id_token_claims;"
    "ALTER TABLE codes DROP COLUMN id_token_claims;"
    "ALTER TABLE clients DROP COLUMN id_token_signed_response_alg;"
    "ALTER TABLE clients DROP COLUMN introspection_signed_response_alg;"
    "ALTER TABLE clients DROP COLUMN authorization_signed_response_alg;"
    "ALTER TABLE signing_keys DROP COLUMN activates_at;";

/// The schema version migrate() brings a database to.
inline constexpr int kSchemaVersion = 24;

/// How gtest prints the parameter (ctest shows it beside each test's name).
inline void PrintTo(Backend backend, std::ostream* out) {
  *out << (backend == Backend::sqlite ? "sqlite" : "postgres");
}

/// "Sqlite" / "Postgres": the suffix of each instantiated test's name.
inline std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::sqlite ? "Sqlite" : "Postgres";
}

/// Why a PostgreSQL instance is skipped: `if (!available(GetParam())) GTEST_SKIP() << kSkipped;`
inline constexpr const char* kSkipped = "INFOBANK_TEST_PG_URL is not set: PostgreSQL tests skipped";

/// The PostgreSQL server of the test run, or empty.
inline std::string pg_admin_url() {
  const char* url = std::getenv("INFOBANK_TEST_PG_URL");
  return url != nullptr ? std::string(url) : std::string();
}

inline bool available(Backend backend) {
  return backend == Backend::sqlite || !pg_admin_url().empty();
}

/// `conninfo` with its database replaced by `dbname`, as a keyword/value string (the input
/// may be a URI).
inline std::string with_dbname(const std::string& conninfo, const std::string& dbname) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    std::string message = error != nullptr ? error : "out of memory";
    PQfreemem(error);
    throw std::runtime_error("INFOBANK_TEST_PG_URL: " + message);
  }
  auto quote = [](const std::string& value) {
    std::string out = "'";
    for (char c : value) {
      if (c == '\'' || c == '\\') out += '\\';
      out += c;
    }
    return out + "'";
  };
  std::string out;
  for (const PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || std::strcmp(o->keyword, "dbname") == 0) continue;
    out += std::string(o->keyword) + "=" + quote(o->val) + " ";
  }
  PQconninfoFree(options);
  return out + "dbname=" + quote(dbname);
}

/// Runs `sql` on a connection of its own; returns the error message, empty on success.
inline std::string pg_exec(const std::string& conninfo, const std::string& sql) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  std::string error;
  if (PQstatus(conn) != CONNECTION_OK) {
    error = PQerrorMessage(conn);
  } else {
    PGresult* result = PQexec(conn, sql.c_str());
    const auto status = PQresultStatus(result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) error = PQerrorMessage(conn);
    PQclear(result);
  }
  PQfinish(conn);
  return error;
}

/// A fresh, empty database on one back end, removed at the end. Check available() first.
class TestDatabase {
 public:
  explicit TestDatabase(Backend backend) : backend_(backend) {
    if (backend_ == Backend::sqlite) {
      dir_ = std::make_unique<TempDir>();
      target_ = dir_->file("nested/dir/infobank.sqlite");
      return;
    }
    std::random_device random;
    name_ = "infobank_test_" + std::to_string(::getpid()) + "_" + std::to_string(random()) +
            std::to_string(random());
    const std::string error = pg_exec(pg_admin_url(), "CREATE DATABASE \"" + name_ +
                                                          "\" TEMPLATE template0 ENCODING 'UTF8'");
    if (!error.empty()) throw std::runtime_error("CREATE DATABASE: " + error);
    target_ = with_dbname(pg_admin_url(), name_);
  }
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;
  ~TestDatabase() {
    // FORCE: a store a failed test left open must not keep the database alive.
    if (backend_ == Backend::postgres) {
      pg_exec(pg_admin_url(), "DROP DATABASE IF EXISTS \"" + name_ + "\" WITH (FORCE)");
    }
  }

  [[nodiscard]] Backend backend() const { return backend_; }

  /// A new Store on this database (several may be open at once, like several processes).
  [[nodiscard]] std::unique_ptr<Store> open() const { return open(hasher()); }

  /// The same, hashing the audit log with `log_hasher`.
  [[nodiscard]] std::unique_ptr<Store> open(std::shared_ptr<const LogHasher> log_hasher) const {
    return backend_ == Backend::sqlite ? open_sqlite(target_, std::move(log_hasher))
                                       : open_postgres(target_, std::move(log_hasher));
  }

  /// Runs SQL behind the Store's back, as the sqlite3 shell or psql would; returns the error
  /// message, empty on success.
  [[nodiscard]] std::string exec_raw(const std::string& sql) const {
    if (backend_ == Backend::postgres) return pg_exec(target_, sql);
    sqlite3* raw = nullptr;
    std::string error;
    if (sqlite3_open(target_.c_str(), &raw) != SQLITE_OK) {
      error = sqlite3_errmsg(raw);
    } else {
      sqlite3_busy_timeout(raw, 5000);
      char* message = nullptr;
      if (sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
        error = message != nullptr ? message : "error";
      }
      sqlite3_free(message);
    }
    sqlite3_close(raw);
    return error;
  }

  /// The SQLite file, or the PostgreSQL conninfo.
  [[nodiscard]] const std::string& target() const { return target_; }

 private:
  Backend backend_;
  std::unique_ptr<TempDir> dir_;
  std::string name_;
  std::string target_;
};

/// A test run on each back end, with a fresh database and a store migrated on it (skipped on a
/// back end that is not available).
class MigratedStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (!available(GetParam())) GTEST_SKIP() << kSkipped;
    db_ = std::make_unique<TestDatabase>(GetParam());
    store_ = db_->open();
    store_->migrate();
  }

  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<Store> store_;  // after db_: closed before the database goes
};

}  // namespace storage::testing
