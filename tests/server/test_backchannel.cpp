// The back-channel logout sender, stepped by hand (run_once) with a scripted HTTP client, a
// real SQLite store and a manual clock: what is sent, retried, given up and logged; and its
// thread against clients that hang: one that does delays no other.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include <nlohmann/json.hpp>

#include "../storage/temp_dir.hpp"
#include "authz/audit.hpp"
#include "authz/clock.hpp"
#include "authz/crypto.hpp"
#include "authz/jws.hpp"
#include "authz/oauth.hpp"
#include "authz/random.hpp"
#include "authz/sealer.hpp"
#include "backchannel.hpp"
#include "log.hpp"

namespace server {
namespace {

// Answers from a script: a status, or (status 0) a cut connection.
class ScriptedHttp final : public portability::HttpClient {
 public:
  std::deque<int> script;
  std::vector<portability::HttpRequest> sent;

  portability::HttpResponse send(const portability::HttpRequest& request,
                                 std::chrono::milliseconds /*timeout*/,
                                 std::size_t /*max_body_bytes*/) override {
    sent.push_back(request);
    const int status = script.empty() ? 200 : script.front();
    if (!script.empty()) script.pop_front();
    if (status == 0) throw portability::TransportError("connection reset");
    portability::HttpResponse r;
    r.status = status;
    return r;
  }
};

// Answers 200 at once, except to the URLs in `hanging`, which it holds as a client that does
// not answer would hold the real one: until released, or until the call's timeout (then it
// fails as a timeout). Thread-safe: the sender calls it from several threads at once.
class GatedHttp final : public portability::HttpClient {
 public:
  explicit GatedHttp(std::set<std::string> hanging) : hanging_(std::move(hanging)) {}

  portability::HttpResponse send(const portability::HttpRequest& request,
                                 std::chrono::milliseconds timeout,
                                 std::size_t /*max_body_bytes*/) override {
    std::unique_lock lock(mutex_);
    sent_.push_back(request.url);
    if (hanging_.contains(request.url)) {
      ++held_;
      changed_.notify_all();
      const bool released =
          changed_.wait_for(lock, timeout, [&] { return released_.contains(request.url); });
      --held_;
      if (!released) throw portability::TransportError("timed out");
    }
    portability::HttpResponse r;
    r.status = 200;
    return r;
  }

  void release(const std::string& url) {
    std::lock_guard lock(mutex_);
    released_.insert(url);
    changed_.notify_all();
  }

  /// Waits until `held` calls are being held, up to `deadline`.
  bool wait_held(int held, std::chrono::milliseconds deadline) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, deadline, [&] { return held_ == held; });
  }

  int held() {
    std::lock_guard lock(mutex_);
    return held_;
  }

  std::vector<std::string> sent() {
    std::lock_guard lock(mutex_);
    return sent_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::set<std::string> hanging_;
  std::set<std::string> released_;
  std::vector<std::string> sent_;
  int held_ = 0;
};

class BackchannelTest : public ::testing::Test {
 protected:
  BackchannelTest()
      : store_(storage::open_sqlite(dir_.file("t.db"), authz::make_log_hasher())),
        sealer_(authz::Sealer::load_or_create(dir_.file("master.key"))),
        clock_(1'800'000'000),
        random_(11),
        logger_(LogLevel::error, log_) {}

  void SetUp() override {
    store_->migrate();
    authz::Settings s;
    s.issuer = "https://bank.test";
    server_ = std::make_unique<authz::AuthorizationServer>(s, *store_, clock_, random_, sealer_);
    server_->keys().ensure_key();
    storage::ClientRecord rp;
    rp.client_id = "rp";
    rp.redirect_uris = {"https://rp.test/cb"};
    rp.scope = "openid";
    rp.backchannel_logout_uri = "https://rp.test/logout";
    ASSERT_TRUE(server_->create_client(rp));
    sender_ = std::make_unique<BackchannelSender>(*server_, *store_, clock_, http_, logger_,
                                                  BackchannelSettings{.max_attempts = 3});
  }

  // A session in which "rp" was given a code, ended: one delivery queued.
  void queue_one() {
    store_->insert_session({"s1", "r1", "csrf", clock_.now(), clock_.now() + 600, "sid-1"});
    store_->add_session_client({"sid-1", "rp", "r1", clock_.now() + 600});
    ASSERT_EQ(store_->end_session("s1", clock_.now()), 1);
  }

  void add_client(const std::string& id) {
    storage::ClientRecord rp;
    rp.client_id = id;
    rp.redirect_uris = {"https://" + id + ".test/cb"};
    rp.scope = "openid";
    rp.backchannel_logout_uri = "https://" + id + ".test/logout";
    ASSERT_TRUE(server_->create_client(rp));
  }

  // A session in which `client` was given a code, ended at `at`: its delivery is due then, and
  // claimed before those queued later.
  void queue_for(const std::string& client, std::int64_t at) {
    const std::string sid = "sid-" + client;
    store_->insert_session({"s-" + client, "r1", "csrf", at, at + 600, sid});
    store_->add_session_client({sid, client, "r1", at + 600});
    ASSERT_EQ(store_->end_session("s-" + client, at), 1);
  }

  // The outcome logged for `client`, once there is one: "success", "failure", or "" when none
  // came within `deadline`.
  std::string outcome_of(const std::string& client, std::chrono::milliseconds deadline) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    for (;;) {
      for (const auto& e : outcomes()) {
        if (e.client_id == client) return e.outcome;
      }
      if (std::chrono::steady_clock::now() >= until) return "";
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  std::vector<storage::Event> outcomes() {
    std::vector<storage::Event> out;
    for (auto& e : store_->list_events(0, 100))
      if (e.action == "logout.backchannel") out.push_back(e);
    return out;
  }

  storage::testing::TempDir dir_;
  std::unique_ptr<storage::Store> store_;
  authz::Sealer sealer_;
  authz::ManualClock clock_;
  authz::SeededRandom random_;
  std::ostringstream log_;
  Logger logger_;
  ScriptedHttp http_;
  std::unique_ptr<authz::AuthorizationServer> server_;
  std::unique_ptr<BackchannelSender> sender_;
};

TEST_F(BackchannelTest, PostsTheLogoutTokenAsAFormAndForgetsItOnceAnswered) {
  EXPECT_EQ(sender_->run_once(), 0);
  queue_one();
  EXPECT_EQ(sender_->run_once(), 1);
  ASSERT_EQ(http_.sent.size(), 1u);
  const auto& request = http_.sent[0];
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.url, "https://rp.test/logout");
  ASSERT_EQ(request.headers.size(), 1u);
  EXPECT_EQ(request.headers[0].second, "application/x-www-form-urlencoded");
  ASSERT_EQ(request.body.rfind("logout_token=", 0), 0u);
  const auto parts = authz::jws_parse(request.body.substr(13));
  ASSERT_TRUE(parts);
  EXPECT_EQ(parts->typ, "logout+jwt");
  EXPECT_EQ(nlohmann::json::parse(parts->payload)["sid"], "sid-1");
  EXPECT_EQ(sender_->run_once(), 0) << "delivered once";
  clock_.advance(3600);
  EXPECT_EQ(sender_->run_once(), 0);
  const auto logged = outcomes();
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_EQ(logged[0].outcome, "success");
  EXPECT_EQ(logged[0].client_id, "rp");
  EXPECT_EQ(log_.str().find(parts->signing_input), std::string::npos) << "no token in logs";
}

TEST_F(BackchannelTest, RetriesWithBackoffThenGivesUp) {
  http_.script = {503, 0, 500};
  queue_one();
  EXPECT_EQ(sender_->run_once(), 1);  // 503
  EXPECT_EQ(sender_->run_once(), 0) << "not before its retry";
  clock_.advance(1);
  EXPECT_EQ(sender_->run_once(), 1);  // cut
  clock_.advance(1);
  EXPECT_EQ(sender_->run_once(), 0) << "the second wait is twice the first";
  clock_.advance(1);
  EXPECT_EQ(sender_->run_once(), 1);  // 500, the third and last attempt
  EXPECT_TRUE(outcomes().size() == 1 && outcomes()[0].outcome == "failure");
  clock_.advance(3600);
  EXPECT_EQ(sender_->run_once(), 0);
  EXPECT_EQ(http_.sent.size(), 3u);
}

TEST_F(BackchannelTest, ARefusalIsNotRetried) {
  http_.script = {400};
  queue_one();
  EXPECT_EQ(sender_->run_once(), 1);
  clock_.advance(3600);
  EXPECT_EQ(sender_->run_once(), 0);
  EXPECT_EQ(http_.sent.size(), 1u);
  const auto logged = outcomes();
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_EQ(logged[0].outcome, "failure");
  EXPECT_NE(logged[0].detail.find("HTTP 400"), std::string::npos) << logged[0].detail;
}

TEST_F(BackchannelTest, AClientThatNoLongerHasTheUriIsNotCalled) {
  queue_one();
  ASSERT_TRUE(store_->remove_client("rp"));  // its queued logouts go with it
  EXPECT_EQ(sender_->run_once(), 0);
  EXPECT_TRUE(http_.sent.empty());
}

TEST_F(BackchannelTest, AClientThatHangsDelaysNoOther) {
  // "slow" does not answer for as long as the timeout lets it (a minute); "rp" answers at
  // once. The slow client's logout was queued first, so it is claimed first: sent one after
  // the other, rp would wait the whole minute.
  add_client("slow");
  GatedHttp http({"https://slow.test/logout"});
  BackchannelSender sender(*server_, *store_, clock_, http, logger_,
                           {.request_timeout = std::chrono::minutes(1), .concurrency = 4});
  queue_for("slow", clock_.now() - 1);
  queue_for("rp", clock_.now());
  const auto started = std::chrono::steady_clock::now();
  sender.start();
  sender.wake();
  EXPECT_EQ(outcome_of("rp", std::chrono::seconds(5)), "success");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  // The slow client's request may start after rp's was answered (both are in flight at once,
  // in either order); it is held until released below, so rp did not wait for it.
  ASSERT_TRUE(http.wait_held(1, std::chrono::seconds(5)))
      << "the slow client is still being waited for meanwhile";
  EXPECT_EQ(outcome_of("slow", std::chrono::milliseconds(0)), "");
  EXPECT_EQ(http.sent().size(), 2u);

  http.release("https://slow.test/logout");
  EXPECT_EQ(outcome_of("slow", std::chrono::seconds(5)), "success");
  sender.stop();
  EXPECT_EQ(http.sent().size(), 2u) << "each told once";
}

TEST_F(BackchannelTest, AtMostConcurrencyInFlightAndAFreedSlotIsFilledAtOnce) {
  // Two slots; "a" and "b" hang, "c" answers at once but was queued last.
  add_client("a");
  add_client("b");
  add_client("c");
  GatedHttp http({"https://a.test/logout", "https://b.test/logout"});
  BackchannelSender sender(*server_, *store_, clock_, http, logger_,
                           {.request_timeout = std::chrono::minutes(1), .concurrency = 2});
  queue_for("a", clock_.now() - 2);
  queue_for("b", clock_.now() - 1);
  queue_for("c", clock_.now());
  sender.start();
  sender.wake();
  ASSERT_TRUE(http.wait_held(2, std::chrono::seconds(5)));
  EXPECT_EQ(http.sent().size(), 2u) << "c waits for a free slot";
  EXPECT_EQ(outcome_of("c", std::chrono::milliseconds(0)), "");

  // One slot frees: c goes at once, while b still hangs (no waiting for the whole batch).
  http.release("https://a.test/logout");
  EXPECT_EQ(outcome_of("c", std::chrono::seconds(5)), "success");
  EXPECT_EQ(outcome_of("a", std::chrono::seconds(5)), "success");
  EXPECT_EQ(http.held(), 1);
  EXPECT_EQ(outcome_of("b", std::chrono::milliseconds(0)), "");

  http.release("https://b.test/logout");
  EXPECT_EQ(outcome_of("b", std::chrono::seconds(5)), "success");
  sender.stop();
  EXPECT_EQ(http.sent().size(), 3u);
}

TEST_F(BackchannelTest, SettingsFollowTheConfiguration) {
  // The defaults of both agree, and every key reaches the sender.
  const auto defaults = backchannel_settings(load_config("", {}));
  const BackchannelSettings built_in;
  EXPECT_EQ(defaults.max_attempts, built_in.max_attempts);
  EXPECT_EQ(defaults.first_retry_seconds, built_in.first_retry_seconds);
  EXPECT_EQ(defaults.lease_seconds, built_in.lease_seconds);
  EXPECT_EQ(defaults.request_timeout, built_in.request_timeout);
  EXPECT_EQ(defaults.concurrency, built_in.concurrency);
  EXPECT_EQ(defaults.poll, built_in.poll);

  const auto s = backchannel_settings(load_config(
      "", {{"INFOBANK_BACKCHANNEL_MAX_ATTEMPTS", "2"},
           {"INFOBANK_BACKCHANNEL_FIRST_RETRY_SECONDS", "7"},
           {"INFOBANK_BACKCHANNEL_LEASE_SECONDS", "9"},
           {"INFOBANK_BACKCHANNEL_REQUEST_TIMEOUT_MS", "4000"},
           {"INFOBANK_BACKCHANNEL_CONCURRENCY", "3"},
           {"INFOBANK_BACKCHANNEL_POLL_MS", "20"}}));
  EXPECT_EQ(s.max_attempts, 2);
  EXPECT_EQ(s.first_retry_seconds, 7);
  EXPECT_EQ(s.lease_seconds, 9);
  EXPECT_EQ(s.request_timeout, std::chrono::milliseconds(4000));
  EXPECT_EQ(s.concurrency, 3);
  EXPECT_EQ(s.poll, std::chrono::milliseconds(20));
}

}  // namespace
}  // namespace server
