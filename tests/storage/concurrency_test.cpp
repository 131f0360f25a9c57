// The Store is called from a pool of worker threads, and on PostgreSQL from several nodes:
// one-time operations must have exactly one winner, parallel readers and writers must never
// see SQLITE_BUSY or a serialization failure, and the audit log keeps one gapless order.
// Every test runs on each back end (see test_database.hpp).

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <exception>
#include <functional>
#include <latch>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "sqlite/connection.hpp"
#include "storage/store.hpp"
#include "test_database.hpp"
#include "temp_dir.hpp"
#include "test_hasher.hpp"

namespace storage {
namespace {

using testing::kNow;
using testing::numbered;
constexpr int kRacers = 8;

// Runs body(i) on `threads` threads released together; rethrows the first exception.
void race(int threads, const std::function<void(int)>& body) {
  std::latch start(threads);
  std::mutex mutex;
  std::exception_ptr failure;
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(threads));
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      start.arrive_and_wait();
      try {
        body(i);
      } catch (...) {
        std::lock_guard lock(mutex);
        if (!failure) failure = std::current_exception();
      }
    });
  }
  for (auto& thread : pool) thread.join();
  if (failure) std::rethrow_exception(failure);
}

AccessTokenRecord access_token(const std::string& jti) {
  AccessTokenRecord t;
  t.jti = jti;
  t.token_hash = "h-" + jti;
  t.client_id = "app";
  t.resident_id = "r1";
  t.scope = "openid";
  t.issued_at = kNow;
  t.expires_at = kNow + 300;
  return t;
}

RefreshTokenRecord refresh_token(const std::string& hash) {
  RefreshTokenRecord t;
  t.token_hash = hash;
  t.family_id = "f1";
  t.client_id = "app";
  t.resident_id = "r1";
  t.grant_id = "g1";
  t.issued_at = kNow;
  t.expires_at = kNow + 3600;
  return t;
}

// Every leaf hash is the hash of its entry and every stored Merkle node the hash of its
// children, up to the last complete subtree of each level: the tree a single writer would have
// built from `events` in that order.
void expect_tree_of(Store& store, const std::vector<Event>& events) {
  const auto hasher = testing::hasher();
  std::vector<std::string> level;
  for (const auto& e : events) {
    EXPECT_EQ(hasher->leaf_hash(e), e.leaf_hash) << e.seq;
    EXPECT_EQ(store.audit_node(0, e.seq - 1), e.leaf_hash) << e.seq;
    level.push_back(e.leaf_hash);
  }
  for (unsigned height = 1; level.size() >= 2; ++height) {
    std::vector<std::string> up;
    for (std::size_t i = 0; i + 1 < level.size(); i += 2) {
      up.push_back(hasher->node_hash(level[i], level[i + 1]));
      EXPECT_EQ(store.audit_node(height, static_cast<std::int64_t>(i / 2)), up.back())
          << "level " << height << " index " << i / 2;
    }
    EXPECT_FALSE(store.audit_node(height, static_cast<std::int64_t>(up.size())));
    level = std::move(up);
  }
}

class ConcurrencyTest : public testing::MigratedStoreTest {};

INSTANTIATE_TEST_SUITE_P(Backends, ConcurrencyTest,
                         ::testing::Values(testing::Backend::sqlite, testing::Backend::postgres),
                         testing::backend_name);

TEST_P(ConcurrencyTest, ExactlyOneThreadConsumesACode) {
  for (int round = 0; round < 10; ++round) {
    AuthorizationCode code;
    code.code_hash = numbered("code-", round);
    code.client_id = "app";
    code.resident_id = "r1";
    code.expires_at = kNow + 60;
    store_->insert_code(code);

    std::atomic<int> winners{0};
    std::atomic<int> replays{0};
    race(kRacers, [&](int) {
      const auto consumed = store_->consume_code(code.code_hash);
      ASSERT_TRUE(consumed);
      ++(consumed->used ? replays : winners);
    });
    EXPECT_EQ(winners.load(), 1) << "round " << round;
    EXPECT_EQ(replays.load(), kRacers - 1) << "round " << round;
  }
}

TEST_P(ConcurrencyTest, ExactlyOneThreadRotatesARefreshToken) {
  store_->insert_refresh_token(refresh_token("rt0"));
  std::atomic<int> winners{0};
  race(kRacers, [&](int i) {
    const auto old = store_->rotate_refresh_token("rt0", refresh_token(numbered("rt-", i)));
    ASSERT_TRUE(old);
    if (!old->rotated) ++winners;
  });
  EXPECT_EQ(winners.load(), 1);
  // Every loser replayed a rotated token: the family, successor included, is revoked.
  EXPECT_TRUE(store_->find_refresh_token("rt0")->revoked);
  int successors = 0;
  for (int i = 0; i < kRacers; ++i) {
    const auto successor = store_->find_refresh_token(numbered("rt-", i));
    if (successor) {
      ++successors;
      EXPECT_TRUE(successor->revoked);
    }
  }
  EXPECT_EQ(successors, 1);
}

TEST_P(ConcurrencyTest, ExactlyOneThreadTakesPendingAndRemembersJti) {
  PendingAuthorization pending;
  pending.handle = "h";
  pending.expires_at = kNow + 60;
  store_->insert_pending(pending);
  std::atomic<int> takers{0};
  std::atomic<int> first_seen{0};
  race(kRacers, [&](int) {
    if (store_->take_pending("h", kNow)) ++takers;
    if (store_->remember_jti("dpop", "jti-1", kNow + 60, kNow)) ++first_seen;
  });
  EXPECT_EQ(takers.load(), 1);
  EXPECT_EQ(first_seen.load(), 1);
}

TEST_P(ConcurrencyTest, ReadersAndWritersRunTogetherWithoutBusyErrors) {
  constexpr int kWriters = 4;
  constexpr int kReaders = 4;
  constexpr int kPerThread = 100;
  std::atomic<int> found{0};
  std::mutex seq_mutex;
  std::set<std::int64_t> seqs;

  race(kWriters + kReaders, [&](int i) {
    if (i < kWriters) {
      for (int n = 0; n < kPerThread; ++n) {
        const std::string jti = numbered("w", i, n);
        store_->insert_access_token(access_token(jti));
        const auto seq =
            store_->append_event(testing::event(0, kNow, "system", "token.issued", "", "app", "{}", jti));
        std::lock_guard lock(seq_mutex);
        EXPECT_TRUE(seqs.insert(seq).second);
      }
      store_->revoke_access_token(numbered("w", i, 0));
    } else {
      for (int n = 0; n < kPerThread; ++n) {
        const std::string jti = numbered("w", n % kWriters, n);
        if (store_->find_access_token(jti)) ++found;
        const auto events = store_->list_events(0, 50);
        EXPECT_LE(events.size(), 50U);
        EXPECT_TRUE(std::is_sorted(events.begin(), events.end(),
                                   [](const Event& a, const Event& b) { return a.seq < b.seq; }));
        store_->login_failures("ip:192.0.2.1", kNow, 900);
      }
    }
  });

  EXPECT_EQ(seqs.size(), static_cast<std::size_t>(kWriters * kPerThread));
  EXPECT_EQ(store_->list_events(0, 100'000).size(),
            static_cast<std::size_t>(kWriters * kPerThread));
  for (int i = 0; i < kWriters; ++i) {
    EXPECT_TRUE(store_->find_access_token(numbered("w", i, 0))->revoked);
    EXPECT_TRUE(store_->find_access_token(numbered("w", i, kPerThread - 1)));
  }
}

// A connection that finds the database locked tries again soon (a RESTART checkpoint or
// another process holds it for well under a millisecond, usually), backs off to a few
// milliseconds, and gives up after 5 s in all, as SQLite's busy_timeout(5000) did.
TEST(SqliteBusyWait, TriesAgainSoonThenBacksOffAndGivesUpAfterFiveSeconds) {
  EXPECT_EQ(sqlite::busy_retry_delay_us(0), 50);
  EXPECT_EQ(sqlite::busy_retry_delay_us(1), 100);
  std::int64_t waited = 0;
  int tries = 0;
  for (;; ++tries) {
    const auto next = sqlite::busy_retry_delay_us(tries);
    if (next < 0) break;
    EXPECT_GT(next, 0);
    EXPECT_LE(next, 2000) << "never sleeps past a lock released meanwhile by more than 2 ms";
    if (tries > 0) {
      EXPECT_GE(next, sqlite::busy_retry_delay_us(tries - 1)) << tries;
    }
    waited += next;
    ASSERT_LT(tries, 100'000);
  }
  EXPECT_GE(waited, 5'000'000);
  EXPECT_LT(waited, 5'002'000);
  EXPECT_LT(sqlite::busy_retry_delay_us(tries + 1), 0);
}

// Text bound without a copy is what the statement stores, and once the lease ends the cached
// statement holds none of it: a later use that leaves a parameter unbound gets NULL, never the
// bytes of a string that is gone (the column is NOT NULL, so a stale binding would insert).
TEST(SqliteStatement, TextBoundWithoutACopyIsStoredThenForgotten) {
  testing::TempDir dir;
  sqlite::Connection db(dir.file("views.db"));
  db.exec_script("CREATE TABLE t (a TEXT NOT NULL, n INTEGER NOT NULL, b TEXT NOT NULL) STRICT;",
                 "create");
  constexpr std::string_view kInsert = "INSERT INTO t (a, n, b) VALUES (?1, ?2, ?3)";
  {
    const std::string a(300, 'a');
    const std::string b = "b\u00e9b";
    db.prepare(kInsert).bind_views_at(1, a, std::int64_t{7}, b).run();
  }
  {
    auto stmt = db.prepare(kInsert);
    stmt.bind(2, 8);  // ?1 and ?3 left unbound
    EXPECT_THROW(stmt.run(), StorageError);
  }
  auto stmt = db.prepare("SELECT a, n, b FROM t");
  ASSERT_TRUE(stmt.step());
  EXPECT_EQ(stmt.text(0), std::string(300, 'a'));
  EXPECT_EQ(stmt.int64(1), 7);
  EXPECT_EQ(stmt.text(2), "b\u00e9b");
  EXPECT_FALSE(stmt.step());
}

// Bytes bound as a Blob, with or without a copy, are stored as a BLOB with every byte (NUL
// and bytes that are no UTF-8 included) and read back by blob().
TEST(SqliteStatement, BlobsAreStoredAsBlobsByteForByte) {
  testing::TempDir dir;
  sqlite::Connection db(dir.file("blobs.db"));
  db.exec_script("CREATE TABLE t (k INTEGER PRIMARY KEY, b BLOB NOT NULL) STRICT;", "create");
  const std::string bytes("\x00\xff\x01\xfe\x00", 5);
  db.prepare("INSERT INTO t (k, b) VALUES (?1, ?2)").bind_all(std::int64_t{1}, sqlite::Blob{bytes}).run();
  {
    const std::string copy = bytes;
    db.prepare("INSERT INTO t (k, b) VALUES (?1, ?2)").bind_views_at(1, std::int64_t{2},
                                                                      sqlite::Blob{copy}).run();
  }
  {
    auto stmt = db.prepare("INSERT INTO t (k, b) VALUES (?1, ?2)");
    stmt.bind(1, 3);  // ?2 left unbound: the view bound before is gone
    EXPECT_THROW(stmt.run(), StorageError);
  }
  auto stmt = db.prepare("SELECT typeof(b), b FROM t ORDER BY k");
  for (int row = 0; row < 2; ++row) {
    ASSERT_TRUE(stmt.step()) << row;
    EXPECT_EQ(stmt.text(0), "blob") << row;
    EXPECT_EQ(stmt.blob(1), bytes) << row;
  }
  EXPECT_FALSE(stmt.step());
}

// Two Stores on one database stand in for two processes (`infobank serve` and an admin
// command such as `infobank migrate`) or, on PostgreSQL, two nodes. On SQLite their writers
// meet only at the file lock, and the one that finds it taken waits in the busy handler
// (busy_timeout) instead of failing. One writer per Store: across processes SQLite polls
// rather than queues, so a busy pool could starve the other side, which is acceptable for
// short admin commands but not a test to run hot.
TEST_P(ConcurrencyTest, TwoStoresOnOneDatabaseShareTheWriteLock) {
  auto second = db_->open();
  constexpr int kPerThread = 40;
  race(2, [&](int i) {
    Store& store = i == 0 ? *store_ : *second;
    for (int n = 0; n < kPerThread; ++n) {
      store.insert_access_token(access_token(numbered("s", i, n)));
      store.record_login_failure("user:ada", kNow + n, 1'000'000);
    }
  });
  EXPECT_EQ(store_->login_failures("user:ada", kNow + kPerThread, 1'000'000), 2 * kPerThread);
  EXPECT_TRUE(second->find_access_token("s0-39"));
  EXPECT_TRUE(store_->find_access_token("s1-0"));
}

// Two nodes racing for one code, one refresh token, one request_uri and one jti: each has
// exactly one winner across both.
TEST_P(ConcurrencyTest, TwoStoresRaceForOneTimeThings) {
  auto second = db_->open();
  for (int round = 0; round < 5; ++round) {
    AuthorizationCode code;
    code.code_hash = numbered("code-", round);
    code.client_id = "app";
    code.resident_id = "r1";
    code.expires_at = kNow + 60;
    store_->insert_code(code);
    const std::string refresh = numbered("rt-round-", round);
    auto token = refresh_token(refresh);
    token.family_id = numbered("family-", round);
    store_->insert_refresh_token(token);
    PendingAuthorization pending;
    pending.handle = numbered("handle-", round);
    pending.expires_at = kNow + 60;
    store_->insert_pending(pending);

    std::atomic<int> codes{0};
    std::atomic<int> rotations{0};
    std::atomic<int> takers{0};
    std::atomic<int> first_seen{0};
    race(kRacers, [&](int i) {
      Store& store = i % 2 == 0 ? *store_ : *second;
      const auto consumed = store.consume_code(code.code_hash);
      ASSERT_TRUE(consumed);
      if (!consumed->used) ++codes;
      auto successor = refresh_token(numbered("next-", round, i));
      successor.family_id = token.family_id;
      const auto old = store.rotate_refresh_token(refresh, successor);
      ASSERT_TRUE(old);
      if (!old->rotated && !old->revoked) ++rotations;
      if (store.take_pending(pending.handle, kNow)) ++takers;
      if (store.remember_jti("dpop", numbered("jti-", round), kNow + 60, kNow)) ++first_seen;
    });
    EXPECT_EQ(codes.load(), 1) << "round " << round;
    EXPECT_EQ(rotations.load(), 1) << "round " << round;
    EXPECT_EQ(takers.load(), 1) << "round " << round;
    EXPECT_EQ(first_seen.load(), 1) << "round " << round;
  }
}

// Appends from two Stores (two nodes) interleave into one log: seqs 1..n without gaps or
// repeats, each returned to exactly one caller, and every Merkle node the hash of its
// children, so the tree is the one a single writer would have built from that order.
TEST_P(ConcurrencyTest, AuditLogIsOneGaplessOrderAcrossStores) {
  auto second = db_->open();
  constexpr int kThreads = 6;
  constexpr int kPerThread = 30;
  constexpr int kTotal = kThreads * kPerThread;
  std::mutex seq_mutex;
  std::set<std::int64_t> seqs;
  race(kThreads, [&](int i) {
    Store& store = i % 2 == 0 ? *store_ : *second;
    for (int n = 0; n < kPerThread; ++n) {
      const std::string id = numbered("e", i, n);
      std::int64_t seq = 0;
      if (n % 3 == 0) {
        // The token endpoint's write: the token and its event in one transaction.
        store.insert_access_token(access_token(id),
                                  testing::event(0, kNow, "client", "token.issued", "", "app",
                                                 "{}", id));
        seq = -1;
      } else if (n % 3 == 2 && n % 2 == 0) {
        // A write in a transaction of its own, outside the group commit (on PostgreSQL its
        // entry is written at once, under the same lock as the batches').
        store.upsert_contract(ContractRecord{id, "r-" + id, "svc-" + id, "sub", "active", kNow,
                                             0, "test", ""},
                              testing::event(0, kNow, "system", "contract.started", "", "",
                                             "{}", id));
        seq = -1;
      } else {
        seq = store.append_event(testing::event(0, kNow + n, "system", "tick", "", "", "{}", id));
      }
      std::lock_guard lock(seq_mutex);
      if (seq > 0) {
        EXPECT_TRUE(seqs.insert(seq).second) << seq;
      }
    }
  });

  EXPECT_EQ(store_->audit_size(), kTotal);
  EXPECT_EQ(second->audit_size(), kTotal);
  const auto events = store_->list_events(0, kTotal + 10);
  ASSERT_EQ(events.size(), static_cast<std::size_t>(kTotal));
  std::set<std::string> request_ids;
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].seq, static_cast<std::int64_t>(i) + 1);
    request_ids.insert(events[i].request_id);
    // Every seq an append_event returned names the entry that call wrote.
    if (seqs.count(events[i].seq) != 0) {
      EXPECT_EQ(events[i].action, "tick");
    }
  }
  EXPECT_EQ(request_ids.size(), static_cast<std::size_t>(kTotal));

  expect_tree_of(*store_, events);
}

// Tokens whose jti is taken fail alone, whatever batch they share: on PostgreSQL a batch's
// token rows are written together before its COMMIT, and a batch where one of them fails runs
// again write by write. Each jti is stored once, with exactly the entries of the writes that
// succeeded, in one gapless tree.
TEST_P(ConcurrencyTest, TakenJtisFailAloneInSharedBatches) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 40;
  std::atomic<int> stored{0};
  std::atomic<int> refused{0};
  race(kThreads, [&](int i) {
    for (int n = 0; n < kPerThread; ++n) {
      // Every fourth jti is shared by all threads: one of them stores it.
      const std::string jti = n % 4 == 0 ? numbered("shared", 0, n) : numbered("own", i, n);
      try {
        store_->insert_access_token(access_token(jti),
                                    testing::event(0, kNow, "client", "token.issued", "", "app",
                                                   "{}", numbered("r", i, n)));
        ++stored;
      } catch (const StorageError&) {
        ++refused;
      }
    }
  });

  constexpr int kShared = kPerThread / 4;
  constexpr int kStored = kThreads * (kPerThread - kShared) + kShared;
  EXPECT_EQ(stored.load(), kStored);
  EXPECT_EQ(refused.load(), (kThreads - 1) * kShared);
  for (int n = 0; n < kPerThread; n += 4) {
    EXPECT_TRUE(store_->find_access_token(numbered("shared", 0, n))) << n;
  }
  for (int i = 0; i < kThreads; ++i) {
    EXPECT_TRUE(store_->find_access_token(numbered("own", i, 1))) << i;
  }
  EXPECT_EQ(store_->audit_size(), kStored);
  const auto events = store_->list_events(0, kStored + 10);
  ASSERT_EQ(events.size(), static_cast<std::size_t>(kStored));
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].seq, static_cast<std::int64_t>(i) + 1);
  }
  expect_tree_of(*store_, events);
}

// A hasher that fails on the entries whose action is "poison", as a bug or a full disk would
// fail one write in the middle of a batch.
class PoisonHasher final : public LogHasher {
 public:
  [[nodiscard]] std::string leaf_hash(const Event& e) const override {
    return leaf_hash(prepare(e), e.seq);
  }
  [[nodiscard]] Prepared prepare(const Event& e) const override { return inner_.prepare(e); }
  // Fails where the seq is assigned, inside the batch's transaction.
  [[nodiscard]] std::string leaf_hash(const Prepared& p, std::int64_t seq) const override {
    if (p.after_seq.find(":poison:") != std::string::npos) throw StorageError("poisoned entry");
    return inner_.leaf_hash(p, seq);
  }
  [[nodiscard]] std::string node_hash(std::string_view left,
                                      std::string_view right) const override {
    return inner_.node_hash(left, right);
  }

 private:
  testing::TestLogHasher inner_;
};

// Writes that fail while appending share batches with writes that succeed: each failed one
// leaves nothing (neither its token nor its entry), the others keep their entries in one
// gapless order, and the Merkle tree is the one built from exactly those entries.
TEST_P(ConcurrencyTest, FailedWritesLeaveTheAuditTreeWhole) {
  auto store = db_->open(std::make_shared<PoisonHasher>());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 40;
  std::atomic<int> failed{0};
  race(kThreads, [&](int i) {
    for (int n = 0; n < kPerThread; ++n) {
      const std::string id = numbered("e", i, n);
      if (n % 4 == 1) {
        try {
          store->insert_access_token(
              access_token(id), testing::event(0, kNow, "client", "poison", "", "app", "{}", id));
          ADD_FAILURE() << "poisoned write " << id << " succeeded";
        } catch (const StorageError&) {
          ++failed;
        }
      } else {
        store->append_event(testing::event(0, kNow + n, "system", "tick", "", "", "{}", id));
      }
    }
  });

  constexpr int kAppended = kThreads * kPerThread * 3 / 4;
  EXPECT_EQ(failed.load(), kThreads * kPerThread / 4);
  EXPECT_EQ(store->audit_size(), kAppended);
  const auto events = store->list_events(0, kAppended + 10);
  ASSERT_EQ(events.size(), static_cast<std::size_t>(kAppended));
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].seq, static_cast<std::int64_t>(i) + 1);
    EXPECT_EQ(events[i].action, "tick");
  }
  for (int i = 0; i < kThreads; ++i) {
    EXPECT_FALSE(store->find_access_token(numbered("e", i, 1))) << "thread " << i;
  }
  expect_tree_of(*store, events);

  // The next append, in a batch of its own, extends the same tree.
  EXPECT_EQ(store->append_event(testing::event(0, kNow, "system", "tick", "", "", "{}", "last")),
            kAppended + 1);
  expect_tree_of(*store, store->list_events(0, kAppended + 10));
}

}  // namespace
}  // namespace storage
