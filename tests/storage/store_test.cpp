#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <cctype>
#include <filesystem>
#include <future>
#include <limits>
#include <memory>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "audit_tree.hpp"
#include "retention.hpp"
#include "storage/store.hpp"
#include "temp_dir.hpp"
#include "test_database.hpp"
#include "test_hasher.hpp"

namespace storage {
namespace {

using testing::kNow;

ClientRecord make_client(const std::string& id) {
  ClientRecord c;
  c.client_id = id;
  c.client_name = "Client " + id;
  c.secret_hash = "c2VjcmV0";
  c.token_endpoint_auth_method = "client_secret_basic";
  c.redirect_uris = {"https://app.example/cb", "https://app.example/cb2?x=1,2"};
  c.grant_types = {"authorization_code", "refresh_token"};
  c.scope = "openid profile";
  c.jwks = R"({"keys":[]})";
  c.default_audience = "https://api.example";
  c.require_par = true;
  c.require_dpop = false;
  c.registration_access_token_hash = "rat";
  c.post_logout_redirect_uris = {"https://app.example/bye"};
  c.created_at = kNow;
  return c;
}

ResidentRecord make_resident(const std::string& id, const std::string& username) {
  return {id,
          username,
          "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA",
          "Ada " + username,
          username + "@example.org",
          kNow};
}

AuthorizationCode make_code(const std::string& hash, const std::string& client,
                            const std::string& resident, const std::string& grant = "g1") {
  AuthorizationCode c;
  c.code_hash = hash;
  c.client_id = client;
  c.resident_id = resident;
  c.redirect_uri = "https://app.example/cb";
  c.scope = "openid";
  c.nonce = "n-0S6_WzA2Mj";
  c.code_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
  c.authorization_details = R"([{"type":"account_information"}])";
  c.resources = {"https://api.example/", ""};
  c.dpop_jkt = "jkt";
  c.grant_id = grant;
  c.id_token_claims = "email";
  c.auth_time = kNow - 5;
  c.expires_at = kNow + 60;
  return c;
}

AccessTokenRecord make_access(const std::string& jti, const std::string& client,
                              const std::string& resident, const std::string& code_hash = "",
                              const std::string& family = "") {
  AccessTokenRecord t;
  t.jti = jti;
  t.token_hash = "hash-" + jti;
  t.client_id = client;
  t.resident_id = resident;
  t.scope = "openid";
  t.audience = "https://api.example https://other.example";
  t.authorization_details = "[]";
  t.cnf_jkt = "jkt";
  t.code_hash = code_hash;
  t.family_id = family;
  t.issued_at = kNow;
  t.expires_at = kNow + 300;
  return t;
}

RefreshTokenRecord make_refresh(const std::string& hash, const std::string& family,
                                const std::string& client, const std::string& resident,
                                const std::string& grant = "g1",
                                const std::string& code_hash = "") {
  RefreshTokenRecord t;
  t.token_hash = hash;
  t.family_id = family;
  t.client_id = client;
  t.resident_id = resident;
  t.scope = "openid offline_access";
  t.authorization_details = "";
  t.resources = {"https://api.example/"};
  t.cnf_jkt = "";
  t.grant_id = grant;
  t.code_hash = code_hash;
  t.auth_time = kNow - 10;
  t.issued_at = kNow;
  t.expires_at = kNow + 86400;
  return t;
}

Grant make_grant(const std::string& id, const std::string& resident, const std::string& client) {
  return {id, resident, client, "openid profile", "", kNow, 0, false};
}

// Every test runs on each back end (see test_database.hpp): Backends/StoreTest.Name/Sqlite
// and Backends/StoreTest.Name/Postgres.
class StoreTest : public testing::MigratedStoreTest {
 protected:
  void reopen() {
    store_.reset();
    store_ = db_->open();
  }

  /// A new grant of its pair, saved with its consent entry.
  void add_grant(const Grant& grant) {
    ASSERT_TRUE(store_->save_grant(grant, std::nullopt, consented(grant.id)));
  }
  static Event consented(std::string_view grant) {
    return testing::event(0, kNow, "resident", "consent.granted", "", "app",
                          "{\"grant_id\":\"" + std::string(grant) + "\"}", "");
  }
};

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest,
                         ::testing::Values(testing::Backend::sqlite, testing::Backend::postgres),
                         testing::backend_name);

// Opening and migrating, without the fixture's migrate().
class OpenTest : public ::testing::TestWithParam<testing::Backend> {
 protected:
  void SetUp() override {
    if (!testing::available(GetParam())) GTEST_SKIP() << testing::kSkipped;
    db_ = std::make_unique<testing::TestDatabase>(GetParam());
  }

  std::unique_ptr<testing::TestDatabase> db_;
};

INSTANTIATE_TEST_SUITE_P(Backends, OpenTest,
                         ::testing::Values(testing::Backend::sqlite, testing::Backend::postgres),
                         testing::backend_name);

// --- Opening and migrations ----------------------------------------------------------------

// SQLite only: a file on disk.
TEST(SqliteOpen, CreatesParentDirectoriesAndUsesWal) {
  testing::TempDir dir;
  const auto path = dir.file("a/b/c/db.sqlite");
  auto store = open_sqlite(path, testing::hasher());
  EXPECT_TRUE(std::filesystem::exists(path));

  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(raw);
}

// PostgreSQL, no server needed: the connection string may hold a password, and the error of a
// failed connection or a malformed string must not repeat it (it ends up in logs).
TEST(PostgresOpen, ErrorsNeverShowThePassword) {
  for (const std::string conninfo :
       {"postgresql://infobank:s3cret-pw@127.0.0.1:1/infobank?connect_timeout=5",
        "host=127.0.0.1 port=1 user=infobank password=s3cret-pw connect_timeout=5",
        "postgresql://infobank:s3cret-pw@[::1/infobank", "host=x password='s3cret-pw"}) {
    try {
      open_postgres(conninfo, testing::hasher());
      ADD_FAILURE() << "opened " << conninfo;
    } catch (const StorageError& e) {
      EXPECT_EQ(std::string(e.what()).find("s3cret-pw"), std::string::npos) << e.what();
    }
  }
}

TEST_P(OpenTest, DoesNotMigrateByItself) {
  auto store = db_->open();
  EXPECT_EQ(store->schema_version(), 0);
  EXPECT_THROW(store->find_client("x"), StorageError);  // no tables yet
}

TEST_P(OpenTest, MigrateIsIdempotentAndVersioned) {
  auto store = db_->open();
  const int version = store->migrate();
  EXPECT_GE(version, 1);
  EXPECT_EQ(store->schema_version(), version);
  EXPECT_EQ(store->migrate(), version);
  EXPECT_EQ(store->schema_version(), version);

  store.reset();
  store = db_->open();
  EXPECT_EQ(store->schema_version(), version);
  EXPECT_EQ(store->migrate(), version);
}

// Two nodes starting at once both migrate: each migration runs once (under the advisory lock
// on PostgreSQL, the write lock on SQLite) and both end at the latest version.
TEST_P(OpenTest, ConcurrentMigrationsApplyEachOnce) {
  auto first = db_->open();
  auto second = db_->open();
  int a = 0;
  int b = 0;
  std::thread other([&] { b = second->migrate(); });
  a = first->migrate();
  other.join();
  EXPECT_GE(a, 1);
  EXPECT_EQ(a, b);
  EXPECT_EQ(first->schema_version(), a);
  EXPECT_TRUE(first->insert_client(make_client("app")));
  EXPECT_TRUE(second->find_client("app"));
}

TEST_P(OpenTest, RefusesNewerSchema) {
  db_->open()->migrate();
  const std::string error =
      db_->exec_raw(GetParam() == testing::Backend::sqlite
                        ? "PRAGMA user_version = 9999"
                        : "INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)");
  ASSERT_EQ(error, "");

  auto store = db_->open();
  EXPECT_EQ(store->schema_version(), 9999);
  EXPECT_THROW(store->migrate(), StorageError);
}

// --- Clients ---------------------------------------------------------------------------------

TEST_P(StoreTest, UpdateClientReplacesTheMetadataButNotTheIdOrBirth) {
  auto client = make_client("app");
  ASSERT_TRUE(store_->insert_client(client));
  client.client_name = "Renamed";
  client.redirect_uris = {"https://b.example/cb"};
  client.secret_hash.clear();
  client.token_endpoint_auth_method = "private_key_jwt";
  client.jwks = R"({"keys":[]})";
  client.require_signed_request_object = true;
  client.backchannel_logout_uri = "https://b.example/logout";
  client.frontchannel_logout_uri = "https://b.example/front";
  client.frontchannel_logout_session_required = true;
  client.token_endpoint_auth_signing_alg = "ES256";
  client.request_object_signing_alg = "PS256";
  client.userinfo_signed_response_alg = "ES256";
  client.tls_client_auth_name = "tls_client_auth_san_dns";
  client.tls_client_auth_value = "b.example";
  client.tls_bound_access_tokens = true;
  client.id_token_signed_response_alg = "RS256";
  client.introspection_signed_response_alg = "RS256";
  client.authorization_signed_response_alg = "RS256";
  client.created_at = kNow + 999;
  ASSERT_TRUE(store_->update_client(client));
  const auto found = store_->find_client("app");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->client_name, "Renamed");
  EXPECT_EQ(found->redirect_uris, client.redirect_uris);
  EXPECT_TRUE(found->secret_hash.empty());
  EXPECT_EQ(found->token_endpoint_auth_method, "private_key_jwt");
  EXPECT_EQ(found->jwks, client.jwks);
  EXPECT_TRUE(found->require_signed_request_object);
  EXPECT_EQ(found->backchannel_logout_uri, "https://b.example/logout");
  EXPECT_EQ(found->frontchannel_logout_uri, "https://b.example/front");
  EXPECT_TRUE(found->frontchannel_logout_session_required);
  EXPECT_EQ(found->token_endpoint_auth_signing_alg, "ES256");
  EXPECT_EQ(found->request_object_signing_alg, "PS256");
  EXPECT_EQ(found->userinfo_signed_response_alg, "ES256");
  EXPECT_EQ(found->tls_client_auth_name, "tls_client_auth_san_dns");
  EXPECT_EQ(found->tls_client_auth_value, "b.example");
  EXPECT_TRUE(found->tls_bound_access_tokens);
  EXPECT_EQ(found->id_token_signed_response_alg, "RS256");
  EXPECT_EQ(found->introspection_signed_response_alg, "RS256");
  EXPECT_EQ(found->authorization_signed_response_alg, "RS256");
  EXPECT_EQ(found->registration_access_token_hash, "rat");
  EXPECT_EQ(found->created_at, kNow) << "created_at is not metadata";
  client.client_id = "unknown";
  EXPECT_FALSE(store_->update_client(client));
  EXPECT_FALSE(store_->find_client("unknown"));
  EXPECT_EQ(store_->list_clients().size(), 1U);
}

TEST_P(StoreTest, ClientRoundTripsAndRejectsDuplicates) {
  auto client = make_client("app");
  // Lists must round-trip exactly, separators, newlines and empty strings included.
  client.redirect_uris = {"https://a.example/cb", "", "x:1,\n2", "3:abc,", "é"};
  client.grant_types = {};
  client.post_logout_redirect_uris = {"https://a.example/bye", "https://a.example/bye?x=1,2"};
  client.subject_type = "pairwise";
  client.backchannel_logout_uri = "https://a.example/logout?x=1";
  client.backchannel_logout_session_required = true;
  client.require_signed_request_object = true;
  client.frontchannel_logout_uri = "https://a.example/front?x=1";
  client.frontchannel_logout_session_required = true;
  client.token_endpoint_auth_signing_alg = "EdDSA";
  client.request_object_signing_alg = "RS256";
  client.userinfo_signed_response_alg = "ES256";
  ASSERT_TRUE(store_->insert_client(client));
  EXPECT_FALSE(store_->insert_client(make_client("app")));

  const auto found = store_->find_client("app");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->client_id, "app");
  EXPECT_EQ(found->client_name, client.client_name);
  EXPECT_EQ(found->secret_hash, client.secret_hash);
  EXPECT_EQ(found->token_endpoint_auth_method, client.token_endpoint_auth_method);
  EXPECT_EQ(found->backchannel_logout_uri, client.backchannel_logout_uri);
  EXPECT_TRUE(found->backchannel_logout_session_required);
  EXPECT_TRUE(found->require_signed_request_object);
  EXPECT_EQ(found->frontchannel_logout_uri, client.frontchannel_logout_uri);
  EXPECT_TRUE(found->frontchannel_logout_session_required);
  EXPECT_EQ(found->token_endpoint_auth_signing_alg, "EdDSA");
  EXPECT_EQ(found->request_object_signing_alg, "RS256");
  EXPECT_EQ(found->userinfo_signed_response_alg, "ES256");
  EXPECT_EQ(found->redirect_uris, client.redirect_uris);
  EXPECT_EQ(found->post_logout_redirect_uris, client.post_logout_redirect_uris);
  EXPECT_EQ(found->subject_type, "pairwise");
  EXPECT_TRUE(found->grant_types.empty());
  EXPECT_EQ(found->scope, client.scope);
  EXPECT_EQ(found->jwks, client.jwks);
  EXPECT_EQ(found->default_audience, client.default_audience);
  EXPECT_TRUE(found->require_par);
  EXPECT_FALSE(found->require_dpop);
  EXPECT_EQ(found->registration_access_token_hash, "rat");
  EXPECT_EQ(found->created_at, kNow);
  EXPECT_FALSE(store_->find_client("other"));

  ASSERT_TRUE(store_->insert_client(make_client("b-app")));
  const auto all = store_->list_clients();
  ASSERT_EQ(all.size(), 2U);
  EXPECT_EQ(all[0].client_id, "app");
  EXPECT_EQ(all[1].client_id, "b-app");
  EXPECT_EQ(all[1].grant_types, make_client("x").grant_types);
  EXPECT_EQ(all[1].subject_type, "public");
  EXPECT_FALSE(all[1].require_signed_request_object);
  EXPECT_TRUE(all[1].frontchannel_logout_uri.empty());
  EXPECT_FALSE(all[1].frontchannel_logout_session_required);
  EXPECT_TRUE(all[1].token_endpoint_auth_signing_alg.empty());
  EXPECT_TRUE(all[1].request_object_signing_alg.empty());
  EXPECT_TRUE(all[1].userinfo_signed_response_alg.empty());
  EXPECT_TRUE(all[1].tls_client_auth_name.empty());
  EXPECT_FALSE(all[1].tls_bound_access_tokens);
}

TEST_P(StoreTest, ClientIdsAreExactBytes) {
  ASSERT_TRUE(store_->insert_client(make_client("App")));
  EXPECT_FALSE(store_->find_client("app"));
  EXPECT_FALSE(store_->find_client("App' OR '1'='1"));
  ASSERT_TRUE(store_->insert_client(make_client("App' OR '1'='1")));
  EXPECT_TRUE(store_->find_client("App' OR '1'='1"));
}

TEST_P(StoreTest, RemoveClientDeletesEverythingItHolds) {
  ASSERT_TRUE(store_->insert_client(make_client("app")));
  ASSERT_TRUE(store_->insert_client(make_client("keep")));
  ASSERT_TRUE(store_->insert_resident(make_resident("r1", "ada")));
  PendingAuthorization pending;
  pending.handle = "h1";
  pending.client_id = "app";
  pending.expires_at = kNow + 60;
  store_->insert_pending(pending);
  store_->insert_code(make_code("c1", "app", "r1"));
  add_grant(make_grant("g1", "r1", "app"));
  store_->insert_access_token(make_access("a1", "app", "r1"));
  store_->insert_refresh_token(make_refresh("rt1", "f1", "app", "r1"));
  store_->insert_access_token(make_access("a2", "keep", "r1"));

  EXPECT_TRUE(store_->remove_client("app"));
  EXPECT_FALSE(store_->remove_client("app"));
  EXPECT_FALSE(store_->find_client("app"));
  EXPECT_FALSE(store_->find_pending("h1", kNow));
  EXPECT_FALSE(store_->consume_code("c1"));
  EXPECT_FALSE(store_->find_grant("g1"));
  EXPECT_FALSE(store_->find_access_token("a1"));
  EXPECT_FALSE(store_->find_refresh_token("rt1"));
  EXPECT_TRUE(store_->find_access_token("a2"));
  EXPECT_TRUE(store_->find_client("keep"));
  EXPECT_TRUE(store_->find_resident("r1"));
}

// After a leaked secret: what was issued to the client stops working, nothing else does.
TEST_P(StoreTest, RevokeClientTokensRevokesWhatWasIssuedToTheClientOnly) {
  ASSERT_TRUE(store_->insert_client(make_client("app")));
  ASSERT_TRUE(store_->insert_client(make_client("keep")));
  add_grant(make_grant("g1", "r1", "app"));
  store_->insert_code(make_code("c-unused", "app", "r1"));
  store_->insert_code(make_code("c-used", "app", "r1"));
  ASSERT_TRUE(store_->consume_code("c-used"));
  store_->insert_code(make_code("c-keep", "keep", "r1", "g2"));
  store_->insert_refresh_token(make_refresh("rt1", "f1", "app", "r1"));
  store_->insert_access_token(make_access("a-family", "app", "r1", "", "f1"));
  store_->insert_access_token(make_access("a-cc", "app", ""));
  store_->insert_access_token(make_access("a-done", "app", "r1"));
  ASSERT_TRUE(store_->revoke_access_token("a-done"));
  store_->insert_access_token(make_access("a-keep", "keep", "r1"));
  store_->insert_refresh_token(make_refresh("rt-keep", "f2", "keep", "r1", "g2"));

  const auto entry = testing::event(0, kNow, "operator", "client.tokens_revoked", "", "app", "{}",
                                    "");
  const auto audit_before = store_->audit_size();
  EXPECT_FALSE(store_->revoke_client_tokens("unknown", entry));
  EXPECT_EQ(store_->audit_size(), audit_before) << "nothing is logged for an unknown client";

  const auto revoked = store_->revoke_client_tokens("app", entry);
  ASSERT_TRUE(revoked);
  EXPECT_EQ(revoked->access_tokens, 2);  // a-family and a-cc; a-done was revoked before
  EXPECT_EQ(revoked->refresh_tokens, 1);
  EXPECT_EQ(revoked->codes, 1);
  EXPECT_EQ(store_->audit_size(), audit_before + 1);
  EXPECT_EQ(store_->list_events(0, 100).back().action, "client.tokens_revoked");
  EXPECT_TRUE(store_->find_access_token("a-family")->revoked);
  EXPECT_TRUE(store_->find_access_token("a-cc")->revoked);
  EXPECT_TRUE(store_->find_refresh_token("rt1")->revoked);
  EXPECT_FALSE(store_->consume_code("c-unused"));
  const auto replayed = store_->consume_code("c-used");
  ASSERT_TRUE(replayed) << "a redeemed code stays, so its replay is still told";
  EXPECT_TRUE(replayed->used);

  EXPECT_TRUE(store_->find_client("app"));
  EXPECT_FALSE(store_->find_grant("g1")->revoked);
  EXPECT_FALSE(store_->find_access_token("a-keep")->revoked);
  EXPECT_FALSE(store_->find_refresh_token("rt-keep")->revoked);
  const auto other_code = store_->consume_code("c-keep");
  ASSERT_TRUE(other_code);
  EXPECT_FALSE(other_code->used);

  const auto again = store_->revoke_client_tokens("app", entry);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->access_tokens + again->refresh_tokens + again->codes, 0);
}

// --- Residents -------------------------------------------------------------------------------

TEST_P(StoreTest, ResidentCrudAndUniqueness) {
  const auto ada = make_resident("r1", "ada");
  ASSERT_TRUE(store_->insert_resident(ada));
  EXPECT_FALSE(store_->insert_resident(make_resident("r1", "other")));  // same id
  EXPECT_FALSE(store_->insert_resident(make_resident("r2", "ada")));    // same username
  ASSERT_TRUE(store_->insert_resident(make_resident("r0", "bob")));

  const auto by_name = store_->find_resident_by_username("ada");
  ASSERT_TRUE(by_name);
  EXPECT_EQ(by_name->id, "r1");
  EXPECT_EQ(by_name->password_hash, ada.password_hash);
  EXPECT_EQ(by_name->name, ada.name);
  EXPECT_EQ(by_name->email, ada.email);
  EXPECT_EQ(by_name->created_at, kNow);
  const auto by_id = store_->find_resident("r1");
  ASSERT_TRUE(by_id);
  EXPECT_EQ(by_id->username, "ada");
  EXPECT_FALSE(store_->find_resident("ada"));
  EXPECT_FALSE(store_->find_resident_by_username("r1"));

  const auto all = store_->list_residents();
  ASSERT_EQ(all.size(), 2U);
  EXPECT_EQ(all[0].username, "ada");
  EXPECT_EQ(all[1].username, "bob");
}

TEST_P(StoreTest, RemoveResidentDeletesTheirState) {
  ASSERT_TRUE(store_->insert_client(make_client("app")));
  ASSERT_TRUE(store_->insert_resident(make_resident("r1", "ada")));
  ASSERT_TRUE(store_->insert_resident(make_resident("r2", "bob")));
  store_->insert_session({"s1", "r1", "csrf", kNow, kNow + 3600, ""});
  store_->insert_session({"s2", "r2", "csrf", kNow, kNow + 3600, ""});
  add_grant(make_grant("g1", "r1", "app"));
  store_->insert_code(make_code("c1", "app", "r1"));
  store_->insert_access_token(make_access("a1", "app", "r1"));
  store_->insert_access_token(make_access("cc", "app", ""));  // client_credentials
  store_->insert_refresh_token(make_refresh("rt1", "f1", "app", "r1"));

  EXPECT_TRUE(store_->remove_resident_by_username("ada"));
  EXPECT_FALSE(store_->remove_resident_by_username("ada"));
  EXPECT_FALSE(store_->find_resident("r1"));
  EXPECT_FALSE(store_->find_session("s1", kNow));
  EXPECT_FALSE(store_->find_grant("g1"));
  EXPECT_FALSE(store_->consume_code("c1"));
  EXPECT_FALSE(store_->find_access_token("a1"));
  EXPECT_FALSE(store_->find_refresh_token("rt1"));
  EXPECT_TRUE(store_->find_access_token("cc"));
  EXPECT_TRUE(store_->find_session("s2", kNow));
  EXPECT_TRUE(store_->find_client("app"));
}

// --- Failed logins ---------------------------------------------------------------------------

TEST_P(StoreTest, LoginFailuresCountWithinWindow) {
  constexpr std::int64_t kWindow = 900;
  EXPECT_EQ(store_->login_failures("user:ada", kNow, kWindow), 0);
  EXPECT_EQ(store_->record_login_failure("user:ada", kNow, kWindow), 1);
  EXPECT_EQ(store_->record_login_failure("user:ada", kNow + 100, kWindow), 2);
  EXPECT_EQ(store_->record_login_failure("ip:192.0.2.1", kNow + 100, kWindow), 1);
  EXPECT_EQ(store_->login_failures("user:ada", kNow + 100, kWindow), 2);
  // The first failure leaves the window exactly kWindow seconds later.
  EXPECT_EQ(store_->login_failures("user:ada", kNow + kWindow - 1, kWindow), 2);
  EXPECT_EQ(store_->login_failures("user:ada", kNow + kWindow, kWindow), 1);
  EXPECT_EQ(store_->record_login_failure("user:ada", kNow + kWindow + 50, kWindow), 2);
  EXPECT_EQ(store_->login_failures("user:ada", kNow + 2 * kWindow + 200, kWindow), 0);

  store_->clear_login_failures("user:ada");
  EXPECT_EQ(store_->login_failures("user:ada", kNow + kWindow + 50, kWindow), 0);
  EXPECT_EQ(store_->login_failures("ip:192.0.2.1", kNow + 100, kWindow), 1);
}

// --- Sessions and pending requests -----------------------------------------------------------

TEST_P(StoreTest, SessionsExpireAndCanBeRemoved) {
  store_->insert_session({"s1", "r1", "csrf-1", kNow - 10, kNow + 100, ""});
  EXPECT_THROW(store_->insert_session({"s1", "r2", "x", kNow, kNow + 1, ""}), StorageError);
  const auto found = store_->find_session("s1", kNow);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->resident_id, "r1");
  EXPECT_EQ(found->csrf_token, "csrf-1");
  EXPECT_EQ(found->auth_time, kNow - 10);
  EXPECT_EQ(found->expires_at, kNow + 100);
  EXPECT_FALSE(store_->find_session("s1", kNow + 100));
  EXPECT_EQ(store_->end_session("s1", kNow), 0);
  EXPECT_FALSE(store_->find_session("s1", kNow));
}

// Removing a resident ends their sessions as a logout would: one delivery per client with a
// back-channel URI signed in within each, due at once; another resident's sessions go on.
TEST_P(StoreTest, RemovingAResidentQueuesTheirBackchannelLogouts) {
  auto told = make_client("told");
  told.backchannel_logout_uri = "https://told.example/logout";
  ASSERT_TRUE(store_->insert_client(told));
  ASSERT_TRUE(store_->insert_client(make_client("silent")));
  ASSERT_TRUE(store_->insert_resident(make_resident("r1", "ada")));
  ASSERT_TRUE(store_->insert_resident(make_resident("r2", "bob")));
  store_->insert_session({"s1", "r1", "csrf", kNow, kNow + 100, "sid-1"});
  store_->insert_session({"s2", "r1", "csrf", kNow, kNow + 100, "sid-2"});
  store_->insert_session({"s3", "r2", "csrf", kNow, kNow + 100, "sid-3"});
  for (const char* sid : {"sid-1", "sid-2"}) {
    store_->add_session_client({sid, "told", "r1", kNow + 100});
    store_->add_session_client({sid, "silent", "r1", kNow + 100});
  }
  store_->add_session_client({"sid-3", "told", "r2", kNow + 100});

  ASSERT_TRUE(store_->remove_resident_by_username("ada"));
  auto due = store_->claim_logout_deliveries(kNow, kNow + 30, 10);
  std::vector<std::string> sids;
  for (const auto& d : due) {
    EXPECT_EQ(d.client_id, "told");
    EXPECT_EQ(d.resident_id, "r1");
    sids.push_back(d.sid);
  }
  std::sort(sids.begin(), sids.end());
  EXPECT_EQ(sids, (std::vector<std::string>{"sid-1", "sid-2"}));
  EXPECT_TRUE(store_->session_client_ids("sid-1").empty());
  EXPECT_EQ(store_->session_client_ids("sid-3"), std::vector<std::string>{"told"});
  EXPECT_TRUE(store_->find_session("s3", kNow)) << "bob stays signed in";
}

// Back-Channel Logout: ending a session queues one delivery per client given a code in it that
// has a backchannel_logout_uri; claims are exclusive until their lease ends; settling removes
// or postpones.
TEST_P(StoreTest, EndingASessionQueuesBackchannelLogouts) {
  auto told = make_client("told");
  told.backchannel_logout_uri = "https://told.example/logout";
  ASSERT_TRUE(store_->insert_client(told));
  auto other = told;
  other.client_id = "other-session";
  ASSERT_TRUE(store_->insert_client(other));
  ASSERT_TRUE(store_->insert_client(make_client("silent")));
  store_->insert_session({"s1", "r1", "csrf", kNow, kNow + 100, "sid-1"});
  store_->insert_session({"s2", "r1", "csrf", kNow, kNow + 100, "sid-2"});
  ASSERT_EQ(store_->find_session("s1", kNow)->sid, "sid-1");
  store_->add_session_client({"sid-1", "told", "r1", kNow + 100});
  store_->add_session_client({"sid-1", "told", "r1", kNow + 100});  // idempotent
  store_->add_session_client({"sid-1", "silent", "r1", kNow + 100});
  store_->add_session_client({"sid-2", "other-session", "r1", kNow + 100});

  EXPECT_TRUE(store_->claim_logout_deliveries(kNow, kNow + 30, 10).empty());
  EXPECT_EQ(store_->session_client_ids("sid-1"), (std::vector<std::string>{"silent", "told"}));
  EXPECT_EQ(store_->session_client_ids("sid-2"), std::vector<std::string>{"other-session"});
  EXPECT_TRUE(store_->session_client_ids("sid-none").empty());
  EXPECT_EQ(store_->end_session("s1", kNow), 1);
  EXPECT_TRUE(store_->session_client_ids("sid-1").empty()) << "they go with the session";
  EXPECT_FALSE(store_->find_session("s1", kNow));
  EXPECT_EQ(store_->end_session("s1", kNow), 0);  // already ended: nothing queued twice

  auto claimed = store_->claim_logout_deliveries(kNow, kNow + 30, 10);
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].sid, "sid-1");
  EXPECT_EQ(claimed[0].client_id, "told");
  EXPECT_EQ(claimed[0].resident_id, "r1");
  EXPECT_EQ(claimed[0].attempts, 1);
  const auto first = claimed[0];
  EXPECT_TRUE(store_->claim_logout_deliveries(kNow + 29, kNow + 59, 10).empty());  // leased
  claimed = store_->claim_logout_deliveries(kNow + 30, kNow + 60, 10);  // the lease ended
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].attempts, 2);
  // The first claimant, late, settles nothing: neither removes nor reschedules the delivery
  // that the second claim now holds.
  EXPECT_FALSE(store_->settle_logout_delivery(first, 0));
  EXPECT_FALSE(store_->settle_logout_delivery(first, kNow + 35));
  EXPECT_TRUE(store_->claim_logout_deliveries(kNow + 59, kNow + 89, 10).empty());
  EXPECT_TRUE(store_->settle_logout_delivery(claimed[0], kNow + 40));
  EXPECT_TRUE(store_->claim_logout_deliveries(kNow + 39, kNow + 70, 10).empty());
  claimed = store_->claim_logout_deliveries(kNow + 40, kNow + 70, 10);
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].attempts, 3);
  EXPECT_TRUE(store_->settle_logout_delivery(claimed[0], 0));
  EXPECT_FALSE(store_->settle_logout_delivery(claimed[0], 0));  // already gone
  EXPECT_TRUE(store_->claim_logout_deliveries(kNow + 1000, kNow + 1030, 10).empty());

  // The other session's client is told when that one ends, and removing the client drops what
  // was queued for it.
  EXPECT_EQ(store_->end_session("s2", kNow), 1);
  ASSERT_TRUE(store_->remove_client("other-session"));
  EXPECT_TRUE(store_->claim_logout_deliveries(kNow, kNow + 30, 10).empty());

  // A renewed session (signed in again) keeps its clients, for as long as it now lasts.
  store_->insert_session({"s3", "r1", "csrf", kNow, kNow + 100, "sid-3"});
  store_->add_session_client({"sid-3", "told", "r1", kNow + 100});
  store_->renew_session("s3", {"s4", "r1", "csrf", kNow + 50, kNow + 500, "sid-3"});
  EXPECT_FALSE(store_->find_session("s3", kNow));
  EXPECT_EQ(store_->find_session("s4", kNow)->sid, "sid-3");
  store_->purge_expired(kNow + 200);
  EXPECT_EQ(store_->end_session("s4", kNow + 200), 1) << "still remembered after the old end";
  claimed = store_->claim_logout_deliveries(kNow + 200, kNow + 230, 10);
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].sid, "sid-3");
  EXPECT_TRUE(store_->settle_logout_delivery(claimed[0], 0));
}

TEST_P(StoreTest, PendingIsTakenOnce) {
  PendingAuthorization p;
  p.handle = "urn:ietf:params:oauth:request_uri:abc";
  p.client_id = "app";
  p.redirect_uri = "https://app.example/cb";
  p.scope = "openid";
  p.state = "st";
  p.nonce = "no";
  p.code_challenge = "cc";
  p.authorization_details = "[]";
  p.resources = {"https://a.example/", "https://b.example/"};
  p.prompt = "login consent";
  p.max_age = 0;
  p.dpop_jkt = "jkt";
  p.response_mode = "query";
  p.pushed = true;
  p.expires_at = kNow + 60;
  p.ui_locales = "ja-JP en";
  p.login_hint = "hanako@example.jp";
  p.subject_hint = "r-hanako";
  p.redirect_uri_given = false;
  p.id_token_claims = "email name";
  store_->insert_pending(p);

  const auto found = store_->find_pending(p.handle, kNow);
  ASSERT_TRUE(found);
  EXPECT_FALSE(found->redirect_uri_given);
  EXPECT_EQ(found->ui_locales, "ja-JP en");
  EXPECT_EQ(found->login_hint, "hanako@example.jp");
  EXPECT_EQ(found->resources, p.resources);
  EXPECT_EQ(found->max_age, 0);
  EXPECT_TRUE(found->pushed);
  EXPECT_EQ(found->prompt, p.prompt);
  EXPECT_FALSE(store_->find_pending(p.handle, kNow + 60));

  const auto taken = store_->take_pending(p.handle, kNow);
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->state, "st");
  EXPECT_EQ(taken->nonce, "no");
  EXPECT_EQ(taken->dpop_jkt, "jkt");
  EXPECT_EQ(taken->response_mode, "query");
  EXPECT_EQ(taken->ui_locales, "ja-JP en");
  EXPECT_EQ(taken->login_hint, "hanako@example.jp");
  EXPECT_EQ(taken->subject_hint, "r-hanako");
  EXPECT_FALSE(taken->redirect_uri_given);
  EXPECT_EQ(taken->id_token_claims, "email name");
  EXPECT_FALSE(store_->take_pending(p.handle, kNow));
  EXPECT_FALSE(store_->find_pending(p.handle, kNow));

  p.handle = "expired";
  p.max_age = -1;
  p.redirect_uri_given = true;
  store_->insert_pending(p);
  EXPECT_TRUE(store_->find_pending("expired", kNow)->redirect_uri_given);
  EXPECT_FALSE(store_->take_pending("expired", kNow + 61));
  EXPECT_FALSE(store_->find_pending("expired", kNow));  // taken even though expired
}

// --- Codes -----------------------------------------------------------------------------------

TEST_P(StoreTest, CodeIsConsumedOnce) {
  const auto code = make_code("c1", "app", "r1");
  store_->insert_code(code);
  EXPECT_THROW(store_->insert_code(code), StorageError);

  const auto first = store_->consume_code("c1");
  ASSERT_TRUE(first);
  EXPECT_FALSE(first->used);
  EXPECT_EQ(first->resources, code.resources);
  EXPECT_EQ(first->authorization_details, code.authorization_details);
  EXPECT_EQ(first->code_challenge, code.code_challenge);
  EXPECT_EQ(first->grant_id, "g1");
  EXPECT_EQ(first->id_token_claims, "email");
  EXPECT_EQ(first->auth_time, code.auth_time);
  EXPECT_EQ(first->expires_at, code.expires_at);

  const auto replay = store_->consume_code("c1");
  ASSERT_TRUE(replay);
  EXPECT_TRUE(replay->used);
  EXPECT_FALSE(store_->consume_code("unknown"));
}

TEST_P(StoreTest, CodeReplayRevokesTokensIssuedFromIt) {
  store_->insert_access_token(make_access("a1", "app", "r1", "c1"));
  store_->insert_refresh_token(make_refresh("rt1", "f1", "app", "r1", "g1", "c1"));
  // Rotated once: the successor and its access token carry only the family.
  store_->rotate_refresh_token("rt1", make_refresh("rt2", "f1", "app", "r1"));
  store_->insert_access_token(make_access("a2", "app", "r1", "", "f1"));
  store_->insert_access_token(make_access("other", "app", "r1", "c2", "f2"));
  store_->insert_access_token(make_access("plain", "app", ""));

  store_->revoke_tokens_from_code("c1");
  EXPECT_TRUE(store_->find_access_token("a1")->revoked);
  EXPECT_TRUE(store_->find_access_token("a2")->revoked);
  EXPECT_TRUE(store_->find_refresh_token("rt1")->revoked);
  EXPECT_TRUE(store_->find_refresh_token("rt2")->revoked);
  EXPECT_FALSE(store_->find_access_token("other")->revoked);
  EXPECT_FALSE(store_->find_access_token("plain")->revoked);

  store_->revoke_tokens_from_code("");  // tokens without a code are not a family
  EXPECT_FALSE(store_->find_access_token("plain")->revoked);
}

// The token state stamp (what introspection answers kept in memory are checked against): new
// tokens and audit entries leave it, a revocation here or a write by another process (here
// the sqlite3 shell's way, behind the store's back) moves it on. PostgreSQL keeps none.
TEST_P(StoreTest, TokenStateStampMovesOnWithChangesNotWithNewTokens) {
  store_->insert_access_token(make_access("a1", "app", ""));
  const auto first = store_->token_state_stamp();
  if (GetParam() == testing::Backend::postgres) {
    EXPECT_FALSE(first);
    return;
  }
  ASSERT_TRUE(first);
  const auto issued = testing::event(0, kNow, "client", "token.issued", "", "app", "{}", "");
  store_->insert_access_token(make_access("a2", "app", ""), issued);
  store_->append_event(testing::event(0, kNow, "system", "noted", "", "", "{}", ""));
  std::promise<std::exception_ptr> committed;
  store_->submit_access_token(make_access("a3", "app", ""), issued,
                              [&committed](std::exception_ptr error) { committed.set_value(error); });
  auto outcome = committed.get_future();
  ASSERT_EQ(outcome.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_FALSE(outcome.get());
  EXPECT_TRUE(store_->remember_jti("dpop", "j1", kNow + 60, kNow));
  EXPECT_EQ(store_->token_state_stamp(), first);

  EXPECT_TRUE(store_->revoke_access_token("a1"));
  const auto second = store_->token_state_stamp();
  ASSERT_TRUE(second);
  EXPECT_NE(second, first);

  ASSERT_EQ(db_->exec_raw("UPDATE access_tokens SET revoked = 1 WHERE jti = 'a2'"), "");
  // Read by a worker (storage allowed), the stamp takes in the other process's write.
  const auto third = store_->token_state_stamp();
  ASSERT_TRUE(third);
  EXPECT_NE(third, second);
  ASSERT_EQ(db_->exec_raw("UPDATE access_tokens SET revoked = 1 WHERE jti = 'a3'"), "");
  {
    // On an I/O thread it cannot: it says so, and no later read shows the old stamp.
    const StorageForbidden here;
    EXPECT_FALSE(store_->token_state_stamp());
  }
  EXPECT_TRUE(store_->find_access_token("a3")->revoked);
}

// What answers from memory rely on, under concurrency: once a change has committed and its
// call returned, no reader on any thread gets a stamp it could have got before that change
// began, while other threads add tokens (which leave the stamp) and another process writes
// (which leaves no stamp until a worker reads it again).
TEST_P(StoreTest, TokenStateStampNeverOutlivesAChangeOnAnyThread) {
  if (GetParam() == testing::Backend::postgres) GTEST_SKIP() << "PostgreSQL keeps no stamp";
  constexpr int kChanges = 200;
  for (int i = 0; i < kChanges; ++i)
    store_->insert_access_token(make_access("c" + std::to_string(i), "app", ""));
  // before[i]: a stamp read before change i began; done: the changes that have returned.
  std::vector<std::atomic<std::uint64_t>> before(kChanges);
  std::vector<std::atomic<bool>> known(kChanges);
  std::atomic<int> done{-1};
  std::atomic<bool> stop{false};
  std::atomic<int> violations{0};
  std::atomic<long> checked{0};

  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      const StorageForbidden here;  // as an I/O thread reads it
      while (!stop.load()) {
        const int k = done.load();
        const auto stamp = store_->token_state_stamp();
        if (k < 0 || !stamp) continue;
        for (int i = 0; i <= k; ++i) {
          if (known[i].load() && before[i].load() == *stamp) violations.fetch_add(1);
        }
        checked.fetch_add(1);
      }
    });
  }
  std::thread adder([&] {
    for (int i = 0; !stop.load(); ++i) {
      store_->insert_access_token(
          make_access("n" + std::to_string(i), "app", ""),
          testing::event(0, kNow, "client", "token.issued", "", "app", "{}", ""));
    }
  });
  for (int i = 0; i < kChanges; ++i) {
    if (const auto stamp = store_->token_state_stamp()) {
      before[i].store(*stamp);
      known[i].store(true);
    }
    EXPECT_TRUE(store_->revoke_access_token("c" + std::to_string(i)));
    if (i % 50 == 25) {
      ASSERT_EQ(db_->exec_raw("UPDATE access_tokens SET scope = 'x' WHERE jti = 'n0'"), "");
    }
    done.store(i);
  }
  stop.store(true);
  adder.join();
  for (auto& t : readers) t.join();
  EXPECT_EQ(violations.load(), 0);
  EXPECT_GT(checked.load(), 0);
  int known_count = 0;
  for (const auto& k : known) known_count += k.load() ? 1 : 0;
  EXPECT_GT(known_count, kChanges / 2);
}

// --- Grants ----------------------------------------------------------------------------------

TEST_P(StoreTest, GrantsSaveFindAndList) {
  auto grant = make_grant("g1", "r1", "app");
  grant.expires_at = kNow + 1000;
  add_grant(grant);
  add_grant(make_grant("g2", "r1", "other"));
  add_grant(make_grant("g3", "r2", "app"));
  EXPECT_EQ(store_->audit_size(), 3);  // each with its entry

  auto active = store_->find_active_grant("r1", "app", kNow);
  ASSERT_TRUE(active);
  EXPECT_EQ(active->id, "g1");
  EXPECT_EQ(active->scope, "openid profile");
  EXPECT_FALSE(store_->find_active_grant("r1", "app", kNow + 1000));      // expired
  EXPECT_TRUE(store_->find_active_grant("r1", "other", kNow + 999'999));  // 0 = no end
  EXPECT_FALSE(store_->find_active_grant("r1", "nobody", kNow));

  auto amended = *active;
  amended.scope = "openid profile email";
  amended.authorization_details = R"([{"type":"personal_data_provision"}])";
  amended.expires_at = 0;
  EXPECT_TRUE(store_->save_grant(amended, active, consented("g1")));
  const auto updated = store_->find_grant("g1");
  ASSERT_TRUE(updated);
  EXPECT_EQ(updated->scope, "openid profile email");
  EXPECT_EQ(updated->authorization_details, amended.authorization_details);
  EXPECT_EQ(updated->expires_at, 0);
  EXPECT_EQ(updated->created_at, kNow);
  EXPECT_EQ(store_->audit_size(), 4);

  EXPECT_EQ(store_->list_grants("r1").size(), 2U);
  EXPECT_EQ(store_->list_grants("r2").size(), 1U);
  EXPECT_TRUE(store_->list_grants("r3").empty());
  EXPECT_FALSE(store_->find_grant("nope"));
}

// Two approvals of one pair at once each read "no grant" (or the same grant) and save: the
// second save is refused and writes nothing, so the caller reads again and merges.
TEST_P(StoreTest, APairKeepsOneGrantNotEnded) {
  add_grant(make_grant("g1", "r1", "app"));
  const auto first = store_->find_grant("g1");
  ASSERT_TRUE(first);

  EXPECT_FALSE(store_->save_grant(make_grant("g1-twin", "r1", "app"), std::nullopt,
                                  consented("g1-twin")));
  EXPECT_FALSE(store_->find_grant("g1-twin"));
  EXPECT_EQ(store_->audit_size(), 1);

  // An amendment made from a copy read before another amendment saved is refused too.
  auto one = *first;
  one.scope = "openid profile email";
  auto other = *first;
  other.scope = "openid profile phone";
  EXPECT_TRUE(store_->save_grant(one, first, consented("g1")));
  EXPECT_FALSE(store_->save_grant(other, first, consented("g1")));
  EXPECT_EQ(store_->find_grant("g1")->scope, "openid profile email");
  EXPECT_EQ(store_->audit_size(), 2);

  // A grant whose end has come still holds its pair until it is ended (its end revokes the
  // pair's access tokens, which must not be a newer grant's).
  auto ending = make_grant("g2", "r2", "app");
  ending.expires_at = kNow + 10;
  add_grant(ending);
  EXPECT_FALSE(store_->save_grant(make_grant("g2-new", "r2", "app"), std::nullopt,
                                  consented("g2-new")));
  const auto expired = testing::event(0, kNow + 10, "system", "consent.expired", "", "app",
                                      R"({"grant_id":"g2"})", "");
  ASSERT_TRUE(store_->revoke_grant("g2", expired, kNow + 10));
  EXPECT_TRUE(store_->save_grant(make_grant("g2-new", "r2", "app"), std::nullopt,
                                 consented("g2-new")));
  // Nor can an ended grant be amended.
  auto late = *store_->find_grant("g2");
  auto revived = late;
  revived.scope = "openid";
  EXPECT_FALSE(store_->save_grant(revived, late, consented("g2")));
  EXPECT_TRUE(store_->find_grant("g2")->revoked);
  EXPECT_EQ(store_->audit_size(), 5);
}

TEST_P(StoreTest, RevokeGrantRevokesItsTokens) {
  add_grant(make_grant("g1", "r1", "app"));
  store_->insert_code(make_code("c-unused", "app", "r1", "g1"));
  store_->insert_refresh_token(make_refresh("rt1", "f1", "app", "r1", "g1"));
  store_->rotate_refresh_token("rt1", make_refresh("rt2", "f1", "app", "r1", "g1"));
  store_->insert_access_token(make_access("a-family", "app", "r1", "", "f1"));
  store_->insert_access_token(make_access("a-code-only", "app", "r1", "c9"));
  store_->insert_access_token(make_access("a-other-client", "other", "r1"));
  store_->insert_access_token(make_access("a-other-resident", "app", "r2"));
  store_->insert_refresh_token(make_refresh("rt-other", "f2", "app", "r2", "g2"));

  const auto withdrawn = [](std::string_view grant) {
    return testing::event(0, kNow, "resident", "consent.withdrawn", "", "app",
                          "{\"grant_id\":\"" + std::string(grant) + "\"}", "");
  };
  EXPECT_TRUE(store_->revoke_grant("g1", withdrawn("g1")));
  EXPECT_FALSE(store_->revoke_grant("unknown", withdrawn("unknown")));
  EXPECT_EQ(store_->audit_size(), 2);  // its entry was appended with the revocation, once
  EXPECT_EQ(store_->list_events(0, 10).back().action, "consent.withdrawn");
  EXPECT_TRUE(store_->find_grant("g1")->revoked);
  EXPECT_FALSE(store_->find_active_grant("r1", "app", kNow));
  EXPECT_FALSE(store_->consume_code("c-unused"));
  EXPECT_TRUE(store_->find_refresh_token("rt1")->revoked);
  EXPECT_TRUE(store_->find_refresh_token("rt2")->revoked);
  EXPECT_TRUE(store_->find_access_token("a-family")->revoked);
  EXPECT_TRUE(store_->find_access_token("a-code-only")->revoked);
  EXPECT_FALSE(store_->find_access_token("a-other-client")->revoked);
  EXPECT_FALSE(store_->find_access_token("a-other-resident")->revoked);
  EXPECT_FALSE(store_->find_refresh_token("rt-other")->revoked);

  // Revoking it again changes nothing: tokens of a newer grant of the same pair stay, and no
  // second entry is logged.
  add_grant(make_grant("g1b", "r1", "app"));
  store_->insert_access_token(make_access("a-new", "app", "r1"));
  EXPECT_FALSE(store_->revoke_grant("g1", withdrawn("g1")));
  EXPECT_FALSE(store_->find_access_token("a-new")->revoked);
  EXPECT_EQ(store_->audit_size(), 3);
}

TEST_P(StoreTest, GrantsWhoseEndHasComeAreListedAndEndedOnce) {
  auto ending = make_grant("g-soon", "r1", "app");
  ending.expires_at = kNow + 10;
  add_grant(ending);
  auto later = make_grant("g-later", "r2", "app");
  later.expires_at = kNow + 1000;
  add_grant(later);
  add_grant(make_grant("g-forever", "r3", "app"));  // expires_at 0: no end
  auto withdrawn = make_grant("g-withdrawn", "r4", "app");
  withdrawn.expires_at = kNow + 5;
  withdrawn.revoked = true;
  add_grant(withdrawn);
  store_->insert_refresh_token(make_refresh("rt-soon", "f-soon", "app", "r1", "g-soon"));
  store_->insert_access_token(make_access("a-soon", "app", "r1", "", "f-soon"));
  store_->insert_refresh_token(make_refresh("rt-later", "f-later", "app", "r2", "g-later"));

  EXPECT_TRUE(store_->list_ended_grants(kNow + 9, 10).empty());
  auto due = store_->list_ended_grants(kNow + 10, 10);
  ASSERT_EQ(due.size(), 1U);
  EXPECT_EQ(due[0].id, "g-soon");
  due = store_->list_ended_grants(kNow + 5000, 10);
  ASSERT_EQ(due.size(), 2U);  // earliest end first; no end and withdrawn ones never
  EXPECT_EQ(due[0].id, "g-soon");
  EXPECT_EQ(due[1].id, "g-later");
  EXPECT_EQ(store_->list_ended_grants(kNow + 5000, 1).size(), 1U);

  const auto expired = [](std::string_view grant) {
    return testing::event(0, kNow, "system", "consent.expired", "", "app",
                          "{\"grant_id\":\"" + std::string(grant) + "\"}", "");
  };
  // Not due yet at the time given, or no end at all: nothing changes, nothing is logged.
  EXPECT_FALSE(store_->revoke_grant("g-later", expired("g-later"), kNow + 10));
  EXPECT_FALSE(store_->revoke_grant("g-forever", expired("g-forever"), kNow + 5000));
  EXPECT_FALSE(store_->revoke_grant("g-withdrawn", expired("g-withdrawn"), kNow + 5000));
  EXPECT_EQ(store_->audit_size(), 4);
  EXPECT_FALSE(store_->find_refresh_token("rt-later")->revoked);

  EXPECT_TRUE(store_->revoke_grant("g-soon", expired("g-soon"), kNow + 10));
  EXPECT_FALSE(store_->revoke_grant("g-soon", expired("g-soon"), kNow + 10));  // once
  EXPECT_EQ(store_->audit_size(), 5);
  EXPECT_TRUE(store_->find_grant("g-soon")->revoked);
  EXPECT_TRUE(store_->find_refresh_token("rt-soon")->revoked);
  EXPECT_TRUE(store_->find_access_token("a-soon")->revoked);
  EXPECT_FALSE(store_->find_refresh_token("rt-later")->revoked);
  due = store_->list_ended_grants(kNow + 5000, 10);
  ASSERT_EQ(due.size(), 1U);
  EXPECT_EQ(due[0].id, "g-later");
}

// --- Tokens ----------------------------------------------------------------------------------

TEST_P(StoreTest, AccessTokenCrud) {
  auto token = make_access("jti-1", "app", "r1", "c1", "f1");
  token.cnf_x5t = "x5t";
  store_->insert_access_token(token);
  EXPECT_THROW(store_->insert_access_token(token), StorageError);
  const auto found = store_->find_access_token("jti-1");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->token_hash, token.token_hash);
  EXPECT_EQ(found->audience, token.audience);
  EXPECT_EQ(found->cnf_jkt, "jkt");
  EXPECT_EQ(found->cnf_x5t, "x5t");
  EXPECT_EQ(found->code_hash, "c1");
  EXPECT_EQ(found->family_id, "f1");
  EXPECT_EQ(found->issued_at, kNow);
  EXPECT_EQ(found->expires_at, kNow + 300);
  EXPECT_FALSE(found->revoked);
  EXPECT_TRUE(store_->revoke_access_token("jti-1"));
  EXPECT_TRUE(store_->revoke_access_token("jti-1"));  // still known
  EXPECT_FALSE(store_->revoke_access_token("jti-2"));
  EXPECT_TRUE(store_->find_access_token("jti-1")->revoked);
  EXPECT_FALSE(store_->find_access_token("jti-2"));
}

// The token endpoint's write without a waiting thread: writes submitted from several threads
// all commit (with their audit entries), each reports once, and a failing one (a jti already
// stored) reports its error without taking the others, or an audit entry, with it.
TEST_P(StoreTest, SubmittedAccessTokensCommitAndReportEach) {
  store_->insert_access_token(make_access("taken", "app", ""));
  constexpr int kThreads = 4;
  constexpr int kEach = 25;
  std::mutex mutex;
  std::condition_variable reported;
  int ok = 0;
  std::vector<std::string> failed;
  auto done_for = [&](std::string jti) {
    return [&, jti](std::exception_ptr error) {
      std::lock_guard lock(mutex);
      if (error) {
        failed.push_back(jti);
      } else {
        ++ok;
      }
      reported.notify_all();
    };
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const std::string jti = "s" + std::to_string(t) + "-" + std::to_string(i);
        store_->submit_access_token(
            make_access(jti, "app", ""),
            testing::event(0, kNow, "client", "token.issued", "", "app", "{}", ""),
            done_for(jti));
      }
    });
  }
  store_->submit_access_token(
      make_access("taken", "app", ""),
      testing::event(0, kNow, "client", "token.issued", "", "app", "{}", ""), done_for("taken"));
  for (auto& t : threads) t.join();
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(reported.wait_for(lock, std::chrono::seconds(30), [&] {
      return ok + static_cast<int>(failed.size()) == kThreads * kEach + 1;
    }));
    EXPECT_EQ(ok, kThreads * kEach);
    EXPECT_EQ(failed, std::vector<std::string>{"taken"});
  }
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kEach; ++i) {
      EXPECT_TRUE(store_->find_access_token("s" + std::to_string(t) + "-" + std::to_string(i)));
    }
  }
  EXPECT_EQ(store_->audit_size(), kThreads * kEach);
}

// Where storage is forbidden (an I/O thread trying to answer from memory), reads and blocking
// writes throw StorageNotAllowed without touching the back end; handing a token's write to the
// group commit stays allowed, and the scope ends with its block.
TEST_P(StoreTest, StorageForbiddenRefusesReadsAndBlockingWrites) {
  store_->insert_access_token(make_access("before", "app", ""),
                              testing::event(0, kNow, "client", "token.issued", "", "app", "{}", ""));
  const auto audit_before = store_->audit_size();
  std::promise<std::exception_ptr> written;
  {
    const StorageForbidden here;
    EXPECT_TRUE(StorageForbidden::active());
    EXPECT_THROW(store_->find_access_token("before"), StorageNotAllowed);
    EXPECT_THROW(store_->insert_access_token(
                     make_access("refused", "app", ""),
                     testing::event(0, kNow, "client", "token.issued", "", "app", "{}", "")),
                 StorageNotAllowed);
    EXPECT_THROW(store_->append_event(testing::event(0, kNow, "client", "x", "", "app", "{}", "")),
                 StorageNotAllowed);
    store_->submit_access_token(
        make_access("handed-over", "app", ""),
        testing::event(0, kNow, "client", "token.issued", "", "app", "{}", ""),
        [&written](std::exception_ptr error) { written.set_value(error); });
  }
  EXPECT_FALSE(StorageForbidden::active());
  auto done = written.get_future();
  ASSERT_EQ(done.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_FALSE(done.get());
  EXPECT_TRUE(store_->find_access_token("before"));
  EXPECT_TRUE(store_->find_access_token("handed-over"));
  EXPECT_FALSE(store_->find_access_token("refused"));
  EXPECT_EQ(store_->audit_size(), audit_before + 1);
}

// Writes still queued when the store closes are committed before it goes.
TEST_P(StoreTest, SubmittedWritesOutliveTheStore) {
  std::atomic<int> reported{0};
  for (int i = 0; i < 20; ++i) {
    store_->submit_access_token(
        make_access("late-" + std::to_string(i), "app", ""),
        testing::event(0, kNow, "client", "token.issued", "", "app", "{}", ""),
        [&](std::exception_ptr error) {
          if (!error) ++reported;
        });
  }
  reopen();
  EXPECT_EQ(reported.load(), 20);
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(store_->find_access_token("late-" + std::to_string(i)));
}

TEST_P(StoreTest, RefreshTokenCrud) {
  auto token = make_refresh("rt1", "f1", "app", "r1", "g1", "c1");
  token.cnf_x5t = "x5t";
  store_->insert_refresh_token(token);
  EXPECT_THROW(store_->insert_refresh_token(token), StorageError);
  const auto found = store_->find_refresh_token("rt1");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->family_id, "f1");
  EXPECT_EQ(found->resources, token.resources);
  EXPECT_EQ(found->grant_id, "g1");
  EXPECT_EQ(found->code_hash, "c1");
  EXPECT_EQ(found->auth_time, token.auth_time);
  EXPECT_EQ(found->cnf_x5t, "x5t");
  EXPECT_FALSE(found->rotated);
  EXPECT_FALSE(found->revoked);
  EXPECT_TRUE(store_->revoke_refresh_token("rt1"));
  EXPECT_FALSE(store_->revoke_refresh_token("rt-unknown"));
  EXPECT_TRUE(store_->find_refresh_token("rt1")->revoked);
}

TEST_P(StoreTest, RotationThenReuseRevokesTheFamily) {
  store_->insert_refresh_token(make_refresh("rt1", "f1", "app", "r1"));
  store_->insert_access_token(make_access("a1", "app", "r1", "", "f1"));
  store_->insert_refresh_token(make_refresh("x1", "f2", "app", "r1"));
  store_->insert_access_token(make_access("x-access", "app", "r1", "", "f2"));

  const auto first = store_->rotate_refresh_token("rt1", make_refresh("rt2", "f1", "app", "r1"));
  ASSERT_TRUE(first);
  EXPECT_FALSE(first->rotated);
  EXPECT_FALSE(first->revoked);
  EXPECT_TRUE(store_->find_refresh_token("rt1")->rotated);
  const auto successor = store_->find_refresh_token("rt2");
  ASSERT_TRUE(successor);
  EXPECT_FALSE(successor->rotated);
  store_->insert_access_token(make_access("a2", "app", "r1", "", "f1"));

  // rt1 presented again: reuse. Nothing inserted, the whole family is revoked.
  const auto reuse = store_->rotate_refresh_token("rt1", make_refresh("rt3", "f1", "app", "r1"));
  ASSERT_TRUE(reuse);
  EXPECT_TRUE(reuse->rotated);
  EXPECT_FALSE(store_->find_refresh_token("rt3"));
  EXPECT_TRUE(store_->find_refresh_token("rt1")->revoked);
  EXPECT_TRUE(store_->find_refresh_token("rt2")->revoked);
  EXPECT_TRUE(store_->find_access_token("a1")->revoked);
  EXPECT_TRUE(store_->find_access_token("a2")->revoked);
  EXPECT_FALSE(store_->find_refresh_token("x1")->revoked);
  EXPECT_FALSE(store_->find_access_token("x-access")->revoked);

  // The revoked successor cannot be rotated either.
  const auto revoked = store_->rotate_refresh_token("rt2", make_refresh("rt4", "f1", "app", "r1"));
  ASSERT_TRUE(revoked);
  EXPECT_TRUE(revoked->revoked);
  EXPECT_FALSE(revoked->rotated);
  EXPECT_FALSE(store_->find_refresh_token("rt4"));

  EXPECT_FALSE(store_->rotate_refresh_token("unknown", make_refresh("rt5", "f9", "app", "r1")));
  EXPECT_FALSE(store_->find_refresh_token("rt5"));
}

TEST_P(StoreTest, RevokeFamilyLeavesOthersAndIgnoresEmptyFamily) {
  store_->insert_refresh_token(make_refresh("rt1", "f1", "app", "r1"));
  store_->insert_access_token(make_access("a1", "app", "r1", "", "f1"));
  store_->insert_access_token(make_access("cc", "app", ""));
  store_->revoke_family("");
  EXPECT_FALSE(store_->find_access_token("cc")->revoked);
  store_->revoke_family("f1");
  EXPECT_TRUE(store_->find_refresh_token("rt1")->revoked);
  EXPECT_TRUE(store_->find_access_token("a1")->revoked);
  EXPECT_FALSE(store_->find_access_token("cc")->revoked);
}

// --- Replay cache ----------------------------------------------------------------------------

TEST_P(StoreTest, JtiIsRememberedUntilItExpires) {
  EXPECT_TRUE(store_->remember_jti("dpop", "j1", kNow + 60, kNow));
  EXPECT_FALSE(store_->remember_jti("dpop", "j1", kNow + 120, kNow + 10));
  EXPECT_TRUE(store_->remember_jti("client_assertion", "j1", kNow + 60, kNow));
  EXPECT_FALSE(store_->remember_jti("dpop", "j1", kNow + 120, kNow + 59));
  // Expired: seen as new and remembered again with the new expiry.
  EXPECT_TRUE(store_->remember_jti("dpop", "j1", kNow + 200, kNow + 60));
  EXPECT_FALSE(store_->remember_jti("dpop", "j1", kNow + 300, kNow + 199));
}

// --- Signing keys ----------------------------------------------------------------------------

TEST_P(StoreTest, SigningKeysNewestFirstAndRotation) {
  store_->insert_signing_key({"k1", "ES256", "-----BEGIN PRIVATE KEY-----\n1", kNow - 100, 0});
  EXPECT_THROW(store_->insert_signing_key({"k1", "ES256", "x", kNow, 0}), StorageError);
  store_->rotate_signing_key({"k2", "ES256", "-----BEGIN PRIVATE KEY-----\n2", kNow, 0}, kNow);

  const auto keys = store_->list_signing_keys();
  ASSERT_EQ(keys.size(), 2U);
  EXPECT_EQ(keys[0].kid, "k2");
  EXPECT_EQ(keys[0].retired_at, 0);
  EXPECT_EQ(keys[0].private_pem, "-----BEGIN PRIVATE KEY-----\n2");
  EXPECT_EQ(keys[1].kid, "k1");
  EXPECT_EQ(keys[1].retired_at, kNow);
  EXPECT_EQ(keys[1].alg, "ES256");

  // A rotation retires the keys of its own algorithm only.
  store_->rotate_signing_key({"r1", "RS256", "-----BEGIN PRIVATE KEY-----\n3", kNow + 1, 0},
                             kNow + 1);
  store_->rotate_signing_key({"k3", "ES256", "-----BEGIN PRIVATE KEY-----\n4", kNow + 2, 0},
                             kNow + 2);
  std::map<std::string, std::int64_t> retired;
  for (const auto& key : store_->list_signing_keys()) retired[key.kid] = key.retired_at;
  EXPECT_EQ(retired, (std::map<std::string, std::int64_t>{
                         {"k1", kNow}, {"k2", kNow + 2}, {"k3", 0}, {"r1", 0}}));
  store_->rotate_signing_key({"r2", "RS256", "-----BEGIN PRIVATE KEY-----\n5", kNow + 3, 0},
                             kNow + 3);
  retired.clear();
  for (const auto& key : store_->list_signing_keys()) retired[key.kid] = key.retired_at;
  EXPECT_EQ(retired["r1"], kNow + 3);
  EXPECT_EQ(retired["r2"], 0);
  EXPECT_EQ(retired["k3"], 0) << "the ES256 key stays current";
}

// A rotation scheduled ahead: the successor is stored at once with its activates_at, and the
// key it replaces is retired at that moment, not now. A second scheduled rotation of the same
// algorithm that finds one waiting does nothing; one at once ends both.
TEST_P(StoreTest, SigningKeyRotationScheduledAhead) {
  store_->insert_signing_key({"k1", "ES256", "-----BEGIN PRIVATE KEY-----\n1", kNow - 100, 0});
  store_->insert_signing_key({"r1", "RS256", "-----BEGIN PRIVATE KEY-----\n2", kNow - 100, 0});
  EXPECT_TRUE(store_->rotate_signing_key(
      {"k2", "ES256", "-----BEGIN PRIVATE KEY-----\n3", kNow, 0, kNow + 3600}, kNow, true));
  auto state = [&] {
    std::map<std::string, std::pair<std::int64_t, std::int64_t>> out;  // kid: retired, activates
    for (const auto& k : store_->list_signing_keys()) out[k.kid] = {k.retired_at, k.activates_at};
    return out;
  };
  using Times = std::map<std::string, std::pair<std::int64_t, std::int64_t>>;
  EXPECT_EQ(state(), (Times{{"k1", {kNow + 3600, 0}}, {"k2", {0, kNow + 3600}}, {"r1", {0, 0}}}));

  // Another process that finds the successor waiting schedules none (of this algorithm).
  EXPECT_FALSE(store_->rotate_signing_key(
      {"k3", "ES256", "-----BEGIN PRIVATE KEY-----\n4", kNow + 5, 0, kNow + 3605}, kNow + 5,
      true));
  EXPECT_TRUE(store_->rotate_signing_key(
      {"r2", "RS256", "-----BEGIN PRIVATE KEY-----\n5", kNow + 5, 0, kNow + 3605}, kNow + 5,
      true));
  EXPECT_EQ(state().count("k3"), 0U);
  EXPECT_EQ(state().at("r1"), (std::pair<std::int64_t, std::int64_t>{kNow + 3605, 0}));

  // At once (the operator, after a compromise): both ES256 keys stop now, the new one signs.
  EXPECT_TRUE(store_->rotate_signing_key(
      {"k4", "ES256", "-----BEGIN PRIVATE KEY-----\n6", kNow + 10, 0}, kNow + 10));
  const auto after = state();
  EXPECT_EQ(after.at("k1").first, kNow + 10);
  EXPECT_EQ(after.at("k2").first, kNow + 10) << "the waiting successor never signs";
  EXPECT_EQ(after.at("k4"), (std::pair<std::int64_t, std::int64_t>{0, 0}));
  // Nothing is waiting any more: a scheduled rotation goes ahead again.
  EXPECT_TRUE(store_->rotate_signing_key(
      {"k5", "ES256", "-----BEGIN PRIVATE KEY-----\n7", kNow + 20, 0, kNow + 100}, kNow + 20,
      true));
}

// --- Events ----------------------------------------------------------------------------------

TEST_P(StoreTest, EventsGetMonotonicSeqAndPage) {
  std::vector<std::int64_t> seqs;
  for (int i = 0; i < 5; ++i) {
    seqs.push_back(store_->append_event(testing::event(0, kNow + i, "resident", "login.success", "p-123", "app",
                                         R"({"i":)" + std::to_string(i) + "}", "req")));
  }
  for (std::size_t i = 1; i < seqs.size(); ++i) EXPECT_GT(seqs[i], seqs[i - 1]);

  const auto page = store_->list_events(seqs[1], 2);
  ASSERT_EQ(page.size(), 2U);
  EXPECT_EQ(page[0].seq, seqs[2]);
  EXPECT_EQ(page[1].seq, seqs[3]);
  EXPECT_EQ(page[0].time, kNow + 2);
  EXPECT_EQ(page[0].actor, "resident");
  EXPECT_EQ(page[0].action, "login.success");
  EXPECT_EQ(page[0].resident, "p-123");
  EXPECT_EQ(page[0].client_id, "app");
  EXPECT_EQ(page[0].detail, R"({"i":2})");
  EXPECT_EQ(page[0].request_id, "req");
  EXPECT_EQ(store_->list_events(0, 100).size(), 5U);
  EXPECT_TRUE(store_->list_events(seqs[4], 100).empty());
  EXPECT_TRUE(store_->list_events(0, 0).empty());
}

// A resident's entries come from the partial (resident, seq) index, which leaves out entries
// without a resident; the filter must still see exactly theirs, in both orders and by page.
TEST_P(StoreTest, EventsQueriedByResidentAreExactlyTheirs) {
  const char* residents[] = {"p-a", "", "p-b", "p-a", ""};
  for (int i = 0; i < 20; ++i) {
    store_->append_event(testing::event(0, kNow + i, "system", i % 2 == 0 ? "even" : "odd",
                                        residents[i % 5], i % 3 == 0 ? "app" : "other", "{}", ""));
  }
  const auto seqs = [](const std::vector<Event>& events) {
    std::vector<std::int64_t> out;
    for (const auto& e : events) out.push_back(e.seq);
    return out;
  };
  EventQuery q;
  q.resident = "p-a";  // entries 0, 3, 5, 8, 10, 13, 15, 18 (seq = i + 1)
  EXPECT_EQ(seqs(store_->query_events(q)), (std::vector<std::int64_t>{1, 4, 6, 9, 11, 14, 16, 19}));
  q.after_seq = 9;
  q.limit = 2;
  EXPECT_EQ(seqs(store_->query_events(q)), (std::vector<std::int64_t>{11, 14}));
  q.newest_first = true;
  EXPECT_EQ(seqs(store_->query_events(q)), (std::vector<std::int64_t>{19, 16}));
  q = EventQuery{};
  q.resident = "p-a";
  q.action = "odd";
  q.client_id = "app";
  q.from = kNow + 4;
  EXPECT_EQ(seqs(store_->query_events(q)), (std::vector<std::int64_t>{16}));  // i = 15
  q = EventQuery{};
  q.resident = "nobody";
  EXPECT_TRUE(store_->query_events(q).empty());
  q = EventQuery{};
  q.client_id = "app";
  q.until = kNow + 10;
  EXPECT_EQ(seqs(store_->query_events(q)), (std::vector<std::int64_t>{1, 4, 7, 10}));
  q = EventQuery{};
  EXPECT_EQ(store_->query_events(q).size(), 20U);

  // Appends pay for one index: the client and time indexes, which no query used, are gone.
  for (const char* index : {"audit_entries_client", "audit_entries_time"}) {
    EXPECT_FALSE(db_->exec_raw(std::string("DROP INDEX ") + index).empty()) << index;
  }
}

TEST_P(StoreTest, EventsAreAppendOnlyEvenBehindTheStoresBack) {
  store_->append_event(testing::event(0, kNow, "system", "key.rotated", "", "", "{}", ""));
  std::vector<std::string> forgeries = {"UPDATE audit_entries SET action = 'forged'",
                                        "DELETE FROM audit_entries",
                                        "UPDATE audit_tree SET leaf = leaf + 1",
                                        "DELETE FROM audit_tree"};
  if (GetParam() == testing::Backend::postgres) {
    forgeries.emplace_back("TRUNCATE audit_entries");  // fires no row trigger
    forgeries.emplace_back("TRUNCATE audit_tree");
  }
  for (const auto& sql : forgeries) {
    const std::string error = db_->exec_raw(sql);
    EXPECT_NE(error.find("append-only"), std::string::npos) << sql << ": " << error;
  }

  const auto events = store_->list_events(0, 10);
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(events[0].action, "key.rotated");
  EXPECT_EQ(store_->audit_size(), 1);
}

TEST_P(StoreTest, ErrorsCarryTheDatabasesMessageButNoValues) {
  // The error text is the database's, and it names no bound value (PostgreSQL's DETAIL, which
  // quotes the key, is left out).
  try {
    store_->insert_session({"s1-key", "r1", "secret-csrf", kNow, kNow + 1, ""});
    store_->insert_session({"s1-key", "r1", "secret-csrf", kNow, kNow + 1, ""});
    FAIL() << "duplicate session accepted";
  } catch (const StorageError& e) {
    std::string what = e.what();
    EXPECT_EQ(what.find("secret-csrf"), std::string::npos) << what;
    EXPECT_EQ(what.find("s1-key"), std::string::npos) << what;
    std::transform(what.begin(), what.end(), what.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    EXPECT_NE(what.find("unique constraint"), std::string::npos) << what;
  }
}

TEST_P(StoreTest, AuditNodesFollowTheLeaves) {
  const auto hasher = testing::hasher();
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(store_->append_event(testing::event(0, kNow + i, "system", "tick", "", "", "{}", "")),
              i + 1);
  }
  EXPECT_EQ(store_->audit_size(), 7);
  const auto events = store_->list_events(0, 10);
  ASSERT_EQ(events.size(), 7U);
  for (const auto& e : events) {
    EXPECT_EQ(e.leaf_hash.size(), 32U);
    EXPECT_EQ(store_->audit_node(0, e.seq - 1), e.leaf_hash);
  }
  // Level 1 and 2 nodes are the hashes of their children; the incomplete ones are absent.
  EXPECT_EQ(store_->audit_node(1, 0), hasher->node_hash(events[0].leaf_hash, events[1].leaf_hash));
  EXPECT_EQ(store_->audit_node(2, 0),
            hasher->node_hash(*store_->audit_node(1, 0), *store_->audit_node(1, 1)));
  EXPECT_TRUE(store_->audit_node(1, 2));
  EXPECT_FALSE(store_->audit_node(1, 3));
  EXPECT_FALSE(store_->audit_node(2, 1));
  EXPECT_FALSE(store_->audit_node(3, 0));
}

// Node (level, idx) lives in leaf (idx + 1) * 2^level - 1's row at 32 * level; nodes no leaf
// index can make have no place.
TEST(AuditNodeAt, IsTheLeafThatMadeTheNodeAndItsLevelsOffset) {
  static_assert(audit_node_at(0, 5)->leaf == 5 && audit_node_at(0, 5)->offset == 0);
  EXPECT_EQ(audit_node_at(2, 1)->leaf, 7);
  EXPECT_EQ(audit_node_at(2, 1)->offset, 64);
  EXPECT_EQ(audit_node_at(40, 0)->leaf, (std::int64_t{1} << 40) - 1);
  EXPECT_EQ(audit_node_at(62, 0)->leaf, (std::int64_t{1} << 62) - 1);
  EXPECT_FALSE(audit_node_at(62, 1));  // (idx + 1) * 2^62 = 2^63: past int64
  EXPECT_FALSE(audit_node_at(63, 0));
  EXPECT_FALSE(audit_node_at(0, -1));
  EXPECT_TRUE(audit_node_at(0, std::numeric_limits<std::int64_t>::max() - 1));
  EXPECT_FALSE(audit_node_at(0, std::numeric_limits<std::int64_t>::max()));
}

// Migration 23: a client stored before it keeps ES256, the only algorithm there was, for its
// ID tokens, signed introspection answers and JARM responses.
TEST_P(StoreTest, ClientsStoredBeforeSchema23KeepES256) {
  ClientRecord client;
  client.client_id = "old";
  client.client_name = "Old";
  client.id_token_signed_response_alg = "RS256";
  ASSERT_TRUE(store_->insert_client(client));
  store_.reset();
  const bool pg = GetParam() == testing::Backend::postgres;
  ASSERT_EQ(db_->exec_raw(std::string("ALTER TABLE clients DROP COLUMN id_token_signed_response_alg;"
                                      "ALTER TABLE clients DROP COLUMN "
                                      "introspection_signed_response_alg;"
                                      "ALTER TABLE clients DROP COLUMN "
                                      "authorization_signed_response_alg;"
                                      "ALTER TABLE signing_keys DROP COLUMN activates_at;") +
                          (pg ? "DELETE FROM schema_migrations WHERE version > 22;"
                              : "PRAGMA user_version = 22;")),
            "");
  auto store = db_->open();
  EXPECT_EQ(store->migrate(), testing::kSchemaVersion);
  const auto found = store->find_client("old");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->id_token_signed_response_alg, "ES256");
  EXPECT_EQ(found->introspection_signed_response_alg, "ES256");
  EXPECT_EQ(found->authorization_signed_response_alg, "ES256");
}

// A database whose Merkle nodes were stored by version 6 (keyed by level and idx) is migrated
// to today's layout (migration 7 keyed them by append order, migration 8 stores one row per
// leaf): the same nodes are found, the size is the same, and appends go on
// from its frontier (which they read back). 70 leaves make nodes up to level 6, and complete
// subtrees of every size from 1 to 64.
TEST_P(StoreTest, MigratedTreesKeepTheirNodesAndAppendsGoOn) {
  constexpr std::int64_t kLeaves = 70;
  for (std::int64_t i = 0; i < kLeaves; ++i) {
    store_->append_event(testing::event(0, kNow + i, "system", "tick", "", "", "{}", ""));
  }
  std::vector<std::pair<std::pair<unsigned, std::int64_t>, std::string>> nodes;
  for (unsigned level = 0; (std::int64_t{1} << level) <= kLeaves; ++level) {
    for (std::int64_t idx = 0; ((idx + 1) << level) <= kLeaves; ++idx) {
      auto hash = store_->audit_node(level, idx);
      ASSERT_TRUE(hash) << level << " " << idx;
      nodes.push_back({{level, idx}, *hash});
    }
  }
  ASSERT_EQ(nodes.size(), 70U + 35U + 17U + 8U + 4U + 2U + 1U);
  const auto entries = store_->list_events(0, 100);
  store_.reset();

  // Back to version 6's table, as a database written before migration 7 has it.
  const bool pg = GetParam() == testing::Backend::postgres;
  const std::string downgrade =
      pg ? "CREATE TABLE audit_nodes (level BIGINT NOT NULL, idx BIGINT NOT NULL, hash BYTEA NOT NULL,"
           " PRIMARY KEY (level, idx));"
           "INSERT INTO audit_nodes SELECT l, ((leaf + 1) >> l) - 1,"
           " substring(hashes FROM 32 * l + 1 FOR 32)"
           " FROM audit_tree, generate_series(0, octet_length(hashes) / 32 - 1) AS l;"
           "DROP TABLE audit_tree;"
           "CREATE TRIGGER audit_nodes_append_only BEFORE UPDATE OR DELETE ON audit_nodes"
           " FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();"
           "ALTER TABLE audit_entries ADD COLUMN leaf_hash BYTEA NOT NULL DEFAULT ''::bytea;"
           "DROP INDEX grants_ending;"
           "ALTER TABLE pending DROP COLUMN ui_locales; ALTER TABLE pending DROP COLUMN login_hint;"
           "ALTER TABLE transfer_datasets DROP COLUMN not_read;"
           "ALTER TABLE clients DROP COLUMN post_logout_redirect_uris;"
           "ALTER TABLE pending DROP COLUMN subject_hint;"
           "ALTER TABLE clients DROP COLUMN subject_type;"
           "ALTER TABLE clients DROP COLUMN backchannel_logout_uri;"
           "ALTER TABLE clients DROP COLUMN backchannel_logout_session_required;"
           "ALTER TABLE clients DROP COLUMN require_signed_request_object;"
           "ALTER TABLE clients DROP COLUMN frontchannel_logout_uri;"
           "ALTER TABLE clients DROP COLUMN frontchannel_logout_session_required;"
           + testing::kDropColumnsSince18 +
           "DROP INDEX contracts_one_active;"
           "ALTER TABLE sessions DROP COLUMN sid; ALTER TABLE codes DROP COLUMN sid;"
           "DROP TABLE session_clients; DROP TABLE logout_deliveries;"
           "DELETE FROM schema_migrations"
           " WHERE version > 6;"
         : "CREATE TABLE audit_nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash TEXT NOT NULL,"
           " PRIMARY KEY (level, idx)) STRICT, WITHOUT ROWID;"
           "WITH RECURSIVE up(leaf, level, hashes) AS ("
           "  SELECT leaf, 0, hashes FROM audit_tree"
           "  UNION ALL SELECT leaf, level + 1, hashes FROM up WHERE length(hashes) > 32 * (level + 1))"
           "INSERT INTO audit_nodes SELECT level, ((leaf + 1) >> level) - 1,"
           " lower(hex(substr(hashes, 32 * level + 1, 32))) FROM up;"
           "DROP TRIGGER audit_tree_no_update; DROP TRIGGER audit_tree_no_delete;"
           "DROP TABLE audit_tree;"
           "CREATE TRIGGER audit_nodes_no_update BEFORE UPDATE ON audit_nodes"
           " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
           "CREATE TRIGGER audit_nodes_no_delete BEFORE DELETE ON audit_nodes"
           " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
           "ALTER TABLE audit_entries ADD COLUMN leaf_hash TEXT NOT NULL DEFAULT '';"
           "DROP INDEX grants_ending;"
           "ALTER TABLE pending DROP COLUMN ui_locales; ALTER TABLE pending DROP COLUMN login_hint;"
           "ALTER TABLE transfer_datasets DROP COLUMN not_read;"
           "ALTER TABLE clients DROP COLUMN post_logout_redirect_uris;"
           "ALTER TABLE pending DROP COLUMN subject_hint;"
           "ALTER TABLE clients DROP COLUMN subject_type;"
           "ALTER TABLE clients DROP COLUMN backchannel_logout_uri;"
           "ALTER TABLE clients DROP COLUMN backchannel_logout_session_required;"
           "ALTER TABLE clients DROP COLUMN require_signed_request_object;"
           "ALTER TABLE clients DROP COLUMN frontchannel_logout_uri;"
           "ALTER TABLE clients DROP COLUMN frontchannel_logout_session_required;"
           + testing::kDropColumnsSince18 +
           "DROP INDEX contracts_one_active;"
           "ALTER TABLE sessions DROP COLUMN sid; ALTER TABLE codes DROP COLUMN sid;"
           "DROP TABLE session_clients; DROP TABLE logout_deliveries;"
           "PRAGMA user_version = 6;";
  ASSERT_EQ(db_->exec_raw(downgrade), "");
  auto store = db_->open();
  EXPECT_EQ(store->migrate(), testing::kSchemaVersion);
  EXPECT_EQ(store->audit_size(), kLeaves);
  const auto migrated = store->list_events(0, 100);
  ASSERT_EQ(migrated.size(), entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(migrated[i].seq, entries[i].seq);
    EXPECT_EQ(migrated[i].time, entries[i].time);
    EXPECT_EQ(migrated[i].action, entries[i].action);
    EXPECT_EQ(migrated[i].leaf_hash, entries[i].leaf_hash) << entries[i].seq;
    EXPECT_EQ(migrated[i].leaf_hash.size(), 32U);
  }
  for (const auto& [at, hash] : nodes) {
    EXPECT_EQ(store->audit_node(at.first, at.second), hash) << at.first << " " << at.second;
  }
  EXPECT_FALSE(store->audit_node(0, kLeaves));
  EXPECT_FALSE(store->audit_node(1, kLeaves / 2));
  EXPECT_FALSE(store->audit_node(6, 1));
  EXPECT_FALSE(store->audit_node(7, 0));
  for (std::int64_t i = kLeaves; i < 128; ++i) {
    EXPECT_EQ(store->append_event(testing::event(0, kNow + i, "system", "tick", "", "", "{}", "")),
              i + 1);
  }
  EXPECT_EQ(store->audit_size(), 128);
  const auto hasher = testing::hasher();
  EXPECT_EQ(store->audit_node(7, 0),
            hasher->node_hash(*store->audit_node(6, 0), *store->audit_node(6, 1)));
  EXPECT_EQ(store->audit_node(6, 1),
            hasher->node_hash(*store->audit_node(5, 2), *store->audit_node(5, 3)));
  EXPECT_NE(db_->exec_raw("DELETE FROM audit_tree"), "") << "the migrated table is append-only";
}

// Migration 8 carries a damaged tree over as it is: a leaf whose own node is missing is no
// leaf of the tree (an entry added behind the log's back), and a missing higher node stays
// missing, with the nodes above it, while the nodes below it are kept.
TEST_P(StoreTest, MigrationEightCarriesMissingNodesOverAsMissing) {
  store_.reset();
  // Version 7's table with a tree of 4 leaves (a..e) whose node (1, 1) is gone, and a fifth
  // leaf whose own node never was, only a node above it (f at level 2).
  const bool pg = GetParam() == testing::Backend::postgres;
  auto hash = [pg](char c) {
    const std::string hex(64, c);
    return pg ? "decode('" + hex + "', 'hex')" : "'" + hex + "'";
  };
  const std::string rows = "(0, 0, 0, " + hash('a') + "), (1, 0, 1, " + hash('b') + "), (2, 1, 0, " +
                           hash('c') + "), (3, 0, 2, " + hash('d') + "), (4, 0, 3, " + hash('e') +
                           "), (9, 2, 1, " + hash('f') + ")";
  const std::string downgrade =
      pg ? "DROP TABLE audit_tree;"
           "CREATE TABLE audit_nodes (pos BIGINT PRIMARY KEY, level BIGINT NOT NULL,"
           " idx BIGINT NOT NULL, hash BYTEA NOT NULL);"
           "INSERT INTO audit_nodes VALUES " + rows + ";"
           "CREATE TRIGGER audit_nodes_append_only BEFORE UPDATE OR DELETE ON audit_nodes"
           " FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();"
           "ALTER TABLE audit_entries ADD COLUMN leaf_hash BYTEA NOT NULL DEFAULT ''::bytea;"
           "DROP INDEX grants_ending;"
           "ALTER TABLE pending DROP COLUMN ui_locales; ALTER TABLE pending DROP COLUMN login_hint;"
           "ALTER TABLE transfer_datasets DROP COLUMN not_read;"
           "ALTER TABLE clients DROP COLUMN post_logout_redirect_uris;"
           "ALTER TABLE pending DROP COLUMN subject_hint;"
           "ALTER TABLE clients DROP COLUMN subject_type;"
           "ALTER TABLE clients DROP COLUMN backchannel_logout_uri;"
           "ALTER TABLE clients DROP COLUMN backchannel_logout_session_required;"
           "ALTER TABLE clients DROP COLUMN require_signed_request_object;"
           "ALTER TABLE clients DROP COLUMN frontchannel_logout_uri;"
           "ALTER TABLE clients DROP COLUMN frontchannel_logout_session_required;"
           + testing::kDropColumnsSince18 +
           "DROP INDEX contracts_one_active;"
           "ALTER TABLE sessions DROP COLUMN sid; ALTER TABLE codes DROP COLUMN sid;"
           "DROP TABLE session_clients; DROP TABLE logout_deliveries;"
           "DELETE FROM schema_migrations"
           " WHERE version > 7;"
         : "DROP TRIGGER audit_tree_no_update; DROP TRIGGER audit_tree_no_delete;"
           "DROP TABLE audit_tree;"
           "CREATE TABLE audit_nodes (pos INTEGER PRIMARY KEY, level INTEGER NOT NULL,"
           " idx INTEGER NOT NULL, hash TEXT NOT NULL) STRICT;"
           "INSERT INTO audit_nodes VALUES " + rows + ";"
           "CREATE TRIGGER audit_nodes_no_update BEFORE UPDATE ON audit_nodes"
           " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
           "CREATE TRIGGER audit_nodes_no_delete BEFORE DELETE ON audit_nodes"
           " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
           "DROP INDEX grants_ending;"
           "ALTER TABLE pending DROP COLUMN ui_locales; ALTER TABLE pending DROP COLUMN login_hint;"
           "ALTER TABLE transfer_datasets DROP COLUMN not_read;"
           "ALTER TABLE clients DROP COLUMN post_logout_redirect_uris;"
           "ALTER TABLE pending DROP COLUMN subject_hint;"
           "ALTER TABLE clients DROP COLUMN subject_type;"
           "ALTER TABLE clients DROP COLUMN backchannel_logout_uri;"
           "ALTER TABLE clients DROP COLUMN backchannel_logout_session_required;"
           "ALTER TABLE clients DROP COLUMN require_signed_request_object;"
           "ALTER TABLE clients DROP COLUMN frontchannel_logout_uri;"
           "ALTER TABLE clients DROP COLUMN frontchannel_logout_session_required;"
           + testing::kDropColumnsSince18 +
           "DROP INDEX contracts_one_active;"
           "ALTER TABLE sessions DROP COLUMN sid; ALTER TABLE codes DROP COLUMN sid;"
           "DROP TABLE session_clients; DROP TABLE logout_deliveries;"
           "PRAGMA user_version = 7;";
  ASSERT_EQ(db_->exec_raw(downgrade), "");

  auto store = db_->open();
  EXPECT_EQ(store->migrate(), testing::kSchemaVersion);
  EXPECT_EQ(store->audit_size(), 4);
  EXPECT_EQ(store->audit_node(0, 0), std::string(32, static_cast<char>(0xaa)));
  EXPECT_EQ(store->audit_node(0, 1), std::string(32, static_cast<char>(0xbb)));
  EXPECT_EQ(store->audit_node(1, 0), std::string(32, static_cast<char>(0xcc)));
  EXPECT_EQ(store->audit_node(0, 3), std::string(32, static_cast<char>(0xee)));
  EXPECT_FALSE(store->audit_node(1, 1));
  EXPECT_FALSE(store->audit_node(2, 0));
  EXPECT_FALSE(store->audit_node(2, 1));
  EXPECT_FALSE(store->audit_node(0, 4));
}

// --- Housekeeping and persistence ------------------------------------------------------------

TEST_P(StoreTest, PurgeExpiredDeletesOnlyWhatExpired) {
  auto old_code = make_code("c-old", "app", "r1");
  old_code.expires_at = kNow;
  store_->insert_code(old_code);
  store_->insert_code(make_code("c-new", "app", "r1"));
  PendingAuthorization pending;
  pending.handle = "p-old";
  pending.expires_at = kNow;
  store_->insert_pending(pending);
  pending.handle = "p-new";
  pending.expires_at = kNow + 60;
  store_->insert_pending(pending);
  store_->insert_session({"s-old", "r1", "c", kNow - 100, kNow, ""});
  store_->insert_session({"s-new", "r1", "c", kNow - 100, kNow + 100, "sid-new"});
  auto told = make_client("told");
  told.backchannel_logout_uri = "https://told.example/logout";
  ASSERT_TRUE(store_->insert_client(told));
  store_->add_session_client({"sid-new", "told", "r1", kNow});  // its end has come
  store_->remember_jti("dpop", "j-old", kNow, kNow - 60);
  store_->remember_jti("dpop", "j-new", kNow + 60, kNow - 60);
  auto long_expired = make_access("a-long", "app", "r1");
  long_expired.expires_at = kNow - 86400;
  store_->insert_access_token(long_expired);
  auto recently_expired = make_access("a-recent", "app", "r1");
  recently_expired.expires_at = kNow - 10;
  store_->insert_access_token(recently_expired);
  auto refresh_long = make_refresh("rt-long", "f1", "app", "r1");
  refresh_long.expires_at = kNow - 86400;
  store_->insert_refresh_token(refresh_long);
  store_->insert_refresh_token(make_refresh("rt-live", "f2", "app", "r1"));

  store_->purge_expired(kNow);

  EXPECT_FALSE(store_->consume_code("c-old"));
  EXPECT_TRUE(store_->consume_code("c-new"));
  EXPECT_FALSE(store_->take_pending("p-old", kNow - 1));
  EXPECT_TRUE(store_->find_pending("p-new", kNow));
  EXPECT_FALSE(store_->find_session("s-old", kNow - 1));
  EXPECT_TRUE(store_->find_session("s-new", kNow));
  EXPECT_TRUE(store_->remember_jti("dpop", "j-old", kNow + 60, kNow - 60));  // forgotten
  EXPECT_FALSE(store_->remember_jti("dpop", "j-new", kNow + 60, kNow - 60));
  EXPECT_FALSE(store_->find_access_token("a-long"));
  EXPECT_TRUE(store_->find_access_token("a-recent"));
  EXPECT_FALSE(store_->find_refresh_token("rt-long"));
  EXPECT_TRUE(store_->find_refresh_token("rt-live"));
  EXPECT_EQ(store_->end_session("s-new", kNow), 0);  // the session's client row was purged
}

// A purge larger than one batch (kPurgeBatch rows per transaction) goes on until nothing
// expired is left, in every table, the one without a rowid (seen_jtis) too.
TEST_P(StoreTest, PurgeExpiredGoesOnPastOneBatch) {
  const bool pg = GetParam() == testing::Backend::postgres;
  const std::int64_t rows = 2 * kPurgeBatch + 5;
  const std::string n = std::to_string(rows);
  const std::string old = std::to_string(kNow - 2 * 86400);
  const std::string sql =
      pg ? "INSERT INTO access_tokens SELECT 'x' || i, 'h' || i, 'app', 'r1', '', 'aud', '', '', "
           "'', '', " + old + ", " + old + ", false, '' FROM generate_series(1, " + n + ") AS i;"
           "INSERT INTO seen_jtis SELECT 'dpop', 'j' || i, " + old +
           " FROM generate_series(1, " + n + ") AS i;"
         : "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < " + n +
           ") INSERT INTO access_tokens SELECT 'x' || i, 'h' || i, 'app', 'r1', '', 'aud', '', "
           "'', '', '', " + old + ", " + old + ", 0, '' FROM k;"
           "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < " + n +
           ") INSERT INTO seen_jtis SELECT 'dpop', 'j' || i, " + old + " FROM k;";
  ASSERT_EQ(db_->exec_raw(sql), "");
  store_->insert_access_token(make_access("a-live", "app", "r1"));
  store_->remember_jti("dpop", "j-live", kNow + 60, kNow);
  ASSERT_TRUE(store_->find_access_token("x" + n));

  store_->purge_expired(kNow);

  for (const std::string i : {"1", "2000", "2001", "4000", "4001", "4005"}) {
    EXPECT_FALSE(store_->find_access_token("x" + i)) << i;
    EXPECT_TRUE(store_->remember_jti("dpop", "j" + i, kNow + 60, kNow)) << "forgotten: " << i;
  }
  EXPECT_TRUE(store_->find_access_token("a-live"));
  EXPECT_FALSE(store_->remember_jti("dpop", "j-live", kNow + 60, kNow));
}

TEST_P(StoreTest, DataSurvivesReopen) {
  ASSERT_TRUE(store_->insert_client(make_client("app")));
  ASSERT_TRUE(store_->insert_resident(make_resident("r1", "ada")));
  store_->insert_code(make_code("c1", "app", "r1"));
  ASSERT_TRUE(store_->consume_code("c1"));
  const auto seq = store_->append_event(testing::event(0, kNow, "system", "boot", "", "", "{}", ""));
  const int version = store_->schema_version();

  reopen();
  EXPECT_EQ(store_->schema_version(), version);
  const auto client = store_->find_client("app");
  ASSERT_TRUE(client);
  EXPECT_EQ(client->redirect_uris, make_client("app").redirect_uris);
  EXPECT_TRUE(store_->find_resident_by_username("ada"));
  const auto code = store_->consume_code("c1");
  ASSERT_TRUE(code);
  EXPECT_TRUE(code->used);  // RFC 9700 §4.5: still one-time after a restart
  EXPECT_GT(store_->append_event(testing::event(0, kNow, "system", "boot", "", "", "{}", "")), seq);
}

}  // namespace
}  // namespace storage
