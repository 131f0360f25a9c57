// The broker's state machine, stepped with run_once (no worker threads) against a SQLite store
// and two in-memory services that speak the portability API: a switch deletes at the source
// on its own only when the report names nothing lost; otherwise it waits for the resident,
// who deletes anyway or keeps the data at the source.

#include <gtest/gtest.h>

#include <functional>

#include <algorithm>
#include <atomic>
#include <latch>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "../storage/temp_dir.hpp"
#include "../storage/test_hasher.hpp"
#include "portability/broker.hpp"
#include "portability/formats.hpp"

namespace portability {
namespace {

constexpr std::string_view kResident = "resident-1";
constexpr std::string_view kStranger = "resident-2";

// One service's side of the portability API (docs/portability-api.md), in memory.
struct FakeService {
  const Format* format = nullptr;
  std::string dataset = "blog_posts";
  std::vector<NativeItem> items;
  std::set<std::string> import_keys;
  int deletes = 0;

  HttpResponse answer(const HttpRequest& request) {
    const auto api = request.url.find("/portability/v1/");
    const auto question = request.url.find('?');
    const std::string path = request.url.substr(api + 16, question - api - 16);
    const std::string query = question == std::string::npos ? "" : request.url.substr(question + 1);
    if (path == "datasets") {
      return json({{"datasets", {{{"name", dataset}, {"count", items.size()}, {"bytes", 0}}}}});
    }
    if (path == "datasets/" + dataset + "/export") {
      const std::string cursor = param(query, "cursor");
      const std::size_t from = cursor.empty() ? 0 : std::stoul(cursor);
      const std::size_t limit = std::stoul(param(query, "limit"));
      const std::size_t to = std::min(items.size(), from + limit);
      HttpResponse r;
      r.status = 200;
      r.body = format->join({items.begin() + static_cast<std::ptrdiff_t>(from),
                             items.begin() + static_cast<std::ptrdiff_t>(to)});
      r.headers["portability-item-count"] = std::to_string(to - from);
      if (to < items.size()) r.headers["portability-next-cursor"] = std::to_string(to);
      return r;
    }
    if (path == "datasets/" + dataset + "/import") {
      std::string key;
      for (const auto& [name, value] : request.headers) {
        if (name == "Idempotency-Key") key = value;
      }
      const auto page = format->split(request.body);
      if (import_keys.insert(key).second) items.insert(items.end(), page.begin(), page.end());
      return json({{"imported", page.size()}});
    }
    if (path.ends_with("/verify")) {
      Digest digest;
      for (const auto& item : items) digest.add(format->to_model(item));
      return json({{"count", items.size()}, {"digest", digest.hex()}});
    }
    if (path.ends_with("/delete")) {
      ++deletes;
      const auto deleted = items.size();
      items.clear();
      return json({{"deleted", deleted}, {"remaining", 0}});
    }
    return json({{"error", "not_found"}}, 404);
  }

  static std::string param(const std::string& query, const std::string& name) {
    for (std::size_t at = 0; at <= query.size();) {
      const auto end = std::min(query.find('&', at), query.size());
      const std::string pair = query.substr(at, end - at);
      if (pair.starts_with(name + "=")) return pair.substr(name.size() + 1);
      at = end + 1;
    }
    return {};
  }

  static HttpResponse json(const nlohmann::json& body, int status = 200) {
    HttpResponse r;
    r.status = status;
    r.body = body.dump();
    return r;
  }
};

class FakeServices final : public HttpClient {
 public:
  FakeService source;
  FakeService destination;
  HttpResponse send(const HttpRequest& request, std::chrono::milliseconds,
                    std::size_t) override {
    return request.url.starts_with("http://source.test/") ? source.answer(request)
                                                         : destination.answer(request);
  }
};

class FixedTokens final : public TokenSource {
 public:
  std::string access_token(const storage::TransferRecord&, const storage::ServiceRecord&, Side,
                           std::string_view, bool) override {
    return "token";
  }
};

constexpr std::int64_t kStart = 1'700'000'000;
constexpr std::int64_t kDay = 24 * 3600;

class TestContext final : public BrokerContext {
 public:
  explicit TestContext(std::string id_prefix = "id-") : id_prefix_(std::move(id_prefix)) {}
  std::int64_t time = kStart;  ///< what now() says; tests move it

  /// Called at every now(): lets a test act between a broker's read and its write.
  std::function<void()> on_now;
  /// Called with the action of every event the broker makes, before it is made.
  std::function<void(std::string_view)> on_event;

  [[nodiscard]] std::int64_t now() const override {
    if (on_now) on_now();
    return time;
  }
  std::string new_id() override { return id_prefix_ + std::to_string(++ids_); }
  double jitter() override { return 0; }
  storage::Event event(std::string_view actor, std::string_view action,
                       std::string_view resident_id, std::string_view client_id,
                       std::string_view detail_json, std::string_view outcome,
                       const std::vector<std::string>& datasets) override {
    if (on_event) on_event(action);
    storage::Event e;
    e.time = now();
    e.actor = actor;
    e.action = action;
    e.resident = resident_id;
    e.client_id = client_id;
    e.detail = detail_json;
    e.outcome = outcome;
    e.datasets = datasets;
    return e;
  }

 private:
  std::string id_prefix_;
  int ids_ = 0;
};

// DTP social posts as the source holds them; `extra` goes into each activity.
std::string dtp_posts(int count, const std::string& type = "POST", const std::string& extra = "") {
  nlohmann::json page = nlohmann::json::array();
  for (int i = 1; i <= count; ++i) {
    nlohmann::json activity = {{"id", "post-" + std::to_string(i)},
                               {"type", type},
                               {"title", "Title " + std::to_string(i)},
                               {"content", "<p>Body " + std::to_string(i) + "</p>"},
                               {"published", "1704848400"}};
    if (!extra.empty()) activity[extra] = "kept at the source";
    page.push_back({{"payload", {{"activity", activity}}}});
  }
  return page.dump();
}

class BrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = storage::open_sqlite(dir_.file("infobank.db"), storage::testing::hasher());
    store_->migrate();
    BrokerSettings settings;
    settings.page_size = 2;
    broker_ = std::make_unique<Broker>(*store_, http_, tokens_, context_, settings);
  }

  // Registers the services (the source in `from`, the destination in `to`) with `posts` at
  // the source, gives the resident a contract with the source and stores a consented transfer.
  std::string start(const std::string& from, const std::string& to, const std::string& posts,
                    bool switch_ = true) {
    http_.source.format = find_format(from);
    http_.destination.format = find_format(to);
    http_.source.items = http_.source.format->split(posts);
    add_service("src", "Source", "http://source.test", from);
    add_service("dst", "Destination", "http://destination.test", to);
    storage::ContractRecord contract;
    contract.id = "contract-src";
    contract.resident_id = kResident;
    contract.service_id = "src";
    contract.subject = "alice";
    contract.status = "active";
    contract.since = 1;
    store_->upsert_contract(contract, context_.event("operator", "contract.added", kResident,
                                                     "", "{}", "success", {}));
    TransferRequest r;
    r.resident_id = kResident;
    r.resident_username = "alice";
    r.source_id = "src";
    r.destination_id = "dst";
    r.datasets = {"blog_posts"};
    r.delete_at_source = switch_;
    r.consented = true;
    auto stored = broker_->request(r);
    return std::get<storage::TransferRecord>(stored).id;
  }

  void add_service(const std::string& id, const std::string& name, const std::string& url,
                   const std::string& format) {
    storage::ServiceRecord s;
    s.id = id;
    s.name = name;
    s.base_url = url;
    s.audience = url;
    s.datasets = {"blog_posts:" + format};
    ASSERT_TRUE(store_->insert_service(s));
  }

  // Steps until no transfer is runnable, at most `limit` times (a loop would be a bug).
  int run_all(int limit = 50) {
    int steps = 0;
    while (steps < limit && broker_->run_once()) ++steps;
    return steps;
  }

  storage::TransferRecord transfer(const std::string& id) { return *store_->find_transfer(id); }

  std::string contract_status(const std::string& service) {
    const auto contracts = store_->list_contracts(kResident);
    const auto it = std::find_if(contracts.begin(), contracts.end(),
                                 [&](const auto& c) { return c.service_id == service; });
    return it == contracts.end() ? "none" : it->status;
  }

  std::vector<storage::Event> events(const std::string& action) {
    std::vector<storage::Event> out;
    for (auto& e : store_->list_events(0, 10'000)) {
      if (e.action == action) out.push_back(std::move(e));
    }
    return out;
  }

  // A switch of three posts whose destination cannot carry their kind (a NOTE is not a
  // Blogger post), run until it waits for the resident.
  std::string paused_switch() {
    const auto id = start("dtp-social-post", "blogger-atom", dtp_posts(3, "NOTE"));
    run_all();
    EXPECT_EQ(transfer(id).state, "awaiting_confirmation");
    return id;
  }

  storage::testing::TempDir dir_;
  std::unique_ptr<storage::Store> store_;
  FakeServices http_;
  FixedTokens tokens_;
  TestContext context_;
  std::unique_ptr<Broker> broker_;
};

TEST_F(BrokerTest, SwitchThatLosesNothingDeletesAtTheSourceWithoutWaiting) {
  const auto id = start("dtp-social-post", "dtp-social-post", dtp_posts(3));
  run_all();
  const auto t = transfer(id);
  ASSERT_EQ(t.state, "completed") << t.step << " " << t.error;
  const auto d = store_->list_transfer_datasets(id).at(0);
  EXPECT_TRUE(d.not_carried.empty());
  EXPECT_TRUE(d.not_read.empty());
  EXPECT_TRUE(d.deleted);
  EXPECT_TRUE(http_.source.items.empty());
  EXPECT_EQ(http_.destination.items.size(), 3u);
  EXPECT_EQ(contract_status("src"), "terminated");
  EXPECT_EQ(contract_status("dst"), "active");
  EXPECT_TRUE(events("transfer.awaiting_confirmation").empty());
  EXPECT_EQ(nlohmann::json::parse(t.report)["deletion_declined"], false);
}

TEST_F(BrokerTest, SwitchThatCannotCarryEverythingWaitsWithTheSourceUntouched) {
  const auto id = paused_switch();
  const auto t = transfer(id);
  EXPECT_EQ(t.step,
            "verified; some data could not be carried; waiting for the resident to decide "
            "about deletion at the source");
  const auto d = store_->list_transfer_datasets(id).at(0);
  EXPECT_TRUE(d.verified);
  EXPECT_FALSE(d.deleted);
  EXPECT_NE(std::find(d.not_carried.begin(), d.not_carried.end(), "kind"), d.not_carried.end());
  EXPECT_EQ(http_.source.items.size(), 3u) << "nothing deleted at the source";
  EXPECT_EQ(http_.source.deletes, 0);
  EXPECT_EQ(http_.destination.items.size(), 3u);
  EXPECT_EQ(contract_status("src"), "active");
  EXPECT_EQ(contract_status("dst"), "none");
  EXPECT_EQ(events("transfer.awaiting_confirmation").size(), 1u);
  EXPECT_TRUE(events("transfer.deleted_at_source").empty());

  // Not runnable, and a restart (leases released) leaves it waiting.
  EXPECT_FALSE(broker_->run_once());
  store_->release_transfers(broker_->settings().node_id);
  EXPECT_FALSE(broker_->run_once());
  EXPECT_EQ(transfer(id).state, "awaiting_confirmation");
  EXPECT_EQ(http_.source.deletes, 0);

  // The client API and the report say what would be lost.
  const auto shown = nlohmann::json::parse(transfer_json(*broker_->view(id)));
  EXPECT_EQ(shown["state"], "awaiting_confirmation");
  EXPECT_EQ(shown["decide_by"], transfer(id).updated_at + 14 * 86'400)
      << "when it is kept at the source without a decision";
  EXPECT_EQ(shown["report"]["datasets"][0]["not_carried"], shown["datasets"][0]["not_carried"]);
}

TEST_F(BrokerTest, SwitchWithSomethingNotReadWaitsToo) {
  const auto id = start("dtp-social-post", "dtp-social-post", dtp_posts(3, "POST", "mood"));
  run_all();
  EXPECT_EQ(transfer(id).state, "awaiting_confirmation");
  const auto d = store_->list_transfer_datasets(id).at(0);
  EXPECT_EQ(d.not_read, std::vector<std::string>{"payload.activity.mood"});
  EXPECT_TRUE(d.not_carried.empty());
  EXPECT_EQ(http_.source.items.size(), 3u);
}

TEST_F(BrokerTest, CopyThatCannotCarryEverythingCompletesWithoutWaiting) {
  const auto id = start("dtp-social-post", "blogger-atom", dtp_posts(3, "NOTE"), false);
  run_all();
  EXPECT_EQ(transfer(id).state, "completed");
  EXPECT_EQ(http_.source.items.size(), 3u);
  EXPECT_EQ(http_.source.deletes, 0);
}

TEST_F(BrokerTest, DeleteAnywayDeletesAtTheSourceAndSwitchesTheContracts) {
  const auto id = paused_switch();
  auto decided = broker_->decide(id, kResident, Decision::delete_at_source);
  ASSERT_TRUE(std::holds_alternative<storage::TransferRecord>(decided));
  EXPECT_EQ(transfer(id).state, "deleting");
  ASSERT_EQ(events("transfer.deletion_confirmed").size(), 1u);
  EXPECT_EQ(events("transfer.deletion_confirmed")[0].actor, "resident");

  EXPECT_EQ(run_all(), 1) << "a worker takes it at once";
  const auto t = transfer(id);
  ASSERT_EQ(t.state, "completed") << t.step << " " << t.error;
  EXPECT_EQ(t.step, "completed");
  EXPECT_TRUE(http_.source.items.empty());
  EXPECT_EQ(http_.source.deletes, 1);
  EXPECT_EQ(http_.destination.items.size(), 3u);
  EXPECT_EQ(contract_status("src"), "terminated");
  EXPECT_EQ(contract_status("dst"), "active");
  const auto report = nlohmann::json::parse(t.report);
  EXPECT_EQ(report["deletion_declined"], false);
  EXPECT_EQ(report["datasets"][0]["deleted_at_source"], true);
}

TEST_F(BrokerTest, KeepAtTheSourceCompletesAsACopy) {
  const auto id = paused_switch();
  auto decided = broker_->decide(id, kResident, Decision::keep_at_source);
  ASSERT_TRUE(std::holds_alternative<storage::TransferRecord>(decided));
  const auto t = transfer(id);
  EXPECT_EQ(t.state, "completed");
  EXPECT_NE(t.step.find("declined deletion at the source"), std::string::npos) << t.step;
  EXPECT_NE(t.step.find("could not be carried"), std::string::npos) << t.step;
  EXPECT_FALSE(broker_->run_once()) << "nothing left to run";
  EXPECT_EQ(http_.source.items.size(), 3u);
  EXPECT_EQ(http_.source.deletes, 0);
  EXPECT_EQ(contract_status("src"), "active");
  EXPECT_EQ(contract_status("dst"), "active");
  const auto report = nlohmann::json::parse(t.report);
  EXPECT_EQ(report["deletion_declined"], true);
  EXPECT_EQ(report["datasets"][0]["deleted_at_source"], false);
  ASSERT_EQ(events("transfer.deletion_declined").size(), 1u);
  EXPECT_EQ(events("transfer.deletion_declined")[0].actor, "resident");
  EXPECT_EQ(events("transfer.completed").size(), 1u);
  EXPECT_EQ(events("contract.started").size(), 1u);
  EXPECT_TRUE(events("contract.ended").empty());
}

TEST_F(BrokerTest, DecisionsInAnotherStateOrByAnotherResidentChangeNothing) {
  const auto id = paused_switch();
  const auto size = store_->audit_size();
  const auto refused = [&](Decision decision, std::string_view resident, const char* error) {
    auto result = broker_->decide(id, resident, decision);
    ASSERT_TRUE(std::holds_alternative<BrokerError>(result));
    EXPECT_EQ(std::get<BrokerError>(result).error, error);
  };
  refused(Decision::delete_at_source, kStranger, "not_found");
  refused(Decision::keep_at_source, kStranger, "not_found");
  refused(Decision::approve, kResident, "conflict");
  refused(Decision::deny, kResident, "conflict");
  EXPECT_EQ(transfer(id).state, "awaiting_confirmation");
  EXPECT_EQ(store_->audit_size(), size);
  EXPECT_EQ(http_.source.items.size(), 3u);

  // Decided once: the other answer (or the same again) is refused.
  ASSERT_TRUE(std::holds_alternative<storage::TransferRecord>(
      broker_->decide(id, kResident, Decision::keep_at_source)));
  const auto after = store_->audit_size();
  refused(Decision::delete_at_source, kResident, "conflict");
  refused(Decision::keep_at_source, kResident, "conflict");
  EXPECT_EQ(store_->audit_size(), after);
  EXPECT_EQ(transfer(id).state, "completed");
  EXPECT_EQ(http_.source.deletes, 0);
  EXPECT_FALSE(broker_->run_once());
}

// A node letting go of its lease between the decision's read and its write (as it stops, say)
// does not make the resident's decision fail: the transfer is read again and the decision
// stands, logged once.
TEST_F(BrokerTest, ALeaseReleasedWhileDecidingDoesNotRefuseTheDecision) {
  const auto id = paused_switch();
  const auto owner = transfer(id).lease_owner;
  ASSERT_FALSE(owner.empty());
  int calls = 0;
  context_.on_now = [&] {
    if (calls++ == 0) store_->release_transfers(owner);
  };
  auto decided = broker_->decide(id, kResident, Decision::delete_at_source);
  context_.on_now = nullptr;
  ASSERT_TRUE(std::holds_alternative<storage::TransferRecord>(decided))
      << std::get<BrokerError>(decided).description;
  EXPECT_TRUE(transfer(id).lease_owner.empty());
  EXPECT_EQ(transfer(id).state, "deleting");
  EXPECT_EQ(events("transfer.deletion_confirmed").size(), 1u);
  run_all();
  EXPECT_EQ(transfer(id).state, "completed");
  EXPECT_EQ(http_.source.items.size(), 0u);
}

// Two transfers to one service completing at the same moment: the one whose commit comes
// second would start a second active contract there, which storage refuses as a whole. The
// run lets its transfer go at once, and taken again it completes and finds the first contract.
TEST_F(BrokerTest, ACompletionStorageRefusesIsTakenAgainAtOnceAndStartsNoSecondContract) {
  const auto id = start("dtp-social-post", "blogger-atom", dtp_posts(2), /*switch_=*/false);
  bool raced = false;
  context_.on_event = [&](std::string_view action) {
    if (action != "contract.started" || raced) return;
    raced = true;  // after this run looked for an active contract at the destination
    storage::ContractRecord other;
    other.id = "contract-other";
    other.resident_id = kResident;
    other.service_id = "dst";
    other.subject = "alice";
    other.status = "active";
    other.since = context_.time;
    other.reason = "started by another transfer";
    store_->upsert_contract(other, storage::Event{});
  };
  EXPECT_THROW(run_all(), storage::StorageError);
  context_.on_event = nullptr;
  ASSERT_TRUE(raced);
  EXPECT_NE(transfer(id).state, "completed") << "the completion rolled back";
  EXPECT_TRUE(transfer(id).lease_owner.empty()) << "let go at once";
  EXPECT_GE(run_all(), 1) << "taken again without waiting for the lease";
  EXPECT_EQ(transfer(id).state, "completed");
  int active = 0;
  for (const auto& c : store_->list_contracts(kResident)) {
    if (c.service_id == "dst" && c.status == "active") {
      ++active;
      EXPECT_EQ(c.id, "contract-other");
    }
  }
  EXPECT_EQ(active, 1);
  EXPECT_EQ(http_.destination.items.size(), 2U) << "nothing imported twice";
}

TEST_F(BrokerTest, AnUndecidedSwitchIsKeptAtTheSourceOnceItsTimeIsUp) {
  const auto id = paused_switch();
  const auto limit = broker_->settings().confirmation_timeout_seconds;
  EXPECT_EQ(limit, 14 * kDay) << "the default";
  context_.time += limit;
  EXPECT_EQ(broker_->expire_confirmations(), 0) << "waited exactly the limit, not longer";
  EXPECT_EQ(transfer(id).state, "awaiting_confirmation");

  context_.time += 1;
  EXPECT_EQ(broker_->expire_confirmations(), 1);
  const auto t = transfer(id);
  ASSERT_EQ(t.state, "completed");
  EXPECT_FALSE(nlohmann::json::parse(transfer_json(*broker_->view(id))).contains("decide_by"))
      << "nothing left to decide";
  EXPECT_EQ(t.step,
            "completed as a copy: nothing was deleted at the source, because the resident did "
            "not decide within 14 days whether to delete there what could not be carried to "
            "the destination");
  EXPECT_EQ(t.updated_at, context_.time);
  const auto report = nlohmann::json::parse(t.report);
  EXPECT_EQ(report["deletion_declined"], true);
  EXPECT_EQ(report["datasets"][0]["deleted_at_source"], false);
  EXPECT_EQ(http_.source.items.size(), 3u) << "nothing deleted at the source";
  EXPECT_EQ(http_.source.deletes, 0);
  EXPECT_EQ(contract_status("src"), "active");
  EXPECT_EQ(contract_status("dst"), "active");

  const auto declined = events("transfer.deletion_declined");
  ASSERT_EQ(declined.size(), 1u);
  EXPECT_EQ(declined[0].actor, "system");
  EXPECT_EQ(declined[0].outcome, "refused");
  const nlohmann::json detail = {
      {"transfer", id}, {"reason", "timeout"}, {"waited_seconds", limit + 1}};
  EXPECT_EQ(nlohmann::json::parse(declined[0].detail), detail);
  EXPECT_EQ(events("transfer.completed").size(), 1u);
  EXPECT_EQ(events("contract.started").size(), 1u);
  EXPECT_TRUE(events("contract.ended").empty());
  EXPECT_TRUE(events("transfer.deletion_confirmed").empty());

  // Decided once: neither the timer again nor the resident afterwards changes anything.
  const auto size = store_->audit_size();
  context_.time += 30 * kDay;
  EXPECT_EQ(broker_->expire_confirmations(), 0);
  auto late = broker_->decide(id, kResident, Decision::delete_at_source);
  ASSERT_TRUE(std::holds_alternative<BrokerError>(late));
  EXPECT_EQ(std::get<BrokerError>(late).error, "conflict");
  EXPECT_EQ(store_->audit_size(), size);
  EXPECT_FALSE(broker_->run_once());
  EXPECT_EQ(http_.source.deletes, 0);
}

TEST_F(BrokerTest, TheTimeLimitCountsFromThePauseAndSurvivesRestarts) {
  // Requested and consented now, but the transfer reaches its pause 20 days later (a long
  // transfer); the limit counts from the pause, not from the request.
  const auto id = start("dtp-social-post", "blogger-atom", dtp_posts(3, "NOTE"));
  context_.time += 20 * kDay;
  run_all();
  ASSERT_EQ(transfer(id).state, "awaiting_confirmation");
  const auto paused_at = context_.time;

  // A restart (leases released, a new broker with a shorter limit) does not restart the wait.
  context_.time = paused_at + 5 * kDay;
  store_->release_transfers(broker_->settings().node_id);
  BrokerSettings settings = broker_->settings();
  settings.confirmation_timeout_seconds = 7 * kDay;
  broker_ = std::make_unique<Broker>(*store_, http_, tokens_, context_, settings);
  EXPECT_EQ(broker_->expire_confirmations(), 0);
  context_.time = paused_at + 7 * kDay;
  EXPECT_EQ(broker_->expire_confirmations(), 0);
  context_.time = paused_at + 7 * kDay + 1;
  EXPECT_EQ(broker_->expire_confirmations(), 1);
  const auto t = transfer(id);
  EXPECT_EQ(t.state, "completed");
  EXPECT_NE(t.step.find("did not decide within 7 days"), std::string::npos) << t.step;
  EXPECT_EQ(http_.source.deletes, 0);
}

TEST_F(BrokerTest, TheResidentsDecisionBeforeTheLimitStands) {
  const auto id = paused_switch();
  context_.time += 14 * kDay - 1;
  ASSERT_TRUE(std::holds_alternative<storage::TransferRecord>(
      broker_->decide(id, kResident, Decision::delete_at_source)));
  context_.time += 30 * kDay;
  EXPECT_EQ(broker_->expire_confirmations(), 0) << "deleting, not waiting";
  EXPECT_EQ(run_all(), 1);
  const auto t = transfer(id);
  EXPECT_EQ(t.state, "completed");
  EXPECT_EQ(t.step, "completed");
  EXPECT_EQ(http_.source.deletes, 1);
  EXPECT_TRUE(events("transfer.deletion_declined").empty());
  EXPECT_EQ(broker_->expire_confirmations(), 0);
}

TEST_F(BrokerTest, OnlyWaitingSwitchesAreDecidedByTheTimer) {
  // A transfer waiting for consent ("requested") and one running are not the timer's.
  const auto running = start("dtp-social-post", "blogger-atom", dtp_posts(3, "NOTE"));
  TransferRequest r;
  r.resident_id = kResident;
  r.source_id = "src";
  r.destination_id = "dst";
  r.datasets = {"blog_posts"};
  r.delete_at_source = true;
  const auto requested = std::get<storage::TransferRecord>(broker_->request(r)).id;
  context_.time += 100 * kDay;
  EXPECT_EQ(broker_->expire_confirmations(), 0);
  EXPECT_EQ(transfer(running).state, "consented");
  EXPECT_EQ(transfer(requested).state, "requested");
  EXPECT_EQ(http_.source.deletes, 0);
}

TEST_F(BrokerTest, TwoNodesAtOnceDecideEachOverdueSwitchOnce) {
  // Switches left waiting (by a node since gone), each of its own resident, decided by two
  // nodes at the same moment: each is decided, and logged, exactly once.
  add_service("src", "Source", "http://source.test", "dtp-social-post");
  add_service("dst", "Destination", "http://destination.test", "blogger-atom");
  constexpr int kCount = 40;
  const std::int64_t paused_at = kStart;
  for (int i = 0; i < kCount; ++i) {
    const std::string resident = "resident-" + std::to_string(100 + i);
    storage::TransferRecord t;
    t.id = "t-" + resident;
    t.resident_id = resident;
    t.source_id = "src";
    t.destination_id = "dst";
    t.source_subject = resident;
    t.destination_subject = resident;
    t.datasets = {"blog_posts"};
    t.delete_at_source = true;
    t.state = "awaiting_confirmation";
    t.step = "verified; waiting for the resident";
    t.lease_owner = "gone";
    t.lease_until = paused_at + 60;
    t.created_at = paused_at - 3600;
    t.updated_at = paused_at;
    storage::TransferDatasetRecord d;
    d.transfer_id = t.id;
    d.dataset = "blog_posts";
    d.source_format = "dtp-social-post";
    d.destination_format = "blogger-atom";
    d.exported_all = true;
    d.items_done = 3;
    d.verified = true;
    d.not_carried = {"kind"};
    d.digest = Digest{}.hex();
    store_->insert_transfer(t, {d}, context_.event("resident", "transfer.consented", resident,
                                                   "", "{}", "success", t.datasets));
  }
  auto other_store = storage::open_sqlite(dir_.file("infobank.db"), storage::testing::hasher());
  TestContext context_a("a-");
  TestContext context_b("b-");
  for (auto* c : {&context_a, &context_b}) c->time = paused_at + 14 * kDay + 1;
  BrokerSettings settings_a;
  settings_a.node_id = "a";
  BrokerSettings settings_b;
  settings_b.node_id = "b";
  Broker a(*store_, http_, tokens_, context_a, settings_a);
  Broker b(*other_store, http_, tokens_, context_b, settings_b);

  std::atomic<int> decided{0};
  std::latch go(2);
  {
    std::jthread node_a([&] {
      go.arrive_and_wait();
      decided += a.expire_confirmations();
    });
    std::jthread node_b([&] {
      go.arrive_and_wait();
      decided += b.expire_confirmations();
    });
  }
  EXPECT_EQ(decided.load(), kCount);
  EXPECT_EQ(a.expire_confirmations() + b.expire_confirmations(), 0);
  std::map<std::string, int> declined;
  for (const auto& e : events("transfer.deletion_declined"))
    ++declined[nlohmann::json::parse(e.detail)["transfer"].get<std::string>()];
  std::map<std::string, int> started;
  for (const auto& e : events("contract.started"))
    ++started[nlohmann::json::parse(e.detail)["transfer"].get<std::string>()];
  ASSERT_EQ(declined.size(), static_cast<std::size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    const std::string id = "t-resident-" + std::to_string(100 + i);
    EXPECT_EQ(transfer(id).state, "completed") << id;
    EXPECT_EQ(declined[id], 1) << id;
    EXPECT_EQ(started[id], 1) << id;
  }
  EXPECT_EQ(events("transfer.completed").size(), static_cast<std::size_t>(kCount));
  EXPECT_EQ(http_.source.deletes, 0);
}

TEST_F(BrokerTest, DeletionDecisionBeforeConsentIsRefused) {
  const auto id = start("dtp-social-post", "blogger-atom", dtp_posts(3, "NOTE"));
  // Stored consented; a transfer still running takes no deletion decision either.
  auto result = broker_->decide(id, kResident, Decision::delete_at_source);
  ASSERT_TRUE(std::holds_alternative<BrokerError>(result));
  EXPECT_EQ(std::get<BrokerError>(result).error, "conflict");
  EXPECT_NE(std::get<BrokerError>(result).description.find("not waiting for a decision"),
            std::string::npos);
  EXPECT_EQ(transfer(id).state, "consented");
  EXPECT_TRUE(events("transfer.deletion_confirmed").empty());
}

}  // namespace
}  // namespace portability
