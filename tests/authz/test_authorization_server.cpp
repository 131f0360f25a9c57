// The authorization server's rules, on a real SQLite file with an injected clock and random
// source (no HTTP).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <set>
#include <span>
#include <tuple>
#include <utility>
#include <boost/url.hpp>
#include <nlohmann/json.hpp>

#include "authz/base64url.hpp"
#include "authz/jws.hpp"
#include "authz/oauth.hpp"
#include "jose_test_helpers.hpp"
#include "server_test_base.hpp"

namespace authz {
namespace {

constexpr std::string_view kIssuer = "https://bank.test";
constexpr std::string_view kRedirect = "https://rp.test/cb";
using testing::kChallenge;
using testing::kVerifier;
using testing::P;

class AuthorizationServerTest : public testing::ServerTestBase {
 protected:
  // Writes to the database file behind the server's back, as someone with access to it could.
  void sql(const std::string& statement) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(dir_.file("t.db").c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    const int rc = sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &error);
    std::string message = error != nullptr ? error : "";
    sqlite3_free(error);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << message;
  }

  void SetUp() override {
    store_->migrate();
    Settings s;
    s.issuer = kIssuer;
    s.initial_access_token = "initial-token-for-tests-000000000000";
    server_ = std::make_unique<AuthorizationServer>(s, *store_, clock_, random_, sealer_);
    server_->keys().ensure_key();

    storage::ClientRecord web;
    web.client_id = "web";
    web.client_name = "Web RP";
    web.token_endpoint_auth_method = "client_secret_basic";
    web.redirect_uris = {std::string(kRedirect)};
    web.grant_types = {"authorization_code", "refresh_token"};
    web.scope = "openid profile email offline_access portability.export";
    web.post_logout_redirect_uris = {"https://rp.test/bye"};
    secret_ = server_->create_client(web)->client_secret;

    storage::ClientRecord pub;
    pub.client_id = "spa";
    pub.client_name = "SPA";
    pub.token_endpoint_auth_method = "none";
    pub.redirect_uris = {"http://127.0.0.1:9999/cb"};
    pub.grant_types = {"authorization_code", "refresh_token"};
    ASSERT_TRUE(server_->create_client(pub));

    storage::ResidentRecord r;
    r.id = "resident-1";
    r.username = "hanako";
    r.password_hash = hash_password("correct horse battery");
    r.name = "Hanako";
    ASSERT_TRUE(server_->insert_resident(r));
  }

  Params authorize_params(std::string_view extra_key = {}, std::string_view extra_value = {}) {
    Params p = P({{"response_type", "code"},
              {"client_id", "web"},
              {"redirect_uri", std::string(kRedirect)},
              {"scope", "openid profile offline_access"},
              {"state", "xyz"},
              {"nonce", "n-0S6"},
              {"code_challenge", std::string(kChallenge)},
              {"code_challenge_method", "S256"}});
    if (!extra_key.empty()) p.add(std::string(extra_key), std::string(extra_value));
    return p;
  }

  storage::LoginSession sign_in() {
    auto out = server_->login("hanako", "correct horse battery", "127.0.0.1");
    EXPECT_EQ(out.kind, LoginOutcome::Kind::ok);
    return out.session;
  }

  std::string code_from(const std::string& location) {
    auto pos = location.find("code=");
    EXPECT_NE(pos, std::string::npos) << location;
    auto end = location.find('&', pos);
    return location.substr(pos + 5, end == std::string::npos ? std::string::npos : end - pos - 5);
  }

  std::string obtain_code(const Params& params = {}) {
    auto r = server_->authorize(params.items().empty() ? authorize_params() : params);
    EXPECT_EQ(r.kind, AuthorizeResult::Kind::proceed) << r.error.description;
    auto session = sign_in();
    auto pending = server_->take_pending(r.pending.handle);
    EXPECT_TRUE(pending);
    return code_from(server_->approve(*pending, session).location);
  }

  RequestFacts basic_facts(std::string_view id = "web", std::string secret = {}) {
    RequestFacts f;
    f.method = "POST";
    f.url = std::string(kIssuer) + "/token";
    f.authorization = "Basic " + base64_encode(std::string(id) + ":" + (secret.empty() ? secret_ : secret));
    return f;
  }

  // Registers client "svc" (private_key_jwt, client_credentials, key id "k1") and returns
  // its signing key.
  SigningKey add_key_client(const std::string& scope) {
    auto key = SigningKey::generate_es256();
    auto jwk = nlohmann::json::parse(key.public_key().to_jwk_json());
    jwk["kid"] = "k1";
    storage::ClientRecord svc;
    svc.client_id = "svc";
    svc.token_endpoint_auth_method = "private_key_jwt";
    svc.grant_types = {"client_credentials"};
    svc.scope = scope;
    svc.jwks = nlohmann::json{{"keys", {jwk}}}.dump();
    EXPECT_TRUE(server_->create_client(svc));
    return key;
  }

  Answer redeem(const std::string& code, std::string_view verifier = kVerifier) {
    return server_->token(P({{"grant_type", "authorization_code"},
                                  {"code", code},
                                  {"redirect_uri", std::string(kRedirect)},
                                  {"code_verifier", std::string(verifier)}}),
                          basic_facts());
  }

  std::unique_ptr<AuthorizationServer> server_;
  std::string secret_;
};

TEST_F(AuthorizationServerTest, MetadataAdvertisesWhatIsEnforced) {
  auto m = nlohmann::json::parse(server_->metadata_json(true));
  EXPECT_EQ(m["issuer"], kIssuer);
  EXPECT_EQ(m["code_challenge_methods_supported"], nlohmann::json::array({"S256"}));
  EXPECT_EQ(m["response_types_supported"], nlohmann::json::array({"code"}));
  EXPECT_TRUE(m["authorization_response_iss_parameter_supported"].get<bool>());
  EXPECT_EQ(m["authorization_details_types_supported"].size(), 2u);
  EXPECT_TRUE(m.contains("dpop_signing_alg_values_supported"));
  EXPECT_EQ(m["registration_endpoint"], std::string(kIssuer) + "/register");
  EXPECT_EQ(m["end_session_endpoint"], std::string(kIssuer) + "/logout");
  EXPECT_EQ(m["subject_types_supported"], nlohmann::json::array({"public", "pairwise"}));
  // Every claim the ID token or userinfo can carry is named.
  for (const char* claim :
       {"at_hash", "auth_time", "amr", "nonce", "name", "preferred_username", "email"})
    EXPECT_NE(std::ranges::find(m["claims_supported"], claim), m["claims_supported"].end()) << claim;
}

TEST_F(AuthorizationServerTest, CodeFlowIssuesJwtAccessTokenIdTokenAndRefresh) {
  auto answer = redeem(obtain_code());
  ASSERT_TRUE(answer) << answer.error().error.description;
  auto body = nlohmann::json::parse(answer->body);
  EXPECT_EQ(body["token_type"], "Bearer");
  EXPECT_TRUE(body.contains("refresh_token"));
  auto at = jws_parse(body["access_token"].get<std::string>());
  ASSERT_TRUE(at);
  EXPECT_EQ(at->typ, "at+jwt");
  EXPECT_EQ(at->alg, "ES256");
  auto key = server_->keys().find(at->kid);
  ASSERT_TRUE(key);
  EXPECT_TRUE(jws_verify(*at, *key));
  auto claims = nlohmann::json::parse(at->payload);
  EXPECT_EQ(claims["iss"], kIssuer);
  EXPECT_EQ(claims["sub"], "resident-1");
  EXPECT_EQ(claims["client_id"], "web");
  EXPECT_EQ(claims["exp"].get<std::int64_t>() - claims["iat"].get<std::int64_t>(), 600);
  auto id = jws_parse(body["id_token"].get<std::string>());
  ASSERT_TRUE(id);
  auto id_claims = nlohmann::json::parse(id->payload);
  EXPECT_EQ(id_claims["aud"], "web");
  EXPECT_EQ(id_claims["nonce"], "n-0S6");
  EXPECT_EQ(id_claims["amr"], nlohmann::json::array({"pwd"})) << "RFC 8176: signed in with a password";
}

// RFC 9110 §11.1: the authentication scheme is case-insensitive.
TEST_F(AuthorizationServerTest, TheBasicSchemeIsCaseInsensitive) {
  const auto code = obtain_code();
  auto facts = basic_facts();
  facts.authorization = "BASIC " + facts.authorization->substr(6);
  auto answer = server_->token(P({{"grant_type", "authorization_code"},
                                  {"code", code},
                                  {"redirect_uri", std::string(kRedirect)},
                                  {"code_verifier", std::string(kVerifier)}}),
                               facts);
  ASSERT_TRUE(answer) << answer.error().error.description;
  facts.authorization = "BASIC " + base64_encode("web:wrong");
  const auto refused = server_->token(P({{"grant_type", "refresh_token"}, {"refresh_token", "x"}}), facts);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().error.error, "invalid_client");
}

TEST_F(AuthorizationServerTest, PkceIsRequiredAndPlainRefused) {
  Params no_pkce = P({{"response_type", "code"}, {"client_id", "web"},
                  {"redirect_uri", std::string(kRedirect)}, {"scope", "openid"}, {"state", "s"}});
  auto r = server_->authorize(no_pkce);
  EXPECT_EQ(r.kind, AuthorizeResult::Kind::redirect_error);
  EXPECT_EQ(r.error.error, "invalid_request");
  EXPECT_EQ(r.state, "s");

  auto plain = authorize_params();
  Params p;
  for (const auto& [k, v] : plain.items()) {
    p.add(k, k == "code_challenge_method" ? "plain" : v);
  }
  EXPECT_EQ(server_->authorize(p).kind, AuthorizeResult::Kind::redirect_error);
}

TEST_F(AuthorizationServerTest, WrongOrMissingVerifierIsRefused) {
  auto code = obtain_code();
  auto missing = redeem(code, "");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().error.error, "invalid_request");
  auto wrong = redeem(obtain_code(), "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().error.error, "invalid_grant");
}

TEST_F(AuthorizationServerTest, RedirectUriMustMatchExactlyAndIsNeverRedirectedTo) {
  for (std::string bad : {"https://rp.test/cb/", "https://rp.test/cbx", "https://rp.test:443/cb",
                          "https://rp.test/cb/../cb", "https://rp.test/cb#f", "https://rp.test.evil/cb",
                          "https://RP.test/cb", "https://rp.test/cb?x=1"}) {
    Params base = authorize_params();
    Params p;
    for (const auto& [k, v] : base.items()) p.add(k, k == "redirect_uri" ? bad : v);
    auto r = server_->authorize(p);
    EXPECT_EQ(r.kind, AuthorizeResult::Kind::show_error) << bad;
  }
}

TEST_F(AuthorizationServerTest, UnknownClientIsShownNotRedirected) {
  Params base = authorize_params();
  Params p;
  for (const auto& [k, v] : base.items()) p.add(k, k == "client_id" ? "nobody" : v);
  auto r = server_->authorize(p);
  EXPECT_EQ(r.kind, AuthorizeResult::Kind::show_error);
  EXPECT_EQ(r.error.error, "invalid_client");
}

TEST_F(AuthorizationServerTest, ReplayedCodeRevokesTokensIssuedFromIt) {
  auto code = obtain_code();
  auto first = redeem(code);
  ASSERT_TRUE(first);
  auto body = nlohmann::json::parse(first->body);
  auto second = redeem(code);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().error.error, "invalid_grant");
  RequestFacts f = basic_facts();
  auto intro = server_->introspect(P({{"token", body["access_token"].get<std::string>()}}), f);
  ASSERT_TRUE(intro);
  EXPECT_FALSE(nlohmann::json::parse(intro->body)["active"].get<bool>());
  auto refresh = server_->token(P({{"grant_type", "refresh_token"},
                                        {"refresh_token", body["refresh_token"].get<std::string>()}}),
                                f);
  EXPECT_FALSE(refresh);
}

TEST_F(AuthorizationServerTest, ExpiredCodeIsRefused) {
  auto code = obtain_code();
  clock_.advance(61);
  auto r = redeem(code);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().error.error, "invalid_grant");
}

TEST_F(AuthorizationServerTest, RefreshRotatesAndReuseRevokesTheFamily) {
  auto body = nlohmann::json::parse(redeem(obtain_code())->body);
  auto rt1 = body["refresh_token"].get<std::string>();
  auto f = basic_facts();
  auto second = server_->token(P({{"grant_type", "refresh_token"}, {"refresh_token", rt1}}), f);
  ASSERT_TRUE(second);
  auto rt2 = nlohmann::json::parse(second->body)["refresh_token"].get<std::string>();
  EXPECT_NE(rt1, rt2);
  auto reuse = server_->token(P({{"grant_type", "refresh_token"}, {"refresh_token", rt1}}), f);
  ASSERT_FALSE(reuse);
  EXPECT_EQ(reuse.error().error.error, "invalid_grant");
  auto after = server_->token(P({{"grant_type", "refresh_token"}, {"refresh_token", rt2}}), f);
  EXPECT_FALSE(after) << "the successor must be revoked with the family";
}

TEST_F(AuthorizationServerTest, RefreshScopeMayOnlyShrink) {
  auto body = nlohmann::json::parse(redeem(obtain_code())->body);
  auto f = basic_facts();
  auto wider = server_->token(P({{"grant_type", "refresh_token"},
                                      {"refresh_token", body["refresh_token"].get<std::string>()},
                                      {"scope", "openid portability.export"}}),
                              f);
  ASSERT_FALSE(wider);
  EXPECT_EQ(wider.error().error.error, "invalid_scope");
}

TEST_F(AuthorizationServerTest, ClientAuthenticationFailuresAreInvalidClient) {
  auto code = obtain_code();
  auto wrong = server_->token(P({{"grant_type", "authorization_code"}, {"code", code},
                                      {"redirect_uri", std::string(kRedirect)},
                                      {"code_verifier", std::string(kVerifier)}}),
                              basic_facts("web", "not-the-secret"));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().error.error, "invalid_client");
  EXPECT_EQ(wrong.error().auth_scheme, "Basic");
  // The failed attempt changed nothing: the code still works.
  EXPECT_TRUE(redeem(code));
  // Two methods at once.
  RequestFacts f = basic_facts();
  auto both = server_->token(P({{"grant_type", "client_credentials"}, {"client_secret", secret_},
                                     {"client_id", "web"}}),
                             f);
  ASSERT_FALSE(both);
  EXPECT_EQ(both.error().error.error, "invalid_request");
}

// With `deferred`, a client_credentials token's row and audit entry are left to the caller:
// nothing is stored until it writes them, and what it writes is the token that was answered.
TEST_F(AuthorizationServerTest, ClientCredentialsTokenWriteCanBeDeferred) {
  auto key = add_key_client("audit.read");
  RequestFacts f;
  f.method = "POST";
  f.url = std::string(kIssuer) + "/token";
  const auto assertion = testing::sign_compact(
      key, {{"alg", "ES256"}, {"kid", "k1"}},
      {{"iss", "svc"}, {"sub", "svc"}, {"aud", kIssuer}, {"jti", "d1"},
       {"iat", clock_.now()}, {"exp", clock_.now() + 60}});
  const auto audit_before = server_->store().audit_size();
  std::optional<TokenWrite> deferred;
  auto ok = server_->token(
      P({{"grant_type", "client_credentials"},
         {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
         {"client_assertion", assertion}}),
      f, &deferred);
  ASSERT_TRUE(ok) << ok.error().error.description;
  ASSERT_TRUE(deferred);
  const auto access = nlohmann::json::parse(ok->body)["access_token"].get<std::string>();
  const auto jti = nlohmann::json::parse(jws_parse(access)->payload)["jti"].get<std::string>();
  EXPECT_EQ(deferred->record.jti, jti);
  EXPECT_EQ(deferred->event.action, "token.issued");
  EXPECT_FALSE(server_->store().find_access_token(jti));
  EXPECT_EQ(server_->store().audit_size(), audit_before);
  server_->store().insert_access_token(deferred->record, deferred->event);
  EXPECT_TRUE(server_->store().find_access_token(jti));
  EXPECT_EQ(server_->store().audit_size(), audit_before + 1);

  // Refused requests leave nothing to write.
  std::optional<TokenWrite> none;
  EXPECT_FALSE(server_->token(P({{"grant_type", "client_credentials"}}), basic_facts(), &none));
  EXPECT_FALSE(none);
}

// A client_credentials token is answered from memory, on the calling thread, once its client
// is cached and the signing keys are fresh. When anything needs storage the answer is "not
// here", and nothing was changed: the caller then asks token() on a worker.
TEST_F(AuthorizationServerTest, ClientCredentialsTokenFromMemory) {
  storage::ClientRecord svc;
  svc.client_id = "svc-cc";
  svc.client_name = "Service";
  svc.token_endpoint_auth_method = "client_secret_basic";
  svc.grant_types = {"client_credentials"};
  svc.scope = "audit.read";
  const auto secret = server_->create_client(svc)->client_secret;
  const auto facts = basic_facts("svc-cc", secret);
  const auto form = P({{"grant_type", "client_credentials"}});
  const auto audit_before = server_->store().audit_size();

  std::optional<TokenWrite> write;
  // Not cached yet: the client must be read from storage.
  EXPECT_FALSE(server_->token_in_memory(form, facts, write));
  EXPECT_FALSE(write);
  EXPECT_EQ(server_->store().audit_size(), audit_before);

  ASSERT_TRUE(server_->token(form, facts));  // the usual way, which caches the client
  {
    // Any store call in here would throw, so the answer below touched no storage.
    const storage::StorageForbidden here;
    auto answer = server_->token_in_memory(form, facts, write);
    ASSERT_TRUE(answer);
    ASSERT_TRUE(*answer) << answer->error().error.description;
    ASSERT_TRUE(write);
    const auto access = nlohmann::json::parse((*answer)->body)["access_token"].get<std::string>();
    const auto claims = nlohmann::json::parse(jws_parse(access)->payload);
    EXPECT_EQ(claims["jti"], write->record.jti);
    EXPECT_EQ(claims["client_id"], "svc-cc");
    EXPECT_EQ(claims["scope"], "audit.read");
  }
  // Not stored until the caller writes it.
  EXPECT_FALSE(server_->store().find_access_token(write->record.jti));
  EXPECT_EQ(server_->store().audit_size(), audit_before + 1);

  // A wrong secret or scope is refused from memory too, with nothing to write.
  std::optional<TokenWrite> none;
  auto wrong = server_->token_in_memory(form, basic_facts("svc-cc", "not-the-secret"), none);
  ASSERT_TRUE(wrong);
  ASSERT_FALSE(*wrong);
  EXPECT_EQ(wrong->error().error.error, "invalid_client");
  auto scope = server_->token_in_memory(
      P({{"grant_type", "client_credentials"}, {"scope", "openid"}}), facts, none);
  ASSERT_TRUE(scope);
  ASSERT_FALSE(*scope);
  EXPECT_EQ(scope->error().error.error, "invalid_scope");
  EXPECT_FALSE(none);

  // DPoP proofs and other grants need storage, and are not tried.
  auto with_dpop = facts;
  with_dpop.dpop = "a.b.c";
  EXPECT_FALSE(server_->token_in_memory(form, with_dpop, none));
  EXPECT_FALSE(server_->token_in_memory(
      P({{"grant_type", "refresh_token"}, {"refresh_token", "r"}}), facts, none));
  // Once the cached client is stale, storage again; then cached anew.
  clock_.advance(3);
  EXPECT_FALSE(server_->token_in_memory(form, facts, none));
  EXPECT_FALSE(none);
  ASSERT_TRUE(server_->token(form, facts));
  auto again = server_->token_in_memory(form, facts, none);
  ASSERT_TRUE(again);
  EXPECT_TRUE(*again);
  EXPECT_EQ(server_->store().audit_size(), audit_before + 2);
}

// An introspection answer for an active token is given again from memory, on the calling
// thread, while storage's token state has not changed since it was read: the same answer, or
// signed when asked. Anything else goes back to storage (nullopt): a token never read, a wrong
// secret, another client, a revocation, the token's expiry.
TEST_F(AuthorizationServerTest, IntrospectionFromMemory) {
  auto issued = redeem(obtain_code());
  ASSERT_TRUE(issued);
  const auto body = nlohmann::json::parse(issued->body);
  const auto facts = basic_facts();
  const auto access = P({{"token", body["access_token"].get<std::string>()}});
  const auto refresh = P({{"token", body["refresh_token"].get<std::string>()}});
  EXPECT_FALSE(server_->introspect_in_memory(access, facts));  // never read

  auto first = server_->introspect(access, facts);
  ASSERT_TRUE(first);
  EXPECT_TRUE(nlohmann::json::parse(first->body)["active"].get<bool>());
  ASSERT_TRUE(server_->introspect(refresh, facts));
  {
    // Any store call in here would throw, so the answers below touched no storage.
    const storage::StorageForbidden here;
    auto again = server_->introspect_in_memory(access, facts);
    ASSERT_TRUE(again);
    ASSERT_TRUE(*again);
    EXPECT_EQ((*again)->body, first->body);
    auto signed_facts = facts;
    signed_facts.accept = "application/token-introspection+jwt";
    auto jwt = server_->introspect_in_memory(access, signed_facts);
    ASSERT_TRUE(jwt);
    ASSERT_TRUE(*jwt);
    EXPECT_EQ((*jwt)->content_type, "application/token-introspection+jwt");
    const auto claims = nlohmann::json::parse(jws_parse((*jwt)->body)->payload);
    EXPECT_EQ(claims["token_introspection"], nlohmann::json::parse(first->body));
    EXPECT_EQ(claims["aud"], "web");
    auto refreshed = server_->introspect_in_memory(refresh, facts);
    ASSERT_TRUE(refreshed);
    EXPECT_EQ(nlohmann::json::parse((*refreshed)->body)["token_type"], "refresh_token");

    EXPECT_FALSE(server_->introspect_in_memory(P({{"token", "never-issued"}}), facts));
    EXPECT_FALSE(server_->introspect_in_memory(access, basic_facts("web", "not-the-secret")));
  }

  // Revoked here: storage again, which says inactive, and nothing inactive is kept.
  ASSERT_TRUE(server_->revoke(access, facts));
  EXPECT_FALSE(server_->introspect_in_memory(access, facts));
  const auto active = [&](const Params& form) {
    return nlohmann::json::parse(server_->introspect(form, facts)->body)["active"].get<bool>();
  };
  EXPECT_FALSE(active(access));
  EXPECT_FALSE(server_->introspect_in_memory(access, facts));

  // A token kept while active is not shown once it has expired, though storage did not change.
  auto other = redeem(obtain_code());
  ASSERT_TRUE(other);
  const auto other_body = nlohmann::json::parse(other->body);
  const auto later = P({{"token", other_body["access_token"].get<std::string>()}});
  ASSERT_TRUE(active(later));
  ASSERT_TRUE(server_->introspect_in_memory(later, facts));
  clock_.advance(server_->settings().access_token_ttl);
  // (Read again, which caches the client anew: the in-memory answer below is refused for the
  // token's sake, not the client's.)
  EXPECT_FALSE(active(later));
  EXPECT_FALSE(server_->introspect_in_memory(later, facts));
}

// client_credentials with authorization details follows the same end rules as a resident's
// consent: the token ends with its details, and details that have ended are refused.
TEST_F(AuthorizationServerTest, ClientCredentialsTokensEndWithTheirDetails) {
  auto key = add_key_client("audit.read");
  RequestFacts f;
  f.method = "POST";
  f.url = std::string(kIssuer) + "/token";
  auto ask = [&](const std::string& jti, const std::string& until) {
    const auto assertion = testing::sign_compact(
        key, {{"alg", "ES256"}, {"kid", "k1"}},
        {{"iss", "svc"}, {"sub", "svc"}, {"aud", kIssuer}, {"jti", jti},
         {"iat", clock_.now()}, {"exp", clock_.now() + 60}});
    return server_->token(
        P({{"grant_type", "client_credentials"},
           {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
           {"client_assertion", assertion},
           {"authorization_details",
            R"([{"type":"personal_data_provision","datasets":["a"],"purpose":"p",)"
            R"("retention_until":")" + until + R"("}])"}}),
        f);
  };
  const auto soon = ask("cc1", "2027-01-15T08:01:40Z");
  ASSERT_TRUE(soon) << soon.error().error.description;
  EXPECT_EQ(nlohmann::json::parse(soon->body)["expires_in"], 100);
  const auto late = ask("cc2", "2027-01-15T07:59:00Z");
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().error.error, "invalid_authorization_details");
}

TEST_F(AuthorizationServerTest, GrantTypeRules) {
  auto f = basic_facts();
  auto unknown = server_->token(P({{"grant_type", "password"}}), f);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().error.error, "unsupported_grant_type");
  auto not_allowed = server_->token(P({{"grant_type", "client_credentials"}}), f);
  ASSERT_FALSE(not_allowed);
  EXPECT_EQ(not_allowed.error().error.error, "unauthorized_client");
  auto dup = server_->token(P({{"grant_type", "authorization_code"}, {"code", "a"}, {"code", "b"}}), f);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().error.error, "invalid_request");
}

TEST_F(AuthorizationServerTest, ClientCredentialsWithPrivateKeyJwt) {
  auto key = add_key_client("portability.export audit.read");
  auto assertion = [&](std::string jti, std::string aud) {
    return testing::sign_compact(key, {{"alg", "ES256"}, {"kid", "k1"}},
                                 {{"iss", "svc"}, {"sub", "svc"}, {"aud", aud}, {"jti", jti},
                                  {"iat", clock_.now()}, {"exp", clock_.now() + 60}});
  };
  RequestFacts f;
  f.method = "POST";
  f.url = std::string(kIssuer) + "/token";
  auto ok = server_->token(
      P({{"grant_type", "client_credentials"}, {"scope", "audit.read"},
              {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
              {"client_assertion", assertion("j1", std::string(kIssuer))}}),
      f);
  ASSERT_TRUE(ok) << ok.error().error.description;
  auto claims = nlohmann::json::parse(jws_parse(nlohmann::json::parse(ok->body)["access_token"].get<std::string>())->payload);
  EXPECT_EQ(claims["sub"], "svc");
  EXPECT_EQ(claims["scope"], "audit.read");
  // RFC 8707: two resources make aud an array, one a string; introspection says the same.
  const std::string kAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
  const std::vector<std::pair<std::vector<std::string>, nlohmann::json>> audiences = {
      {{"https://a.test/", "https://b.test/"}, nlohmann::json::array({"https://a.test/", "https://b.test/"})},
      {{"https://a.test/"}, "https://a.test/"}};
  int n = 0;
  for (const auto& [resources, aud] : audiences) {
    std::vector<std::pair<std::string, std::string>> form = {
        {"grant_type", "client_credentials"},
        {"client_assertion_type", kAssertionType},
        {"client_assertion", assertion("r" + std::to_string(++n), std::string(kIssuer))}};
    for (const auto& r : resources) form.emplace_back("resource", r);
    auto issued = server_->token(Params(form), f);
    ASSERT_TRUE(issued) << issued.error().error.description;
    const auto at = nlohmann::json::parse(issued->body)["access_token"].get<std::string>();
    EXPECT_EQ(nlohmann::json::parse(jws_parse(at)->payload)["aud"], aud);
    auto info = server_->introspect(
        P({{"token", at}, {"client_assertion_type", kAssertionType},
           {"client_assertion", assertion("i" + std::to_string(n), std::string(kIssuer))}}),
        f);
    ASSERT_TRUE(info) << info.error().error.description;
    EXPECT_EQ(nlohmann::json::parse(info->body)["aud"], aud);
  }
  auto replay = server_->token(
      P({{"grant_type", "client_credentials"},
              {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
              {"client_assertion", assertion("j1", std::string(kIssuer))}}),
      f);
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().error.error, "invalid_client");
  auto wrong_aud = server_->token(
      P({{"grant_type", "client_credentials"},
              {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
              {"client_assertion", assertion("j2", "https://elsewhere.test")}}),
      f);
  EXPECT_FALSE(wrong_aud);
  auto too_much = server_->token(
      P({{"grant_type", "client_credentials"}, {"scope", "openid"},
              {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
              {"client_assertion", assertion("j3", std::string(kIssuer))}}),
      f);
  ASSERT_FALSE(too_much);
  EXPECT_EQ(too_much.error().error.error, "invalid_scope");
}

TEST_F(AuthorizationServerTest, DpopBindsTokensAndRejectsReplay) {
  auto key = SigningKey::generate_es256();
  auto proof = [&](std::string jti, std::string htu) {
    return testing::sign_compact(key, testing::dpop_header(key),
                                 {{"htm", "POST"}, {"htu", htu}, {"iat", clock_.now()}, {"jti", jti}});
  };
  auto f = basic_facts();
  f.dpop = proof("p1", std::string(kIssuer) + "/token");
  auto answer = redeem(obtain_code());  // a plain one first
  ASSERT_TRUE(answer);
  auto bound = server_->token(P({{"grant_type", "authorization_code"}, {"code", obtain_code()},
                                      {"redirect_uri", std::string(kRedirect)},
                                      {"code_verifier", std::string(kVerifier)}}),
                              f);
  ASSERT_TRUE(bound) << bound.error().error.description;
  auto body = nlohmann::json::parse(bound->body);
  EXPECT_EQ(body["token_type"], "DPoP");
  auto claims = nlohmann::json::parse(jws_parse(body["access_token"].get<std::string>())->payload);
  EXPECT_EQ(claims["cnf"]["jkt"], key.public_key().thumbprint());
  // The same proof again is a replay.
  auto replay = server_->token(P({{"grant_type", "authorization_code"}, {"code", obtain_code()},
                                       {"redirect_uri", std::string(kRedirect)},
                                       {"code_verifier", std::string(kVerifier)}}),
                               f);
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().error.error, "invalid_dpop_proof");
  // Userinfo with the bound token: Bearer is refused, DPoP with a proof works.
  RequestFacts ui;
  ui.method = "GET";
  ui.url = std::string(kIssuer) + "/userinfo";
  ui.authorization = "Bearer " + body["access_token"].get<std::string>();
  EXPECT_FALSE(server_->userinfo(ui));
  ui.authorization = "DPoP " + body["access_token"].get<std::string>();
  auto ath = base64url_encode(sha256(body["access_token"].get<std::string>()));
  ui.dpop = testing::sign_compact(key, testing::dpop_header(key),
                                  {{"htm", "GET"}, {"htu", ui.url}, {"iat", clock_.now()}, {"jti", "u1"}, {"ath", ath}});
  auto info = server_->userinfo(ui);
  ASSERT_TRUE(info) << info.error().error.description;
  EXPECT_EQ(nlohmann::json::parse(info->body)["sub"], "resident-1");
}

// RFC 9449 §8 with dpop_require_nonce: the nonce is the same on every node (its key is kept in
// storage), good in its time window and the next, and refused after.
TEST_F(AuthorizationServerTest, DpopNoncesAreSharedAndExpire) {
  Settings s = server_->settings();
  s.dpop_require_nonce = true;
  AuthorizationServer node_a(s, *store_, clock_, random_, sealer_);
  AuthorizationServer node_b(s, *store_, clock_, random_, sealer_);
  node_a.keys().ensure_key();
  const auto nonce = node_a.dpop_nonce();
  EXPECT_EQ(node_b.dpop_nonce(), nonce) << "one nonce for the cluster";
  EXPECT_EQ(nonce.size(), 43u);

  auto key = SigningKey::generate_es256();
  int proofs = 0;
  auto redeem_with = [&](AuthorizationServer& node, std::optional<std::string> proof_nonce) {
    nlohmann::json claims = {{"htm", "POST"}, {"htu", std::string(kIssuer) + "/token"},
                             {"iat", clock_.now()}, {"jti", "n" + std::to_string(++proofs)}};
    if (proof_nonce) claims["nonce"] = *proof_nonce;
    auto f = basic_facts();
    f.dpop = testing::sign_compact(key, testing::dpop_header(key), claims);
    return node.token(P({{"grant_type", "authorization_code"}, {"code", obtain_code()},
                         {"redirect_uri", std::string(kRedirect)},
                         {"code_verifier", std::string(kVerifier)}}),
                      f);
  };
  auto missing = redeem_with(node_a, std::nullopt);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().error.error, "use_dpop_nonce");
  EXPECT_TRUE(redeem_with(node_b, nonce)) << "given by one node, taken by the other";
  EXPECT_TRUE(redeem_with(*server_, std::nullopt)) << "one that asks for none takes proofs without";

  clock_.advance(kDpopNonceWindow);
  EXPECT_NE(node_a.dpop_nonce(), nonce) << "a new window, a new nonce";
  EXPECT_TRUE(redeem_with(node_a, nonce)) << "the last window's is still good";
  EXPECT_TRUE(redeem_with(node_a, node_a.dpop_nonce()));
  clock_.advance(kDpopNonceWindow);
  auto stale = redeem_with(node_a, nonce);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().error.error, "use_dpop_nonce");
}

TEST_F(AuthorizationServerTest, AuthorizationDetailsAreValidatedStoredAndEchoed) {
  std::string details =
      R"([{"type":"personal_data_provision","datasets":["address","children"],"purpose":"child-care support","recipient":"city","retention_until":"2027-03-31"}])";
  auto code = obtain_code(authorize_params("authorization_details", details));
  auto body = nlohmann::json::parse(redeem(code)->body);
  EXPECT_EQ(body["authorization_details"][0]["purpose"], "child-care support");
  auto claims = nlohmann::json::parse(jws_parse(body["access_token"].get<std::string>())->payload);
  EXPECT_EQ(claims["authorization_details"][0]["datasets"][1], "children");
  // Introspection of either token shows the same details (RFC 9396 §9.2), as JSON, not text.
  const auto f = basic_facts();
  for (const char* kind : {"access_token", "refresh_token"}) {
    auto info = nlohmann::json::parse(server_->introspect(P({{"token", body[kind].get<std::string>()}}), f)->body);
    EXPECT_EQ(info["active"], true) << kind;
    EXPECT_EQ(info["authorization_details"], nlohmann::json::parse(details)) << kind;
    EXPECT_EQ(info["authorization_details"], claims["authorization_details"]) << kind;
    EXPECT_EQ(info["iat"], claims["iat"]) << kind;
    EXPECT_EQ(info["token_type"], std::string(kind) == "access_token" ? "Bearer" : "refresh_token");
  }
  auto info = nlohmann::json::parse(server_->introspect(P({{"token", body["access_token"].get<std::string>()}}), f)->body);
  EXPECT_EQ(info["aud"], claims["aud"]);
  EXPECT_EQ(info["jti"], claims["jti"]);
  EXPECT_EQ(info["exp"], claims["exp"]);

  for (std::string bad : {R"([{"type":"unknown"}])", R"([{"type":"personal_data_provision","datasets":["a"],"purpose":"p","extra":1}])",
                          R"({"type":"personal_data_provision"})", "not json",
                          R"([{"type":"personal_data_transfer","source":"a","destination":"b","datasets":["x"],"delete_at_source":"yes"}])"}) {
    auto r = server_->authorize(authorize_params("authorization_details", bad));
    EXPECT_EQ(r.kind, AuthorizeResult::Kind::redirect_error) << bad;
    EXPECT_EQ(r.error.error, "invalid_authorization_details") << bad;
  }
}

// A second consent to the same client extends its grant: logged as consent.amended, with the
// scope before and after; a consent that adds nothing is logged as consent.granted again.
TEST_F(AuthorizationServerTest, ConsentThatExtendsAGrantIsLoggedAsAmended) {
  auto session = sign_in();
  auto consent = [&](std::string_view scope) {
    auto params = P({{"response_type", "code"}, {"client_id", "web"},
                {"redirect_uri", std::string(kRedirect)}, {"scope", std::string(scope)},
                {"state", "xyz"}, {"code_challenge", std::string(kChallenge)},
                {"code_challenge_method", "S256"}, {"prompt", "consent"}});
    auto r = server_->authorize(params);
    EXPECT_EQ(r.kind, AuthorizeResult::Kind::proceed) << r.error.description;
    server_->approve(*server_->take_pending(r.pending.handle), session);
    auto last = server_->store().list_events(server_->store().audit_size() - 1, 1);
    EXPECT_EQ(last.size(), 1U);
    return last.empty() ? storage::Event{} : last[0];
  };
  const auto first = consent("openid profile");
  EXPECT_EQ(first.action, "consent.granted");
  const auto grant_id = nlohmann::json::parse(first.detail)["grant_id"];

  const auto wider = consent("openid offline_access");
  EXPECT_EQ(wider.action, "consent.amended");
  const auto detail = nlohmann::json::parse(wider.detail);
  EXPECT_EQ(detail["grant_id"], grant_id);
  EXPECT_EQ(detail["scope"], "openid offline_access");
  EXPECT_EQ(detail["previous_scope"], "openid profile");
  EXPECT_EQ(detail["granted_scope"], "openid profile offline_access");

  const auto same = consent("profile");
  EXPECT_EQ(same.action, "consent.granted");
  EXPECT_EQ(nlohmann::json::parse(same.detail)["grant_id"], grant_id);
}

// A consent whose authorization details name an end (retention_until) ends then: no token
// outlives it, a detail whose own end came drops out of new tokens, and the sweep ends the grant
// with its tokens and logs consent.expired once.
TEST_F(AuthorizationServerTest, ConsentEndsWhenItsAuthorizationDetailsSay) {
  // The clock starts at 2027-01-15T08:00:00Z.
  const std::string details =
      R"([{"type":"personal_data_provision","datasets":["address"],"purpose":"delivery",)"
      R"("retention_until":"2027-01-15T17:30:00+09:00"},)"
      R"({"type":"personal_data_provision","datasets":["children"],"purpose":"child-care",)"
      R"("retention_until":"2027-01-15T09:00:00Z"}])";
  const std::int64_t start = clock_.now();
  auto body = nlohmann::json::parse(
      redeem(obtain_code(authorize_params("authorization_details", details)))->body);
  const auto grant = server_->grants_of("resident-1").at(0);
  EXPECT_EQ(grant.expires_at, start + 3600);  // the latest end of its details
  EXPECT_EQ(body["expires_in"], 600);
  EXPECT_EQ(body["authorization_details"].size(), 2U);
  const auto f = basic_facts();
  auto refresh = [&](const nlohmann::json& from) {
    return server_->token(P({{"grant_type", "refresh_token"},
                             {"refresh_token", from["refresh_token"].get<std::string>()}}),
                          f);
  };
  auto introspect = [&](const nlohmann::json& from, const char* kind) {
    return nlohmann::json::parse(
        server_->introspect(P({{"token", from[kind].get<std::string>()}}), f)->body);
  };
  EXPECT_EQ(introspect(body, "refresh_token")["exp"], start + 3600);  // not 30 days

  // Near the first detail's end the access token expires with it.
  clock_.advance(1700);
  body = nlohmann::json::parse(refresh(body)->body);
  EXPECT_EQ(body["expires_in"], 100);
  EXPECT_EQ(introspect(body, "access_token")["exp"], start + 1800);
  EXPECT_EQ(body["authorization_details"].size(), 2U);

  // Past it, that detail is no longer granted; the other one still is.
  clock_.advance(150);
  body = nlohmann::json::parse(refresh(body)->body);
  ASSERT_EQ(body["authorization_details"].size(), 1U);
  EXPECT_EQ(body["authorization_details"][0]["purpose"], "child-care");
  EXPECT_EQ(body["expires_in"], 600);
  auto claims = nlohmann::json::parse(
      jws_parse(body["access_token"].get<std::string>())->payload);
  EXPECT_EQ(claims["authorization_details"], body["authorization_details"]);
  EXPECT_EQ(introspect(body, "access_token")["authorization_details"], body["authorization_details"]);

  // At the grant's end its tokens stop working (they expire with it), even before the sweep.
  clock_.advance(3600 - 1850);
  const auto ended = refresh(body);
  ASSERT_FALSE(ended);
  EXPECT_EQ(ended.error().error.error, "invalid_grant");
  EXPECT_FALSE(introspect(body, "refresh_token")["active"].get<bool>());
  EXPECT_EQ(server_->store().list_ended_grants(clock_.now(), 10).size(), 1U);

  const auto logged = server_->store().audit_size();
  EXPECT_EQ(server_->expire_grants(), 1);
  EXPECT_EQ(server_->expire_grants(), 0);  // once
  ASSERT_EQ(server_->store().audit_size(), logged + 1);
  const auto entry = server_->store().list_events(logged, 1).at(0);
  EXPECT_EQ(entry.action, "consent.expired");
  EXPECT_EQ(entry.actor, "system");
  EXPECT_EQ(entry.client_id, "web");
  EXPECT_FALSE(entry.resident.empty());
  EXPECT_EQ(entry.purpose, "delivery; child-care");
  const auto detail = nlohmann::json::parse(entry.detail);
  EXPECT_EQ(detail["grant_id"], grant.id);
  EXPECT_EQ(detail["expired_at"], start + 3600);
  EXPECT_EQ(detail["scope"], "openid profile offline_access");
  EXPECT_EQ(detail["authorization_details"], nlohmann::json::parse(details));
  EXPECT_TRUE(server_->store().find_grant(grant.id)->revoked);
  EXPECT_FALSE(server_->revoke_grant("resident-1", grant.id));  // already ended: nothing logged
  EXPECT_EQ(server_->store().audit_size(), logged + 1);
}

TEST_F(AuthorizationServerTest, ConsentWithoutAnEndForEveryDetailLastsUntilWithdrawn) {
  const std::string mixed =
      R"([{"type":"personal_data_provision","datasets":["address"],"purpose":"delivery",)"
      R"("retention_until":"2027-01-16"},)"
      R"({"type":"personal_data_provision","datasets":["children"],"purpose":"child-care"}])";
  redeem(obtain_code(authorize_params("authorization_details", mixed)));
  EXPECT_EQ(server_->grants_of("resident-1").at(0).expires_at, 0);
  EXPECT_EQ(consent_end(""), 0);  // scopes alone
  EXPECT_EQ(consent_end(R"([{"type":"personal_data_provision","datasets":["a"],"purpose":"p",)"
                        R"("retention_until":"2027-01-16"}])"),
            clock_.now() + 16 * 3600 + 24 * 3600);  // through 2027-01-16 in UTC

  // A consent that would end before it is given is refused.
  const std::string past =
      R"([{"type":"personal_data_provision","datasets":["a"],"purpose":"p",)"
      R"("retention_until":"2027-01-15T07:59:59Z"}])";
  auto r = server_->authorize(authorize_params("authorization_details", past));
  EXPECT_EQ(r.kind, AuthorizeResult::Kind::redirect_error);
  EXPECT_EQ(r.error.error, "invalid_authorization_details");
}

// A new consent to a client whose previous grant has ended, before the sweep got to it: the
// old grant is ended (and logged) first, so the sweep cannot revoke the new grant's tokens.
TEST_F(AuthorizationServerTest, ANewConsentAfterAnEndedOneKeepsItsTokens) {
  const std::string brief =
      R"([{"type":"personal_data_provision","datasets":["a"],"purpose":"p",)"
      R"("retention_until":"2027-01-15T08:01:00Z"}])";
  redeem(obtain_code(authorize_params("authorization_details", brief)));
  clock_.advance(120);
  const auto logged = server_->store().audit_size();
  auto body = nlohmann::json::parse(redeem(obtain_code(authorize_params("prompt", "consent")))->body);
  const auto events = server_->store().list_events(logged, 20);
  std::vector<std::string> actions;
  for (const auto& e : events) actions.push_back(e.action);
  const auto expired = std::find(actions.begin(), actions.end(), "consent.expired");
  const auto granted = std::find(actions.begin(), actions.end(), "consent.granted");
  ASSERT_NE(expired, actions.end());
  EXPECT_LT(expired, granted) << "the old grant ends before the new one exists";
  EXPECT_EQ(server_->expire_grants(), 0);
  const auto info = nlohmann::json::parse(
      server_->introspect(P({{"token", body["access_token"].get<std::string>()}}), basic_facts())->body);
  EXPECT_TRUE(info["active"].get<bool>());
}

// A Random that runs a hook, once, before it next gives bytes: a way to act between two steps
// of the server's work.
class HookedRandom final : public Random {
 public:
  void fill(std::span<std::uint8_t> out) override {
    if (auto once = std::exchange(hook, nullptr)) once();
    inner_.fill(out);
  }
  std::function<void()> hook;

 private:
  SeededRandom inner_{11};
};

// Two approvals of one resident to one client at once (two tabs, two nodes): the second to
// save finds the first's grant, merges into it and logs an amendment. Before, each made a
// grant of its own, and ending either revoked the other's access tokens.
TEST_F(AuthorizationServerTest, TwoApprovalsAtOnceLeaveOneGrantHoldingBoth) {
  HookedRandom random;
  AuthorizationServer node(server_->settings(), *store_, clock_, random, sealer_);
  const auto first = server_->authorize(authorize_params());
  const auto second = server_->authorize(P({{"response_type", "code"},
                                            {"client_id", "web"},
                                            {"redirect_uri", std::string(kRedirect)},
                                            {"scope", "openid email"},
                                            {"state", "abc"},
                                            {"code_challenge", std::string(kChallenge)},
                                            {"code_challenge_method", "S256"}}));
  ASSERT_EQ(second.kind, AuthorizeResult::Kind::proceed) << second.error.description;
  const auto session = sign_in();
  auto a = server_->take_pending(first.pending.handle);
  auto b = server_->take_pending(second.pending.handle);
  ASSERT_TRUE(a && b);
  const auto logged = store_->audit_size();
  // The other approval runs whole while this node is between reading the pair's grants (none)
  // and saving its own.
  std::string code_b;
  random.hook = [&] { code_b = code_from(server_->approve(*b, session).location); };
  const auto code_a = code_from(node.approve(*a, session).location);
  ASSERT_FALSE(code_b.empty());

  const auto grants = store_->list_grants("resident-1");
  ASSERT_EQ(grants.size(), 1U);
  auto scopes = split_scope(grants[0].scope);
  std::sort(scopes.begin(), scopes.end());
  EXPECT_EQ(scopes, (std::vector<std::string>{"email", "offline_access", "openid", "profile"}));
  std::vector<std::string> actions;
  for (const auto& e : store_->list_events(logged, 10)) actions.push_back(e.action);
  EXPECT_EQ(actions, (std::vector<std::string>{"consent.granted", "consent.amended"}));
  // Both codes belong to the one grant and redeem.
  EXPECT_TRUE(redeem(code_a));
  EXPECT_TRUE(redeem(code_b));
}

TEST_F(AuthorizationServerTest, ACodeRedeemedAfterTheConsentEndedIsRefused) {
  const std::string brief =
      R"([{"type":"personal_data_provision","datasets":["a"],"purpose":"p",)"
      R"("retention_until":"2027-01-15T08:00:30Z"}])";
  const auto code = obtain_code(authorize_params("authorization_details", brief));
  clock_.advance(30);  // the code (60 s) is still fresh; the consent is not
  const auto answer = redeem(code);
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().error.error, "invalid_grant");
  EXPECT_EQ(answer.error().error.description, "the consent has expired");
}

// The resident withdraws a consent: the grant ends with its tokens, consent.withdrawn is logged
// once with the grant's scope and details, and nobody else can withdraw it.
TEST_F(AuthorizationServerTest, WithdrawingAConsentEndsItsTokensAndIsLoggedOnce) {
  const std::string details =
      R"([{"type":"personal_data_provision","datasets":["a"],"purpose":"p"}])";
  auto body = nlohmann::json::parse(
      redeem(obtain_code(authorize_params("authorization_details", details)))->body);
  const auto grant = server_->grants_of("resident-1").at(0);
  storage::ResidentRecord other;
  other.id = "resident-2";
  other.username = "taro";
  other.password_hash = hash_password("another long password");
  ASSERT_TRUE(server_->insert_resident(other));

  const auto logged = server_->store().audit_size();
  EXPECT_FALSE(server_->revoke_grant("resident-2", grant.id)) << "not theirs";
  EXPECT_FALSE(server_->revoke_grant("resident-1", "no-such-grant"));
  EXPECT_EQ(server_->store().audit_size(), logged);
  EXPECT_FALSE(server_->store().find_grant(grant.id)->revoked);

  EXPECT_TRUE(server_->revoke_grant("resident-1", grant.id));
  EXPECT_FALSE(server_->revoke_grant("resident-1", grant.id)) << "already ended";
  ASSERT_EQ(server_->store().audit_size(), logged + 1);
  const auto entry = server_->store().list_events(logged, 1).at(0);
  EXPECT_EQ(entry.action, "consent.withdrawn");
  EXPECT_EQ(entry.actor, "resident");
  EXPECT_EQ(entry.purpose, "p");
  const auto detail = nlohmann::json::parse(entry.detail);
  EXPECT_EQ(detail["grant_id"], grant.id);
  EXPECT_EQ(detail["scope"], grant.scope);
  EXPECT_EQ(detail["authorization_details"], nlohmann::json::parse(details));
  EXPECT_TRUE(server_->grants_of("resident-1").empty());
  const auto f = basic_facts();
  for (const char* kind : {"access_token", "refresh_token"}) {
    auto info = nlohmann::json::parse(
        server_->introspect(P({{"token", body[kind].get<std::string>()}}), f)->body);
    EXPECT_FALSE(info["active"].get<bool>()) << kind;
  }
}

// The resident withdraws a consent whose end has already come, before the sweep: it is ended as
// expired, not withdrawn, and only once.
TEST_F(AuthorizationServerTest, WithdrawingAConsentPastItsEndLogsItAsExpired) {
  const std::string soon =
      R"([{"type":"personal_data_provision","datasets":["a"],"purpose":"p",)"
      R"("retention_until":"2027-01-15T08:01:00Z"}])";
  redeem(obtain_code(authorize_params("authorization_details", soon)));
  const auto grant = server_->grants_of("resident-1").at(0);
  clock_.advance(60);
  const auto logged = server_->store().audit_size();
  EXPECT_TRUE(server_->revoke_grant("resident-1", grant.id));
  EXPECT_EQ(server_->store().list_events(logged, 1).at(0).action, "consent.expired");
  EXPECT_EQ(server_->expire_grants(), 0);
  EXPECT_EQ(server_->store().audit_size(), logged + 1);
}

// OIDC Core §3.1.2.1 ui_locales and login_hint: kept with the request, the hint sealed at rest.
TEST_F(AuthorizationServerTest, UiLocalesAndLoginHintAreKeptAndTheHintIsSealed) {
  auto params = authorize_params("ui_locales", "ja-JP en");
  params.add("login_hint", "hanako@example.jp");
  auto r = server_->authorize(params);
  ASSERT_EQ(r.kind, AuthorizeResult::Kind::proceed) << r.error.description;
  const auto pending = server_->find_pending(r.pending.handle);
  ASSERT_TRUE(pending);
  EXPECT_EQ(pending->ui_locales, "ja-JP en");
  EXPECT_EQ(pending->login_hint.find("hanako"), std::string::npos) << "sealed, not plain";
  EXPECT_EQ(server_->login_hint(*pending), "hanako@example.jp");
  EXPECT_EQ(server_->login_hint(*server_->find_pending(
                server_->authorize(authorize_params()).pending.handle)),
            "");

  for (const auto& [key, value] : {std::pair<std::string, std::string>{"ui_locales", "ja;q=1"},
                                   {"ui_locales", std::string(257, 'a')},
                                   {"login_hint", std::string(257, 'a')}}) {
    auto bad = server_->authorize(authorize_params(key, value));
    EXPECT_EQ(bad.kind, AuthorizeResult::Kind::redirect_error) << key;
    EXPECT_EQ(bad.error.error, "invalid_request") << key;
  }
}

// An ID token signed with this server's current key, as the token endpoint would sign one;
// `claims` are merged over those of a genuine ID token for resident-1 at "web".
std::string signed_with_our_key(AuthorizationServer& server, const nlohmann::json& claims,
                                std::string_view typ = "JWT") {
  nlohmann::json payload = {{"iss", kIssuer}, {"sub", "resident-1"}, {"aud", "web"},
                            {"azp", "web"}, {"iat", 1'800'000'000}, {"exp", 1'800'000'600}};
  payload.merge_patch(claims);
  const auto key = server.keys().current();
  return jws_sign(key.key, key.kid, typ, payload.dump());
}

// OIDC Core §3.1.2.1 id_token_hint: only the resident the client's ID token names may complete
// the request. Someone else signed in is asked to sign in (prompt=none: login_required), and a
// sign-in as someone else ends the request with login_required.
TEST_F(AuthorizationServerTest, IdTokenHintLetsOnlyTheNamedResidentCompleteTheRequest) {
  const auto tokens = nlohmann::json::parse(redeem(obtain_code())->body);
  const std::string id_token = tokens["id_token"];
  storage::ResidentRecord taro;
  taro.id = "resident-2";
  taro.username = "taro";
  taro.password_hash = hash_password("another good passphrase");
  ASSERT_TRUE(server_->insert_resident(taro));
  const auto hanako = sign_in();
  const auto taro_session =
      server_->login("taro", "another good passphrase", "127.0.0.1").session;

  // The ID token's expiry does not matter: a hint names someone and grants nothing.
  clock_.advance(3600);
  auto hinted = server_->authorize(authorize_params("id_token_hint", id_token));
  ASSERT_EQ(hinted.kind, AuthorizeResult::Kind::proceed) << hinted.error.description;
  EXPECT_EQ(server_->find_pending(hinted.pending.handle)->subject_hint, "resident-1");
  EXPECT_EQ(server_->next_step(hinted.pending, hanako), NextStep::issue_code);
  EXPECT_EQ(server_->next_step(hinted.pending, taro_session), NextStep::login);
  auto none = authorize_params("id_token_hint", id_token);
  none.add("prompt", "none");
  EXPECT_EQ(server_->next_step(server_->authorize(none).pending, taro_session),
            NextStep::login_required);
  EXPECT_EQ(server_->next_step(server_->authorize(none).pending, hanako), NextStep::issue_code);

  // Taro signs in on the sign-in page this request showed: the request ends, login_required.
  server_->after_login(hinted.pending.handle, "resident-2");
  EXPECT_EQ(server_->next_step(*server_->find_pending(hinted.pending.handle), taro_session),
            NextStep::login_required);
  // Hanako signs in: the request goes on.
  auto again = server_->authorize(authorize_params("id_token_hint", id_token));
  server_->after_login(again.pending.handle, "resident-1");
  EXPECT_EQ(server_->next_step(*server_->find_pending(again.pending.handle), hanako),
            NextStep::issue_code);
}

// OIDC Core §5.5: the claims parameter puts claims in the ID token, of those the scope grants.
TEST_F(AuthorizationServerTest, ClaimsParameterAsksForIdTokenClaimsTheScopeGrants) {
  EXPECT_EQ(nlohmann::json::parse(server_->metadata_json(true))["claims_parameter_supported"],
            true);
  const std::string claims =
      R"({"id_token":{"name":{"essential":true},"email":null,"shoe_size":null},)"
      R"("userinfo":{"preferred_username":null},"something_else":1})";
  const auto code = obtain_code(authorize_params("claims", claims));  // scope openid profile
  const auto body = nlohmann::json::parse(redeem(code)->body);
  auto id = jws_parse(body["id_token"].get<std::string>());
  ASSERT_TRUE(id);
  const auto payload = nlohmann::json::parse(id->payload);
  EXPECT_EQ(payload["name"], "Hanako");
  EXPECT_FALSE(payload.contains("preferred_username")) << "asked for in userinfo only";
  EXPECT_FALSE(payload.contains("email")) << "the email scope was not granted";
  EXPECT_FALSE(payload.contains("shoe_size"));
  // Without the parameter, the ID token carries no profile claims (they are userinfo's).
  const auto plain = nlohmann::json::parse(redeem(obtain_code())->body);
  EXPECT_FALSE(nlohmann::json::parse(jws_parse(plain["id_token"].get<std::string>())->payload)
                   .contains("name"));
}

TEST_F(AuthorizationServerTest, MalformedClaimsParameterIsRefused) {
  for (const char* bad :
       {"[]", "not json", R"({"id_token":[]})", R"({"id_token":{"name":5}})",
        R"({"id_token":{"name":{"essential":"yes"}}})", R"({"id_token":{"name":{"values":"a"}}})",
        R"({"id_token":{"sub":{"value":7}}})", R"({"id_token":{},"id_token":{}})",
        R"({"id_token":{"sub":{"value":"a"}},"userinfo":{"sub":{"value":"b"}}})"}) {
    const auto r = server_->authorize(authorize_params("claims", bad));
    ASSERT_EQ(r.kind, AuthorizeResult::Kind::redirect_error) << bad;
    EXPECT_EQ(r.error.error, "invalid_request") << bad;
  }
  // §5.5.1.1: an essential acr this server cannot meet is a failed authentication.
  const auto acr = server_->authorize(authorize_params(
      "claims", R"({"id_token":{"acr":{"essential":true,"values":["urn:mace:incommon:iap:silver"]}}})"));
  ASSERT_EQ(acr.kind, AuthorizeResult::Kind::redirect_error);
  EXPECT_EQ(acr.error.error, "access_denied");
  // A voluntary one is simply not met.
  EXPECT_EQ(server_->authorize(authorize_params("claims", R"({"id_token":{"acr":{"values":["x"]}}})"))
                .kind,
            AuthorizeResult::Kind::proceed);
}

// §5.5.1: a sub asked for by value lets only that resident complete the request, as an
// id_token_hint does.
TEST_F(AuthorizationServerTest, ClaimsSubValueNamesTheOnlyResidentWhoMayComplete) {
  const auto hanako = sign_in();
  auto mine = server_->authorize(
      authorize_params("claims", R"({"id_token":{"sub":{"value":"resident-1"}}})"));
  ASSERT_EQ(mine.kind, AuthorizeResult::Kind::proceed) << mine.error.description;
  EXPECT_EQ(server_->next_step(mine.pending, hanako), NextStep::consent) << "on to consent";
  auto other = server_->authorize(
      authorize_params("claims", R"({"userinfo":{"sub":{"value":"resident-2"}}})"));
  ASSERT_EQ(other.kind, AuthorizeResult::Kind::proceed);
  EXPECT_EQ(server_->next_step(other.pending, hanako), NextStep::login);
  // With an id_token_hint naming someone else, the request contradicts itself.
  const auto tokens = nlohmann::json::parse(redeem(obtain_code())->body);
  auto both = authorize_params("claims", R"({"id_token":{"sub":{"value":"resident-2"}}})");
  both.add("id_token_hint", tokens["id_token"].get<std::string>());
  const auto r = server_->authorize(both);
  ASSERT_EQ(r.kind, AuthorizeResult::Kind::redirect_error);
  EXPECT_EQ(r.error.error, "invalid_request");
}

TEST_F(AuthorizationServerTest, IdTokenHintMustBeAnIdTokenThisServerIssuedToTheClient) {
  const auto tokens = nlohmann::json::parse(redeem(obtain_code())->body);
  std::string tampered = tokens["id_token"];
  tampered[tampered.find('.') + 3] ^= 1;
  const auto other_key = SigningKey::generate_es256();
  const auto key = server_->keys().current();
  const std::string valid = signed_with_our_key(*server_, nlohmann::json::object());
  ASSERT_EQ(server_->authorize(authorize_params("id_token_hint", valid)).kind,
            AuthorizeResult::Kind::proceed);
  const std::pair<std::string, std::string> hints[] = {
      {"an access token", tokens["access_token"]},
      {"an ID token with a changed payload", tampered},
      {"another key under our kid",
       jws_sign(other_key, key.kid, "JWT", nlohmann::json::parse(
                                               jws_parse(valid)->payload).dump())},
      {"typ at+jwt", signed_with_our_key(*server_, nlohmann::json::object(), "at+jwt")},
      {"another issuer", signed_with_our_key(*server_, {{"iss", "https://evil.test"}})},
      {"no sub", signed_with_our_key(*server_, {{"sub", nullptr}})},
      {"issued to another client",
       signed_with_our_key(*server_, {{"aud", "spa"}, {"azp", "spa"}})},
      {"not a JWS", "not-a-token"}};
  for (const auto& [what, hint] : hints) {
    const auto before = store_->audit_size();
    auto r = server_->authorize(authorize_params("id_token_hint", hint));
    EXPECT_EQ(r.kind, AuthorizeResult::Kind::redirect_error) << what;
    EXPECT_EQ(r.error.error, "invalid_request") << what;
    EXPECT_EQ(store_->audit_size(), before) << what;
  }
}

// OpenID Connect RP-Initiated Logout 1.0 §2-3: the browser goes back only to a URI the client
// registered for it, exactly; the client is named by client_id or by the ID token.
TEST_F(AuthorizationServerTest, LogoutRequestsGoBackOnlyToARegisteredUri) {
  const std::string hint = signed_with_our_key(*server_, nlohmann::json::object());
  auto ok = server_->logout_request(P({{"id_token_hint", hint},
                                       {"post_logout_redirect_uri", "https://rp.test/bye"},
                                       {"state", "s1"},
                                       {"ui_locales", "ja"}}));
  ASSERT_TRUE(ok) << ok.error().description;
  EXPECT_EQ(ok->client_id, "web");
  EXPECT_EQ(ok->client_name, "Web RP");
  EXPECT_EQ(ok->post_logout_redirect_uri, "https://rp.test/bye");
  EXPECT_EQ(ok->state, "s1");
  auto by_id = server_->logout_request(
      P({{"client_id", "web"}, {"post_logout_redirect_uri", "https://rp.test/bye"}}));
  ASSERT_TRUE(by_id);
  EXPECT_EQ(by_id->client_id, "web");
  auto bare = server_->logout_request(P({}));
  ASSERT_TRUE(bare);
  EXPECT_TRUE(bare->client_id.empty());
  EXPECT_TRUE(bare->post_logout_redirect_uri.empty());

  const std::pair<std::string, Params> refused[] = {
      {"no client", P({{"post_logout_redirect_uri", "https://rp.test/bye"}})},
      {"prefix", P({{"client_id", "web"}, {"post_logout_redirect_uri", "https://rp.test/by"}})},
      {"suffix", P({{"client_id", "web"}, {"post_logout_redirect_uri", "https://rp.test/bye/"}})},
      {"query", P({{"client_id", "web"}, {"post_logout_redirect_uri", "https://rp.test/bye?a"}})},
      {"another client's",
       P({{"client_id", "spa"}, {"post_logout_redirect_uri", "https://rp.test/bye"}})},
      {"the login redirect", P({{"client_id", "web"}, {"post_logout_redirect_uri", std::string(kRedirect)}})},
      {"client_id against the hint", P({{"client_id", "spa"}, {"id_token_hint", hint}})},
      {"unknown client", P({{"client_id", "nobody"}})},
      {"bad hint", P({{"id_token_hint", "x.y.z"}})},
      {"repeated", P({{"client_id", "web"}, {"client_id", "web"}})},
      {"ui_locales", P({{"ui_locales", "ja;q=1"}})}};
  for (const auto& [what, params] : refused) {
    auto r = server_->logout_request(params);
    ASSERT_FALSE(r) << what;
    EXPECT_EQ(r.error().error, "invalid_request") << what;
  }
}

TEST_F(AuthorizationServerTest, LogoutEndsTheSessionAndIsLogged) {
  const auto out = server_->login("hanako", "correct horse battery", "127.0.0.1");
  ASSERT_TRUE(server_->session_from_cookie(out.session_cookie));
  const auto before = store_->audit_size();
  server_->logout(out.session_cookie, "web");
  EXPECT_FALSE(server_->session_from_cookie(out.session_cookie));
  ASSERT_EQ(store_->audit_size(), before + 1);
  const auto entry = store_->list_events(before, 1).at(0);
  EXPECT_EQ(entry.action, "logout");
  EXPECT_EQ(entry.client_id, "web");
  server_->logout(out.session_cookie, "web");  // no session: nothing more is logged
  EXPECT_EQ(store_->audit_size(), before + 1);
}

TEST_F(AuthorizationServerTest, PostLogoutRedirectUrisAreRegisteredLikeRedirectUris) {
  storage::ClientRecord c;
  c.redirect_uris = {"https://rp2.test/cb"};
  c.post_logout_redirect_uris = {"https://rp2.test/bye", "com.example.app:/bye"};
  auto created = server_->create_client(c);
  ASSERT_TRUE(created) << created.error().description;
  EXPECT_EQ(server_->find_client(created->record.client_id)->post_logout_redirect_uris,
            c.post_logout_redirect_uris);
  for (const std::string uri : {"https://rp2.test/bye#x", "javascript:alert(1)", "/bye",
                                "http://rp2.test/bye"}) {
    c.post_logout_redirect_uris = {uri};
    auto refused = server_->create_client(c);
    ASSERT_FALSE(refused) << uri;
    EXPECT_EQ(refused.error().error, "invalid_client_metadata") << uri;
  }
  storage::ClientRecord machine;
  machine.grant_types = {"client_credentials"};
  machine.post_logout_redirect_uris = {"https://rp2.test/bye"};
  EXPECT_FALSE(server_->create_client(machine));
}

// OIDC Core §8: a pairwise client sees each resident under a `sub` of its own sector (the host
// of its redirect URIs): the same for every client of that host, another for another host,
// never the resident's id, and the same on every node.
TEST_F(AuthorizationServerTest, PairwiseSubjectsNameAResidentPerSector) {
  auto pairwise = [&](std::string id, std::string redirect) {
    storage::ClientRecord c;
    c.client_id = std::move(id);
    c.redirect_uris = {std::move(redirect)};
    c.scope = "openid profile offline_access";
    c.subject_type = "pairwise";
    auto created = server_->create_client(c);
    EXPECT_TRUE(created) << created.error().description;
    return std::make_pair(created->record, created->client_secret);
  };
  const auto [a1, a1_secret] = pairwise("a1", "https://a.test/cb");
  const auto [a2, a2_secret] = pairwise("a2", "https://A.test:8443/other");
  const auto [b, b_secret] = pairwise("b", "https://b.test/cb");
  const std::string at_a = server_->subject(&a1, "resident-1");
  EXPECT_EQ(at_a.size(), 43u) << "base64url of 32 bytes";
  EXPECT_NE(at_a, "resident-1");
  EXPECT_EQ(server_->subject(&a2, "resident-1"), at_a);
  EXPECT_NE(server_->subject(&b, "resident-1"), at_a);
  EXPECT_NE(server_->subject(&a1, "resident-2"), at_a);
  EXPECT_EQ(server_->subject("web", "resident-1"), "resident-1") << "public";
  EXPECT_EQ(server_->subject("a1", ""), "a1") << "client_credentials";
  // Another node (another server on the same storage and master key) names her alike.
  AuthorizationServer other(server_->settings(), *store_, clock_, random_, sealer_);
  EXPECT_EQ(other.subject(&a1, "resident-1"), at_a);

  // Every place a1 sees the resident says the same sub: ID token, access token, userinfo,
  // introspection of both tokens.
  const std::string redirect = "https://a.test/cb";
  auto params = authorize_params();
  Params asked;
  for (const auto& [k, v] : params.items())
    asked.add(k, k == "client_id" ? "a1" : k == "redirect_uri" ? redirect : k == "scope" ? "openid offline_access" : v);
  auto r = server_->authorize(asked);
  ASSERT_EQ(r.kind, AuthorizeResult::Kind::proceed) << r.error.description;
  const auto session = sign_in();
  const auto code = code_from(server_->approve(*server_->take_pending(r.pending.handle), session).location);
  auto facts = basic_facts("a1", a1_secret);
  auto answer = server_->token(P({{"grant_type", "authorization_code"}, {"code", code},
                                  {"redirect_uri", redirect}, {"code_verifier", std::string(kVerifier)}}),
                               facts);
  ASSERT_TRUE(answer) << answer.error().error.description;
  const auto body = nlohmann::json::parse(answer->body);
  const std::string id_token = body["id_token"];
  EXPECT_EQ(nlohmann::json::parse(jws_parse(id_token)->payload)["sub"], at_a);
  EXPECT_EQ(nlohmann::json::parse(jws_parse(body["access_token"].get<std::string>())->payload)["sub"], at_a);
  RequestFacts ui;
  ui.method = "GET";
  ui.url = std::string(kIssuer) + "/userinfo";
  ui.authorization = "Bearer " + body["access_token"].get<std::string>();
  EXPECT_EQ(nlohmann::json::parse(server_->userinfo(ui)->body)["sub"], at_a);
  ASSERT_TRUE(body.contains("refresh_token"));
  for (const char* kind : {"access_token", "refresh_token"}) {
    auto info = server_->introspect(P({{"token", body[kind].get<std::string>()}}), facts);
    EXPECT_EQ(nlohmann::json::parse(info->body)["sub"], at_a) << kind;
  }
  // The ID token as id_token_hint names the resident to a1, pairwise as it is.
  Params hinted = asked;
  hinted.add("id_token_hint", id_token);
  auto again = server_->authorize(hinted);
  ASSERT_EQ(again.kind, AuthorizeResult::Kind::proceed) << again.error.description;
  EXPECT_EQ(server_->next_step(again.pending, session), NextStep::issue_code);
}

TEST_F(AuthorizationServerTest, APairwiseClientNeedsOneSector) {
  storage::ClientRecord c;
  c.subject_type = "pairwise";
  c.redirect_uris = {"https://a.test/cb", "https://b.test/cb"};
  auto refused = server_->create_client(c);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().error, "invalid_client_metadata");
  c.redirect_uris = {"com.example.app:/cb"};
  EXPECT_FALSE(server_->create_client(c)) << "no host, no sector";
  c.redirect_uris = {"https://a.test/cb"};
  c.subject_type = "anonymous";
  EXPECT_FALSE(server_->create_client(c));
  c.subject_type = "";
  auto created = server_->create_client(c);
  ASSERT_TRUE(created);
  EXPECT_EQ(created->record.subject_type, "public");
}

// A refusal is logged as the resident's own entry, with what was asked.
TEST_F(AuthorizationServerTest, ARefusalIsTheResidentsEntryWithTheDetails) {
  const std::string details =
      R"([{"type":"personal_data_provision","datasets":["a"],"purpose":"declined"}])";
  auto r = server_->authorize(authorize_params("authorization_details", details));
  ASSERT_EQ(r.kind, AuthorizeResult::Kind::proceed) << r.error.description;
  const auto session = sign_in();
  const auto logged = server_->store().audit_size();
  const auto redirect =
      server_->deny(*server_->take_pending(r.pending.handle), "access_denied", session.resident_id);
  EXPECT_NE(redirect.location.find("error=access_denied"), std::string::npos);
  ASSERT_EQ(server_->store().audit_size(), logged + 1);
  const auto entry = server_->store().list_events(logged, 1).at(0);
  EXPECT_EQ(entry.action, "consent.refused");
  EXPECT_EQ(entry.outcome, "refused");
  EXPECT_EQ(entry.resident, server_->audit().pseudonym("resident-1"));
  EXPECT_FALSE(entry.resident.empty());
  EXPECT_EQ(nlohmann::json::parse(entry.detail)["authorization_details"],
            nlohmann::json::parse(details));
}

TEST_F(AuthorizationServerTest, ExistingGrantSkipsConsentUnlessPromptConsent) {
  auto session = sign_in();
  auto r = server_->authorize(authorize_params());
  EXPECT_EQ(server_->next_step(r.pending, session), NextStep::consent);
  server_->approve(*server_->take_pending(r.pending.handle), session);
  auto again = server_->authorize(authorize_params());
  EXPECT_EQ(server_->next_step(again.pending, session), NextStep::issue_code);
  auto forced = server_->authorize(authorize_params("prompt", "consent"));
  EXPECT_EQ(server_->next_step(forced.pending, session), NextStep::consent);
  auto none_without_session = server_->authorize(authorize_params("prompt", "none"));
  EXPECT_EQ(server_->next_step(none_without_session.pending, std::nullopt), NextStep::login_required);
  clock_.advance(100);
  auto max_age = server_->authorize(authorize_params("max_age", "30"));
  EXPECT_EQ(server_->next_step(max_age.pending, session), NextStep::login);
  // select_account shows the sign-in page once; signed in within the request, it goes on.
  auto select = server_->authorize(authorize_params("prompt", "select_account"));
  EXPECT_EQ(server_->next_step(select.pending, session), NextStep::login);
  server_->after_login(select.pending.handle, session.resident_id);
  EXPECT_EQ(server_->next_step(*server_->find_pending(select.pending.handle), session),
            NextStep::issue_code);
  auto select_none = authorize_params("prompt", "select_account none");
  EXPECT_EQ(server_->authorize(select_none).kind, AuthorizeResult::Kind::redirect_error);
}

TEST_F(AuthorizationServerTest, RepeatedFailedLoginsAreThrottled) {
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(server_->login("hanako", "wrong", "10.0.0.1").kind, LoginOutcome::Kind::invalid_credentials);
  }
  EXPECT_EQ(server_->login("hanako", "correct horse battery", "10.0.0.1").kind,
            LoginOutcome::Kind::too_many_attempts);
  clock_.advance(16 * 60);
  EXPECT_EQ(server_->login("hanako", "correct horse battery", "10.0.0.1").kind, LoginOutcome::Kind::ok);
}

TEST_F(AuthorizationServerTest, ParRequestUriIsOneTimeAndBoundToTheClient) {
  RequestFacts f = basic_facts();
  f.url = std::string(kIssuer) + "/par";
  auto pushed = server_->par(authorize_params(), f);
  ASSERT_TRUE(pushed) << pushed.error().error.description;
  EXPECT_EQ(pushed->status, 201);
  auto uri = nlohmann::json::parse(pushed->body)["request_uri"].get<std::string>();
  Params other = P({{"client_id", "spa"}, {"request_uri", uri}});
  EXPECT_EQ(server_->authorize(other).kind, AuthorizeResult::Kind::show_error);
  Params mine = P({{"client_id", "web"}, {"request_uri", uri}});
  EXPECT_EQ(server_->authorize(mine).kind, AuthorizeResult::Kind::show_error)
      << "a request_uri tried by another client is spent";
  auto again = server_->par(authorize_params(), f);
  auto uri2 = nlohmann::json::parse(again->body)["request_uri"].get<std::string>();
  Params ok = P({{"client_id", "web"}, {"request_uri", uri2}});
  EXPECT_EQ(server_->authorize(ok).kind, AuthorizeResult::Kind::proceed);
  EXPECT_EQ(server_->authorize(ok).kind, AuthorizeResult::Kind::show_error);
}

// RFC 9701: asked for by Accept, the introspection answer comes as a JWT signed for the client.
TEST_F(AuthorizationServerTest, IntrospectionAnswersAsASignedJwtWhenAsked) {
  const auto at = nlohmann::json::parse(redeem(obtain_code())->body)["access_token"].get<std::string>();
  auto f = basic_facts();
  const auto plain = server_->introspect(P({{"token", at}}), f);
  ASSERT_TRUE(plain);
  EXPECT_TRUE(plain->content_type.empty()) << "JSON unless asked";

  for (const char* accept : {"application/token-introspection+jwt",
                             "application/json;q=0.5, Application/Token-Introspection+JWT ;q=1",
                             "text/html, application/token-introspection+jwt;charset=x"}) {
    f.accept = accept;
    const auto signed_answer = server_->introspect(P({{"token", at}}), f);
    ASSERT_TRUE(signed_answer) << accept;
    EXPECT_EQ(signed_answer->content_type, "application/token-introspection+jwt") << accept;
    auto parts = jws_parse(signed_answer->body);
    ASSERT_TRUE(parts) << accept;
    EXPECT_EQ(parts->typ, "token-introspection+jwt");
    auto key = server_->keys().find(parts->kid);
    ASSERT_TRUE(key);
    EXPECT_TRUE(jws_verify(*parts, *key));
    const auto claims = nlohmann::json::parse(parts->payload);
    EXPECT_EQ(claims["iss"], kIssuer);
    EXPECT_EQ(claims["aud"], "web");
    EXPECT_EQ(claims["iat"], clock_.now());
    EXPECT_FALSE(claims.contains("sub")) << "the answer is inside, not a token's claims";
    EXPECT_EQ(claims["token_introspection"], nlohmann::json::parse(plain->body));
  }
  // Refused with q=0, or not named: JSON.
  for (const char* accept : {"application/token-introspection+jwt;q=0", "application/json",
                             "application/token-introspection+jwtx", "*/*"}) {
    f.accept = accept;
    EXPECT_TRUE(server_->introspect(P({{"token", at}}), f)->content_type.empty()) << accept;
  }
  // An unknown token is signed inactive; an unauthenticated caller gets the plain error.
  f.accept = "application/token-introspection+jwt";
  const auto unknown = server_->introspect(P({{"token", "nope"}}), f);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(nlohmann::json::parse(jws_parse(unknown->body)->payload)["token_introspection"],
            nlohmann::json::parse(R"({"active":false})"));
  auto wrong = basic_facts("web", "wrong-secret");
  wrong.accept = f.accept;
  EXPECT_FALSE(server_->introspect(P({{"token", at}}), wrong));
  const auto m = nlohmann::json::parse(server_->metadata_json(true));
  EXPECT_EQ(m["introspection_signing_alg_values_supported"],
            nlohmann::json::array({"ES256", "RS256", "PS256", "EdDSA"}));
}

TEST_F(AuthorizationServerTest, RevocationAndIntrospection) {
  auto body = nlohmann::json::parse(redeem(obtain_code())->body);
  auto f = basic_facts();
  auto at = body["access_token"].get<std::string>();
  auto active = nlohmann::json::parse(server_->introspect(P({{"token", at}}), f)->body);
  EXPECT_TRUE(active["active"].get<bool>());
  EXPECT_EQ(active["sub"], "resident-1");
  ASSERT_TRUE(server_->revoke(P({{"token", body["refresh_token"].get<std::string>()}}), f));
  auto after = nlohmann::json::parse(server_->introspect(P({{"token", at}}), f)->body);
  EXPECT_FALSE(after["active"].get<bool>()) << "revoking the refresh token revokes its family";
  auto unknown = nlohmann::json::parse(server_->introspect(P({{"token", "garbage"}}), f)->body);
  EXPECT_FALSE(unknown["active"].get<bool>());
  // A token made by someone else that names a live token's jti is not that token: the jti only
  // finds the record, and the record's hash decides.
  auto live = nlohmann::json::parse(redeem(obtain_code())->body)["access_token"].get<std::string>();
  const auto dot = live.find('.');
  const auto dot2 = live.find('.', dot + 1);
  const auto claims = *base64url_decode(live.substr(dot + 1, dot2 - dot - 1));
  const auto jti = nlohmann::json::parse(claims)["jti"].get<std::string>();
  for (const std::string& payload :
       {claims, R"({"jti":")" + jti + R"("})", R"({"x":{"jti":"decoy"},"jti":")" + jti + R"("})"}) {
    const std::string forged = live.substr(0, dot + 1) + base64url_encode(payload) + ".c2ln";
    auto answer = nlohmann::json::parse(server_->introspect(P({{"token", forged}}), f)->body);
    EXPECT_FALSE(answer["active"].get<bool>()) << payload;
  }
  EXPECT_TRUE(nlohmann::json::parse(server_->introspect(P({{"token", live}}), f)->body)["active"]
                  .get<bool>());
  clock_.advance(601);
  auto other = nlohmann::json::parse(redeem(obtain_code())->body);
  clock_.advance(601);
  auto expired = nlohmann::json::parse(
      server_->introspect(P({{"token", other["access_token"].get<std::string>()}}), f)->body);
  EXPECT_FALSE(expired["active"].get<bool>());
}

TEST_F(AuthorizationServerTest, RegistrationNeedsTheInitialAccessToken) {
  RequestFacts f;
  f.method = "POST";
  f.url = std::string(kIssuer) + "/register";
  std::string meta = R"({"client_name":"New","redirect_uris":["https://new.test/cb"]})";
  auto denied = server_->register_client(meta, f);
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().error.error, "invalid_token");
  f.authorization = "Bearer initial-token-for-tests-000000000000";
  auto created = server_->register_client(meta, f);
  ASSERT_TRUE(created);
  EXPECT_EQ(created->status, 201);
  auto body = nlohmann::json::parse(created->body);
  EXPECT_GE(body["client_secret"].get<std::string>().size(), 43u);
  EXPECT_TRUE(store_->find_client(body["client_id"].get<std::string>()));
  auto bad = server_->register_client(R"({"redirect_uris":["https://x.test/cb#frag"]})", f);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().error.error, "invalid_redirect_uri");
  EXPECT_EQ(store_->list_clients().size(), 3u);
}

// RFC 7592: the registration access token that /register returned reads, replaces and deletes
// the registration; nothing else does.
TEST_F(AuthorizationServerTest, ARegisteredClientManagesItsRegistration) {
  RequestFacts f;
  f.authorization = "Bearer initial-token-for-tests-000000000000";
  auto created = server_->register_client(
      R"({"client_name":"Mine","redirect_uris":["https://mine.test/cb"],"scope":"openid email"})",
      f);
  ASSERT_TRUE(created) << created.error().error.description;
  const auto reg = nlohmann::json::parse(created->body);
  const std::string id = reg["client_id"];
  const std::string secret = reg["client_secret"];
  ASSERT_GE(reg["registration_access_token"].get<std::string>().size(), 43u);
  EXPECT_EQ(reg["registration_client_uri"], std::string(kIssuer) + "/register/" + id);
  EXPECT_NE(store_->find_client(id)->registration_access_token_hash,
            reg["registration_access_token"]) << "stored hashed";
  RequestFacts rat;
  rat.authorization = "Bearer " + reg["registration_access_token"].get<std::string>();

  auto read = server_->manage_client("GET", id, "", rat);
  ASSERT_TRUE(read) << read.error().error.description;
  auto shown = nlohmann::json::parse(read->body);
  EXPECT_EQ(shown["client_name"], "Mine");
  EXPECT_EQ(shown["scope"], "openid email");
  EXPECT_FALSE(shown.contains("client_secret"));
  EXPECT_FALSE(shown.contains("registration_access_token"));

  // Nobody else: a wrong token, another client's id, an operator's client, no token.
  RequestFacts wrong;
  wrong.authorization = "Bearer not-the-token";
  for (const auto& [who, client, facts] :
       std::vector<std::tuple<std::string, std::string, RequestFacts>>{
           {"wrong token", id, wrong}, {"operator's client", "web", rat},
           {"unknown client", "nobody", rat}, {"no token", id, RequestFacts{}}}) {
    for (const char* method : {"GET", "PUT", "DELETE"}) {
      auto refused = server_->manage_client(method, client, R"({"client_id":"web"})", facts);
      ASSERT_FALSE(refused) << who << " " << method;
      EXPECT_EQ(refused.error().error.error, "invalid_token") << who;
      EXPECT_EQ(refused.error().auth_scheme, "Bearer") << who;
    }
  }
  EXPECT_TRUE(store_->find_client("web"));

  // PUT replaces the whole metadata: what it leaves out (scope) is reset.
  auto updated = server_->manage_client(
      "PUT", id,
      nlohmann::json{{"client_id", id}, {"client_name", "Renamed"},
                     {"redirect_uris", {"https://mine.test/cb2"}}}.dump(),
      rat);
  ASSERT_TRUE(updated) << updated.error().error.description;
  auto after = store_->find_client(id);
  EXPECT_EQ(after->client_name, "Renamed");
  EXPECT_EQ(after->redirect_uris, std::vector<std::string>{"https://mine.test/cb2"});
  EXPECT_TRUE(after->scope.empty());
  EXPECT_EQ(after->secret_hash, sha256_b64url(secret)) << "the secret stays";
  EXPECT_FALSE(nlohmann::json::parse(updated->body).contains("client_secret"));

  // Refused updates change nothing.
  for (const auto& [why, body, error] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"another client_id", R"({"client_id":"web","redirect_uris":["https://a.test/cb"]})",
            "invalid_request"},
           {"no client_id", R"({"redirect_uris":["https://a.test/cb"]})", "invalid_request"},
           {"a fragment", nlohmann::json{{"client_id", id}, {"redirect_uris", {"https://a.test/#x"}}}.dump(),
            "invalid_redirect_uri"},
           {"a wrong secret", nlohmann::json{{"client_id", id}, {"client_secret", "guess"},
                                             {"redirect_uris", {"https://a.test/cb"}}}.dump(),
            "invalid_request"},
           {"a server-set member", nlohmann::json{{"client_id", id}, {"registration_access_token", "x"},
                                                  {"redirect_uris", {"https://a.test/cb"}}}.dump(),
            "invalid_request"},
           {"not JSON", "{", "invalid_client_metadata"}}) {
    auto refused = server_->manage_client("PUT", id, body, rat);
    ASSERT_FALSE(refused) << why;
    EXPECT_EQ(refused.error().error.error, error) << why;
    EXPECT_EQ(store_->find_client(id)->client_name, "Renamed") << why;
    EXPECT_EQ(store_->find_client(id)->redirect_uris,
              std::vector<std::string>{"https://mine.test/cb2"}) << why;
  }

  // Moving to keys drops the secret; moving back issues a new one, shown once.
  const auto key = SigningKey::generate_es256();
  const auto jwks = nlohmann::json{{"keys", {nlohmann::json::parse(key.public_key().to_jwk_json())}}};
  ASSERT_TRUE(server_->manage_client(
      "PUT", id,
      nlohmann::json{{"client_id", id}, {"token_endpoint_auth_method", "private_key_jwt"},
                     {"jwks", jwks}, {"redirect_uris", {"https://mine.test/cb2"}}}.dump(),
      rat));
  EXPECT_TRUE(store_->find_client(id)->secret_hash.empty());
  auto back = server_->manage_client(
      "PUT", id,
      nlohmann::json{{"client_id", id}, {"redirect_uris", {"https://mine.test/cb2"}}}.dump(), rat);
  ASSERT_TRUE(back);
  const std::string new_secret = nlohmann::json::parse(back->body)["client_secret"];
  EXPECT_NE(new_secret, secret);
  EXPECT_EQ(store_->find_client(id)->secret_hash, sha256_b64url(new_secret));

  // DELETE removes it; the token then opens nothing.
  auto deleted = server_->manage_client("DELETE", id, "", rat);
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->status, 204);
  EXPECT_FALSE(store_->find_client(id));
  EXPECT_FALSE(server_->manage_client("GET", id, "", rat));
}

// House rule: secrets hashed, personal data encrypted at rest. After a resident is added and
// tokens issued (and a key rotated, and the audit log signed), neither the database nor its
// write-ahead log holds the resident's name or e-mail address or a private key in clear.
TEST_F(AuthorizationServerTest, PersonalDataAndPrivateKeysAreSealedAtRest) {
  const std::string name = "Taro Yamada-Qx9vW2kZ";
  const std::string email = "taro.qx9@example.jp";
  storage::ResidentRecord r;
  r.id = "resident-2";
  r.username = "taro";
  r.password_hash = hash_password("taro's long password");
  r.name = name;
  r.email = email;
  ASSERT_TRUE(server_->insert_resident(r));
  EXPECT_FALSE(server_->insert_resident(r)) << "the same id twice";

  auto request = server_->authorize(P({{"response_type", "code"},
                                       {"client_id", "web"},
                                       {"redirect_uri", std::string(kRedirect)},
                                       {"scope", "openid profile email"},
                                       {"nonce", "n"},
                                       {"code_challenge", std::string(kChallenge)},
                                       {"code_challenge_method", "S256"}}));
  ASSERT_EQ(request.kind, AuthorizeResult::Kind::proceed) << request.error.description;
  auto login = server_->login("taro", "taro's long password", "127.0.0.1");
  ASSERT_EQ(login.kind, LoginOutcome::Kind::ok);
  auto pending = server_->take_pending(request.pending.handle);
  ASSERT_TRUE(pending);
  auto answer = redeem(code_from(server_->approve(*pending, login.session).location));
  ASSERT_TRUE(answer) << answer.error().error.description;
  const auto access_token = nlohmann::json::parse(answer->body)["access_token"].get<std::string>();

  // Callers see the opened values.
  RequestFacts ui;
  ui.method = "GET";
  ui.url = std::string(kIssuer) + "/userinfo";
  ui.authorization = "Bearer " + access_token;
  auto info = server_->userinfo(ui);
  ASSERT_TRUE(info) << info.error().error.description;
  const auto claims = nlohmann::json::parse(info->body);
  EXPECT_EQ(claims["name"], name);
  EXPECT_EQ(claims["email"], email);
  EXPECT_EQ(server_->find_resident("resident-2")->email, email);
  bool listed = false;
  for (const auto& each : server_->list_residents()) listed = listed || each.name == name;
  EXPECT_TRUE(listed);

  // Storage holds sealed values only.
  const auto stored = store_->find_resident("resident-2");
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->name.rfind("v1.", 0), 0u);
  EXPECT_EQ(stored->email.rfind("v1.", 0), 0u);
  EXPECT_EQ(stored->username, "taro") << "the login lookup key stays plain";
  server_->keys().rotate(random_);
  clock_.advance(5);
  (void)server_->keys().current();
  (void)server_->audit().tree_head();
  for (const auto& key : store_->list_signing_keys()) EXPECT_EQ(key.private_pem.rfind("v1.", 0), 0u);

  std::string bytes;
  for (const auto* suffix : {"", "-wal"}) {
    std::ifstream in(dir_.file(std::string("t.db") + suffix), std::ios::binary);
    if (*suffix == '\0') {
      ASSERT_TRUE(in);
    }
    bytes.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ASSERT_GT(bytes.size(), 4096u);
  EXPECT_NE(bytes.find("taro"), std::string::npos) << "the search itself works";
  EXPECT_EQ(bytes.find(name), std::string::npos);
  EXPECT_EQ(bytes.find("Qx9vW2kZ"), std::string::npos);  // long enough not to occur by chance
  EXPECT_EQ(bytes.find(email), std::string::npos);
  EXPECT_EQ(bytes.find("Hanako"), std::string::npos);
  EXPECT_EQ(bytes.find("PRIVATE KEY"), std::string::npos);
}

// The associated data binds each sealed value to its row: a value copied over another row
// (by someone with write access to the file) does not open there.
TEST_F(AuthorizationServerTest, SealedValuesMovedToAnotherRowDoNotOpen) {
  storage::ResidentRecord r;
  r.id = "resident-2";
  r.username = "taro";
  r.password_hash = hash_password("taro's long password");
  r.name = "Taro";
  ASSERT_TRUE(server_->insert_resident(r));
  server_->keys().rotate(random_);
  sql("UPDATE residents SET name = (SELECT name FROM residents WHERE id = 'resident-2') "
      "WHERE id = 'resident-1'");
  EXPECT_THROW((void)server_->find_resident("resident-1"), std::runtime_error);
  EXPECT_NO_THROW((void)server_->find_resident("resident-2"));
  sql("UPDATE residents SET email = name WHERE id = 'resident-2'");
  EXPECT_THROW((void)server_->find_resident("resident-2"), std::runtime_error);

  // Two signing keys swap their private keys: neither opens under the other's kid, for a
  // process that reads them now. The running one does not open a key again once it has read
  // it: it goes on signing with what it read, and /jwks serves the keys it published.
  const auto jwks = server_->keys().jwks_json();
  const auto kid = server_->keys().current().kid;
  sql("UPDATE signing_keys SET private_pem = (SELECT private_pem FROM signing_keys s "
      "WHERE s.kid <> signing_keys.kid)");
  clock_.advance(5);  // past the key ring's reload interval
  EXPECT_EQ(server_->keys().current().kid, kid);
  EXPECT_EQ(server_->keys().jwks_json(), jwks);
  KeyRing fresh(*store_, clock_, sealer_, 3600);
  EXPECT_THROW((void)fresh.current(), std::runtime_error);
  EXPECT_THROW((void)fresh.jwks_json(), std::runtime_error);
}

// A rotation scheduled ahead publishes the successor at once and signs with it only from its
// activates_at: a relying party that fetched the key set in between has it before it sees it.
// rotate_due() schedules one per algorithm in use whose key has signed for the interval less
// the lead, and none while one is waiting.
TEST_F(AuthorizationServerTest, KeysRotateAheadOfUseOnSchedule) {
  auto& keys = server_->keys();
  const auto old_kid = keys.current().kid;
  const auto published = [&] {
    std::set<std::string> kids;
    const auto set = nlohmann::json::parse(keys.jwks_json());
    for (const auto& k : set["keys"]) kids.insert(k["kid"].get<std::string>());
    return kids;
  };
  const auto next = keys.rotate(random_, "ES256", 600);
  EXPECT_TRUE(published().count(next)) << "published at once";
  clock_.advance(5);  // past the ring's reload interval
  EXPECT_EQ(keys.current().kid, old_kid) << "the old key signs until the successor starts";
  clock_.advance(594);  // a second before the successor starts: the keys are read again
  EXPECT_EQ(keys.current().kid, old_kid);
  clock_.advance(1);
  EXPECT_EQ(keys.current().kid, next)
      << "at its activates_at, though the last read is younger than the reload interval";
  EXPECT_TRUE(published().count(old_kid)) << "kept for key_retention";

  // On schedule: every 1000 s, successors published 100 s ahead.
  const auto since = keys.current().since;
  clock_.set(since + 899);
  EXPECT_TRUE(keys.rotate_due(random_, 1000, 100).empty()) << "not due yet";
  clock_.set(since + 900);
  const auto due = keys.rotate_due(random_, 1000, 100);
  ASSERT_EQ(due.size(), 1U) << "ES256 only: the other algorithms have no key here";
  EXPECT_EQ(due[0].alg, "ES256");
  EXPECT_EQ(due[0].activates_at, since + 1000);
  EXPECT_TRUE(published().count(due[0].kid));
  EXPECT_TRUE(keys.rotate_due(random_, 1000, 100).empty()) << "one is waiting already";
  clock_.set(since + 1000);
  EXPECT_EQ(keys.current().kid, due[0].kid);
  EXPECT_EQ(keys.current().since, since + 1000);
  EXPECT_TRUE(keys.rotate_due(random_, 1000, 100).empty()) << "the new key has just started";
  EXPECT_TRUE(keys.rotate_due(random_, 0, 0).empty()) << "interval 0: never on schedule";
}

// /jwks reads the key table on every request (a key another process made is served at once),
// but opens only the keys it has not read before: unsealing and parsing every key, RSA ones
// among them, on every unauthenticated request would make each cost that. Spoiled private keys
// show it: a reload after them still serves the same set, and a new key is opened when it
// comes.
TEST_F(AuthorizationServerTest, KeyReloadsOpenOnlyKeysNotReadBefore) {
  const auto first = nlohmann::json::parse(server_->keys().jwks_json());
  ASSERT_EQ(first["keys"].size(), 1U);
  sql("UPDATE signing_keys SET private_pem = 'spoiled'");
  EXPECT_EQ(nlohmann::json::parse(server_->keys().jwks_json()), first);
  const auto kid = server_->keys().rotate(random_, "ES256");
  const auto second = nlohmann::json::parse(server_->keys().jwks_json());
  ASSERT_EQ(second["keys"].size(), 2U);
  EXPECT_EQ(server_->keys().current().kid, kid);
  EXPECT_TRUE(server_->keys().find(first["keys"][0]["kid"].get<std::string>()));
  KeyRing fresh(*store_, clock_, sealer_, 3600);
  EXPECT_THROW((void)fresh.jwks_json(), std::runtime_error) << "the spoiled key, read anew";
}

// OIDC Back-Channel Logout 1.0: the ID token names the session (sid); ending the session queues
// a logout for each client signed in within it that registered a backchannel_logout_uri, and
// the logout token says who and which session, as that client knows them, and nothing more.
TEST_F(AuthorizationServerTest, EndingASessionTellsTheClientsSignedInWithinIt) {
  storage::ClientRecord bc;
  bc.client_id = "bc";
  bc.redirect_uris = {"https://bc.test/cb"};
  bc.scope = "openid profile";
  bc.subject_type = "pairwise";
  bc.backchannel_logout_uri = "https://bc.test/logout";
  auto created = server_->create_client(bc);
  ASSERT_TRUE(created) << created.error().description;
  const auto bc_secret = created->client_secret;
  EXPECT_TRUE(nlohmann::json::parse(server_->metadata_json(true))["backchannel_logout_supported"]
                  .get<bool>());

  auto signed_in = server_->login("hanako", "correct horse battery", "127.0.0.1");
  ASSERT_EQ(signed_in.kind, LoginOutcome::Kind::ok);
  ASSERT_FALSE(signed_in.session.sid.empty());
  // Two clients sign her in within the session: "bc" (told) and "web" (no URI, not told).
  auto code_for = [&](std::string client, std::string redirect) {
    auto params = authorize_params();
    Params asked;
    for (const auto& [k, v] : params.items()) {
      if (k == "client_id") asked.add(k, client);
      else if (k == "redirect_uri") asked.add(k, redirect);
      else if (k == "scope") asked.add(k, "openid");
      else asked.add(k, v);
    }
    auto r = server_->authorize(asked);
    EXPECT_EQ(r.kind, AuthorizeResult::Kind::proceed) << r.error.description;
    return code_from(server_->approve(*server_->take_pending(r.pending.handle),
                                      signed_in.session).location);
  };
  const auto bc_code = code_for("bc", "https://bc.test/cb");
  (void)code_for("web", std::string(kRedirect));
  auto facts = basic_facts("bc", bc_secret);
  auto answer = server_->token(P({{"grant_type", "authorization_code"},
                                  {"code", bc_code},
                                  {"redirect_uri", "https://bc.test/cb"},
                                  {"code_verifier", std::string(kVerifier)}}),
                               facts);
  ASSERT_TRUE(answer);
  const auto id_token = nlohmann::json::parse(answer->body)["id_token"].get<std::string>();
  const auto id = nlohmann::json::parse(jws_parse(id_token)->payload);
  EXPECT_EQ(id["sid"], signed_in.session.sid);

  EXPECT_TRUE(store_->claim_logout_deliveries(clock_.now(), clock_.now() + 30, 10).empty());
  const auto ended = server_->logout(signed_in.session_cookie, "bc");
  EXPECT_EQ(ended.backchannel_queued, 1);
  EXPECT_TRUE(ended.frontchannel_uris.empty()) << "no client registered a front-channel URI";
  EXPECT_FALSE(server_->session_from_cookie(signed_in.session_cookie));
  EXPECT_EQ(server_->logout(signed_in.session_cookie).backchannel_queued, 0) << "ended once";
  auto due = store_->claim_logout_deliveries(clock_.now(), clock_.now() + 30, 10);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].client_id, "bc");

  const auto request = server_->backchannel_logout(due[0]);
  ASSERT_TRUE(request);
  EXPECT_EQ(request->uri, "https://bc.test/logout");
  const auto parts = jws_parse(request->logout_token);
  ASSERT_TRUE(parts);
  EXPECT_EQ(parts->typ, "logout+jwt");
  const auto key = server_->keys().find(parts->kid);
  ASSERT_TRUE(key);
  EXPECT_TRUE(jws_verify(*parts, *key));
  const auto claims = nlohmann::json::parse(parts->payload);
  EXPECT_EQ(claims["iss"], kIssuer);
  EXPECT_EQ(claims["aud"], "bc");
  EXPECT_EQ(claims["sub"], id["sub"]) << "as the client knows her (pairwise)";
  EXPECT_NE(claims["sub"], "resident-1");
  EXPECT_EQ(claims["sid"], signed_in.session.sid);
  EXPECT_EQ(claims["exp"].get<std::int64_t>() - claims["iat"].get<std::int64_t>(),
            kLogoutTokenTtl);
  EXPECT_TRUE(claims["jti"].is_string());
  EXPECT_TRUE(claims["events"].contains("http://schemas.openid.net/event/backchannel-logout"));
  EXPECT_FALSE(claims.contains("nonce")) << "§2.4: a logout token is never an ID token";

  // A client removed meanwhile is not called.
  ASSERT_TRUE(store_->remove_client("bc"));
  EXPECT_FALSE(server_->backchannel_logout(due[0]));
}

// The outcome of a logout sent for a resident removed since (their sessions ended with them)
// is logged without naming them: naming them would tie a new pseudonym to the freed id.
TEST_F(AuthorizationServerTest, BackchannelLogoutOfARemovedResidentDoesNotNameThem) {
  const storage::LogoutDelivery delivery{"sid-x", "web", "resident-1", 1};
  server_->backchannel_logout_ended(delivery, true, "HTTP 200");
  auto events = store_->list_events(0, 10'000);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().action, "logout.backchannel");
  EXPECT_FALSE(events.back().resident.empty());
  ASSERT_TRUE(store_->remove_resident_by_username("hanako"));
  server_->backchannel_logout_ended(delivery, true, "HTTP 200");
  events = store_->list_events(0, 10'000);
  EXPECT_EQ(events.back().action, "logout.backchannel");
  EXPECT_EQ(events.back().client_id, "web");
  EXPECT_TRUE(events.back().resident.empty());
}

TEST_F(AuthorizationServerTest, BackchannelLogoutUrisAreOnesTheServerMayCall) {
  storage::ClientRecord c;
  c.redirect_uris = {"https://rp.test/cb"};
  c.scope = "openid";
  for (const char* refused :
       {"http://rp.test/logout", "https://rp.test/logout#x", "https://user@rp.test/logout",
        "/logout", "rp.test/logout", "com.example.app:/logout", "ftp://rp.test/logout"}) {
    c.backchannel_logout_uri = refused;
    auto r = server_->create_client(c);
    ASSERT_FALSE(r) << refused;
    EXPECT_EQ(r.error().error, "invalid_client_metadata") << refused;
  }
  c.backchannel_logout_uri = "";
  c.backchannel_logout_session_required = true;
  EXPECT_FALSE(server_->create_client(c)) << "sid required, but nowhere to send it";
  c.backchannel_logout_uri = "https://rp.test/logout?tenant=1";
  storage::ClientRecord machine = c;
  machine.grant_types = {"client_credentials"};
  machine.redirect_uris = {};
  EXPECT_FALSE(server_->create_client(machine)) << "no one signs in at a machine client";
  for (const char* accepted : {"https://rp.test/logout?tenant=1", "http://127.0.0.1:8081/bye",
                               "http://localhost/bye", "http://[::1]:9/bye"}) {
    c.backchannel_logout_uri = accepted;
    c.client_id = "";
    auto r = server_->create_client(c);
    ASSERT_TRUE(r) << accepted << ": " << r.error().description;
    EXPECT_EQ(r->record.backchannel_logout_uri, accepted);
  }
}

// OIDC Front-Channel Logout 1.0: ending a session names, for the signed-out page, the logout
// URI of each client signed in within it that registered one, with iss and sid for those that
// asked for them; a URI must share its origin with one of the client's redirect URIs.
TEST_F(AuthorizationServerTest, EndingASessionNamesTheFrontChannelLogoutUris) {
  auto client = [&](std::string id, std::string uri, bool session_required) {
    storage::ClientRecord c;
    c.client_id = id;
    c.redirect_uris = {"https://" + id + ".test/cb"};
    c.scope = "openid";
    c.frontchannel_logout_uri = std::move(uri);
    c.frontchannel_logout_session_required = session_required;
    auto created = server_->create_client(c);
    EXPECT_TRUE(created) << created.error().description;
  };
  client("fa", "https://fa.test/logout", false);
  client("fb", "https://fb.test/logout?tenant=1", true);
  client("fc", "https://fc.test/logout", false);  // never signs her in: not loaded
  const auto md = nlohmann::json::parse(server_->metadata_json(true));
  EXPECT_TRUE(md["frontchannel_logout_supported"].get<bool>());
  EXPECT_TRUE(md["frontchannel_logout_session_supported"].get<bool>());

  auto signed_in = server_->login("hanako", "correct horse battery", "127.0.0.1");
  ASSERT_EQ(signed_in.kind, LoginOutcome::Kind::ok);
  for (const std::string id : {"fa", "fb", "web"}) {
    const auto params = authorize_params();
    Params asked;
    for (const auto& [k, v] : params.items()) {
      if (k == "client_id") asked.add(k, id);
      else if (k == "redirect_uri") asked.add(k, id == "web" ? std::string(kRedirect)
                                                            : "https://" + id + ".test/cb");
      else if (k == "scope") asked.add(k, "openid");
      else asked.add(k, v);
    }
    auto r = server_->authorize(asked);
    ASSERT_EQ(r.kind, AuthorizeResult::Kind::proceed) << id << ": " << r.error.description;
    (void)server_->approve(*server_->take_pending(r.pending.handle), signed_in.session);
  }
  const auto ended = server_->logout(signed_in.session_cookie);
  ASSERT_EQ(ended.frontchannel_uris.size(), 2u);
  EXPECT_EQ(ended.frontchannel_uris[0], "https://fa.test/logout");
  const std::string_view fb = ended.frontchannel_uris[1];
  const std::string_view fb_base = "https://fb.test/logout?";
  ASSERT_TRUE(fb.starts_with(fb_base)) << fb;
  const auto query = parse_query(fb.substr(fb_base.size()));
  ASSERT_TRUE(query);
  EXPECT_EQ(query->value("tenant"), "1") << "the registered query is kept";
  EXPECT_EQ(query->value("iss"), kIssuer);
  EXPECT_EQ(query->value("sid"), signed_in.session.sid);
  EXPECT_TRUE(server_->logout(signed_in.session_cookie).frontchannel_uris.empty())
      << "ended once";

  // Registration: the redirect URIs' origin, no fragment, the code flow; session_required only
  // with a URI.
  storage::ClientRecord c;
  c.redirect_uris = {"https://rp.test/cb", "http://127.0.0.1:8081/cb"};
  c.scope = "openid";
  for (const char* refused : {"https://other.test/logout", "http://rp.test/logout",
                              "https://rp.test:8443/logout", "https://rp.test/logout#x",
                              "https://user@rp.test/logout", "/logout", "http://127.0.0.1/cb"}) {
    c.frontchannel_logout_uri = refused;
    auto r = server_->create_client(c);
    ASSERT_FALSE(r) << refused;
    EXPECT_EQ(r.error().error, "invalid_client_metadata") << refused;
  }
  c.frontchannel_logout_uri = "";
  c.frontchannel_logout_session_required = true;
  EXPECT_FALSE(server_->create_client(c)) << "iss and sid required, but nowhere to send them";
  c.frontchannel_logout_session_required = false;
  for (const char* accepted : {"https://RP.test/bye?x=1", "https://rp.test:443/bye",
                               "http://127.0.0.1:8081/bye"}) {
    c.frontchannel_logout_uri = accepted;
    c.client_id = "";
    auto r = server_->create_client(c);
    ASSERT_TRUE(r) << accepted << ": " << r.error().description;
    EXPECT_EQ(r->record.frontchannel_logout_uri, accepted);
  }
  storage::ClientRecord machine = c;
  machine.grant_types = {"client_credentials"};
  machine.redirect_uris = {};
  EXPECT_FALSE(server_->create_client(machine)) << "no one signs in at a machine client";
}

// Signing in again in the same browser: the same resident keeps the session (its sid; the old
// cookie stops working, the clients signed in within it are not told); someone else ends it,
// and its clients are told.
TEST_F(AuthorizationServerTest, SigningInAgainKeepsOrEndsTheSessionItReplaces) {
  storage::ClientRecord bc;
  bc.client_id = "bc";
  bc.redirect_uris = {"https://bc.test/cb"};
  bc.scope = "openid";
  bc.backchannel_logout_uri = "https://bc.test/logout";
  ASSERT_TRUE(server_->create_client(bc));
  storage::ResidentRecord taro;
  taro.id = "resident-2";
  taro.username = "taro";
  taro.password_hash = hash_password("another good passphrase");
  ASSERT_TRUE(server_->insert_resident(taro));

  const auto first = server_->login("hanako", "correct horse battery", "127.0.0.1");
  ASSERT_EQ(first.kind, LoginOutcome::Kind::ok);
  store_->add_session_client({first.session.sid, "bc", "resident-1", first.session.expires_at});
  clock_.advance(60);
  const auto again =
      server_->login("hanako", "correct horse battery", "127.0.0.1", first.session_cookie);
  ASSERT_EQ(again.kind, LoginOutcome::Kind::ok);
  EXPECT_EQ(again.session.sid, first.session.sid) << "one session, re-authenticated";
  EXPECT_NE(again.session_cookie, first.session_cookie) << "a fresh cookie";
  EXPECT_EQ(again.session.auth_time, first.session.auth_time + 60);
  EXPECT_FALSE(server_->session_from_cookie(first.session_cookie));
  EXPECT_EQ(again.logouts_queued, 0);

  const auto other =
      server_->login("taro", "another good passphrase", "127.0.0.1", again.session_cookie);
  ASSERT_EQ(other.kind, LoginOutcome::Kind::ok);
  EXPECT_NE(other.session.sid, first.session.sid);
  EXPECT_EQ(other.logouts_queued, 1) << "hanako's session ended; bc is told";
  EXPECT_FALSE(server_->session_from_cookie(again.session_cookie));
  const auto due = store_->claim_logout_deliveries(clock_.now(), clock_.now() + 30, 10);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].sid, first.session.sid);
  EXPECT_EQ(due[0].resident_id, "resident-1");

  // A cookie that names no live session changes nothing.
  const auto fresh = server_->login("taro", "another good passphrase", "127.0.0.1", "bogus");
  EXPECT_EQ(fresh.logouts_queued, 0);
  EXPECT_TRUE(server_->session_from_cookie(other.session_cookie)) << "not that browser's";
}


// ---- JWT-secured authorization responses (JARM) -------------------------------------------

// The `response` parameter of a JARM redirect, verified with the server's key.
nlohmann::json jarm_claims(AuthorizationServer& server, const std::string& location) {
  boost::urls::url_view url(location);
  EXPECT_EQ(url.params().size(), 1u) << "only `response`: " << location;
  auto it = url.params().find("response");
  if (it == url.params().end()) return {};
  auto parts = jws_parse((*it).value);
  EXPECT_TRUE(parts);
  if (!parts) return {};
  auto key = server.keys().find(parts->kid);
  EXPECT_TRUE(key && jws_verify(*parts, *key)) << "signed with a published key";
  EXPECT_EQ(parts->alg, "ES256");
  return nlohmann::json::parse(parts->payload);
}

TEST_F(AuthorizationServerTest, JwtResponseModesSignTheAuthorizationResponse) {
  for (const char* mode : {"jwt", "query.jwt"}) {
    auto r = server_->authorize(authorize_params("response_mode", mode));
    ASSERT_EQ(r.kind, AuthorizeResult::Kind::proceed) << r.error.description;
    auto session = sign_in();
    auto pending = server_->take_pending(r.pending.handle);
    ASSERT_TRUE(pending);
    const auto location = server_->approve(*pending, session).location;
    ASSERT_TRUE(location.starts_with(std::string(kRedirect) + "?response=")) << location;
    const auto claims = jarm_claims(*server_, location);
    EXPECT_EQ(claims["iss"], kIssuer) << mode;
    EXPECT_EQ(claims["aud"], "web") << mode;
    EXPECT_EQ(claims["exp"], clock_.now() + 300) << mode;
    EXPECT_EQ(claims["state"], "xyz") << mode;
    ASSERT_TRUE(claims.contains("code")) << mode;
    auto answer = redeem(claims["code"].get<std::string>());
    EXPECT_TRUE(answer) << mode << ": the code in the JWT is the one to redeem";
  }
  // The plain query response is unchanged, iss included (RFC 9207).
  auto r = server_->authorize(authorize_params());
  ASSERT_EQ(r.kind, AuthorizeResult::Kind::proceed);
  const auto session = sign_in();
  boost::urls::url_view plain(
      server_->approve(*server_->take_pending(r.pending.handle), session).location);
  EXPECT_NE(plain.params().find("code"), plain.params().end());
  EXPECT_EQ((*plain.params().find("iss")).value, kIssuer);
  EXPECT_EQ(plain.params().find("response"), plain.params().end());

  auto m = nlohmann::json::parse(server_->metadata_json(true));
  EXPECT_EQ(m["response_modes_supported"],
            nlohmann::json::array({"query", "form_post", "jwt", "query.jwt", "form_post.jwt"}));
  EXPECT_EQ(m["authorization_signing_alg_values_supported"],
            nlohmann::json::array({"ES256", "RS256", "PS256", "EdDSA"}));
}

// OIDC Core §15.1: RS256 for a client that asked for it (the default of
// id_token_signed_response_alg, JARM's and RFC 9701's). Its key is published when the client
// is registered, before anything is signed with it; access tokens stay ES256 (RFC 9068), and
// a client that asked for ES256 keeps getting ES256.
TEST_F(AuthorizationServerTest, ObjectsSignedForAClientUseItsRegisteredAlgorithm) {
  auto published_algs = [this] {
    std::map<std::string, std::string> algs;  // kid -> alg
    const auto jwks = nlohmann::json::parse(server_->keys().jwks_json());
    for (const auto& k : jwks["keys"]) algs[k["kid"]] = k["alg"];
    return algs;
  };
  ASSERT_EQ(published_algs().size(), 1U) << "no RS256 key until a client needs one";

  storage::ClientRecord rs;
  rs.client_id = "rs";
  rs.token_endpoint_auth_method = "client_secret_basic";
  rs.redirect_uris = {std::string(kRedirect)};
  rs.grant_types = {"authorization_code"};
  rs.scope = "openid";
  rs.id_token_signed_response_alg = "RS256";
  rs.introspection_signed_response_alg = "RS256";
  rs.authorization_signed_response_alg = "RS256";
  const auto created = server_->create_client(rs);
  ASSERT_TRUE(created);
  const auto algs = published_algs();
  ASSERT_EQ(algs.size(), 2U);
  std::set<std::string> kinds;
  for (const auto& [kid, alg] : algs) kinds.insert(alg);
  EXPECT_EQ(kinds, (std::set<std::string>{"ES256", "RS256"}));

  const auto params = P({{"response_type", "code"}, {"client_id", "rs"},
              {"redirect_uri", std::string(kRedirect)}, {"scope", "openid"}, {"state", "s"},
              {"nonce", "n"}, {"code_challenge", std::string(kChallenge)},
              {"code_challenge_method", "S256"}, {"response_mode", "query.jwt"}});
  auto r = server_->authorize(params);
  ASSERT_EQ(r.kind, AuthorizeResult::Kind::proceed) << r.error.description;
  const auto session = sign_in();
  boost::urls::url_view location(
      server_->approve(*server_->take_pending(r.pending.handle), session).location);
  const auto response = jws_parse((*location.params().find("response")).value);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->alg, "RS256");
  EXPECT_EQ(algs.at(response->kid), "RS256");
  ASSERT_TRUE(jws_verify(*response, *server_->keys().find(response->kid)));
  const auto code = nlohmann::json::parse(response->payload)["code"].get<std::string>();

  const auto facts = basic_facts("rs", created->client_secret);
  const auto answer = server_->token(
      P({{"grant_type", "authorization_code"}, {"code", code},
         {"redirect_uri", std::string(kRedirect)}, {"code_verifier", std::string(kVerifier)}}),
      facts);
  ASSERT_TRUE(answer);
  const auto body = nlohmann::json::parse(answer->body);
  const auto id_token = jws_parse(body["id_token"].get<std::string>());
  ASSERT_TRUE(id_token);
  EXPECT_EQ(id_token->alg, "RS256");
  EXPECT_EQ(id_token->typ, "JWT");
  EXPECT_TRUE(jws_verify(*id_token, *server_->keys().find(id_token->kid)));
  // at_hash is SHA-256's left half for RS256 as for ES256 (OIDC Core §3.3.2.11).
  EXPECT_EQ(nlohmann::json::parse(id_token->payload)["at_hash"],
            base64url_encode(sha256(body["access_token"].get<std::string>()).substr(0, 16)));
  const auto access = jws_parse(body["access_token"].get<std::string>());
  ASSERT_TRUE(access);
  EXPECT_EQ(access->alg, "ES256") << "access tokens are ES256 whatever the client asked";
  // The hint an RP sends back is one of its own ID tokens: RS256 ones are read too.
  EXPECT_TRUE(server_->id_token_hint(body["id_token"].get<std::string>()));

  auto introspect_facts = facts;
  introspect_facts.accept = "application/token-introspection+jwt";
  const auto signed_answer = server_->introspect(P({{"token", body["access_token"]}}),
                                                 introspect_facts);
  ASSERT_TRUE(signed_answer);
  const auto introspection = jws_parse(signed_answer->body);
  ASSERT_TRUE(introspection);
  EXPECT_EQ(introspection->alg, "RS256");
  EXPECT_TRUE(jws_verify(*introspection, *server_->keys().find(introspection->kid)));

  // The web client (ES256) is unaffected.
  const auto web = jws_parse(
      nlohmann::json::parse(redeem(obtain_code())->body)["id_token"].get<std::string>());
  ASSERT_TRUE(web);
  EXPECT_EQ(web->alg, "ES256");
  EXPECT_EQ(published_algs().size(), 2U);

  // Rotating one algorithm's key leaves the other's current.
  const auto rs_kid = id_token->kid;
  server_->keys().rotate(random_, "ES256");
  clock_.advance(5);
  EXPECT_EQ(server_->keys().current("RS256").kid, rs_kid);
  EXPECT_NE(server_->keys().current("ES256").kid, web->kid);
  EXPECT_EQ(published_algs().size(), 3U) << "the retired ES256 key stays published";

  // PS256 (FAPI 2.0) is signed with a key of its own, made when the client is registered; a
  // client that names no algorithm gets Settings::default_signing_alg (RS256 here).
  storage::ClientRecord ps = rs;
  ps.client_id = "ps";
  ps.id_token_signed_response_alg = "PS256";
  ps.authorization_signed_response_alg.clear();
  ASSERT_TRUE(server_->create_client(ps));
  EXPECT_EQ(server_->find_client("ps")->id_token_signed_response_alg, "PS256");
  EXPECT_EQ(server_->find_client("ps")->authorization_signed_response_alg, "RS256");
  const auto ps_kid = server_->keys().current("PS256").kid;
  EXPECT_EQ(published_algs().at(ps_kid), "PS256");
  EXPECT_NE(ps_kid, rs_kid);
  EXPECT_EQ(server_->keys().current("RS256").kid, rs_kid);

  // EdDSA (FAPI 2.0 too): an Ed25519 key of its own, published as an OKP JWK, made the same way.
  storage::ClientRecord ed = rs;
  ed.client_id = "ed";
  ed.id_token_signed_response_alg = "EdDSA";
  ASSERT_TRUE(server_->create_client(ed));
  const auto ed_kid = server_->keys().current("EdDSA").kid;
  EXPECT_EQ(published_algs().at(ed_kid), "EdDSA");
  const auto jwks = nlohmann::json::parse(server_->keys().jwks_json());
  for (const auto& k : jwks["keys"]) {
    if (k["kid"] != ed_kid) continue;
    EXPECT_EQ(k["kty"], "OKP");
    EXPECT_EQ(k["crv"], "Ed25519");
    EXPECT_FALSE(k.contains("d")) << "never the private half";
  }

  // An algorithm the server does not sign with is refused at registration.
  storage::ClientRecord other = rs;
  other.client_id = "other";
  other.id_token_signed_response_alg = "ES384";
  EXPECT_FALSE(server_->create_client(other));
  EXPECT_FALSE(server_->find_client("other"));
}

TEST_F(AuthorizationServerTest, JwtResponseModesSignErrorsToo) {
  // An error in the request: redirected as a JWT, with error_description.
  const auto bad = P({{"response_type", "code"}, {"client_id", "web"},
                      {"redirect_uri", std::string(kRedirect)}, {"scope", "openid"},
                      {"state", "st"}, {"code_challenge", std::string(kChallenge)},
                      {"code_challenge_method", "plain"}, {"response_mode", "jwt"}});
  auto r = server_->authorize(bad);
  ASSERT_EQ(r.kind, AuthorizeResult::Kind::redirect_error);
  auto claims = jarm_claims(*server_, r.response.location);
  EXPECT_EQ(claims["error"], "invalid_request");
  EXPECT_EQ(claims["state"], "st");
  EXPECT_TRUE(claims.contains("error_description"));
  EXPECT_FALSE(claims.contains("code"));

  // A refusal at the consent page.
  auto asked = server_->authorize(authorize_params("response_mode", "query.jwt"));
  ASSERT_EQ(asked.kind, AuthorizeResult::Kind::proceed);
  const auto session = sign_in();
  const auto denied =
      server_->deny(*server_->take_pending(asked.pending.handle), "access_denied",
                    session.resident_id);
  claims = jarm_claims(*server_, denied.location);
  EXPECT_EQ(claims["error"], "access_denied");
  EXPECT_EQ(claims["aud"], "web");

  // An unknown response mode is answered in the query, the one mode every client reads.
  auto unknown = server_->authorize(authorize_params("response_mode", "fragment"));
  ASSERT_EQ(unknown.kind, AuthorizeResult::Kind::redirect_error);
  boost::urls::url_view url(unknown.response.location);
  EXPECT_EQ((*url.params().find("error")).value, "invalid_request");
  EXPECT_EQ((*url.params().find("iss")).value, kIssuer);
  EXPECT_EQ(url.params().find("response"), url.params().end());
}

// ---- redirect_uri left out (RFC 6749 §3.1.2.3, §4.1.3) ------------------------------------

TEST_F(AuthorizationServerTest, ARedirectUriLeftOutIsTheOneRegisteredAndNotAskedForAgain) {
  // "web" registered one redirect URI; a plain OAuth request (no openid) may leave it out.
  auto without = [&](std::string scope) {
    return P({{"response_type", "code"}, {"client_id", "web"}, {"scope", std::move(scope)},
              {"state", "s1"}, {"code_challenge", std::string(kChallenge)},
              {"code_challenge_method", "S256"}});
  };
  const auto session = sign_in();
  auto code_of = [&](const Params& request) {
    auto r = server_->authorize(request);
    EXPECT_EQ(r.kind, AuthorizeResult::Kind::proceed) << r.error.description;
    EXPECT_EQ(r.pending.redirect_uri, kRedirect);
    return code_from(server_->approve(*server_->take_pending(r.pending.handle), session).location);
  };
  auto token = [&](const std::string& code, std::optional<std::string> redirect_uri) {
    Params form = P({{"grant_type", "authorization_code"}, {"code", code},
                     {"code_verifier", std::string(kVerifier)}});
    if (redirect_uri) form.add("redirect_uri", *redirect_uri);
    return server_->token(form, basic_facts());
  };
  // Left out at both ends; or repeated at the token endpoint as the one registered.
  EXPECT_TRUE(token(code_of(without("profile")), std::nullopt));
  EXPECT_TRUE(token(code_of(without("profile")), std::string(kRedirect)));
  auto other = token(code_of(without("profile")), "https://rp.test/other");
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().error.error, "invalid_grant");
  // Named at /authorize: required, and identical, at the token endpoint.
  auto named = without("profile");
  named.add("redirect_uri", std::string(kRedirect));
  auto missing = token(code_of(named), std::nullopt);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().error.error, "invalid_grant");
  EXPECT_TRUE(token(code_of(named), std::string(kRedirect)));

  // An OpenID request must name it (OIDC Core §3.1.2.1): shown, never redirected.
  auto openid = server_->authorize(without("openid profile"));
  EXPECT_EQ(openid.kind, AuthorizeResult::Kind::show_error);
  EXPECT_EQ(openid.error.error, "invalid_request");
  // So must a client with more than one registered.
  storage::ClientRecord two;
  two.client_id = "two";
  two.client_name = "Two";
  two.token_endpoint_auth_method = "none";
  two.redirect_uris = {"https://rp.test/a", "https://rp.test/b"};
  two.grant_types = {"authorization_code"};
  ASSERT_TRUE(server_->create_client(two));
  auto ambiguous = without("profile");
  auto items = ambiguous.items();
  items[1].second = "two";
  auto r = server_->authorize(Params(items));
  EXPECT_EQ(r.kind, AuthorizeResult::Kind::show_error);
  EXPECT_NE(r.error.description.find("redirect_uri is missing"), std::string::npos);
}

// ---- form_post (OAuth 2.0 Form Post Response Mode) ---------------------------------------

TEST_F(AuthorizationServerTest, FormPostResponseModesGiveFieldsForTheRedirectUri) {
  // form_post: the query response's parameters, iss included, as fields for a form that posts
  // to the redirect URI as registered.
  auto r = server_->authorize(authorize_params("response_mode", "form_post"));
  ASSERT_EQ(r.kind, AuthorizeResult::Kind::proceed) << r.error.description;
  const auto session = sign_in();
  const auto posted = server_->approve(*server_->take_pending(r.pending.handle), session);
  EXPECT_TRUE(posted.form_post);
  EXPECT_EQ(posted.location, kRedirect) << "nothing in the URL";
  std::map<std::string, std::string> fields(posted.form_fields.begin(), posted.form_fields.end());
  EXPECT_EQ(fields.size(), 3u);
  EXPECT_EQ(fields["state"], "xyz");
  EXPECT_EQ(fields["iss"], kIssuer);
  ASSERT_TRUE(fields.contains("code"));
  EXPECT_TRUE(redeem(fields["code"])) << "the posted code redeems";

  // form_post.jwt: one field, `response`, the JARM JWT.
  auto j = server_->authorize(authorize_params("response_mode", "form_post.jwt"));
  ASSERT_EQ(j.kind, AuthorizeResult::Kind::proceed) << j.error.description;
  const auto denied = server_->deny(*server_->take_pending(j.pending.handle), "access_denied",
                                    session.resident_id);
  EXPECT_TRUE(denied.form_post);
  EXPECT_EQ(denied.location, kRedirect);
  ASSERT_EQ(denied.form_fields.size(), 1u);
  EXPECT_EQ(denied.form_fields[0].first, "response");
  const auto claims = jarm_claims(*server_, std::string(kRedirect) + "?response=" +
                                                denied.form_fields[0].second);
  EXPECT_EQ(claims["error"], "access_denied");
  EXPECT_EQ(claims["state"], "xyz");
  EXPECT_EQ(claims["aud"], "web");

  // An error in the request goes back by form too, when the mode asked for is form_post.
  auto bad = server_->authorize(authorize_params("code_challenge_method", "plain"));
  ASSERT_EQ(bad.kind, AuthorizeResult::Kind::redirect_error);
  EXPECT_FALSE(bad.response.form_post) << "the default mode is the query";
  auto form_bad = P({{"response_type", "code"}, {"client_id", "web"},
                     {"redirect_uri", std::string(kRedirect)}, {"state", "st"},
                     {"code_challenge", std::string(kChallenge)},
                     {"code_challenge_method", "plain"}, {"response_mode", "form_post"}});
  auto e = server_->authorize(form_bad);
  ASSERT_EQ(e.kind, AuthorizeResult::Kind::redirect_error);
  EXPECT_TRUE(e.response.form_post);
  EXPECT_EQ(e.response.location, kRedirect);
  std::map<std::string, std::string> error_fields(e.response.form_fields.begin(),
                                                  e.response.form_fields.end());
  EXPECT_EQ(error_fields["error"], "invalid_request");
  EXPECT_EQ(error_fields["state"], "st");
  EXPECT_EQ(error_fields["iss"], kIssuer);
}

TEST_F(AuthorizationServerTest, FormPostNeedsAWebRedirectUri) {
  // A native app's private-use scheme (RFC 8252 §7.1) cannot receive a browser's POST: the
  // request is refused, and the error goes back in the query.
  storage::ClientRecord app;
  app.client_id = "app";
  app.client_name = "App";
  app.token_endpoint_auth_method = "none";
  app.redirect_uris = {"com.example.app:/callback"};
  app.grant_types = {"authorization_code"};
  ASSERT_TRUE(server_->create_client(app));
  auto r = server_->authorize(
      P({{"response_type", "code"}, {"client_id", "app"},
         {"redirect_uri", "com.example.app:/callback"}, {"state", "s1"},
         {"code_challenge", std::string(kChallenge)}, {"code_challenge_method", "S256"},
         {"response_mode", "form_post"}}));
  ASSERT_EQ(r.kind, AuthorizeResult::Kind::redirect_error);
  EXPECT_EQ(r.error.error, "invalid_request");
  EXPECT_FALSE(r.response.form_post);
  EXPECT_TRUE(r.response.location.starts_with("com.example.app:/callback?error=invalid_request"))
      << r.response.location;
}

// ---- request objects (RFC 9101) -----------------------------------------------------------

class RequestObjectServerTest : public AuthorizationServerTest {
 protected:
  // Registers client "jar" (private_key_jwt, code flow, key id "k1"), which must send signed
  // request objects when `required`.
  void SetUp() override {
    AuthorizationServerTest::SetUp();
    auto jwk = nlohmann::json::parse(key_.public_key().to_jwk_json());
    jwk["kid"] = "k1";
    storage::ClientRecord jar;
    jar.client_id = "jar";
    jar.client_name = "Signed RP";
    jar.token_endpoint_auth_method = "private_key_jwt";
    jar.redirect_uris = {std::string(kRedirect)};
    jar.grant_types = {"authorization_code"};
    jar.jwks = nlohmann::json{{"keys", {jwk}}}.dump();
    jar.require_signed_request_object = true;
    auto created = server_->create_client(jar);
    ASSERT_TRUE(created) << created.error().description;
  }

  nlohmann::json claims() const {
    return {{"iss", "jar"},
            {"aud", kIssuer},
            {"client_id", "jar"},
            {"exp", clock_.now() + 300},
            {"nbf", clock_.now()},
            {"jti", "r1"},
            {"response_type", "code"},
            {"redirect_uri", std::string(kRedirect)},
            {"scope", "openid"},
            {"state", "inner"},
            {"nonce", "n1"},
            {"max_age", 600},
            {"code_challenge", std::string(kChallenge)},
            {"code_challenge_method", "S256"}};
  }
  std::string sign(const nlohmann::json& claims, const SigningKey* key = nullptr) const {
    return testing::sign_compact(key ? *key : key_,
                                 {{"alg", "ES256"}, {"kid", "k1"}, {"typ", "oauth-authz-req+jwt"}},
                                 claims);
  }
  RequestFacts par_facts() const {
    RequestFacts f;
    f.method = "POST";
    f.url = std::string(kIssuer) + "/par";
    return f;
  }
  Params par_form(const std::string& request) const {
    const auto assertion = testing::sign_compact(
        key_, {{"alg", "ES256"}, {"kid", "k1"}},
        {{"iss", "jar"}, {"sub", "jar"}, {"aud", kIssuer}, {"exp", clock_.now() + 60},
         {"jti", "a" + std::to_string(++assertions_)}});
    Params form = P({{"client_assertion_type",
                      "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
                     {"client_assertion", assertion}});
    if (!request.empty()) form.add("request", request);
    return form;
  }

  SigningKey key_ = SigningKey::generate_es256();
  mutable int assertions_ = 0;
};

// RFC 9101 §5: only the object's parameters count; the query's own are ignored.
TEST_F(RequestObjectServerTest, ARequestObjectAtAuthorizeReplacesTheQuery) {
  auto r = server_->authorize(P({{"client_id", "jar"},
                                 {"request", sign(claims())},
                                 {"state", "outer"},
                                 {"scope", "openid email"},
                                 {"redirect_uri", "https://evil.test/cb"}}));
  ASSERT_EQ(r.kind, AuthorizeResult::Kind::proceed) << r.error.description;
  EXPECT_EQ(r.pending.state, "inner");
  EXPECT_EQ(r.pending.scope, "openid");
  EXPECT_EQ(r.pending.redirect_uri, kRedirect);
  EXPECT_EQ(r.pending.max_age, 600);
  EXPECT_EQ(r.pending.nonce, "n1");
  auto stored = server_->find_pending(r.pending.handle);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->state, "inner");
}

TEST_F(RequestObjectServerTest, AClientThatMustSignCannotSendAPlainRequest) {
  const auto plain = P({{"response_type", "code"}, {"client_id", "jar"},
                        {"redirect_uri", std::string(kRedirect)}, {"scope", "openid"},
                        {"state", "s"}, {"code_challenge", std::string(kChallenge)},
                        {"code_challenge_method", "S256"}});
  auto r = server_->authorize(plain);
  EXPECT_EQ(r.kind, AuthorizeResult::Kind::redirect_error);
  EXPECT_EQ(r.error.error, "invalid_request");
  auto pushed = server_->par(par_form(""), par_facts());
  ASSERT_FALSE(pushed);
  EXPECT_EQ(pushed.error().error.error, "invalid_request");
}

// RFC 9101 §6.3: an object that does not verify is shown, never redirected to the
// redirect_uri it names (nothing in it can be trusted), and nothing is stored.
TEST_F(RequestObjectServerTest, AnObjectThatDoesNotVerifyIsShownNotRedirected) {
  const auto other = SigningKey::generate_es256();
  auto evil = claims();
  evil["aud"] = "https://other-as.test";
  auto foreign = claims();
  foreign["iss"] = "web";
  auto expired = claims();
  expired["exp"] = clock_.now() - 120;
  for (const auto& [why, jwt] : std::vector<std::pair<std::string, std::string>>{
           {"another key", sign(claims(), &other)},
           {"another audience", sign(evil)},
           {"another issuer", sign(foreign)},
           {"expired", sign(expired)},
           {"not a JWT", "garbage"}}) {
    auto r = server_->authorize(P({{"client_id", "jar"}, {"request", jwt}}));
    EXPECT_EQ(r.kind, AuthorizeResult::Kind::show_error) << why;
    EXPECT_EQ(r.error.error, "invalid_request_object") << why;
    EXPECT_TRUE(r.pending.handle.empty()) << why;
  }
  // A client without registered keys has nothing to verify with.
  auto web = claims();
  web["iss"] = web["client_id"] = "web";
  auto r = server_->authorize(P({{"client_id", "web"}, {"request", sign(web)}}));
  EXPECT_EQ(r.kind, AuthorizeResult::Kind::show_error);
  EXPECT_EQ(r.error.error, "invalid_request_object");
  // By value and by reference at once.
  r = server_->authorize(
      P({{"client_id", "jar"}, {"request", sign(claims())}, {"request_uri", "urn:x"}}));
  EXPECT_EQ(r.kind, AuthorizeResult::Kind::show_error);
  EXPECT_EQ(r.error.error, "invalid_request");
  // A redirect_uri inside that is not registered is shown too.
  auto elsewhere = claims();
  elsewhere["redirect_uri"] = "https://evil.test/cb";
  r = server_->authorize(P({{"client_id", "jar"}, {"request", sign(elsewhere)}}));
  EXPECT_EQ(r.kind, AuthorizeResult::Kind::show_error);
}

// Once the object verified, its other errors go back to its redirect_uri with its state.
TEST_F(RequestObjectServerTest, AVerifiedObjectsOwnErrorsAreRedirected) {
  auto plain_pkce = claims();
  plain_pkce["code_challenge_method"] = "plain";
  auto r = server_->authorize(P({{"client_id", "jar"}, {"request", sign(plain_pkce)}}));
  EXPECT_EQ(r.kind, AuthorizeResult::Kind::redirect_error);
  EXPECT_EQ(r.error.error, "invalid_request");
  EXPECT_EQ(r.redirect_uri, kRedirect);
  EXPECT_EQ(r.state, "inner");
}

// RFC 9126 §3 with RFC 9101: the pushed request is a request object; /authorize then needs
// only client_id and the request_uri.
TEST_F(RequestObjectServerTest, APushedRequestObjectIsWhatAuthorizeUses) {
  auto pushed = server_->par(par_form(sign(claims())), par_facts());
  ASSERT_TRUE(pushed) << pushed.error().error.description;
  EXPECT_EQ(pushed->status, 201);
  const auto uri = nlohmann::json::parse(pushed->body)["request_uri"].get<std::string>();
  auto r = server_->authorize(P({{"client_id", "jar"}, {"request_uri", uri}}));
  ASSERT_EQ(r.kind, AuthorizeResult::Kind::proceed) << r.error.description;
  EXPECT_EQ(r.pending.state, "inner");
  EXPECT_EQ(r.pending.max_age, 600);

  const auto other = SigningKey::generate_es256();
  auto refused = server_->par(par_form(sign(claims(), &other)), par_facts());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().error.error, "invalid_request_object");
  auto twice = par_form(sign(claims()));
  twice.add("request", sign(claims()));
  refused = server_->par(twice, par_facts());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().error.error, "invalid_request");
}

TEST_F(RequestObjectServerTest, RegistrationNeedsKeysAndTheCodeFlow) {
  storage::ClientRecord keyless;
  keyless.client_id = "keyless";
  keyless.token_endpoint_auth_method = "client_secret_basic";
  keyless.redirect_uris = {std::string(kRedirect)};
  keyless.require_signed_request_object = true;
  auto created = server_->create_client(keyless);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().error, "invalid_client_metadata");
  EXPECT_FALSE(server_->find_client("keyless"));

  RequestFacts f;
  f.authorization = "Bearer initial-token-for-tests-000000000000";
  const auto jwk = nlohmann::json::parse(key_.public_key().to_jwk_json());
  nlohmann::json meta = {{"redirect_uris", {kRedirect}},
                         {"token_endpoint_auth_method", "private_key_jwt"},
                         {"jwks", {{"keys", {jwk}}}},
                         {"require_signed_request_object", "yes"}};
  auto wrong_type = server_->register_client(meta.dump(), f);
  ASSERT_FALSE(wrong_type);
  EXPECT_EQ(wrong_type.error().error.error, "invalid_client_metadata");
  meta["require_signed_request_object"] = true;
  auto registered = server_->register_client(meta.dump(), f);
  ASSERT_TRUE(registered) << registered.error().error.description;
  const auto body = nlohmann::json::parse(registered->body);
  EXPECT_TRUE(body["require_signed_request_object"].get<bool>());
  EXPECT_TRUE(server_->find_client(body["client_id"].get<std::string>())
                  ->require_signed_request_object);

  auto m = nlohmann::json::parse(server_->metadata_json(true));
  EXPECT_TRUE(m["request_parameter_supported"].get<bool>());
  EXPECT_NE(std::ranges::find(m["request_object_signing_alg_values_supported"], "ES256"),
            m["request_object_signing_alg_values_supported"].end());
}

// OIDC Registration §2: a client that registered token_endpoint_auth_signing_alg or
// request_object_signing_alg gets what it signs with another alg refused, even with its own key.
TEST_F(RequestObjectServerTest, RegisteredSigningAlgsAreTheOnlyOnesTaken) {
  RequestFacts f;
  f.authorization = "Bearer initial-token-for-tests-000000000000";
  auto jwk = nlohmann::json::parse(key_.public_key().to_jwk_json());
  jwk["kid"] = "k1";
  const nlohmann::json base = {{"redirect_uris", {kRedirect}},
                               {"token_endpoint_auth_method", "private_key_jwt"},
                               {"jwks", {{"keys", {jwk}}}}};
  const auto clients_before = store_->list_clients().size();
  for (const auto& [name, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"token_endpoint_auth_signing_alg", "HS256"},
           {"token_endpoint_auth_signing_alg", "none"},
           {"request_object_signing_alg", "none"},
           {"request_object_signing_alg", "es256"},
           {"request_object_signing_alg", 256}}) {
    auto meta = base;
    meta[name] = value;
    auto refused = server_->register_client(meta.dump(), f);
    ASSERT_FALSE(refused) << name << " " << value;
    EXPECT_EQ(refused.error().error.error, "invalid_client_metadata") << name << " " << value;
  }
  EXPECT_EQ(store_->list_clients().size(), clients_before);

  // Each client only ever signs ES256 here; one registered PS256 for its assertions, the
  // other for its request objects.
  auto register_with = [&](const char* name) {
    auto meta = base;
    meta[name] = "PS256";
    auto registered = server_->register_client(meta.dump(), f);
    if (!registered) {
      ADD_FAILURE() << name << ": " << registered.error().error.description;
      return std::string{};
    }
    const auto body = nlohmann::json::parse(registered->body);
    EXPECT_EQ(body[name], "PS256");
    return body["client_id"].get<std::string>();
  };
  const std::string strict_auth = register_with("token_endpoint_auth_signing_alg");
  const std::string strict_jar = register_with("request_object_signing_alg");
  EXPECT_EQ(server_->find_client(strict_auth)->token_endpoint_auth_signing_alg, "PS256");
  EXPECT_EQ(server_->find_client(strict_auth)->request_object_signing_alg, "");
  EXPECT_EQ(server_->find_client(strict_jar)->request_object_signing_alg, "PS256");

  auto pushed_by = [&](const std::string& client_id) {
    const auto assertion = testing::sign_compact(
        key_, {{"alg", "ES256"}, {"kid", "k1"}},
        {{"iss", client_id}, {"sub", client_id}, {"aud", kIssuer},
         {"exp", clock_.now() + 60}, {"jti", "a" + std::to_string(++assertions_)}});
    auto request = claims();
    request["iss"] = client_id;
    request["client_id"] = client_id;
    return server_->par(
        P({{"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
           {"client_assertion", assertion},
           {"request", sign(request)}}),
        par_facts());
  };
  auto by_auth = pushed_by(strict_auth);
  ASSERT_FALSE(by_auth);
  EXPECT_EQ(by_auth.error().error.error, "invalid_client");
  auto by_jar = pushed_by(strict_jar);
  ASSERT_FALSE(by_jar);
  EXPECT_EQ(by_jar.error().error.error, "invalid_request_object");
  // The fixture's client registered no alg: the same ES256 objects are taken from it.
  EXPECT_TRUE(server_->par(par_form(sign(claims())), par_facts()));
}

}  // namespace
}  // namespace authz
