// Transfers in storage, on each back end: which have waited in a state since when
// (list_transfers_waiting, what the broker's time limit on the resident's decision reads), and
// the guarded state change that lets exactly one of several nodes decide a waiting transfer.
#include <algorithm>
#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "storage/store.hpp"
#include "test_database.hpp"
#include "test_hasher.hpp"

namespace storage {
namespace {

using testing::kNow;
constexpr std::string_view kWaiting = "awaiting_confirmation";

TransferRecord make_transfer(const std::string& id, std::string_view state,
                             std::int64_t updated_at) {
  TransferRecord t;
  t.id = id;
  t.resident_id = "resident-" + id;
  t.source_id = "src";
  t.destination_id = "dst";
  t.source_subject = "alice";
  t.destination_subject = "alice";
  t.datasets = {"blog_posts"};
  t.delete_at_source = true;
  t.state = std::string(state);
  t.step = "step";
  t.lease_owner = "node-a";
  t.lease_until = updated_at + 60;
  t.created_at = kNow - 100'000;
  t.updated_at = updated_at;
  return t;
}

Event logged(std::string_view action, const std::string& transfer) {
  return testing::event(0, kNow, "system", std::string(action), "resident-" + transfer, "",
                        "{\"transfer\":\"" + transfer + "\"}", "");
}

std::vector<std::string> ids(const std::vector<TransferRecord>& transfers) {
  std::vector<std::string> out;
  for (const auto& t : transfers) out.push_back(t.id);
  return out;
}

class TransferStoreTest : public testing::MigratedStoreTest {
 protected:
  void insert(const TransferRecord& t) {
    store_->insert_transfer(t, {}, logged("transfer.requested", t.id));
  }
};

INSTANTIATE_TEST_SUITE_P(Backends, TransferStoreTest,
                         ::testing::Values(testing::Backend::sqlite, testing::Backend::postgres),
                         testing::backend_name);

TEST_P(TransferStoreTest, ListsThoseThatHaveWaitedInAStateSinceBefore) {
  insert(make_transfer("w3", kWaiting, kNow - 30));
  insert(make_transfer("w1", kWaiting, kNow - 50));
  insert(make_transfer("w2b", kWaiting, kNow - 40));
  insert(make_transfer("w2a", kWaiting, kNow - 40));
  insert(make_transfer("w0", kWaiting, kNow - 10));        // not long enough
  insert(make_transfer("boundary", kWaiting, kNow - 20));  // changed at the limit itself
  insert(make_transfer("other", "requested", kNow - 1000));
  insert(make_transfer("done", "completed", kNow - 1000));

  EXPECT_EQ(ids(store_->list_transfers_waiting(kWaiting, kNow - 20, 100)),
            (std::vector<std::string>{"w1", "w2a", "w2b", "w3"}))
      << "longest waiting first, then by id; only before the limit";
  EXPECT_EQ(ids(store_->list_transfers_waiting(kWaiting, kNow - 20, 2)),
            (std::vector<std::string>{"w1", "w2a"}));
  EXPECT_TRUE(store_->list_transfers_waiting(kWaiting, kNow - 50, 100).empty());
  EXPECT_EQ(ids(store_->list_transfers_waiting("requested", kNow, 100)),
            std::vector<std::string>{"other"});

  // The whole row comes back, as find_transfer reads it.
  const auto listed = store_->list_transfers_waiting(kWaiting, kNow - 45, 1).at(0);
  const auto found = *store_->find_transfer("w1");
  EXPECT_EQ(listed.id, found.id);
  EXPECT_EQ(listed.resident_id, found.resident_id);
  EXPECT_EQ(listed.lease_owner, "node-a");
  EXPECT_EQ(listed.updated_at, kNow - 50);
  EXPECT_EQ(listed.datasets, found.datasets);
  EXPECT_TRUE(listed.delete_at_source);

  // A state change writes updated_at: a decided transfer is no longer listed.
  auto decided = found;
  decided.state = "completed";
  decided.updated_at = kNow;
  ASSERT_TRUE(store_->update_transfer(decided, kWaiting, {}, {}, {logged("x", "w1")}));
  EXPECT_EQ(ids(store_->list_transfers_waiting(kWaiting, kNow - 20, 100)),
            (std::vector<std::string>{"w2a", "w2b", "w3"}));
}

// A worker claims exactly the runnable states (kRunnableTransferStates, which the broker also
// runs by), oldest first, when due and not leased by someone else in time.
TEST_P(TransferStoreTest, ClaimsOnlyRunnableDueUnleasedTransfers) {
  const std::vector<std::string> states = {"requested", "consented", "exporting", "importing",
                                           "verifying", "awaiting_confirmation", "deleting",
                                           "completed", "failed", "cancelled"};
  for (std::size_t i = 0; i < states.size(); ++i) {
    auto t = make_transfer("s" + std::to_string(i), states[i], kNow - 10);
    t.created_at = kNow - 1000 + static_cast<std::int64_t>(i);  // in the order above
    t.lease_owner.clear();
    t.lease_until = 0;
    insert(t);
  }
  auto later = make_transfer("later", "consented", kNow - 10);
  later.next_attempt_at = kNow + 5;  // a retry not yet due
  later.lease_owner.clear();
  insert(later);
  auto leased = make_transfer("leased", "exporting", kNow - 10);  // node-a, until kNow + 50
  insert(leased);

  std::vector<std::string> claimed;
  // node-b's own leases (long ones) keep what it claimed from being claimed again below.
  while (auto t = store_->claim_transfer("node-b", kNow, kNow + 1000)) {
    EXPECT_EQ(t->lease_owner, "node-b");
    EXPECT_EQ(t->lease_until, kNow + 1000);
    claimed.push_back(t->state);
    ASSERT_LE(claimed.size(), states.size()) << "claimed twice";
  }
  EXPECT_EQ(claimed, (std::vector<std::string>(kRunnableTransferStates.begin(),
                                               kRunnableTransferStates.end())));
  for (const auto& state : states) {
    EXPECT_EQ(runnable_transfer_state(state),
              std::find(claimed.begin(), claimed.end(), state) != claimed.end())
        << state;
  }
  // Once due, the retry; once its lease has run out, the other node's.
  const auto due = store_->claim_transfer("node-b", kNow + 5, kNow + 1000);
  ASSERT_TRUE(due);
  EXPECT_EQ(due->id, "later");
  EXPECT_FALSE(store_->claim_transfer("node-b", kNow + 50, kNow + 1000));
  const auto expired = store_->claim_transfer("node-b", kNow + 51, kNow + 1000);
  ASSERT_TRUE(expired);
  EXPECT_EQ(expired->id, "leased");

  // A lease let go by its holder (a run that failed midway) can be claimed again at once; one
  // held by another node is not let go.
  store_->release_transfer("later", "node-c");
  EXPECT_FALSE(store_->claim_transfer("node-c", kNow + 60, kNow + 1000));
  store_->release_transfer("later", "node-b");
  EXPECT_EQ(store_->find_transfer("later")->lease_owner, "");
  EXPECT_EQ(store_->find_transfer("leased")->lease_owner, "node-b") << "only that transfer";
  const auto again = store_->claim_transfer("node-c", kNow + 60, kNow + 1000);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, "later");
}

ContractRecord contract(std::string id, std::string service, std::string status,
                        std::int64_t since) {
  ContractRecord c;
  c.id = std::move(id);
  c.resident_id = "resident-x";
  c.service_id = std::move(service);
  c.subject = "alice";
  c.status = std::move(status);
  c.since = since;
  c.until = c.status == "active" ? 0 : since + 1;
  c.reason = "test";
  return c;
}

// At most one active contract per resident and service: a second one is refused, with the
// transaction that carried it (a transfer's completion included), and nothing of it is kept.
TEST_P(TransferStoreTest, AResidentHasOneActiveContractWithAService) {
  store_->upsert_contract(contract("c1", "dst", "active", kNow - 100), logged("contract.started", "x"));
  store_->upsert_contract(contract("old", "dst", "terminated", kNow - 500),
                          logged("contract.started", "x"));
  store_->upsert_contract(contract("c2", "other", "active", kNow - 100),
                          logged("contract.started", "x"));
  const auto audit = store_->audit_size();
  EXPECT_THROW(store_->upsert_contract(contract("c3", "dst", "active", kNow),
                                       logged("contract.started", "x")),
               StorageError);
  auto t = make_transfer("t1", "verifying", kNow - 10);
  insert(t);
  const auto audit_with_transfer = store_->audit_size();
  auto done = t;
  done.state = "completed";
  EXPECT_THROW((void)store_->update_transfer(done, "verifying", {},
                                             {contract("c4", "dst", "active", kNow)},
                                             {logged("transfer.completed", "t1")}),
               StorageError);
  EXPECT_EQ(store_->find_transfer("t1")->state, "verifying") << "the completion rolled back";
  EXPECT_EQ(store_->audit_size(), audit_with_transfer);
  EXPECT_EQ(audit_with_transfer, audit + 1);
  EXPECT_EQ(store_->find_active_contract("resident-x", "dst")->id, "c1");
  // Ending the active one lets another start.
  auto ended = contract("c1", "dst", "terminated", kNow - 100);
  store_->upsert_contract(ended, logged("contract.ended", "x"));
  store_->upsert_contract(contract("c5", "dst", "active", kNow), logged("contract.started", "x"));
  EXPECT_EQ(store_->find_active_contract("resident-x", "dst")->id, "c5");
  EXPECT_EQ(store_->list_contracts("resident-x").size(), 4U) << "c1, old, c2 and c5";
}

// A database from before the rule that holds twins keeps the oldest active, and ends the others.
TEST_P(TransferStoreTest, MigrationKeepsTheOldestOfActiveTwins) {
  const bool pg = GetParam() == testing::Backend::postgres;
  store_.reset();
  const std::string& later = testing::kDropColumnsSince18;
  ASSERT_EQ(db_->exec_raw(pg ? "DROP INDEX contracts_one_active;" + later +
                                   "DELETE FROM schema_migrations WHERE version > 16;"
                             : "DROP INDEX contracts_one_active;" + later +
                                   "PRAGMA user_version = 16;"),
            "");
  store_ = db_->open();
  store_->upsert_contract(contract("b-newer", "dst", "active", kNow), logged("c", "x"));
  store_->upsert_contract(contract("a-newer", "dst", "active", kNow), logged("c", "x"));
  store_->upsert_contract(contract("z-oldest", "dst", "active", kNow - 50), logged("c", "x"));
  store_->upsert_contract(contract("alone", "other", "active", kNow), logged("c", "x"));
  EXPECT_EQ(store_->migrate(), testing::kSchemaVersion);
  EXPECT_EQ(store_->find_active_contract("resident-x", "dst")->id, "z-oldest");
  EXPECT_EQ(store_->find_active_contract("resident-x", "other")->id, "alone");
  int ended = 0;
  for (const auto& c : store_->list_contracts("resident-x")) {
    if (c.id != "a-newer" && c.id != "b-newer") continue;
    EXPECT_EQ(c.status, "terminated") << c.id;
    EXPECT_EQ(c.until, c.since) << c.id;
    EXPECT_NE(c.reason.find("another active contract"), std::string::npos) << c.reason;
    ++ended;
  }
  EXPECT_EQ(ended, 2);
  EXPECT_THROW(store_->upsert_contract(contract("again", "dst", "active", kNow),
                                       logged("c", "x")),
               StorageError);
}

TEST_P(TransferStoreTest, AWaitingTransferIsDecidedOnceByNodesRacing) {
  // Two stores on one database, like two nodes; each tries to move every waiting transfer
  // out of the state at the same moment. The guard on the state lets one change each, and only
  // its audit entry is written.
  constexpr int kCount = 30;
  for (int i = 0; i < kCount; ++i) insert(make_transfer("t" + std::to_string(i), kWaiting, kNow));
  const auto audit_before = store_->audit_size();
  auto other = db_->open();
  std::atomic<int> changed{0};
  std::latch go(2);
  const auto node = [&](Store& store, const std::string& name) {
    const auto waiting = store.list_transfers_waiting(kWaiting, kNow + 1, 1000);
    go.arrive_and_wait();
    for (auto t : waiting) {
      t.state = "completed";
      t.step = "decided by " + name;
      t.updated_at = kNow + 1;
      if (store.update_transfer(t, kWaiting, {}, {}, {logged("transfer.completed", t.id)}))
        ++changed;
    }
  };
  {
    std::jthread a([&] { node(*store_, "a"); });
    std::jthread b([&] { node(*other, "b"); });
  }
  EXPECT_EQ(changed.load(), kCount);
  EXPECT_EQ(store_->audit_size(), audit_before + kCount) << "one entry per decision";
  EXPECT_TRUE(store_->list_transfers_waiting(kWaiting, kNow + 10, 1000).empty());
  for (int i = 0; i < kCount; ++i)
    EXPECT_EQ(store_->find_transfer("t" + std::to_string(i))->state, "completed");
}

}  // namespace
}  // namespace storage
