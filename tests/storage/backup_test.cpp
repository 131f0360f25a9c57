// storage::backup_sqlite: an online copy of a SQLite database taken while another writer keeps
// committing. The copy must open as a database of its own, hold one consistent snapshot (every
// writer iteration wholly in or wholly out, the audit log gapless with its Merkle leaves), and
// the writer must have gone on during the copy.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <array>
#include <atomic>
#include <chrono>
#include <charconv>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include "storage/store.hpp"
#include "temp_dir.hpp"
#include "test_database.hpp"
#include "test_hasher.hpp"

namespace storage {
namespace {

using testing::kNow;
using testing::numbered;
constexpr int kPrefill = 300;

ClientRecord client(const std::string& id) {
  ClientRecord c;
  c.client_id = id;
  c.client_name = "Client " + id + std::string(200, 'x');  // a few rows per page
  c.secret_hash = "c2VjcmV0";
  c.token_endpoint_auth_method = "client_secret_basic";
  c.redirect_uris = {"https://app.example/cb"};
  c.grant_types = {"client_credentials"};
  c.scope = "openid";
  c.created_at = kNow;
  return c;
}

std::unique_ptr<Store> open(const std::string& path) {
  return open_sqlite(path, std::make_shared<testing::TestLogHasher>());
}

std::string integrity(const std::string& path) {
  sqlite3* db = nullptr;
  std::string out = "cannot open";
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, nullptr);
    out = sqlite3_step(stmt) == SQLITE_ROW
              ? reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)) : "no answer";
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return out;
}

TEST(SqliteBackup, CopiesALiveDatabaseAsOneConsistentSnapshot) {
  testing::TempDir dir;
  const auto live_path = dir.file("live.db");
  const auto copy_path = dir.file("copies/infobank.backup.db");
  std::filesystem::create_directories(dir.path() / "copies");
  auto live = open(live_path);
  live->migrate();
  for (int i = 0; i < kPrefill; ++i) {
    ASSERT_TRUE(live->insert_client(client(numbered("pre-", i))));
    live->append_event(testing::event(0, kNow + i, "operator", "client.added", "", numbered("pre-", i), "{}", ""));
  }

  // One iteration = one client, then one audit entry naming it: a snapshot holds either both
  // or the client alone (of the last iteration), never an entry without its client.
  std::atomic<int> written{0};
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop.load(); ++i) {
      live->insert_client(client(numbered("live-", i)));
      live->append_event(testing::event(0, kNow, "operator", "client.added", "", numbered("live-", i), "{}", ""));
      written.store(i + 1);
    }
  });
  auto wait_for_writes = [&](int at_least) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (written.load() < at_least && std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
    return written.load() >= at_least;
  };
  ASSERT_TRUE(wait_for_writes(5));

  BackupOptions options;
  options.pages_per_step = 4;  // many steps over a few hundred pages
  int during = -1;
  bool writer_went_on = true;
  options.on_step = [&](const BackupProgress& p) {
    // After the first step, let the writer commit more before the copy goes on: these
    // commits land in the middle of the backup and must not be in the copy.
    if (during < 0) {
      during = written.load();
      writer_went_on = wait_for_writes(during + 10);
    }
    EXPECT_LE(p.pages_remaining, p.pages_total);
  };
  const int before = written.load();
  const auto result = backup_sqlite(live_path, copy_path, options);
  const int after = written.load();
  stop = true;
  writer.join();
  ASSERT_TRUE(writer_went_on) << "the writer stopped during the backup";

  EXPECT_GT(result.steps, 10);
  EXPECT_GT(result.pages, 40);
  EXPECT_GT(result.page_size, 0);
  EXPECT_EQ(static_cast<std::int64_t>(std::filesystem::file_size(copy_path)),
            result.pages * result.page_size);
  EXPECT_FALSE(std::filesystem::exists(copy_path + "-wal")) << "the copy is one file";
  EXPECT_EQ(integrity(copy_path), "ok");
  for (const auto& entry : std::filesystem::directory_iterator(dir.path() / "copies"))
    EXPECT_EQ(entry.path().string(), copy_path) << "a temporary file was left behind";

  auto copy = open(copy_path);
  EXPECT_EQ(copy->schema_version(), live->schema_version());
  const auto clients = copy->list_clients();
  std::set<std::string> ids;
  for (const auto& c : clients) ids.insert(c.client_id);
  int live_clients = 0;
  while (ids.count(numbered("live-", live_clients)) != 0) ++live_clients;
  // A prefix of the writer's clients, nothing after a gap, nothing from after the snapshot.
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kPrefill + live_clients));
  EXPECT_GE(live_clients, before);
  EXPECT_LE(live_clients, during + 1);
  EXPECT_LT(live_clients, after) << "commits made during the backup must not be in the copy";

  const auto size = copy->audit_size();
  const auto events = copy->list_events(0, 1'000'000);
  ASSERT_EQ(static_cast<std::int64_t>(events.size()), size);
  for (std::int64_t i = 0; i < size; ++i) {
    EXPECT_EQ(events[static_cast<std::size_t>(i)].seq, i + 1);
    EXPECT_EQ(copy->audit_node(0, i), events[static_cast<std::size_t>(i)].leaf_hash);
  }
  // Entries name clients: kPrefill of them, then one per whole writer iteration.
  EXPECT_TRUE(size == kPrefill + live_clients || size == kPrefill + live_clients - 1) << size;

  // The copy is a database of its own: it takes writes; the live one is untouched by them.
  EXPECT_TRUE(copy->insert_client(client("only-in-the-copy")));
  EXPECT_FALSE(live->find_client("only-in-the-copy"));
  EXPECT_GE(live->list_clients().size(), static_cast<std::size_t>(kPrefill + after));
}

TEST(SqliteBackup, ReplacesAnEarlierCopyWhole) {
  testing::TempDir dir;
  const auto live_path = dir.file("live.db");
  const auto copy_path = dir.file("copy.db");
  auto live = open(live_path);
  live->migrate();
  ASSERT_TRUE(live->insert_client(client("first")));
  backup_sqlite(live_path, copy_path);
  ASSERT_TRUE(live->insert_client(client("second")));
  backup_sqlite(live_path, copy_path);
  auto copy = open(copy_path);
  EXPECT_TRUE(copy->find_client("first"));
  EXPECT_TRUE(copy->find_client("second"));
}

TEST(SqliteBackup, RefusesWhatIsNoBackup) {
  testing::TempDir dir;
  const auto live_path = dir.file("live.db");
  // A missing database is not created (an empty copy would look like a backup).
  EXPECT_THROW(backup_sqlite(live_path, dir.file("copy.db")), StorageError);
  EXPECT_FALSE(std::filesystem::exists(live_path));
  EXPECT_FALSE(std::filesystem::exists(dir.file("copy.db")));
  auto live = open(live_path);
  live->migrate();
  ASSERT_TRUE(live->insert_client(client("kept")));
  // Not over the database itself, not into a directory that does not exist.
  EXPECT_THROW(backup_sqlite(live_path, live_path), StorageError);
  EXPECT_THROW(backup_sqlite(live_path, dir.file("no/such/dir/copy.db")), StorageError);
  EXPECT_TRUE(live->find_client("kept"));
  EXPECT_EQ(integrity(live_path), "ok");
}

}  // namespace
}  // namespace storage
