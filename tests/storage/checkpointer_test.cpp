// The checkpointer (storage/sqlite/checkpointer.hpp): while a writer keeps committing, the
// WAL is still copied back and started over, so it stays small, and every commit is kept.

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include "sqlite/checkpointer.hpp"
#include "sqlite/connection.hpp"
#include "temp_dir.hpp"

namespace storage {
namespace {

using namespace std::chrono_literals;
using sqlite::Connection;

// The WAL header's checkpoint sequence number (bytes 12-15, big-endian, in SQLite's file
// format), which moves on each time the WAL starts over; nothing while there is no WAL.
std::optional<std::uint32_t> wal_checkpoint_sequence(const std::string& wal_path) {
  std::ifstream in(wal_path, std::ios::binary);
  std::array<char, 16> header{};
  if (!in.read(header.data(), header.size())) return std::nullopt;
  std::uint32_t sequence = 0;
  for (int i = 12; i < 16; ++i) {
    sequence = (sequence << 8) | static_cast<unsigned char>(header[static_cast<std::size_t>(i)]);
  }
  return sequence;
}

std::int64_t count_rows(Connection& db) {
  auto stmt = db.prepare("SELECT count(*) FROM t");
  EXPECT_TRUE(stmt.step());
  return stmt.int64(0);
}

TEST(Checkpointer, StartsTheWalOverWhileAWriterKeepsCommitting) {
  testing::TempDir dir;
  const std::string path = dir.file("db.sqlite");
  const std::string wal = path + "-wal";
  sqlite::ConnectionPool pool(path, 4);
  Connection writer(path);
  writer.exec_script("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL) STRICT;", "setup");
  const auto first = wal_checkpoint_sequence(wal);
  ASSERT_TRUE(first) << "the schema's commit made the WAL";

  sqlite::CheckpointPacing pacing;
  pacing.writeback_interval = 2ms;
  pacing.writebacks_per_checkpoint = 5;
  pacing.restart_frames = 64;  // 256 KiB
  constexpr std::size_t kRowBytes = 1000;
  constexpr std::int64_t kAtLeastRows = 12000;  // 12 MB: the WAL's size without restarts
  std::int64_t rows = 0;
  std::uintmax_t largest_wal = 0;
  std::uint32_t restarts = 0;
  // The checkpointer's rounds come every 2 ms, ~4 commits apart. When none has come for
  // kCommitsWithoutRound commits, its thread is held up (another process's large fsync held
  // its syncs up, and the WAL grew to 16 MB meanwhile): the writer then waits for the next
  // round. A disk slower than the writer is not what this test is about.
  constexpr int kCommitsWithoutRound = 100;
  {
    sqlite::Checkpointer checkpointer(path, pool, pacing);
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    std::uint64_t round_seen = checkpointer.ticks();
    int commits_since_round = 0;
    while ((restarts < 3 || rows < kAtLeastRows) && std::chrono::steady_clock::now() < deadline) {
      sqlite::WriteTransaction transaction(writer, pool.write_mutex());
      for (int i = 0; i < 2; ++i, ++rows) {
        writer.prepare("INSERT INTO t (k, v) VALUES (?1, ?2)")
            .bind_all(rows, std::string(kRowBytes, static_cast<char>('a' + rows % 26)))
            .run();
      }
      transaction.commit();
      // A server's pace (~2,000 commits/s), not a loop that outruns the disk: at that, no
      // PASSIVE round would ever find the whole WAL copied back.
      std::this_thread::sleep_for(500us);
      if (checkpointer.ticks() != round_seen) {
        round_seen = checkpointer.ticks();
        commits_since_round = 0;
      } else if (++commits_since_round == kCommitsWithoutRound) {
        while (checkpointer.ticks() == round_seen && std::chrono::steady_clock::now() < deadline)
          std::this_thread::sleep_for(100us);
      }
      largest_wal = std::max(largest_wal, std::filesystem::file_size(wal));
      restarts = wal_checkpoint_sequence(wal).value_or(*first) - *first;
    }
  }
  EXPECT_GE(restarts, 3U) << "the WAL never started over while the writer went on";
  // A third of what went through: room for a checkpointer kept waiting by a busy machine, and
  // still far from a WAL that only grows.
  EXPECT_LT(largest_wal, std::uintmax_t{4} << 20)
      << "the WAL grew with what was written (" << rows << " rows of " << kRowBytes << " bytes)";
  EXPECT_EQ(count_rows(writer), rows);
  auto check = writer.prepare("PRAGMA integrity_check");
  ASSERT_TRUE(check.step());
  EXPECT_EQ(check.text(0), "ok");
}

// Whether another process would find a lock of this one on the database's shared-lock bytes,
// where each SQLite connection in WAL mode keeps a read lock for as long as it is open (the
// unix VFS's lock layout: 510 bytes from 2^30 + 2). Asked from a child process with F_GETLK,
// which reports the locks of other processes and changes none.
bool another_process_sees_our_shared_lock(const std::string& path) {
  const pid_t child = ::fork();
  if (child == 0) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    struct flock probe {};
    probe.l_type = F_WRLCK;
    probe.l_whence = SEEK_SET;
    probe.l_start = (off_t{1} << 30) + 2;
    probe.l_len = 510;
    const bool seen = fd >= 0 && ::fcntl(fd, F_GETLK, &probe) == 0 && probe.l_type == F_RDLCK;
    ::_exit(seen ? 0 : 1);
  }
  int status = 0;
  return child > 0 && ::waitpid(child, &status, 0) == child && WIFEXITED(status) &&
         WEXITSTATUS(status) == 0;
}

// Closing any descriptor of a file drops every POSIX lock the process holds on it, SQLite's
// included. Whatever the checkpointer does must leave this process's locks on the database
// as they were: another process closing its last connection must still find this one there,
// or it takes itself for the last and deletes the WAL and the shared memory under it.
TEST(Checkpointer, LeavesTheLocksOfThisProcessAsTheyWere) {
  testing::TempDir dir;
  const std::string path = dir.file("db.sqlite");
  sqlite::ConnectionPool pool(path, 2);
  Connection mine(path);
  mine.exec_script("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL) STRICT;"
                   "INSERT INTO t (k, v) VALUES (1, 'mine');",
                   "setup");
  ASSERT_EQ(count_rows(mine), 1);
  ASSERT_TRUE(another_process_sees_our_shared_lock(path)) << "the premise: an open connection";

  sqlite::CheckpointPacing pacing;
  pacing.writeback_interval = 1ms;
  pacing.writebacks_per_checkpoint = 2;
  pacing.restart_frames = 1;  // every path: write-outs, checkpoints, syncs, RESTARTs
  sqlite::Checkpointer checkpointer(path, pool, pacing);
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (checkpointer.ticks() < 20 && std::chrono::steady_clock::now() < deadline) {
    // A write for each write-out to find, not a loop that keeps the write lock from the
    // RESTART.
    mine.prepare("UPDATE t SET v = v || 'x' WHERE k = 1").run();
    const auto seen = checkpointer.ticks();
    while (checkpointer.ticks() == seen && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(100us);
    }
  }
  ASSERT_GE(checkpointer.ticks(), 20U);
  EXPECT_TRUE(another_process_sees_our_shared_lock(path));
  EXPECT_EQ(count_rows(mine), 1);
}

TEST(Checkpointer, StopsAtOnceInTheMiddleOfAWait) {
  testing::TempDir dir;
  const std::string path = dir.file("db.sqlite");
  sqlite::ConnectionPool pool(path, 2);
  sqlite::CheckpointPacing pacing;
  pacing.writeback_interval = std::chrono::hours(1);
  const auto started = std::chrono::steady_clock::now();
  { sqlite::Checkpointer checkpointer(path, pool, pacing); }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

}  // namespace
}  // namespace storage
