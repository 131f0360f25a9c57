// RFC 8705: client certificates read, matched to a client's registration, used to authenticate
// it and to bind its tokens; on a real SQLite file with an injected clock and random source.
// The certificates are made here with OpenSSL.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "authz/base64url.hpp"
#include "authz/client_certificate.hpp"
#include "authz/crypto.hpp"
#include "authz/jws.hpp"
#include "authz/oauth.hpp"
#include "jose_test_helpers.hpp"
#include "server_test_base.hpp"

namespace authz {
namespace {

// ---- certificates made for the tests -----------------------------------------------------------

struct KeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct CertFree {
  void operator()(X509* p) const { X509_free(p); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

Key new_key() { return Key(EVP_EC_gen("P-256")); }

struct CertSpec {
  // Subject attributes in the DER's order (most significant first: C, O, CN).
  std::vector<std::pair<std::string, std::string>> subject = {{"CN", "client.test"}};
  std::string san;  // as openssl's subjectAltName extension writes it, e.g. "DNS:a.test"
};

// A certificate for `key`, signed by `issuer_key` with `issuer` as issuer (self-signed when
// issuer is null), as DER.
std::string make_cert(const CertSpec& spec, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key,
                      Cert* keep = nullptr) {
  Cert cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 42);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  for (const auto& [type, value] : spec.subject) {
    X509_NAME_add_entry_by_txt(name, type.c_str(), MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1, 0);
  }
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509_set_pubkey(cert.get(), key);
  if (!spec.san.empty()) {
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
    X509_EXTENSION* ext =
        X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, spec.san.c_str());
    EXPECT_NE(ext, nullptr);
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256());
  unsigned char* der = nullptr;
  const int n = i2d_X509(cert.get(), &der);
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(n));
  OPENSSL_free(der);
  if (keep) *keep = std::move(cert);
  return out;
}

std::string self_signed(const CertSpec& spec = {}) {
  auto key = new_key();
  return make_cert(spec, key.get(), nullptr, nullptr);
}

ClientCertificate parsed(const std::string& der, bool trusted) {
  auto cert = parse_client_certificate(der, trusted);
  EXPECT_TRUE(cert) << cert.error().description;
  return cert ? *cert : ClientCertificate{};
}

// ---- reading and matching ------------------------------------------------------------------

TEST(ClientCertificate, ReadsSubjectAndSubjectAltNames) {
  CertSpec spec;
  spec.subject = {{"C", "JP"}, {"O", "Example, Inc."}, {"CN", "client.test"}};
  spec.san = "DNS:Client.Test,URI:https://client.test/id,IP:2001:db8::1,IP:192.0.2.7,"
             "email:ops@client.test";
  const auto der = self_signed(spec);
  const auto cert = parsed(der, true);
  EXPECT_EQ(cert.x5t_s256, sha256_b64url(der)) << "RFC 8705 §3.1: SHA-256 of the DER";
  EXPECT_TRUE(cert.trusted);
  // RFC 4514 order: the last RDN of the DER first.
  const std::vector<std::pair<std::string, std::string>> subject = {
      {"CN", "client.test"}, {"O", "Example, Inc."}, {"C", "JP"}};
  EXPECT_EQ(cert.subject, subject);
  EXPECT_EQ(cert.san_dns, std::vector<std::string>{"Client.Test"});
  EXPECT_EQ(cert.san_uri, std::vector<std::string>{"https://client.test/id"});
  EXPECT_EQ(cert.san_ip, (std::vector<std::string>{"2001:db8::1", "192.0.2.7"}));
  EXPECT_EQ(cert.san_email, std::vector<std::string>{"ops@client.test"});
}

TEST(ClientCertificate, RefusesWhatIsNotOneCertificate) {
  const auto der = self_signed();
  EXPECT_FALSE(parse_client_certificate("", false));
  EXPECT_FALSE(parse_client_certificate("not a certificate", false));
  EXPECT_FALSE(parse_client_certificate(der.substr(0, der.size() - 1), false));
  EXPECT_FALSE(parse_client_certificate(der + "x", false)) << "trailing bytes";
}

TEST(ClientCertificate, MatchesTheRegisteredSubjectDn) {
  CertSpec spec;
  spec.subject = {{"C", "JP"}, {"O", "Example, Inc."}, {"CN", "client.test"}};
  const auto cert = parsed(self_signed(spec), true);
  const auto dn = [&](std::string_view v) {
    return certificate_names(cert, "tls_client_auth_subject_dn", v);
  };
  EXPECT_TRUE(dn("CN=client.test,O=Example\\, Inc.,C=JP"));
  EXPECT_TRUE(dn("cn = client.test , o=Example\\2C Inc., c=jp")) << "spaces, case, hex escape";
  EXPECT_TRUE(dn("2.5.4.3=client.test,O=Example\\, Inc.,C=JP")) << "a type as its OID";
  EXPECT_FALSE(dn("C=JP,O=Example\\, Inc.,CN=client.test")) << "the DER's order, not RFC 4514's";
  EXPECT_FALSE(dn("CN=client.test,O=Example\\, Inc.")) << "an attribute missing";
  EXPECT_FALSE(dn("CN=client.test,O=Example\\, Inc.,C=JP,DC=test")) << "one too many";
  EXPECT_FALSE(dn("CN=other.test,O=Example\\, Inc.,C=JP"));
  EXPECT_FALSE(dn("CN=client.test,O=Example, Inc.,C=JP")) << "an unescaped comma splits";
  EXPECT_FALSE(dn(""));
}

TEST(ClientCertificate, MatchesTypesOutsideRfc4514sShortList) {
  CertSpec spec;
  spec.subject = {{"C", "JP"}, {"serialNumber", "1234"}, {"emailAddress", "ops@client.test"}};
  const auto cert = parsed(self_signed(spec), true);
  EXPECT_EQ(cert.subject.front().first, "1.2.840.113549.1.9.1") << "RFC 4514 §2.3: as its OID";
  for (const char* dn : {"emailAddress=ops@client.test,serialNumber=1234,C=JP",
                         "EMAILADDRESS=ops@client.test,SERIALNUMBER=1234,c=JP",
                         "1.2.840.113549.1.9.1=ops@client.test,2.5.4.5=1234,C=JP"}) {
    EXPECT_TRUE(certificate_names(cert, "tls_client_auth_subject_dn", dn)) << dn;
  }
  EXPECT_FALSE(certificate_names(cert, "tls_client_auth_subject_dn",
                                 "emailAddress=ops@client.test,serialNumber=1235,C=JP"));
}

TEST(ClientCertificate, MatchesTheRegisteredSubjectAltName) {
  CertSpec spec;
  spec.subject = {};  // names only in subjectAltName, as RFC 5280 §4.2.1.6 allows
  spec.san = "DNS:client.test,URI:https://client.test/id,IP:2001:db8::1,email:ops@client.test";
  const auto cert = parsed(self_signed(spec), true);
  EXPECT_TRUE(certificate_names(cert, "tls_client_auth_san_dns", "CLIENT.test"));
  EXPECT_FALSE(certificate_names(cert, "tls_client_auth_san_dns", "other.test"));
  EXPECT_TRUE(certificate_names(cert, "tls_client_auth_san_uri", "https://client.test/id"));
  EXPECT_FALSE(certificate_names(cert, "tls_client_auth_san_uri", "https://client.test/ID"));
  auto ip = canonical_tls_client_auth("tls_client_auth_san_ip", "2001:0db8:0:0::1");
  ASSERT_TRUE(ip);
  EXPECT_EQ(*ip, "2001:db8::1");
  EXPECT_TRUE(certificate_names(cert, "tls_client_auth_san_ip", *ip));
  EXPECT_TRUE(certificate_names(cert, "tls_client_auth_san_email", "ops@client.test"));
  EXPECT_FALSE(certificate_names(cert, "tls_client_auth_san_dns", "ops@client.test"))
      << "a name counts only under its own kind";
  EXPECT_FALSE(certificate_names(cert, "tls_client_auth_subject_dn", "CN=client.test"))
      << "no subject in this certificate";
}

TEST(ClientCertificate, RegisteredNamesAreChecked) {
  for (const char* bad : {"CN", "=x", "CN=a,", "CN=#0403616263", "CN=a\\", "XYZZY=a", "CN=a;b"}) {
    auto v = canonical_tls_client_auth("tls_client_auth_subject_dn", bad);
    ASSERT_FALSE(v) << bad;
    EXPECT_EQ(v.error().error, "invalid_client_metadata");
  }
  EXPECT_FALSE(canonical_tls_client_auth("tls_client_auth_san_ip", "300.1.1.1"));
  EXPECT_FALSE(canonical_tls_client_auth("tls_client_auth_san_dns", ""));
  EXPECT_FALSE(canonical_tls_client_auth("tls_client_auth_subject", "CN=a"));
  EXPECT_TRUE(canonical_tls_client_auth("tls_client_auth_subject_dn", "CN=a\\,b+O=c"));
}

TEST(ClientCertificate, SelfSignedMatchesTheRegisteredX5c) {
  const auto der = self_signed();
  const auto cert = parsed(der, false);
  const auto jwks = [](const std::string& cert_der) {
    return nlohmann::json{{"keys", {{{"kty", "EC"}, {"x5c", {base64_encode(cert_der)}}}}}}.dump();
  };
  EXPECT_TRUE(certificate_registered(cert, jwks(der)));
  EXPECT_FALSE(certificate_registered(cert, jwks(self_signed()))) << "another certificate";
  EXPECT_FALSE(certificate_registered(cert, R"({"keys":[{"kty":"EC"}]})"));
  EXPECT_FALSE(certificate_registered(cert, "not json"));
  EXPECT_EQ(registered_certificates(jwks(der)).size(), 1u);
  EXPECT_TRUE(registered_certificates(R"({"keys":[{"x5c":["bm90IGEgY2VydA=="]}]})").empty());
}

// ---- the authorization server --------------------------------------------------------------

constexpr std::string_view kIssuer = "https://bank.test";
constexpr std::string_view kMtls = "https://mtls.bank.test";
using testing::P;

class MutualTlsTest : public testing::ServerTestBase {
 protected:
  void SetUp() override {
    store_->migrate();
    server_ = make_server(std::string(kMtls));
    ca_key_ = new_key();
    CertSpec ca;
    ca.subject = {{"CN", "test CA"}};
    make_cert(ca, ca_key_.get(), nullptr, nullptr, &ca_cert_);
    client_key_ = new_key();
    CertSpec leaf;
    leaf.subject = {{"O", "Example"}, {"CN", "pki.client.test"}};
    leaf.san = "DNS:pki.client.test";
    pki_der_ = make_cert(leaf, client_key_.get(), ca_cert_.get(), ca_key_.get());
  }

  std::unique_ptr<AuthorizationServer> make_server(std::string mtls_base_url,
                                                   bool require_sender_constrained = false) {
    Settings s;
    s.issuer = kIssuer;
    s.mtls_base_url = std::move(mtls_base_url);
    s.require_sender_constrained_tokens = require_sender_constrained;
    auto server = std::make_unique<AuthorizationServer>(s, *store_, clock_, random_, sealer_);
    server->keys().ensure_key();
    return server;
  }

  storage::ClientRecord service(std::string id, std::string method) {
    storage::ClientRecord c;
    c.client_id = std::move(id);
    c.token_endpoint_auth_method = std::move(method);
    c.grant_types = {"client_credentials"};
    c.scope = "portability.export";
    return c;
  }

  RequestFacts facts(const std::string* der, bool trusted) {
    RequestFacts f;
    f.method = "POST";
    f.url = std::string(kMtls) + "/token";
    if (der) f.client_cert = std::make_shared<const ClientCertificate>(parsed(*der, trusted));
    return f;
  }

  Answer client_credentials(std::string_view client_id, const RequestFacts& f) {
    return server_->token(
        P({{"grant_type", "client_credentials"}, {"client_id", std::string(client_id)}}), f);
  }

  // A code for `client_id` after hanako signed in and consented (scope openid offline_access);
  // empty when something on the way failed.
  std::string code_for(const std::string& client_id, const std::string& redirect_uri) {
    if (!store_->find_resident("resident-1")) {
      storage::ResidentRecord r;
      r.id = "resident-1";
      r.username = "hanako";
      r.password_hash = hash_password("correct horse battery");
      EXPECT_TRUE(server_->insert_resident(r));
    }
    auto asked = server_->authorize(P({{"response_type", "code"},
                                       {"client_id", client_id},
                                       {"redirect_uri", redirect_uri},
                                       {"scope", "openid offline_access"},
                                       {"code_challenge", std::string(testing::kChallenge)},
                                       {"code_challenge_method", "S256"}}));
    EXPECT_EQ(asked.kind, AuthorizeResult::Kind::proceed) << asked.error.description;
    const auto login = server_->login("hanako", "correct horse battery", "127.0.0.1");
    EXPECT_EQ(login.kind, LoginOutcome::Kind::ok);
    auto pending = server_->take_pending(asked.pending.handle);
    if (!pending) return {};
    const auto location = server_->approve(*pending, login.session).location;
    const auto at = location.find("code=");
    if (at == std::string::npos) return {};
    return location.substr(at + 5, location.find('&', at) - at - 5);
  }

  static nlohmann::json claims_of(const Answer& a) {
    auto at = jws_parse(nlohmann::json::parse(a->body)["access_token"].get<std::string>());
    EXPECT_TRUE(at);
    return nlohmann::json::parse(at->payload);
  }

  std::unique_ptr<AuthorizationServer> server_;
  Key ca_key_;
  Cert ca_cert_;
  Key client_key_;
  std::string pki_der_;
};

TEST_F(MutualTlsTest, MetadataPublishesTheAliasesOnlyWithAListener) {
  auto m = nlohmann::json::parse(server_->metadata_json(true));
  EXPECT_EQ(m["tls_client_certificate_bound_access_tokens"], true);
  EXPECT_EQ(m["mtls_endpoint_aliases"]["token_endpoint"], std::string(kMtls) + "/token");
  EXPECT_EQ(m["mtls_endpoint_aliases"]["introspection_endpoint"],
            std::string(kMtls) + "/introspect");
  EXPECT_EQ(m["token_endpoint"], std::string(kIssuer) + "/token") << "the plain one stays";
  for (const char* list : {"token_endpoint_auth_methods_supported",
                           "introspection_endpoint_auth_methods_supported",
                           "revocation_endpoint_auth_methods_supported"}) {
    for (const char* method : {"tls_client_auth", "self_signed_tls_client_auth"})
      EXPECT_NE(std::ranges::find(m[list], method), m[list].end()) << list << " " << method;
  }

  auto plain = make_server("");
  auto p = nlohmann::json::parse(plain->metadata_json(true));
  EXPECT_EQ(p["tls_client_certificate_bound_access_tokens"], false);
  EXPECT_FALSE(p.contains("mtls_endpoint_aliases"));
  EXPECT_EQ(std::ranges::find(p["token_endpoint_auth_methods_supported"], "tls_client_auth"),
            p["token_endpoint_auth_methods_supported"].end());
  // Nor can such a client be registered there.
  auto c = service("pki", "tls_client_auth");
  c.tls_client_auth_name = "tls_client_auth_san_dns";
  c.tls_client_auth_value = "pki.client.test";
  auto refused = plain->create_client(c);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().error, "invalid_client_metadata");
  EXPECT_FALSE(store_->find_client("pki"));
}

TEST_F(MutualTlsTest, TlsClientAuthNeedsATrustedChainThatNamesTheClient) {
  auto c = service("pki", "tls_client_auth");
  c.tls_client_auth_name = "tls_client_auth_subject_dn";
  c.tls_client_auth_value = "CN=pki.client.test,O=Example";
  ASSERT_TRUE(server_->create_client(c));

  auto ok = client_credentials("pki", facts(&pki_der_, true));
  ASSERT_TRUE(ok) << ok.error().error.description;
  EXPECT_FALSE(claims_of(ok).contains("cnf")) << "not bound unless the client registered so";

  const auto events = store_->audit_size();
  const auto refused = [&](const RequestFacts& f, const char* why) {
    auto r = client_credentials("pki", f);
    ASSERT_FALSE(r) << why;
    EXPECT_EQ(r.error().error.error, "invalid_client") << why;
  };
  refused(facts(nullptr, false), "no certificate");
  refused(facts(&pki_der_, false), "the chain did not verify");
  CertSpec other;
  other.subject = {{"O", "Example"}, {"CN", "other.client.test"}};
  const auto other_der = make_cert(other, client_key_.get(), ca_cert_.get(), ca_key_.get());
  refused(facts(&other_der, true), "a trusted certificate of someone else");
  // A secret is no way in either: the client has none.
  auto f = facts(&pki_der_, true);
  f.authorization = "Basic " + base64_encode("pki:guess");
  refused(f, "a Basic header");
  EXPECT_EQ(store_->audit_size(), events) << "refusals issue nothing";
}

TEST_F(MutualTlsTest, SelfSignedClientAuthNeedsTheRegisteredCertificate) {
  const auto der = self_signed();
  auto c = service("self", "self_signed_tls_client_auth");
  c.jwks = nlohmann::json{{"keys", {{{"kty", "EC"}, {"x5c", {base64_encode(der)}}}}}}.dump();
  ASSERT_TRUE(server_->create_client(c));
  EXPECT_TRUE(client_credentials("self", facts(&der, false)));
  const auto other = self_signed();
  auto r = client_credentials("self", facts(&other, false));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().error.error, "invalid_client");

  auto without = service("self2", "self_signed_tls_client_auth");
  auto refused = server_->create_client(without);
  ASSERT_FALSE(refused) << "no certificate registered";
  EXPECT_EQ(refused.error().error, "invalid_client_metadata");
}

TEST_F(MutualTlsTest, BoundTokensCarryTheCertificateAndNeedItAtResources) {
  auto c = service("pki", "tls_client_auth");
  c.tls_client_auth_name = "tls_client_auth_san_dns";
  c.tls_client_auth_value = "pki.client.test";
  c.tls_bound_access_tokens = true;
  c.scope = "openid portability.export";
  ASSERT_TRUE(server_->create_client(c));
  auto ok = client_credentials("pki", facts(&pki_der_, true));
  ASSERT_TRUE(ok) << ok.error().error.description;
  const auto body = nlohmann::json::parse(ok->body);
  EXPECT_EQ(body["token_type"], "Bearer") << "RFC 8705 keeps the Bearer scheme";
  const auto x5t = sha256_b64url(pki_der_);
  EXPECT_EQ(claims_of(ok)["cnf"], (nlohmann::json{{"x5t#S256", x5t}}));
  const std::string token = body["access_token"];

  auto at_resource = [&](const std::string* der) {
    RequestFacts f = facts(der, true);
    f.method = "GET";
    f.url = std::string(kMtls) + "/userinfo";
    f.authorization = "Bearer " + token;
    return server_->bearer(f);
  };
  EXPECT_TRUE(at_resource(&pki_der_));
  auto none = at_resource(nullptr);
  ASSERT_FALSE(none) << "RFC 8705 §3: presented without the certificate";
  EXPECT_EQ(none.error().error.error, "invalid_token");
  const auto other = self_signed();
  EXPECT_FALSE(at_resource(&other)) << "presented with another certificate";

  // Introspection (by the client itself, over mutual TLS) shows the binding.
  auto intro = server_->introspect(P({{"token", token}, {"client_id", "pki"}}),
                                   facts(&pki_der_, true));
  ASSERT_TRUE(intro) << intro.error().error.description;
  EXPECT_EQ(nlohmann::json::parse(intro->body)["cnf"]["x5t#S256"], x5t);

  // A bound client asking without a certificate gets nothing (it cannot authenticate here
  // either; a secret client that registered binding shows the binding's own refusal).
  auto secret = service("sec", "client_secret_basic");
  secret.tls_bound_access_tokens = true;
  auto created = server_->create_client(secret);
  ASSERT_TRUE(created);
  RequestFacts plain;
  plain.method = "POST";
  plain.url = std::string(kIssuer) + "/token";
  plain.authorization = "Basic " + base64_encode("sec:" + created->client_secret);
  const auto events = store_->audit_size();
  auto refused = server_->token(P({{"grant_type", "client_credentials"}}), plain);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().error.error, "invalid_request");
  EXPECT_EQ(store_->audit_size(), events);
  plain.client_cert = std::make_shared<const ClientCertificate>(parsed(self_signed(), false));
  auto bound = server_->token(P({{"grant_type", "client_credentials"}}), plain);
  ASSERT_TRUE(bound) << "a secret client binds to whatever certificate it presents";
  EXPECT_EQ(claims_of(bound)["cnf"]["x5t#S256"], plain.client_cert->x5t_s256);
}

// RFC 8705 §4: a public client's refresh token is bound to its certificate, so that only the
// holder of its key can refresh.
TEST_F(MutualTlsTest, APublicClientsRefreshTokenIsBoundToItsCertificate) {
  constexpr std::string_view kRedirect = "https://spa.test/cb";
  using testing::kVerifier;
  storage::ClientRecord spa;
  spa.client_id = "spa";
  spa.token_endpoint_auth_method = "none";
  spa.redirect_uris = {std::string(kRedirect)};
  spa.grant_types = {"authorization_code", "refresh_token"};
  spa.scope = "openid offline_access";
  spa.tls_bound_access_tokens = true;
  ASSERT_TRUE(server_->create_client(spa));
  const auto code = code_for("spa", std::string(kRedirect));
  ASSERT_FALSE(code.empty());

  const auto mine = self_signed();
  auto issued = server_->token(P({{"grant_type", "authorization_code"},
                                  {"client_id", "spa"},
                                  {"code", code},
                                  {"redirect_uri", std::string(kRedirect)},
                                  {"code_verifier", std::string(kVerifier)}}),
                               facts(&mine, false));
  ASSERT_TRUE(issued) << issued.error().error.description;
  EXPECT_EQ(claims_of(issued)["cnf"]["x5t#S256"], sha256_b64url(mine));
  const std::string refresh = nlohmann::json::parse(issued->body)["refresh_token"];
  const auto refresh_with = [&](const std::string* der) {
    return server_->token(
        P({{"grant_type", "refresh_token"}, {"client_id", "spa"}, {"refresh_token", refresh}}),
        facts(der, false));
  };
  const auto theirs = self_signed();
  for (const std::string* der : {static_cast<const std::string*>(nullptr), &theirs}) {
    auto refused = refresh_with(der);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().error.error, "invalid_grant");
  }
  auto refreshed = refresh_with(&mine);
  ASSERT_TRUE(refreshed) << "the refusals spent nothing: " << refreshed.error().error.description;
  EXPECT_EQ(claims_of(refreshed)["cnf"]["x5t#S256"], sha256_b64url(mine));
}

// FAPI 2.0 §5.3.2.1 as a deployment's rule: no bearer tokens at all.
TEST_F(MutualTlsTest, OnlySenderConstrainedTokensWhenTheServerRequiresThem) {
  server_ = make_server(std::string(kMtls), true);
  auto secret = service("sec", "client_secret_basic");
  auto created = server_->create_client(secret);
  ASSERT_TRUE(created);
  auto bound = service("pki", "tls_client_auth");
  bound.tls_client_auth_name = "tls_client_auth_san_dns";
  bound.tls_client_auth_value = "pki.client.test";
  bound.tls_bound_access_tokens = true;
  ASSERT_TRUE(server_->create_client(bound));

  const auto events = store_->audit_size();
  RequestFacts plain = facts(&pki_der_, true);  // a certificate, but not a bound client's
  plain.authorization = "Basic " + base64_encode("sec:" + created->client_secret);
  auto refused = server_->token(P({{"grant_type", "client_credentials"}}), plain);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().error.error, "invalid_request");
  EXPECT_EQ(store_->audit_size(), events) << "nothing issued";
  // A DPoP proof binds it.
  const auto key = SigningKey::generate_es256();
  plain.dpop = testing::sign_compact(
      key, testing::dpop_header(key),
      {{"htm", "POST"}, {"htu", plain.url}, {"iat", clock_.now()}, {"jti", "proof-1"}});
  auto with_dpop = server_->token(P({{"grant_type", "client_credentials"}}), plain);
  ASSERT_TRUE(with_dpop) << with_dpop.error().error.description;
  EXPECT_TRUE(claims_of(with_dpop)["cnf"].contains("jkt"));
  // So does the certificate of a client registered for it.
  auto with_cert = client_credentials("pki", facts(&pki_der_, true));
  ASSERT_TRUE(with_cert) << with_cert.error().error.description;
  EXPECT_TRUE(claims_of(with_cert)["cnf"].contains("x5t#S256"));

  // A code redeemed without a binding is refused before it is spent: redeemed again with a
  // DPoP proof, it still works.
  storage::ClientRecord spa;
  spa.client_id = "spa";
  spa.token_endpoint_auth_method = "none";
  spa.redirect_uris = {"https://spa.test/cb"};
  spa.grant_types = {"authorization_code"};
  spa.scope = "openid offline_access";
  ASSERT_TRUE(server_->create_client(spa));
  const auto code = code_for("spa", "https://spa.test/cb");
  ASSERT_FALSE(code.empty());
  const auto redeem = P({{"grant_type", "authorization_code"},
                         {"client_id", "spa"},
                         {"code", code},
                         {"redirect_uri", "https://spa.test/cb"},
                         {"code_verifier", std::string(testing::kVerifier)}});
  RequestFacts public_facts = facts(nullptr, false);
  auto unbound = server_->token(redeem, public_facts);
  ASSERT_FALSE(unbound);
  EXPECT_EQ(unbound.error().error.error, "invalid_request");
  public_facts.dpop = testing::sign_compact(
      key, testing::dpop_header(key),
      {{"htm", "POST"}, {"htu", public_facts.url}, {"iat", clock_.now()}, {"jti", "proof-2"}});
  auto spent = server_->token(redeem, public_facts);
  ASSERT_TRUE(spent) << spent.error().error.description;
}

TEST_F(MutualTlsTest, RegistrationNamesExactlyOneThing) {
  auto none = service("a", "tls_client_auth");
  EXPECT_FALSE(server_->create_client(none)) << "no name";
  auto bad = service("b", "tls_client_auth");
  bad.tls_client_auth_name = "tls_client_auth_san_ip";
  bad.tls_client_auth_value = "not an address";
  EXPECT_FALSE(server_->create_client(bad));
  auto stray = service("c", "client_secret_basic");
  stray.tls_client_auth_name = "tls_client_auth_san_dns";
  stray.tls_client_auth_value = "c.test";
  EXPECT_FALSE(server_->create_client(stray)) << "a name for another method";
  EXPECT_FALSE(store_->find_client("a") || store_->find_client("b") || store_->find_client("c"));

  // Through /register: two names are refused, one is stored and echoed.
  Settings s;
  s.issuer = kIssuer;
  s.mtls_base_url = kMtls;
  s.initial_access_token = "initial-token-for-tests-000000000000";
  AuthorizationServer reg(s, *store_, clock_, random_, sealer_);
  RequestFacts f;
  f.method = "POST";
  f.url = std::string(kIssuer) + "/register";
  f.authorization = "Bearer initial-token-for-tests-000000000000";
  nlohmann::json meta = {{"token_endpoint_auth_method", "tls_client_auth"},
                         {"grant_types", {"client_credentials"}},
                         {"tls_client_auth_san_dns", "pki.client.test"},
                         {"tls_client_auth_san_uri", "https://pki.client.test"}};
  auto two = reg.register_client(meta.dump(), f);
  ASSERT_FALSE(two);
  EXPECT_EQ(two.error().error.error, "invalid_client_metadata");
  meta.erase("tls_client_auth_san_uri");
  meta["tls_client_certificate_bound_access_tokens"] = true;
  auto one = reg.register_client(meta.dump(), f);
  ASSERT_TRUE(one) << one.error().error.description;
  const auto echoed = nlohmann::json::parse(one->body);
  EXPECT_EQ(echoed["tls_client_auth_san_dns"], "pki.client.test");
  EXPECT_EQ(echoed["tls_client_certificate_bound_access_tokens"], true);
  auto stored = store_->find_client(echoed["client_id"].get<std::string>());
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->tls_client_auth_name, "tls_client_auth_san_dns");
  EXPECT_TRUE(stored->tls_bound_access_tokens);
}

}  // namespace
}  // namespace authz
