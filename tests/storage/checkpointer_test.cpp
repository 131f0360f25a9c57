// The checkpointer (storage/sqlite/checkpointer.hpp): while a writer commits back to back, the
// WAL is still copied back and started over, so it stays small, and every commit is kept.

#include <gtest/gtest.h>

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

TEST(Checkpointer, StartsTheWalOverWhileAWriterCommitsBackToBack) {
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
  constexpr std::int64_t kAtLeastRows = 6000;  // 6 MB: what the WAL would hold without restarts
  std::int64_t rows = 0;
  std::uintmax_t largest_wal = 0;
  std::uint32_t restarts = 0;
  {
    sqlite::Checkpointer checkpointer(path, pool, pacing);
    const auto deadline = std::chrono::steady_clock::now() + 60s;
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
      largest_wal = std::max(largest_wal, std::filesystem::file_size(wal));
      restarts = wal_checkpoint_sequence(wal).value_or(*first) - *first;
    }
  }
  EXPECT_GE(restarts, 3U) << "the WAL never started over while the writer went on";
  EXPECT_LT(largest_wal, std::uintmax_t{2} << 20)
      << "the WAL grew with what was written (" << rows << " rows of " << kRowBytes << " bytes)";
  EXPECT_EQ(count_rows(writer), rows);
  auto check = writer.prepare("PRAGMA integrity_check");
  ASSERT_TRUE(check.step());
  EXPECT_EQ(check.text(0), "ok");
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
