// The VFS that writes a commit's WAL frames in one write (storage/include/storage/wal_vfs.hpp): fewer
// writes, and nothing another connection or a restarted process could miss.

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <string>

#include "sqlite/connection.hpp"
#include "storage/wal_vfs.hpp"
#include "temp_dir.hpp"

namespace storage {
namespace {

using sqlite::Connection;

void setup(Connection& db) {
  db.exec_script("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0;"
                 "CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT NOT NULL) STRICT;",
                 "setup");
}

std::int64_t count_rows(Connection& db) {
  auto stmt = db.prepare("SELECT count(*) FROM t");
  EXPECT_TRUE(stmt.step());
  return stmt.int64(0);
}

// The file holds `rows` rows and passes SQLite's own check.
void expect_intact(Connection& db, std::int64_t rows) {
  EXPECT_EQ(count_rows(db), rows);
  auto check = db.prepare("PRAGMA integrity_check");
  ASSERT_TRUE(check.step());
  EXPECT_EQ(check.text(0), "ok");
}

void insert_rows(Connection& db, std::int64_t first, int n, std::size_t size) {
  for (int i = 0; i < n; ++i) {
    db.prepare("INSERT INTO t (k, v) VALUES (?1, ?2)")
        .bind_all(first + i, std::string(size, static_cast<char>('a' + i % 26)))
        .run();
  }
}

// A commit of ~30 pages is ~60 writes for SQLite (a frame's header, then its page) and one or
// two for the file; a second connection sees every row of it at once, and the file checks out.
TEST(CoalescingWalVfs, ACommitsFramesReachTheFileInAFewWritesAndOthersSeeThem) {
  testing::TempDir dir;
  Connection writer(dir.file("w.db"));
  setup(writer);
  Connection reader(dir.file("w.db"));
  EXPECT_EQ(count_rows(reader), 0);

  const auto before = sqlite::wal_write_counts();
  writer.exec_script("BEGIN IMMEDIATE", "begin");
  insert_rows(writer, 1, 60, 2000);
  writer.exec_script("COMMIT", "commit");
  const auto after = sqlite::wal_write_counts();
  const auto asked = after.asked - before.asked;
  const auto made = after.made - before.made;
  EXPECT_GE(asked, 60U) << "two writes per frame, about 30 frames";
  EXPECT_GE(made, 1U);
  EXPECT_LE(made * 8, asked) << asked << " asked, " << made << " made";

  expect_intact(reader, 60);
}

// A transaction larger than the page cache spills frames into the WAL before it commits and
// reads them back: what it reads is what it wrote.
TEST(CoalescingWalVfs, ATransactionThatSpillsReadsBackWhatItWrote) {
  testing::TempDir dir;
  Connection db(dir.file("spill.db"));
  setup(db);
  db.exec_script("PRAGMA cache_size = 8", "small cache");
  db.exec_script("BEGIN IMMEDIATE", "begin");
  insert_rows(db, 1, 800, 1500);  // ~300 pages through an 8-page cache
  auto sum = db.prepare("SELECT count(*), sum(length(v)), min(v), max(v) FROM t");
  ASSERT_TRUE(sum.step());
  EXPECT_EQ(sum.int64(0), 800);
  EXPECT_EQ(sum.int64(1), 800 * 1500);
  EXPECT_EQ(sum.text(2), std::string(1500, 'a'));
  EXPECT_EQ(sum.text(3), std::string(1500, 'z'));
  sum.step();
  db.exec_script("COMMIT", "commit");

  Connection other(dir.file("spill.db"));
  expect_intact(other, 800);
}

// A process killed right after its commits, in the middle of another transaction, leaves
// every commit it made in the file (their frames went out when each committed, not later)
// and nothing of the transaction it was in.
TEST(CoalescingWalVfs, AProcessKilledMidTransactionLeavesEveryCommitBeforeIt) {
  testing::TempDir dir;
  const std::string path = dir.file("killed.db");
  {
    Connection db(path);
    setup(db);
  }
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipe_fds[0]);
    Connection db(path);
    for (int commit = 0; commit < 5; ++commit) {
      db.exec_script("BEGIN IMMEDIATE", "begin");
      insert_rows(db, commit * 10 + 1, 10, 1000);
      db.exec_script("COMMIT", "commit");
    }
    // A sixth transaction, never committed.
    db.exec_script("BEGIN IMMEDIATE", "begin");
    insert_rows(db, 51, 5, 1000);
    const char done = 'x';
    (void)!write(pipe_fds[1], &done, 1);
    pause();  // killed here
    _exit(0);
  }
  close(pipe_fds[1]);
  char done = 0;
  ASSERT_EQ(read(pipe_fds[0], &done, 1), 1);
  close(pipe_fds[0]);
  kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));

  Connection db(path);
  expect_intact(db, 50);
}

// A write as another process makes it: through SQLite's own VFS, which the watch does not hook.
void foreign_write(const std::string& path, std::int64_t k) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  const std::string sql = "INSERT INTO t (k, v) VALUES (" + std::to_string(k) + ", 'x')";
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
}

// The stamp stays while only transactions marked as adding rows commit, moves on with any other
// commit of this process, and says nothing while another process has committed since this one
// last held the write lock; the next write here sees that and moves it on.
TEST(CommitWatch, MovesOnWithEveryCommitButThoseMarkedAsAddingOnly) {
  testing::TempDir dir;
  const auto path = dir.file("w.db");
  Connection writer(path);
  setup(writer);
  Connection other(path);  // a second connection of this process shares the watch
  auto watch = sqlite::commit_watch(writer.handle());
  ASSERT_TRUE(watch);
  ASSERT_TRUE(sqlite::commit_watch(other.handle()));
  insert_rows(writer, 1, 1, 10);
  const auto first = watch->stamp();
  ASSERT_TRUE(first);
  EXPECT_EQ(sqlite::commit_watch(other.handle())->stamp(), first);

  {
    const sqlite::AddingOnly adding;
    insert_rows(other, 2, 3, 10);
  }
  EXPECT_EQ(watch->stamp(), first);
  EXPECT_EQ(count_rows(writer), 4);

  writer.exec_script("UPDATE t SET v = 'changed' WHERE k = 1", "update");
  const auto second = watch->stamp();
  ASSERT_TRUE(second);
  EXPECT_NE(second, first);

  // A transaction that is rolled back, marked as adding rows, leaves it as it was.
  {
    const sqlite::AddingOnly adding;
    writer.exec_script("BEGIN IMMEDIATE", "begin");
    insert_rows(writer, 10, 1, 10);
    writer.exec_script("ROLLBACK", "rollback");
  }
  EXPECT_EQ(watch->stamp(), second);
  // So does one that commits nothing, marked or not.
  writer.exec_script("UPDATE t SET v = 'none' WHERE k = -1", "update nothing");
  EXPECT_EQ(watch->stamp(), second);

  foreign_write(path, 20);
  EXPECT_FALSE(watch->stamp());
  EXPECT_TRUE(watch->behind());
  {
    const sqlite::AddingOnly adding;  // an adding-only write here still notices the other's
    insert_rows(writer, 21, 1, 10);
  }
  const auto third = watch->stamp();
  ASSERT_TRUE(third);
  EXPECT_NE(third, second);
  EXPECT_FALSE(watch->behind());

  // An empty write transaction is enough to take in another process's commit.
  foreign_write(path, 30);
  EXPECT_FALSE(watch->stamp());
  writer.exec_script("BEGIN IMMEDIATE; COMMIT", "empty");
  const auto fourth = watch->stamp();
  ASSERT_TRUE(fourth);
  EXPECT_NE(fourth, third);
  EXPECT_EQ(count_rows(other), 7);
}

// Each database file has its own watch; a connection opened otherwise has none.
TEST(CommitWatch, IsOnePerDatabaseFile) {
  testing::TempDir dir;
  Connection a(dir.file("a.db"));
  setup(a);
  Connection b(dir.file("b.db"));
  setup(b);
  insert_rows(a, 1, 1, 10);
  insert_rows(b, 1, 1, 10);
  const auto before = sqlite::commit_watch(b.handle())->stamp();
  ASSERT_TRUE(before);
  insert_rows(a, 2, 1, 10);
  EXPECT_EQ(sqlite::commit_watch(b.handle())->stamp(), before);

  sqlite3* plain = nullptr;
  ASSERT_EQ(sqlite3_open_v2(dir.file("a.db").c_str(), &plain, SQLITE_OPEN_READWRITE, nullptr),
            SQLITE_OK);
  EXPECT_FALSE(sqlite::commit_watch(plain));
  sqlite3_close(plain);
}

}  // namespace
}  // namespace storage
