// Online backup of a SQLite database with SQLite's backup API, while the server keeps running.
//
// Why a read transaction around the whole copy: sqlite3_backup_step takes (and drops) a read
// transaction of its own per step when none is open, and a write by another connection or
// process between two steps makes the next step start over from page 1. Under a steady load
// that may never finish, and every restart is wasted work. With a read transaction held on the
// source connection, every step reads from the same WAL snapshot: the copy is that snapshot,
// consistent, and never restarts. In WAL mode a reader blocks no writer.

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <system_error>
#include <thread>

#include "storage/store.hpp"

namespace storage {
namespace {

constexpr auto kBusyDeadline = std::chrono::seconds(30);

// Messages name files and SQLite's text, never data.
[[noreturn]] void fail(const std::string& what, sqlite3* db) {
  throw StorageError("backup: " + what + ": " +
                     (db != nullptr ? sqlite3_errmsg(db) : "out of memory"));
}

class Handle {
 public:
  Handle(const std::string& path, int flags) {
    if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
      const std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close_v2(db_);
      db_ = nullptr;
      throw StorageError("backup: open " + path + ": " + message);
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, 5000);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { close(); }

  void close() noexcept {
    if (db_ != nullptr) sqlite3_close_v2(db_);
    db_ = nullptr;
  }

  void exec(const char* sql, const std::string& what) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) fail(what, db_);
  }

  // The first column of the first row of `sql`, as text.
  std::string scalar(const char* sql, const std::string& what) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr) != SQLITE_OK) fail(what, db_);
    std::string out;
    const int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      const auto* text = sqlite3_column_text(stmt, 0);
      if (text != nullptr) out = reinterpret_cast<const char*>(text);
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) fail(what, db_);
    return out;
  }

  [[nodiscard]] sqlite3* get() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

void remove_quietly(const std::string& path) {
  std::error_code ignored;
  for (const char* suffix : {"", "-journal", "-wal", "-shm"})
    std::filesystem::remove(path + suffix, ignored);
}

// The rename is durable once the directory holding it is synced.
void sync_directory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

BackupResult backup_sqlite(const std::string& database, const std::string& destination,
                           const BackupOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_regular_file(database, ec))
    throw StorageError("backup: no SQLite database at " + database);
  if (destination.empty()) throw StorageError("backup: no destination file given");
  if (fs::exists(destination, ec) && fs::equivalent(database, destination, ec))
    throw StorageError("backup: the destination is the database itself");
  const fs::path target = fs::absolute(destination, ec);
  if (ec) throw StorageError("backup: " + destination + ": " + ec.message());
  if (!fs::is_directory(target.parent_path(), ec))
    throw StorageError("backup: no directory " + target.parent_path().string());

  const std::string temporary = target.string() + ".tmp-" + std::to_string(::getpid());
  remove_quietly(temporary);
  BackupResult result;
  try {
    // Read-write without CREATE: the WAL index (-shm) is shared with the server, and a
    // missing database must not be created empty.
    Handle source(database, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX);
    source.exec("BEGIN", "begin a read transaction on " + database);
    // A deferred transaction takes its snapshot at its first read.
    source.scalar("SELECT count(*) FROM sqlite_schema", "read " + database);

    Handle copy(temporary, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX);
    sqlite3_backup* backup = sqlite3_backup_init(copy.get(), "main", source.get(), "main");
    if (backup == nullptr) fail("start the copy to " + temporary, copy.get());
    const int pages = options.pages_per_step > 0 ? options.pages_per_step : 1024;
    auto busy_since = std::chrono::steady_clock::time_point{};
    int rc = SQLITE_OK;
    for (;;) {
      rc = sqlite3_backup_step(backup, pages);
      if (rc == SQLITE_OK || rc == SQLITE_DONE) {
        ++result.steps;
        busy_since = {};
        if (options.on_step) {
          options.on_step(BackupProgress{sqlite3_backup_pagecount(backup),
                                         sqlite3_backup_remaining(backup)});
        }
        if (rc == SQLITE_DONE) break;
        continue;
      }
      const int primary = rc & 0xff;
      if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
        // Not expected with the snapshot held, but harmless to wait out.
        const auto now = std::chrono::steady_clock::now();
        if (busy_since == std::chrono::steady_clock::time_point{}) busy_since = now;
        if (now - busy_since < kBusyDeadline) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
          continue;
        }
      }
      break;
    }
    result.pages = sqlite3_backup_pagecount(backup);
    const int finished = sqlite3_backup_finish(backup);
    if (rc != SQLITE_DONE) {
      throw StorageError(std::string("backup: copying ") + database + " failed: " +
                         sqlite3_errstr(rc));
    }
    if (finished != SQLITE_OK) fail("finish the copy to " + temporary, copy.get());
    source.exec("COMMIT", "end the read transaction on " + database);
    source.close();

    result.page_size = std::stoll(copy.scalar("PRAGMA page_size", "read the copy's page size"));
    const std::string check = copy.scalar("PRAGMA quick_check", "check the copy");
    if (check != "ok") throw StorageError("backup: the copy fails PRAGMA quick_check: " + check);
    // The source's header says WAL, and so does the copy's: one self-contained file instead.
    const std::string mode = copy.scalar("PRAGMA journal_mode = DELETE", "set the copy's journal mode");
    if (mode != "delete") throw StorageError("backup: the copy stayed in journal mode " + mode);
    copy.close();

    // SQLite synced the copy when the backup committed; the rename makes it appear whole.
    fs::rename(temporary, target, ec);
    if (ec) throw StorageError("backup: rename to " + target.string() + ": " + ec.message());
    sync_directory(target.parent_path());
  } catch (...) {
    remove_quietly(temporary);
    throw;
  }
  return result;
}

}  // namespace storage
