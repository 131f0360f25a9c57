// The infobank executable: serve, migrate, and the operator's commands.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "app.hpp"
#include "backchannel.hpp"
#include "broker_wiring.hpp"
#include "portability_cli.hpp"
#include "authz/crypto.hpp"
#include "authz/oauth.hpp"
#include "authz/sealer.hpp"
#include "config.hpp"
#include "http_server.hpp"
#include "log.hpp"
#include "metrics.hpp"
#include "storage/store.hpp"

namespace {

authz::Settings settings_from(const server::Config& c) {
  authz::Settings s;
  s.issuer = c.effective_issuer();
  s.access_token_ttl = c.access_token_ttl;
  s.refresh_token_ttl = c.refresh_token_ttl;
  s.code_ttl = c.code_ttl;
  s.par_ttl = c.par_ttl;
  s.session_ttl = c.session_ttl;
  s.key_retention = c.key_retention;
  s.initial_access_token = c.initial_access_token;
  s.require_par = c.require_par;
  s.dpop_require_nonce = c.dpop_require_nonce;
  s.mtls_base_url = c.effective_mtls_base_url();
  s.require_sender_constrained_tokens = c.require_sender_constrained_tokens;
  s.default_signing_alg = c.default_signing_alg;
  return s;
}

nlohmann::json client_json(const storage::ClientRecord& c) {
  nlohmann::json j = {{"client_id", c.client_id},
                      {"client_name", c.client_name},
                      {"token_endpoint_auth_method", c.token_endpoint_auth_method},
                      {"redirect_uris", c.redirect_uris},
                      {"post_logout_redirect_uris", c.post_logout_redirect_uris},
                      {"subject_type", c.subject_type},
                      {"backchannel_logout_uri", c.backchannel_logout_uri},
                      {"backchannel_logout_session_required",
                       c.backchannel_logout_session_required},
                      {"frontchannel_logout_uri", c.frontchannel_logout_uri},
                      {"frontchannel_logout_session_required",
                       c.frontchannel_logout_session_required},
                      {"grant_types", c.grant_types},
                      {"scope", c.scope},
                      {"default_audience", c.default_audience},
                      {"require_pushed_authorization_requests", c.require_par},
                      {"require_signed_request_object", c.require_signed_request_object},
                      {"dpop_bound_access_tokens", c.require_dpop},
                      {"tls_client_certificate_bound_access_tokens", c.tls_bound_access_tokens},
                      {"created_at", c.created_at}};
  if (!c.tls_client_auth_name.empty()) j[c.tls_client_auth_name] = c.tls_client_auth_value;
  if (!c.jwks.empty()) j["jwks"] = nlohmann::json::parse(c.jwks);
  if (!c.userinfo_signed_response_alg.empty())
    j["userinfo_signed_response_alg"] = c.userinfo_signed_response_alg;
  j["id_token_signed_response_alg"] = c.id_token_signed_response_alg;
  j["introspection_signed_response_alg"] = c.introspection_signed_response_alg;
  j["authorization_signed_response_alg"] = c.authorization_signed_response_alg;
  return j;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The options `client add` and `client update` share. Each option bound to a field of `draft`
// records how to copy it into a client, so that `update` changes exactly what it was given.
struct ClientFlags {
  storage::ClientRecord draft;
  std::string jwks_file;
  std::map<std::string, std::string> tls_names;
  std::vector<std::pair<CLI::Option*, std::function<void(storage::ClientRecord&)>>> given;

  // `draft` with the files read and the one TLS name picked; "" or the error to print.
  std::string complete() {
    if (!jwks_file.empty()) draft.jwks = read_file(jwks_file);
    for (const auto& [name, value] : tls_names) {
      if (value.empty()) continue;
      if (!draft.tls_client_auth_name.empty())
        return "invalid_client_metadata: give only one --tls-client-auth-* name";
      draft.tls_client_auth_name = name;
      draft.tls_client_auth_value = value;
    }
    return {};
  }

  // `client` with every option that was given copied in from the completed `draft`.
  void apply_to(storage::ClientRecord& client) const {
    for (const auto& [option, copy] : given) {
      if (option->count() != 0) copy(client);
    }
  }
};

template <class T>
CLI::Option* client_flag(CLI::App& cmd, ClientFlags& f, const std::string& name,
                         T storage::ClientRecord::*field, const std::string& help) {
  CLI::Option* option = nullptr;
  if constexpr (std::is_same_v<T, bool>)
    option = cmd.add_flag(name, f.draft.*field, help);
  else
    option = cmd.add_option(name, f.draft.*field, help);
  f.given.push_back({option, [&f, field](storage::ClientRecord& c) { c.*field = f.draft.*field; }});
  return option;
}

void add_client_flags(CLI::App& cmd, ClientFlags& f) {
  using C = storage::ClientRecord;
  client_flag(cmd, f, "--redirect-uri", &C::redirect_uris, "exact redirect URI (repeatable)");
  client_flag(cmd, f, "--subject-type", &C::subject_type,
              "public (default) | pairwise: the client sees each resident under a `sub` of its "
              "own, for the host of its redirect URIs (OIDC Core 8)");
  client_flag(cmd, f, "--post-logout-redirect-uri", &C::post_logout_redirect_uris,
              "where the end-session endpoint may send the browser back, exactly (OpenID "
              "Connect RP-Initiated Logout; repeatable)");
  client_flag(cmd, f, "--backchannel-logout-uri", &C::backchannel_logout_uri,
              "where a logout token is POSTed when a session the client signed a resident in "
              "ends (OpenID Connect Back-Channel Logout)");
  client_flag(cmd, f, "--backchannel-logout-session-required",
              &C::backchannel_logout_session_required,
              "the client needs sid in logout tokens (infobank always sends it)");
  client_flag(cmd, f, "--frontchannel-logout-uri", &C::frontchannel_logout_uri,
              "a page of the client that the signed-out page loads in an iframe (OpenID "
              "Connect Front-Channel Logout; same origin as a redirect URI)");
  client_flag(cmd, f, "--frontchannel-logout-session-required",
              &C::frontchannel_logout_session_required, "add iss and sid to that page's URL");
  auto* method = cmd.add_option("--auth-method", f.draft.token_endpoint_auth_method,
                                "client_secret_basic | client_secret_post | private_key_jwt | "
                                "none | tls_client_auth | self_signed_tls_client_auth (RFC 8705; "
                                "the self-signed certificate is the x5c of a key in "
                                "--jwks-file)");
  // A client that stops using tls_client_auth no longer names what its certificate carries
  // (a name given with it is copied in after this and refused with the method).
  f.given.push_back({method, [&f](C& c) {
                       c.token_endpoint_auth_method = f.draft.token_endpoint_auth_method;
                       if (c.token_endpoint_auth_method != "tls_client_auth") {
                         c.tls_client_auth_name.clear();
                         c.tls_client_auth_value.clear();
                       }
                     }});
  // RFC 8705 §2.1.2: the one name a tls_client_auth client's certificate carries.
  for (const auto name : authz::kTlsClientAuthNames) {
    std::string flag = "--" + std::string(name);
    std::replace(flag.begin(), flag.end(), '_', '-');
    auto* option = cmd.add_option(
        flag, f.tls_names[std::string(name)],
        "tls_client_auth: the certificate must carry this " +
            std::string(name.substr(std::string_view("tls_client_auth_").size())));
    f.given.push_back({option, [&f](C& c) {
                         c.tls_client_auth_name = f.draft.tls_client_auth_name;
                         c.tls_client_auth_value = f.draft.tls_client_auth_value;
                       }});
  }
  client_flag(cmd, f, "--tls-client-certificate-bound-access-tokens", &C::tls_bound_access_tokens,
              "bind the client's access tokens to its TLS certificate (RFC 8705 3)");
  client_flag(cmd, f, "--grant-type", &C::grant_types,
              "authorization_code | refresh_token | client_credentials (repeatable)");
  client_flag(cmd, f, "--scope", &C::scope, "space-separated scopes the client may request");
  auto* jwks = cmd.add_option("--jwks-file", f.jwks_file,
                              "JWK Set with the client's public keys (private_key_jwt, request "
                              "objects)");
  f.given.push_back({jwks, [&f](C& c) { c.jwks = f.draft.jwks; }});
  client_flag(cmd, f, "--audience", &C::default_audience, "default access token audience");
  client_flag(cmd, f, "--require-par", &C::require_par, "require pushed authorization requests");
  client_flag(cmd, f, "--require-signed-request-object", &C::require_signed_request_object,
              "every authorization request must be a request object signed with a key of "
              "--jwks-file (RFC 9101)");
  client_flag(cmd, f, "--require-dpop", &C::require_dpop, "require DPoP-bound tokens");
  client_flag(cmd, f, "--userinfo-signed-response-alg", &C::userinfo_signed_response_alg,
              "ES256, RS256, PS256 or EdDSA: answer the client's UserInfo requests with a signed JWT "
              "(OpenID Connect Core 5.3.2)");
  // Unless told otherwise, [oauth] default_signing_alg (RS256, the default of each where it is
  // defined: OpenID Connect Registration 2, JARM 3, RFC 9701 6); complete_client fills it in.
  const auto response_alg = [&](const char* flag, std::string C::*field, const char* what) {
    (f.draft.*field).clear();  // ClientRecord's own default is for rows stored before
    client_flag(cmd, f, flag, field,
                std::string("ES256 | RS256 | PS256 | EdDSA: the algorithm of ") + what +
                    " (default: [oauth] default_signing_alg, itself RS256 by default)")
        ->check(CLI::IsMember(authz::KeyRing::kAlgs));
  };
  response_alg("--id-token-signed-response-alg", &C::id_token_signed_response_alg,
               "the client's ID tokens and back-channel logout tokens");
  response_alg("--introspection-signed-response-alg", &C::introspection_signed_response_alg,
               "signed introspection answers (RFC 9701)");
  response_alg("--authorization-signed-response-alg", &C::authorization_signed_response_alg,
               "JWT authorization responses (JARM)");
}

// The configured back end. On SQLite the store creates the data directory (the default key
// file lives there); on PostgreSQL nothing else would, so it is created here.
std::unique_ptr<storage::Store> open_store(const server::Config& config) {
  if (config.storage_backend == "postgres") {
    std::error_code ec;
    std::filesystem::create_directories(config.data_dir, ec);
    if (ec) throw std::runtime_error("cannot create " + config.data_dir + ": " + ec.message());
    return storage::open_postgres(config.postgres_url, authz::make_log_hasher());
  }
  return storage::open_sqlite(config.database_path(), authz::make_log_hasher());
}

// Everything a command needs: configuration, storage, the master key, the domain.
struct Context {
  server::Config config;
  std::unique_ptr<storage::Store> store;
  std::optional<authz::Sealer> sealer;  // before `server`, which holds a reference to it
  authz::SystemClock clock;
  authz::OsRandom random;
  std::unique_ptr<authz::AuthorizationServer> server;

  explicit Context(const std::string& config_path, bool migrate = true) {
    config = server::load_config(config_path, server::environment());
    // The store first: it creates the data directory the default key file lives in.
    store = open_store(config);
    sealer.emplace(authz::Sealer::load_or_create(config.master_key_path()));
    if (migrate) store->migrate();
    make_server();
  }

  void make_server() {
    server = std::make_unique<authz::AuthorizationServer>(settings_from(config), *store, clock,
                                                          random, *sealer);
  }
};

int serve(const std::string& config_path) {
  Context ctx(config_path);
  auto level = server::parse_log_level(ctx.config.log_level);
  server::Logger logger(level.value_or(server::LogLevel::info));
#ifdef INFOBANK_BENCH_WITHOUT_AUDIT_LOG
  logger.error("benchmark build: tokens are issued without audit entries; never deploy it");
#endif
  server::Metrics metrics;
  // The issuer may name the port, which is known only once bound (port 0 in tests): bind
  // first, build the application after, and answer 503 in the instant between.
  std::atomic<server::App*> app{nullptr};
  server::HttpServer http(
      ctx.config,
      [&app](server::Request&& req,
             const server::RequestContext& rc) -> boost::asio::awaitable<server::Response> {
        if (auto* a = app.load(std::memory_order_acquire)) co_return co_await a->handle(std::move(req), rc);
        server::Response res{server::http::status::service_unavailable, req.version()};
        res.set(server::http::field::retry_after, "1");
        co_return res;
      },
      metrics, logger);
  http.handle_signals();
  auto port = http.start();
  ctx.config.port = port;
  if (ctx.config.mtls_enabled()) ctx.config.mtls_port = http.mtls_port();
  ctx.make_server();
  // A key for every algorithm a client gets without asking, before the first answer: the JWK
  // Set a relying party fetches (and keeps) holds whichever key its objects will be signed with.
  ctx.server->keys().ensure_keys(ctx.config.default_signing_alg);
  // The portability broker runs its transfers on threads of its own: they block on remote
  // services for seconds, which must not take the request pool's threads.
  server::BeastHttpClient http_client;
  server::SelfIssuedTokens tokens(*ctx.server, ctx.clock);
  server::BankContext bank(*ctx.server, ctx.clock, ctx.random);
  portability::BrokerSettings broker_settings;
  broker_settings.node_id = ctx.config.broker_node_id;
  broker_settings.workers = ctx.config.broker_workers;
  broker_settings.page_size = ctx.config.broker_page_size;
  broker_settings.max_retries = ctx.config.broker_max_retries;
  broker_settings.request_timeout = std::chrono::milliseconds(ctx.config.broker_request_timeout_ms);
  broker_settings.lease_seconds = ctx.config.broker_lease_seconds;
  broker_settings.confirmation_timeout_seconds = ctx.config.broker_confirmation_timeout_seconds;
  portability::Broker broker(*ctx.store, http_client, tokens, bank, broker_settings);
  server::App application(ctx.config, *ctx.server, http.workers(), metrics, logger, &broker);
  // Back-channel logouts are sent from threads of their own (they wait on clients), several
  // at once so that one client that hangs delays no other.
  server::BackchannelSender logouts(*ctx.server, *ctx.store, ctx.clock, http_client, logger,
                                    server::backchannel_settings(ctx.config));
  application.on_logout([&logouts] { logouts.wake(); });
  app.store(&application, std::memory_order_release);
  broker.start();
  logouts.start();
  // Consents whose end has come, expired rows and signing keys due for rotation are swept on a
  // thread of their own (storage blocks): at start, then every oauth.sweep_interval seconds
  // until shutdown.
  metrics.describe("infobank_consents_expired_total",
                   "Grants ended by the sweep because their end (retention_until) had come.");
  auto& consents_expired = metrics.counter("infobank_consents_expired_total");
  std::jthread sweeper([&ctx, &logger, &consents_expired](const std::stop_token& stop) {
    std::mutex mutex;
    std::condition_variable_any wake;
    while (!stop.stop_requested()) {
      try {
        // Keys due for rotation get a successor, published ahead of signing.
        for (const auto& r : ctx.server->keys().rotate_due(
                 ctx.random, ctx.config.key_rotation_interval, ctx.config.key_publish_ahead)) {
          ctx.server->event(
              "server", "keys.rotated", {}, {},
              nlohmann::json{{"kid", r.kid}, {"alg", r.alg}, {"activates_at", r.activates_at}}
                  .dump());
          logger.info("signing key rotated on schedule",
                      {{"kid", r.kid}, {"alg", r.alg}, {"activates_at", r.activates_at}});
        }
        ctx.store->purge_expired(ctx.clock.now());
        constexpr int kBatch = 100;
        int ended = 0;
        for (int n = kBatch; n == kBatch && !stop.stop_requested();) {
          n = ctx.server->expire_grants(kBatch);
          ended += n;
        }
        if (ended > 0) {
          consents_expired.inc(static_cast<std::uint64_t>(ended));
          logger.info("consents expired", {{"count", static_cast<std::int64_t>(ended)}});
        }
      } catch (const std::exception& e) {
        logger.error("sweep failed", {{"error", e.what()}});
      }
      std::unique_lock lock(mutex);
      wake.wait_for(lock, stop, std::chrono::seconds(ctx.config.sweep_interval),
                    [] { return false; });
    }
  });
  logger.info("ready", {{"port", static_cast<std::int64_t>(port)},
                        {"issuer", ctx.server->settings().issuer},
                        {"tls", ctx.config.tls_enabled()}});
  http.wait();
  sweeper.request_stop();
  sweeper.join();
  logouts.stop();
  broker.stop();
  app.store(nullptr);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  server::tune_allocator();
  CLI::App cli{"infobank: an information bank with an OAuth 2.0 / OpenID Connect authorization server"};
  cli.require_subcommand(1);
  std::string config_path;
  cli.add_option("--config", config_path, "configuration file (.toml or .json); INFOBANK_* variables override it");

  auto* serve_cmd = cli.add_subcommand("serve", "run the HTTP server until SIGTERM");
  std::string port_file;
  serve_cmd->add_option("--port-file", port_file, "write the bound port here (with server.port = 0)");
  auto* migrate_cmd = cli.add_subcommand("migrate", "create or upgrade the database schema");

  auto* client_cmd = cli.add_subcommand("client", "manage OAuth clients");
  client_cmd->require_subcommand(1);
  auto* client_add = client_cmd->add_subcommand("add", "register a client; prints its id and secret as JSON");
  ClientFlags added;
  client_add->add_option("--name", added.draft.client_name, "display name shown on the consent page")->required();
  client_add->add_option("--id", added.draft.client_id, "client_id (random when omitted)");
  add_client_flags(*client_add, added);
  auto* client_update = client_cmd->add_subcommand(
      "update",
      "change a client: each option given replaces that setting (a repeatable one, the whole "
      "list; a switch takes =true or =false), the rest stay; prints the client as JSON");
  ClientFlags updated;
  std::string client_id;
  bool new_secret = false;
  client_update->add_option("client_id", client_id)->required();
  client_update->add_option("--name", updated.draft.client_name,
                            "display name shown on the consent page");
  updated.given.push_back({client_update->get_option("--name"), [&updated](auto& c) {
                             c.client_name = updated.draft.client_name;
                           }});
  add_client_flags(*client_update, updated);
  client_update->add_flag("--new-secret", new_secret,
                          "replace the client's secret with a new one, printed once; the old one "
                          "stops working at once");
  auto* client_list = client_cmd->add_subcommand("list", "list clients as JSON");
  auto* client_show = client_cmd->add_subcommand("show", "show one client as JSON");
  client_show->add_option("client_id", client_id)->required();
  auto* client_remove = client_cmd->add_subcommand("remove", "remove a client and everything issued to it");
  client_remove->add_option("client_id", client_id)->required();
  auto* client_revoke = client_cmd->add_subcommand(
      "revoke-tokens",
      "revoke every access and refresh token issued to a client and its unredeemed codes; the "
      "client and its grants stay");
  client_revoke->add_option("client_id", client_id)->required();

  auto* resident_cmd = cli.add_subcommand("resident", "manage residents");
  resident_cmd->require_subcommand(1);
  auto* resident_add = resident_cmd->add_subcommand("add", "add a resident; the password is read from stdin");
  std::string username, name, email;
  resident_add->add_option("username", username)->required();
  resident_add->add_option("--name", name, "display name");
  resident_add->add_option("--email", email, "e-mail address");
  auto* resident_list = resident_cmd->add_subcommand("list", "list residents as JSON");
  auto* resident_remove = resident_cmd->add_subcommand("remove", "remove a resident and their grants");
  resident_remove->add_option("username", username)->required();

  auto* keys_cmd = cli.add_subcommand("keys", "manage token signing keys");
  keys_cmd->require_subcommand(1);
  auto* keys_list = keys_cmd->add_subcommand("list", "list signing keys as JSON");
  auto* keys_rotate = keys_cmd->add_subcommand(
      "rotate", "make a new current key for each algorithm in use (or --alg); the old ones stay "
                "published");
  std::string rotate_alg;
  keys_rotate
      ->add_option("--alg", rotate_alg,
                   "ES256 | RS256 | PS256 | EdDSA: rotate this algorithm's key only")
      ->check(CLI::IsMember(authz::KeyRing::kAlgs));
  std::int64_t activate_in = 0;
  keys_rotate
      ->add_option("--activate-in", activate_in,
                   "seconds from now at which the new keys start to sign (0, the default: at "
                   "once; the old keys sign until then): publish first, so that relying parties "
                   "that keep the key set they fetched have the new keys before they see them")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{365} * 24 * 3600));

  auto* audit_cmd = cli.add_subcommand("audit", "the tamper-evident audit log");
  audit_cmd->require_subcommand(1);
  auto* audit_head = audit_cmd->add_subcommand("tree-head", "print a signed tree head of the log now");
  auto* audit_export = audit_cmd->add_subcommand(
      "export", "write the signed tree head and every entry it covers (JSON Lines)");
  std::string out_file;
  audit_export->add_option("--out", out_file, "file to write (default: standard output)");
  auto* audit_verify = audit_cmd->add_subcommand(
      "verify", "check an export: entries, root, signature, and consistency with an earlier head");
  std::string export_file, previous_file, key_file;
  audit_verify->add_option("export", export_file, "the export file")->required();
  audit_verify->add_option("--previous", previous_file, "a tree head saved earlier (JSON)");
  audit_verify->add_option("--key", key_file, "the log's public key (JWK) obtained out of band");

  auto* backup_cmd = cli.add_subcommand(
      "backup", "copy the SQLite database while the server runs (on PostgreSQL: pg_dump)");
  std::string backup_file;
  backup_cmd->add_option("--out", backup_file, "the copy to write (replaced atomically)")->required();

  server::PortabilityCli portability_cli(cli);

  CLI11_PARSE(cli, argc, argv);

  try {
    if (!port_file.empty()) setenv("INFOBANK_SERVER_PORT_FILE", port_file.c_str(), 1);
    if (*serve_cmd) return serve(config_path);
    if (*audit_verify) {
      // Verification needs no database: an auditor runs it on their own machine.
      std::optional<std::string> previous, key;
      if (!previous_file.empty()) previous = read_file(previous_file);
      if (!key_file.empty()) key = read_file(key_file);
      auto report = authz::verify_export(read_file(export_file), previous, key);
      nlohmann::json out = {{"ok", report.ok}, {"entries", report.entries}};
      if (!report.ok) out["problem"] = report.problem;
      if (report.first_bad_seq != 0) out["first_bad_seq"] = report.first_bad_seq;
      if (!key) out["warning"] = "the log key was taken from the export itself; pin it with --key";
      std::cout << out.dump() << "\n";
      return report.ok ? 0 : 1;
    }
    if (*backup_cmd) {
      // No Context: a backup opens nothing but the database file, and creates nothing.
      const auto config = server::load_config(config_path, server::environment());
      if (config.storage_backend == "postgres") {
        std::cerr << "infobank: backup copies a SQLite database; on PostgreSQL use pg_dump or "
                     "pg_basebackup, and back the master key file up apart (README, Backup)\n";
        return 2;
      }
      const auto r = storage::backup_sqlite(config.database_path(), backup_file);
      std::cout << nlohmann::json{{"out", backup_file}, {"pages", r.pages},
                                  {"bytes", r.pages * r.page_size},
                                  {"not_included", config.master_key_path()}}.dump() << "\n";
      return 0;
    }
    Context ctx(config_path);
    if (portability_cli.chosen()) return portability_cli.run(*ctx.store, *ctx.server, ctx.clock, ctx.random);
    if (*migrate_cmd) {
      std::cout << nlohmann::json{{"schema_version", ctx.store->schema_version()}}.dump() << "\n";
      return 0;
    }
    if (*client_add) {
      if (auto problem = added.complete(); !problem.empty()) {
        std::cerr << problem << "\n";
        return 2;
      }
      auto created = ctx.server->create_client(added.draft);
      if (!created) {
        std::cerr << created.error().error << ": " << created.error().description << "\n";
        return 2;
      }
      nlohmann::json out = {{"client_id", created->record.client_id}};
      if (!created->client_secret.empty()) out["client_secret"] = created->client_secret;
      std::cout << out.dump() << "\n";
      return 0;
    }
    if (*client_update) {
      const auto current = ctx.store->find_client(client_id);
      if (!current) {
        std::cerr << "no such client\n";
        return 1;
      }
      if (auto problem = updated.complete(); !problem.empty()) {
        std::cerr << problem << "\n";
        return 2;
      }
      storage::ClientRecord changed = *current;
      updated.apply_to(changed);
      auto replaced = ctx.server->replace_client(*current, changed, new_secret, "operator");
      if (!replaced) {
        std::cerr << replaced.error().error << ": " << replaced.error().description << "\n";
        return replaced.error().error == "invalid_client" ? 1 : 2;
      }
      auto out = client_json(replaced->record);
      if (!replaced->client_secret.empty()) out["client_secret"] = replaced->client_secret;
      std::cout << out.dump(2) << "\n";
      return 0;
    }
    if (*client_list) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& c : ctx.store->list_clients()) out.push_back(client_json(c));
      std::cout << out.dump(2) << "\n";
      return 0;
    }
    if (*client_show) {
      auto c = ctx.store->find_client(client_id);
      if (!c) {
        std::cerr << "no such client\n";
        return 1;
      }
      std::cout << client_json(*c).dump(2) << "\n";
      return 0;
    }
    if (*client_revoke) {
      const auto revoked = ctx.store->revoke_client_tokens(
          client_id,
          ctx.server->make_event("operator", "client.tokens_revoked", {}, client_id, "{}", {},
                                 "success", {}));
      if (!revoked) {
        std::cerr << "no such client\n";
        return 1;
      }
      std::cout << nlohmann::json{{"access_tokens", revoked->access_tokens},
                                  {"refresh_tokens", revoked->refresh_tokens},
                                  {"codes", revoked->codes}}
                       .dump()
                << "\n";
      return 0;
    }
    if (*client_remove) {
      if (!ctx.store->remove_client(client_id)) {
        std::cerr << "no such client\n";
        return 1;
      }
      ctx.server->event("operator", "client.removed", {}, client_id, "{}");
      return 0;
    }
    if (*resident_add) {
      std::string password;
      std::getline(std::cin, password);
      if (password.size() < 8) {
        std::cerr << "the password (read from stdin) must have at least 8 characters\n";
        return 2;
      }
      storage::ResidentRecord r;
      r.id = ctx.random.identifier(16);
      r.username = username;
      r.password_hash = authz::hash_password(password);
      r.name = name;
      r.email = email;
      r.created_at = ctx.clock.now();
      if (!ctx.server->insert_resident(r)) {
        std::cerr << "username already exists\n";
        return 1;
      }
      ctx.server->event("operator", "resident.added", r.id, {}, "{}");
      std::cout << nlohmann::json{{"sub", r.id}}.dump() << "\n";
      return 0;
    }
    if (*resident_list) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& r : ctx.server->list_residents()) {
        out.push_back({{"sub", r.id}, {"username", r.username}, {"name", r.name}, {"created_at", r.created_at}});
      }
      std::cout << out.dump(2) << "\n";
      return 0;
    }
    if (*resident_remove) {
      if (!ctx.store->remove_resident_by_username(username)) {
        std::cerr << "no such resident\n";
        return 1;
      }
      ctx.server->event("operator", "resident.removed", {}, {}, "{}");
      return 0;
    }
    if (*keys_list) {
      ctx.server->keys().ensure_keys(ctx.config.default_signing_alg);
      nlohmann::json out = nlohmann::json::array();
      for (const auto& k : ctx.store->list_signing_keys()) {
        out.push_back({{"kid", k.kid},
                       {"alg", k.alg},
                       {"created_at", k.created_at},
                       {"activates_at", k.activates_at != 0 ? k.activates_at : k.created_at},
                       {"retired_at", k.retired_at}});
      }
      std::cout << out.dump(2) << "\n";
      return 0;
    }
    if (*audit_head) {
      auto head = ctx.server->audit().tree_head();
      std::cout << head.json() << "\n";
      return 0;
    }
    if (*audit_export) {
      std::ofstream file;
      if (!out_file.empty()) {
        file.open(out_file, std::ios::binary | std::ios::trunc);
        if (!file) throw std::runtime_error("cannot write " + out_file);
      }
      std::ostream& out = out_file.empty() ? std::cout : file;
      ctx.server->audit().write_export(out);
      out.flush();
      if (!out) throw std::runtime_error("writing the export failed");
      return 0;
    }
    if (*keys_rotate) {
      // Without --alg: ES256, and each other algorithm that has a key (made when first
      // needed).
      std::vector<std::string> algs;
      if (!rotate_alg.empty()) {
        algs.push_back(rotate_alg);
      } else {
        const auto keys = ctx.store->list_signing_keys();
        for (const auto alg : authz::KeyRing::kAlgs) {
          if (alg == authz::KeyRing::kDefaultAlg ||
              std::any_of(keys.begin(), keys.end(), [&](const auto& k) { return k.alg == alg; }))
            algs.emplace_back(alg);
        }
      }
      nlohmann::json rotated = nlohmann::json::array();
      for (const auto& alg : algs) {
        auto kid = ctx.server->keys().rotate(ctx.random, alg, activate_in);
        const auto at = ctx.clock.now() + activate_in;
        ctx.server->event("operator", "keys.rotated", {}, {},
                          nlohmann::json{{"kid", kid}, {"alg", alg}, {"activates_at", at}}.dump());
        rotated.push_back({{"kid", kid}, {"alg", alg}, {"activates_at", at}});
      }
      // "kid": the first key rotated, as before there was more than one algorithm.
      std::cout << nlohmann::json{{"kid", rotated[0]["kid"]}, {"rotated", rotated}}.dump() << "\n";
      return 0;
    }
  } catch (const std::exception& e) {
    std::cerr << "infobank: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
