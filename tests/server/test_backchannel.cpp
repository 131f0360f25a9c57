// The back-channel logout sender, stepped by hand (run_once) with a scripted HTTP client, a
// real SQLite store and a manual clock: what is sent, retried, given up and logged.
#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <sstream>
#include <string>
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

}  // namespace
}  // namespace server
