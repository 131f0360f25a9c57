#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "config.hpp"

namespace {

namespace fs = std::filesystem;

// A scratch directory under INFOBANK_TEST_TMP (set by ctest) or the system temp dir.
class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("INFOBANK_TEST_TMP");
    fs::path root = base != nullptr ? fs::path(base) : fs::temp_directory_path();
    fs::create_directories(root);
    std::string tmpl = (root / "config-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string write(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    std::ofstream(path) << text;
    return path.string();
  }

  // Expects load_config to throw with a message containing `needle`.
  static void expect_error(const std::string& path, const std::map<std::string, std::string>& env,
                           const std::string& needle) {
    try {
      (void)server::load_config(path, env);
      FAIL() << "expected an error mentioning " << needle;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  }

  fs::path dir_;
};

TEST_F(ConfigTest, DefaultsWithoutFile) {
  const auto c = server::load_config("", {});
  EXPECT_EQ(c.port, 8080);
  EXPECT_EQ(c.database_path(), "./var/infobank.db");
  EXPECT_EQ(c.master_key_path(), "./var/master.key");
  EXPECT_EQ(c.effective_issuer(), "http://127.0.0.1:8080");
  EXPECT_FALSE(c.tls_enabled());
}

TEST_F(ConfigTest, LoadsToml) {
  const auto path = write("c.toml", R"(
data_dir = "/srv/infobank"

[server]
address = "0.0.0.0"
port = 9443
io_threads = 4
worker_threads = 3
tls_cert = "/etc/cert.pem"
tls_key = "/etc/key.pem"
max_header_bytes = 16384
max_body_bytes = 1048576
read_timeout = 5
idle_timeout = 30
port_file = "/run/infobank.port"

[storage]
database = "/var/lib/infobank/db.sqlite"
master_key_file = "/etc/infobank/master.key"

[oauth]
issuer = "https://id.example.com"
access_token_ttl = 300
refresh_token_ttl = 86400
code_ttl = 30
par_ttl = 60
session_ttl = 3600
key_retention = 1000
initial_access_token = "iat"
require_par = true
dpop_require_nonce = true

[log]
level = "debug"
)");
  const auto c = server::load_config(path, {});
  EXPECT_EQ(c.data_dir, "/srv/infobank");
  EXPECT_EQ(c.address, "0.0.0.0");
  EXPECT_EQ(c.port, 9443);
  EXPECT_EQ(c.io_threads, 4);
  EXPECT_EQ(c.worker_threads, 3);
  EXPECT_TRUE(c.tls_enabled());
  EXPECT_EQ(c.max_header_bytes, 16384u);
  EXPECT_EQ(c.max_body_bytes, 1048576u);
  EXPECT_EQ(c.read_timeout, 5);
  EXPECT_EQ(c.idle_timeout, 30);
  EXPECT_EQ(c.port_file, "/run/infobank.port");
  EXPECT_EQ(c.database_path(), "/var/lib/infobank/db.sqlite");
  EXPECT_EQ(c.master_key_path(), "/etc/infobank/master.key");
  EXPECT_EQ(c.effective_issuer(), "https://id.example.com");
  EXPECT_EQ(c.access_token_ttl, 300);
  EXPECT_EQ(c.refresh_token_ttl, 86400);
  EXPECT_EQ(c.code_ttl, 30);
  EXPECT_EQ(c.par_ttl, 60);
  EXPECT_EQ(c.session_ttl, 3600);
  EXPECT_EQ(c.key_retention, 1000);
  EXPECT_EQ(c.initial_access_token, "iat");
  EXPECT_TRUE(c.require_par);
  EXPECT_TRUE(c.dpop_require_nonce);
  EXPECT_EQ(c.log_level, "debug");
}

TEST_F(ConfigTest, LoadsJson) {
  const auto path = write("c.json", R"({
    "data_dir": "/data",
    "server": {"port": 0, "tls_cert": "c.pem", "tls_key": "k.pem"},
    "storage": {"master_key_file": "/keys/m.key"},
    "oauth": {"require_par": true, "code_ttl": 45},
    "log": {"level": "warn"}
  })");
  const auto c = server::load_config(path, {});
  EXPECT_EQ(c.port, 0);
  EXPECT_TRUE(c.require_par);
  EXPECT_EQ(c.code_ttl, 45);
  EXPECT_EQ(c.log_level, "warn");
  EXPECT_EQ(c.database_path(), "/data/infobank.db");
  EXPECT_EQ(c.master_key_path(), "/keys/m.key");
  EXPECT_EQ(c.effective_issuer(), "https://127.0.0.1:0");
}

TEST_F(ConfigTest, EnvironmentOverridesFile) {
  const auto path = write("c.toml", "[server]\nport = 9000\n[oauth]\nissuer = \"https://a\"\n");
  const auto c = server::load_config(path, {{"INFOBANK_SERVER_PORT", "9100"},
                                            {"INFOBANK_OAUTH_ISSUER", "https://b"},
                                            {"INFOBANK_STORAGE_DATABASE", "/x.db"},
                                            {"INFOBANK_LOG_LEVEL", "error"},
                                            {"INFOBANK_DATA_DIR", "/d/"},
                                            {"INFOBANK_OAUTH_REQUIRE_PAR", "true"},
                                            {"INFOBANK_TEST_TMP", "/ignored"}});
  EXPECT_EQ(c.port, 9100);
  EXPECT_EQ(c.effective_issuer(), "https://b");
  EXPECT_EQ(c.database_path(), "/x.db");
  EXPECT_EQ(c.log_level, "error");
  EXPECT_EQ(c.data_dir, "/d/");
  EXPECT_TRUE(c.require_par);
}

TEST_F(ConfigTest, DataDirDefaultDatabase) {
  const auto c = server::load_config("", {{"INFOBANK_DATA_DIR", "/d/"}});
  EXPECT_EQ(c.database_path(), "/d/infobank.db");
  EXPECT_EQ(c.master_key_path(), "/d/master.key");
  const auto d = server::load_config("", {{"INFOBANK_DATA_DIR", "/e"}});
  EXPECT_EQ(d.master_key_path(), "/e/master.key");
}

TEST_F(ConfigTest, MasterKeyFileFromFileAndEnvironment) {
  const auto path = write("k.toml", "[storage]\nmaster_key_file = \"/from/file.key\"\n");
  EXPECT_EQ(server::load_config(path, {}).master_key_path(), "/from/file.key");
  // The environment wins over the file, and over the data_dir default.
  const auto c = server::load_config(path, {{"INFOBANK_STORAGE_MASTER_KEY_FILE", "/from/env.key"},
                                            {"INFOBANK_DATA_DIR", "/d"}});
  EXPECT_EQ(c.master_key_path(), "/from/env.key");
  EXPECT_EQ(c.database_path(), "/d/infobank.db");
  expect_error(write("bad.toml", "[storage]\nmaster_key_file = 1\n"), {},
               "storage.master_key_file");
  expect_error(write("typo.toml", "[storage]\nmaster_key = \"x\"\n"), {}, "storage.master_key");
}

TEST_F(ConfigTest, Ipv6IssuerIsBracketed) {
  const auto c = server::load_config("", {{"INFOBANK_SERVER_ADDRESS", "::1"}});
  EXPECT_EQ(c.effective_issuer(), "http://[::1]:8080");
}

TEST_F(ConfigTest, MutualTlsListener) {
  const auto off = server::load_config("", {});
  EXPECT_FALSE(off.mtls_enabled());
  EXPECT_EQ(off.effective_mtls_base_url(), "") << "nothing to publish without the listener";
  const std::map<std::string, std::string> tls = {{"INFOBANK_SERVER_TLS_CERT", "c.pem"},
                                                  {"INFOBANK_SERVER_TLS_KEY", "k.pem"},
                                                  {"INFOBANK_SERVER_ADDRESS", "::1"},
                                                  {"INFOBANK_SERVER_MTLS_PORT", "8443"}};
  const auto on = server::load_config("", tls);
  EXPECT_TRUE(on.mtls_enabled());
  EXPECT_EQ(on.effective_mtls_base_url(), "https://[::1]:8443");
  auto named = tls;
  named["INFOBANK_OAUTH_MTLS_BASE_URL"] = "https://mtls.bank.example";
  named["INFOBANK_SERVER_MTLS_CLIENT_CA"] = "ca.pem";
  const auto behind = server::load_config("", named);
  EXPECT_EQ(behind.effective_mtls_base_url(), "https://mtls.bank.example");
  EXPECT_EQ(behind.mtls_client_ca, "ca.pem");
  EXPECT_EQ(behind.mtls_client_crl, "");
  EXPECT_EQ(behind.mtls_trust_reload_interval, 30);
  auto revoking = named;
  revoking["INFOBANK_SERVER_MTLS_CLIENT_CRL"] = "ca.crl.pem";
  revoking["INFOBANK_SERVER_MTLS_TRUST_RELOAD_INTERVAL"] = "5";
  const auto crl = server::load_config("", revoking);
  EXPECT_EQ(crl.mtls_client_crl, "ca.crl.pem");
  EXPECT_EQ(crl.mtls_trust_reload_interval, 5);
  // Lists of no authority, and a look that never comes or never stops, are refused.
  auto no_ca = revoking;
  no_ca.erase("INFOBANK_SERVER_MTLS_CLIENT_CA");
  expect_error("", no_ca, "server.mtls_client_crl needs server.mtls_client_ca");
  revoking["INFOBANK_SERVER_MTLS_TRUST_RELOAD_INTERVAL"] = "0";
  expect_error("", revoking, "INFOBANK_SERVER_MTLS_TRUST_RELOAD_INTERVAL");
  // A mutual-TLS listener needs TLS; its settings need the listener.
  expect_error("", {{"INFOBANK_SERVER_MTLS_PORT", "0"}}, "server.mtls_port needs");
  expect_error("", {{"INFOBANK_SERVER_MTLS_CLIENT_CA", "ca.pem"}}, "need server.mtls_port");
  expect_error("", {{"INFOBANK_OAUTH_MTLS_BASE_URL", "https://x"}}, "need server.mtls_port");
  expect_error("", {{"INFOBANK_SERVER_MTLS_PORT", "-2"}}, "INFOBANK_SERVER_MTLS_PORT");
}

TEST_F(ConfigTest, UnknownKeyIsNamed) {
  expect_error(write("a.toml", "[server]\nread_timout = 5\n"), {}, "server.read_timout");
  expect_error(write("b.toml", "colour = \"blue\"\n"), {}, "colour");
  expect_error(write("c.json", R"({"oauth": {"isuer": "x"}})"), {}, "oauth.isuer");
  expect_error(write("d.toml", "[metrics]\nport = 1\n"), {}, "unknown section 'metrics'");
}

TEST_F(ConfigTest, BadTypeIsNamed) {
  expect_error(write("a.toml", "[server]\nport = \"8080\"\n"), {}, "server.port");
  expect_error(write("b.toml", "[oauth]\nrequire_par = 1\n"), {}, "oauth.require_par");
  expect_error(write("c.json", R"({"server": {"read_timeout": 1.5}})"), {}, "server.read_timeout");
  expect_error(write("d.json", R"({"log": {"level": 3}})"), {}, "log.level");
  expect_error(write("e.toml", "server = 3\n"), {}, "server");
}

TEST_F(ConfigTest, OutOfRangeIsNamed) {
  expect_error(write("a.toml", "[server]\nport = 70000\n"), {}, "server.port");
  expect_error(write("b.toml", "[server]\nio_threads = 0\n"), {}, "server.io_threads");
}

TEST_F(ConfigTest, BadEnvironmentValueIsNamed) {
  expect_error("", {{"INFOBANK_SERVER_PORT", "80x"}}, "INFOBANK_SERVER_PORT");
  expect_error("", {{"INFOBANK_SERVER_PORT", ""}}, "INFOBANK_SERVER_PORT");
  expect_error("", {{"INFOBANK_OAUTH_REQUIRE_PAR", "yes"}}, "INFOBANK_OAUTH_REQUIRE_PAR");
}

TEST_F(ConfigTest, SemanticErrors) {
  expect_error("", {{"INFOBANK_LOG_LEVEL", "verbose"}}, "log.level");
  expect_error("", {{"INFOBANK_SERVER_TLS_CERT", "c.pem"}}, "tls_key");
  expect_error("", {{"INFOBANK_OAUTH_DEFAULT_SIGNING_ALG", "HS256"}}, "default_signing_alg");
  EXPECT_EQ(server::load_config("", {}).default_signing_alg, "RS256");
  const auto fapi = server::load_config("", {{"INFOBANK_OAUTH_DEFAULT_SIGNING_ALG", "PS256"}});
  EXPECT_EQ(fapi.default_signing_alg, "PS256");
  // Keys rotate on their own every 90 days by default, their successors published a day ahead.
  EXPECT_EQ(server::load_config("", {}).key_rotation_interval, 90 * 24 * 3600);
  EXPECT_EQ(server::load_config("", {}).key_publish_ahead, 24 * 3600);
  EXPECT_EQ(server::load_config("", {{"INFOBANK_OAUTH_KEY_ROTATION_INTERVAL", "0"}})
                .key_rotation_interval,
            0);
  expect_error("", {{"INFOBANK_OAUTH_KEY_ROTATION_INTERVAL", "3600"},
                    {"INFOBANK_OAUTH_KEY_PUBLISH_AHEAD", "3600"}},
               "key_publish_ahead must be shorter");
  expect_error("", {{"INFOBANK_OAUTH_KEY_PUBLISH_AHEAD", "-1"}}, "KEY_PUBLISH_AHEAD");
  EXPECT_EQ(server::load_config("", {{"INFOBANK_OAUTH_DEFAULT_SIGNING_ALG", "EdDSA"}})
                .default_signing_alg,
            "EdDSA");
  expect_error("", {{"INFOBANK_OAUTH_DEFAULT_SIGNING_ALG", "Ed448"}}, "default_signing_alg");
  expect_error(write("c.yaml", "a: 1\n"), {}, "unknown configuration format");
  expect_error(write("bad.toml", "[server\n"), {}, "bad.toml");
  expect_error(write("bad.json", "{\"server\": }"), {}, "bad.json");
}

TEST_F(ConfigTest, StorageBackendAndBroker) {
  const auto c = server::load_config(
      write("c.toml",
            "[storage]\nbackend = \"postgres\"\npostgres_url = \"postgresql://db/ib\"\n"
            "[broker]\nnode_id = \"node-a\"\nworkers = 4\npage_size = 500\n"
            "max_retries = 3\nlease_seconds = 30\n"),
      {{"INFOBANK_BROKER_WORKERS", "0"}});
  EXPECT_EQ(c.storage_backend, "postgres");
  EXPECT_EQ(c.postgres_url, "postgresql://db/ib");
  EXPECT_EQ(c.broker_node_id, "node-a");
  EXPECT_EQ(c.broker_workers, 0) << "the environment wins";
  EXPECT_EQ(c.broker_page_size, 500);
  EXPECT_EQ(c.broker_max_retries, 3);
  EXPECT_EQ(c.broker_lease_seconds, 30);

  const auto d = server::load_config("", {});
  EXPECT_EQ(d.storage_backend, "sqlite");
  EXPECT_EQ(d.broker_node_id, "local");
  EXPECT_EQ(d.broker_page_size, 100);

  expect_error("", {{"INFOBANK_STORAGE_BACKEND", "mysql"}}, "storage.backend");
  expect_error("", {{"INFOBANK_STORAGE_BACKEND", "postgres"}}, "postgres_url");
  expect_error("", {{"INFOBANK_BROKER_PAGE_SIZE", "0"}}, "broker.page_size");
  expect_error("", {{"INFOBANK_BROKER_PAGE_SIZE", "5000"}}, "broker.page_size");
  expect_error("", {{"INFOBANK_BROKER_LEASE_SECONDS", "1"}}, "broker.lease_seconds");
  expect_error(write("b.toml", "[broker]\npage_sise = 10\n"), {}, "page_sise");
}

TEST_F(ConfigTest, BrokerConfirmationTimeout) {
  EXPECT_EQ(server::load_config("", {}).broker_confirmation_timeout_seconds, 14 * 24 * 3600);
  const auto c = server::load_config(
      write("c.toml", "[broker]\nconfirmation_timeout_seconds = 86400\n"), {});
  EXPECT_EQ(c.broker_confirmation_timeout_seconds, 86400);
  const auto j = server::load_config(
      write("c.json", R"({"broker": {"confirmation_timeout_seconds": 3600}})"),
      {{"INFOBANK_BROKER_CONFIRMATION_TIMEOUT_SECONDS", "2"}});
  EXPECT_EQ(j.broker_confirmation_timeout_seconds, 2) << "the environment wins";

  expect_error("", {{"INFOBANK_BROKER_CONFIRMATION_TIMEOUT_SECONDS", "0"}},
               "(broker.confirmation_timeout_seconds) must be between 1 and");
  expect_error("", {{"INFOBANK_BROKER_CONFIRMATION_TIMEOUT_SECONDS", "14d"}},
               "INFOBANK_BROKER_CONFIRMATION_TIMEOUT_SECONDS");
  expect_error("", {{"INFOBANK_BROKER_CONFIRMATION_TIMEOUT_SECONDS", "3000000000"}},
               "broker.confirmation_timeout_seconds");
  expect_error(write("b.toml", "[broker]\nconfirmation_timeout_seconds = \"14 days\"\n"), {},
               "broker.confirmation_timeout_seconds must be an integer");
  expect_error(write("t.toml", "[broker]\nconfirmation_timeout = 60\n"), {},
               "unknown key 'broker.confirmation_timeout'");
}

TEST_F(ConfigTest, BackchannelFromFileAndEnvironment) {
  const auto d = server::load_config("", {});
  EXPECT_EQ(d.backchannel_max_attempts, 6);
  EXPECT_EQ(d.backchannel_first_retry_seconds, 1);
  EXPECT_EQ(d.backchannel_lease_seconds, 30);
  EXPECT_EQ(d.backchannel_request_timeout_ms, 5000);
  EXPECT_EQ(d.backchannel_concurrency, 16);
  EXPECT_EQ(d.backchannel_poll_ms, 1000);

  const auto c = server::load_config(
      write("c.toml",
            "[backchannel]\nmax_attempts = 3\nfirst_retry_seconds = 2\nlease_seconds = 60\n"
            "request_timeout_ms = 2500\nconcurrency = 4\npoll_ms = 250\n"),
      {{"INFOBANK_BACKCHANNEL_CONCURRENCY", "32"}});
  EXPECT_EQ(c.backchannel_max_attempts, 3);
  EXPECT_EQ(c.backchannel_first_retry_seconds, 2);
  EXPECT_EQ(c.backchannel_lease_seconds, 60);
  EXPECT_EQ(c.backchannel_request_timeout_ms, 2500);
  EXPECT_EQ(c.backchannel_concurrency, 32) << "the environment wins";
  EXPECT_EQ(c.backchannel_poll_ms, 250);

  const auto j = server::load_config(
      write("c.json", R"({"backchannel": {"max_attempts": 1, "poll_ms": 10}})"),
      {{"INFOBANK_BACKCHANNEL_REQUEST_TIMEOUT_MS", "100"},
       {"INFOBANK_BACKCHANNEL_LEASE_SECONDS", "1"},
       {"INFOBANK_BACKCHANNEL_FIRST_RETRY_SECONDS", "3600"},
       {"INFOBANK_BACKCHANNEL_MAX_ATTEMPTS", "20"}});
  EXPECT_EQ(j.backchannel_max_attempts, 20);
  EXPECT_EQ(j.backchannel_poll_ms, 10);
  EXPECT_EQ(j.backchannel_request_timeout_ms, 100);
  EXPECT_EQ(j.backchannel_lease_seconds, 1) << "1 s outlasts two calls of 100 ms";
  EXPECT_EQ(j.backchannel_first_retry_seconds, 3600);
}

TEST_F(ConfigTest, BackchannelBadValuesAreNamed) {
  expect_error("", {{"INFOBANK_BACKCHANNEL_MAX_ATTEMPTS", "0"}}, "backchannel.max_attempts");
  expect_error("", {{"INFOBANK_BACKCHANNEL_MAX_ATTEMPTS", "21"}}, "backchannel.max_attempts");
  expect_error("", {{"INFOBANK_BACKCHANNEL_CONCURRENCY", "0"}}, "backchannel.concurrency");
  expect_error("", {{"INFOBANK_BACKCHANNEL_CONCURRENCY", "many"}},
               "INFOBANK_BACKCHANNEL_CONCURRENCY");
  expect_error("", {{"INFOBANK_BACKCHANNEL_REQUEST_TIMEOUT_MS", "99"}},
               "backchannel.request_timeout_ms");
  expect_error("", {{"INFOBANK_BACKCHANNEL_POLL_MS", "5"}}, "backchannel.poll_ms");
  expect_error("", {{"INFOBANK_BACKCHANNEL_FIRST_RETRY_SECONDS", "0"}},
               "backchannel.first_retry_seconds");
  expect_error(write("a.toml", "[backchannel]\nconcurrency = \"8\"\n"), {},
               "backchannel.concurrency");
  expect_error(write("b.toml", "[backchannel]\nbatch = 8\n"), {}, "backchannel.batch");
  expect_error(write("c.json", R"({"backchannel": 5})"), {}, "'backchannel' must be an object");
  // The lease must outlast a call made twice: 30 s against 15 s + 15 s is not longer.
  expect_error("", {{"INFOBANK_BACKCHANNEL_REQUEST_TIMEOUT_MS", "15000"}},
               "backchannel.lease_seconds (30) must be longer than twice "
               "backchannel.request_timeout_ms (15000 ms)");
  expect_error(write("d.toml", "[backchannel]\nlease_seconds = 2\nrequest_timeout_ms = 1000\n"),
               {}, "backchannel.lease_seconds");
  EXPECT_NO_THROW((void)server::load_config(
      "", {{"INFOBANK_BACKCHANNEL_REQUEST_TIMEOUT_MS", "14999"}}));
}

TEST_F(ConfigTest, ExampleFileLoads) {
  // deploy/infobank.example.toml documents every key; it must stay loadable.
  // __FILE__ is tests/server/test_config.cpp under the source root (CMake passes full paths).
  const fs::path root = fs::path(__FILE__).parent_path().parent_path().parent_path();
  const fs::path example = root / "deploy" / "infobank.example.toml";
  if (!fs::exists(example)) GTEST_SKIP() << "no " << example;
  EXPECT_NO_THROW((void)server::load_config(example.string(), {}));
}

}  // namespace
