#include "config.hpp"

#include "authz/oauth.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <toml++/toml.h>
#include <utility>
#include <unistd.h>  // environ (g++ defines _GNU_SOURCE)
#include <variant>
#include <vector>

namespace server {
namespace {

// One scalar as a file or the environment spelled it. Files are typed; the environment is
// text that is parsed against the key's declared type.
using Scalar = std::variant<std::string, std::int64_t, bool, double>;

// Where a key lands in Config. The variant index is the key's type.
using Target = std::variant<std::string Config::*, int Config::*, std::uint16_t Config::*,
                            std::size_t Config::*, bool Config::*>;

struct KeySpec {
  std::string_view section;  // empty for top-level keys
  std::string_view key;
  Target target;
  std::int64_t min = 0;  // inclusive bounds for integer keys
  std::int64_t max = std::numeric_limits<std::int32_t>::max();
};

constexpr std::int64_t kMaxInt = std::numeric_limits<std::int32_t>::max();

// Every key the server understands. Anything else in a file is an error, so a typo such as
// `read_timout` cannot silently leave a default in place.
const std::vector<KeySpec>& key_specs() {
  static const std::vector<KeySpec> specs = {
      {"", "data_dir", &Config::data_dir},
      {"server", "address", &Config::address},
      {"server", "port", &Config::port, 0, 65535},
      {"server", "io_threads", &Config::io_threads, 1, 1024},
      {"server", "worker_threads", &Config::worker_threads, 1, 1024},
      {"server", "tls_cert", &Config::tls_cert},
      {"server", "tls_key", &Config::tls_key},
      {"server", "max_header_bytes", &Config::max_header_bytes, 256, kMaxInt},
      {"server", "max_body_bytes", &Config::max_body_bytes, 0, kMaxInt},
      {"server", "read_timeout", &Config::read_timeout, 1, 3600},
      {"server", "idle_timeout", &Config::idle_timeout, 1, 24 * 3600},
      {"server", "port_file", &Config::port_file},
      {"server", "mtls_port", &Config::mtls_port, -1, 65535},
      {"server", "mtls_port_file", &Config::mtls_port_file},
      {"server", "mtls_client_ca", &Config::mtls_client_ca},
      {"server", "mtls_client_crl", &Config::mtls_client_crl},
      {"server", "mtls_trust_reload_interval", &Config::mtls_trust_reload_interval, 1, 24 * 3600},
      {"storage", "backend", &Config::storage_backend},
      {"storage", "database", &Config::database},
      {"storage", "postgres_url", &Config::postgres_url},
      {"storage", "master_key_file", &Config::master_key_file},
      {"oauth", "issuer", &Config::issuer},
      {"oauth", "access_token_ttl", &Config::access_token_ttl, 1, kMaxInt},
      {"oauth", "refresh_token_ttl", &Config::refresh_token_ttl, 1, kMaxInt},
      {"oauth", "code_ttl", &Config::code_ttl, 1, kMaxInt},
      {"oauth", "par_ttl", &Config::par_ttl, 1, kMaxInt},
      {"oauth", "session_ttl", &Config::session_ttl, 1, kMaxInt},
      {"oauth", "key_retention", &Config::key_retention, 0, kMaxInt},
      {"oauth", "key_rotation_interval", &Config::key_rotation_interval, 0, kMaxInt},
      {"oauth", "key_publish_ahead", &Config::key_publish_ahead, 0, kMaxInt},
      {"oauth", "initial_access_token", &Config::initial_access_token},
      {"oauth", "require_par", &Config::require_par},
      {"oauth", "dpop_require_nonce", &Config::dpop_require_nonce},
      {"oauth", "require_sender_constrained_tokens", &Config::require_sender_constrained_tokens},
      {"oauth", "default_signing_alg", &Config::default_signing_alg},
      {"oauth", "mtls_base_url", &Config::mtls_base_url},
      {"oauth", "sweep_interval", &Config::sweep_interval, 1, 24 * 3600},
      {"log", "level", &Config::log_level},
      {"broker", "node_id", &Config::broker_node_id},
      {"broker", "workers", &Config::broker_workers, 0, 64},
      {"broker", "page_size", &Config::broker_page_size, 1, 1000},
      {"broker", "max_retries", &Config::broker_max_retries, 0, 100},
      {"broker", "request_timeout_ms", &Config::broker_request_timeout_ms, 100, 600'000},
      {"broker", "lease_seconds", &Config::broker_lease_seconds, 5, 24 * 3600},
      {"broker", "confirmation_timeout_seconds", &Config::broker_confirmation_timeout_seconds, 1,
       kMaxInt},
      {"backchannel", "max_attempts", &Config::backchannel_max_attempts, 1, 20},
      {"backchannel", "first_retry_seconds", &Config::backchannel_first_retry_seconds, 1, 3600},
      {"backchannel", "lease_seconds", &Config::backchannel_lease_seconds, 1, 24 * 3600},
      {"backchannel", "request_timeout_ms", &Config::backchannel_request_timeout_ms, 100,
       600'000},
      {"backchannel", "concurrency", &Config::backchannel_concurrency, 1, 256},
      {"backchannel", "poll_ms", &Config::backchannel_poll_ms, 10, 600'000},
  };
  return specs;
}

bool is_section(std::string_view name) {
  return name == "server" || name == "storage" || name == "oauth" || name == "log" ||
         name == "broker" || name == "backchannel";
}

std::string dotted(std::string_view section, std::string_view key) {
  return section.empty() ? std::string(key) : std::string(section) + "." + std::string(key);
}

const KeySpec* find_spec(std::string_view section, std::string_view key) {
  for (const auto& spec : key_specs()) {
    if (spec.section == section && spec.key == key) return &spec;
  }
  return nullptr;
}

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error("config: " + what); }

std::string_view type_name(const Target& target) {
  switch (target.index()) {
    case 0: return "a string";
    case 4: return "a boolean";
    default: return "an integer";
  }
}

// Stores `value` into the field named by `spec`; `where` names the key (or variable) in errors.
void assign(Config& config, const KeySpec& spec, const Scalar& value, const std::string& where) {
  std::visit(
      [&](auto member) {
        using Field = std::remove_reference_t<decltype(config.*member)>;
        if constexpr (std::is_same_v<Field, std::string>) {
          const auto* s = std::get_if<std::string>(&value);
          if (s == nullptr) fail(where + " must be a string");
          config.*member = *s;
        } else if constexpr (std::is_same_v<Field, bool>) {
          const auto* b = std::get_if<bool>(&value);
          if (b == nullptr) fail(where + " must be a boolean");
          config.*member = *b;
        } else {
          const auto* i = std::get_if<std::int64_t>(&value);
          if (i == nullptr) fail(where + " must be an integer");
          if (*i < spec.min || *i > spec.max) {
            fail(where + " must be between " + std::to_string(spec.min) + " and " +
                 std::to_string(spec.max) + ", got " + std::to_string(*i));
          }
          config.*member = static_cast<Field>(*i);
        }
      },
      spec.target);
}

// ---- TOML ------------------------------------------------------------------------------------

// Scalar from a TOML node; nullopt for tables, arrays, dates and times, which no key accepts.
std::optional<Scalar> scalar_of(const toml::node& node) {
  if (const auto* s = node.as_string()) return Scalar{s->get()};
  if (const auto* i = node.as_integer()) return Scalar{i->get()};
  if (const auto* b = node.as_boolean()) return Scalar{b->get()};
  if (const auto* d = node.as_floating_point()) return Scalar{d->get()};
  return std::nullopt;
}

void apply_toml_value(Config& config, std::string_view section, std::string_view key,
                      const toml::node& node) {
  const std::string where = dotted(section, key);
  const KeySpec* spec = find_spec(section, key);
  if (spec == nullptr) fail("unknown key '" + where + "'");
  auto value = scalar_of(node);
  if (!value) fail(where + " must be " + std::string(type_name(spec->target)));
  assign(config, *spec, *value, where);
}

void load_toml(Config& config, const std::string& path) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << path << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
        << e.description();
    fail(msg.str());
  }
  for (const auto& [k, node] : root) {
    const std::string_view key = k.str();
    if (is_section(key)) {
      const auto* table = node.as_table();
      if (table == nullptr) fail("'" + std::string(key) + "' must be a table");
      for (const auto& [sk, snode] : *table) apply_toml_value(config, key, sk.str(), snode);
    } else {
      if (node.is_table()) fail("unknown section '" + std::string(key) + "'");
      apply_toml_value(config, "", key, node);
    }
  }
}

// ---- JSON ------------------------------------------------------------------------------------

std::optional<Scalar> scalar_of(const nlohmann::json& node) {
  if (node.is_string()) return Scalar{node.get<std::string>()};
  if (node.is_boolean()) return Scalar{node.get<bool>()};
  if (node.is_number_unsigned()) {
    const auto u = node.get<std::uint64_t>();
    // Out of int64 range: reported as a range error by assign().
    return Scalar{u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
                      ? std::numeric_limits<std::int64_t>::max()
                      : static_cast<std::int64_t>(u)};
  }
  if (node.is_number_integer()) return Scalar{node.get<std::int64_t>()};
  if (node.is_number_float()) return Scalar{node.get<double>()};
  return std::nullopt;
}

void apply_json_value(Config& config, std::string_view section, std::string_view key,
                      const nlohmann::json& node) {
  const std::string where = dotted(section, key);
  const KeySpec* spec = find_spec(section, key);
  if (spec == nullptr) fail("unknown key '" + where + "'");
  auto value = scalar_of(node);
  if (!value) fail(where + " must be " + std::string(type_name(spec->target)));
  assign(config, *spec, *value, where);
}

void load_json(Config& config, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open " + path);
  nlohmann::json root;
  try {
    // Strict: no comments, no trailing garbage.
    root = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const nlohmann::json::parse_error& e) {
    fail(path + ": " + e.what());
  }
  if (!root.is_object()) fail(path + ": the top level must be an object");
  for (const auto& [key, node] : root.items()) {
    if (is_section(key)) {
      if (!node.is_object()) fail("'" + key + "' must be an object");
      for (const auto& [skey, snode] : node.items()) apply_json_value(config, key, skey, snode);
    } else {
      if (node.is_object()) fail("unknown section '" + key + "'");
      apply_json_value(config, "", key, node);
    }
  }
}

// ---- environment -----------------------------------------------------------------------------

std::string env_name(const KeySpec& spec) {
  std::string name = "INFOBANK_";
  if (!spec.section.empty()) {
    name += spec.section;
    name += '_';
  }
  name += spec.key;
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return name;
}

// The environment is text: parse it as the key's type, strictly (no "10s", no " 10").
Scalar parse_env(const KeySpec& spec, const std::string& text, const std::string& where) {
  switch (spec.target.index()) {
    case 0: return Scalar{text};
    case 4:
      if (text == "true" || text == "1") return Scalar{true};
      if (text == "false" || text == "0") return Scalar{false};
      fail(where + " must be true, false, 1 or 0");
    default: {
      std::int64_t v = 0;
      const char* first = text.data();
      const char* last = first + text.size();
      auto [ptr, ec] = std::from_chars(first, last, v);
      if (text.empty() || ec != std::errc{} || ptr != last) fail(where + " must be an integer");
      return Scalar{v};
    }
  }
}

void apply_env(Config& config, const std::map<std::string, std::string>& env) {
  // Unknown INFOBANK_* variables are not an error: test harnesses and wrappers use the prefix
  // for their own purposes (e.g. INFOBANK_TEST_TMP).
  for (const auto& spec : key_specs()) {
    const std::string name = env_name(spec);
    auto it = env.find(name);
    if (it == env.end()) continue;
    const std::string where = name + " (" + dotted(spec.section, spec.key) + ")";
    assign(config, spec, parse_env(spec, it->second, where), where);
  }
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

void validate(const Config& config) {
  if (config.log_level != "debug" && config.log_level != "info" && config.log_level != "warn" &&
      config.log_level != "error") {
    fail("log.level must be one of debug, info, warn, error; got '" + config.log_level + "'");
  }
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    fail("server.tls_cert and server.tls_key must be set together");
  }
  if (config.address.empty()) fail("server.address must not be empty");
  // One of the algorithms the key ring signs with, which the message names from the same list.
  const auto& algs = authz::KeyRing::kAlgs;
  if (std::find(algs.begin(), algs.end(), config.default_signing_alg) == algs.end()) {
    std::string named;
    for (std::size_t i = 0; i < algs.size(); ++i) {
      named += i == 0 ? "" : i + 1 == algs.size() ? " or " : ", ";
      named += algs[i];
    }
    fail("oauth.default_signing_alg must be " + named + "; got '" +
         config.default_signing_alg + "'");
  }
  if (config.mtls_enabled() && !config.tls_enabled()) {
    fail("server.mtls_port needs server.tls_cert and server.tls_key");
  }
  if (!config.mtls_enabled() && (!config.mtls_client_ca.empty() || !config.mtls_base_url.empty())) {
    fail("server.mtls_client_ca and oauth.mtls_base_url need server.mtls_port");
  }
  // A successor published as long ahead as the key signs would be due again at once.
  if (config.key_rotation_interval != 0 &&
      config.key_publish_ahead >= config.key_rotation_interval) {
    fail("oauth.key_publish_ahead must be shorter than oauth.key_rotation_interval");
  }
  if (!config.mtls_client_crl.empty() && config.mtls_client_ca.empty()) {
    fail("server.mtls_client_crl needs server.mtls_client_ca: the lists of which authorities?");
  }
  if (config.storage_backend != "sqlite" && config.storage_backend != "postgres") {
    fail("storage.backend must be sqlite or postgres; got '" + config.storage_backend + "'");
  }
  // The URL itself is never quoted: it may hold a password.
  if (config.storage_backend == "postgres" && config.postgres_url.empty()) {
    fail("storage.backend = \"postgres\" needs storage.postgres_url");
  }
  // A delivery still in flight must not be claimed again (and its client told twice) by
  // another node: its lease has to outlast the call with room to spare, for what the call's
  // deadline does not bound (the name lookup before connecting) and for settling it.
  const std::int64_t lease_ms = std::int64_t{config.backchannel_lease_seconds} * 1000;
  if (lease_ms <= 2 * std::int64_t{config.backchannel_request_timeout_ms}) {
    fail("backchannel.lease_seconds (" + std::to_string(config.backchannel_lease_seconds) +
         ") must be longer than twice backchannel.request_timeout_ms (" +
         std::to_string(config.backchannel_request_timeout_ms) + " ms)");
  }
}

std::string in_data_dir(const std::string& data_dir, std::string_view name) {
  if (!data_dir.empty() && data_dir.back() == '/') return data_dir + std::string(name);
  return data_dir + "/" + std::string(name);
}

}  // namespace

std::string Config::database_path() const {
  if (!database.empty()) return database;
  return in_data_dir(data_dir, "infobank.db");
}

std::string Config::master_key_path() const {
  if (!master_key_file.empty()) return master_key_file;
  return in_data_dir(data_dir, "master.key");
}

namespace {

// The URL of a listener on `address`: RFC 3986 §3.2.2 writes an IPv6 literal in brackets.
std::string listener_url(const std::string& scheme, const std::string& address, int port) {
  const bool ipv6 = address.find(':') != std::string::npos;
  std::string host = ipv6 ? "[" + address + "]" : address;
  return scheme + "://" + host + ":" + std::to_string(port);
}

}  // namespace

std::string Config::effective_issuer() const {
  if (!issuer.empty()) return issuer;
  return listener_url(tls_enabled() ? "https" : "http", address, port);
}

std::string Config::effective_mtls_base_url() const {
  if (!mtls_enabled()) return {};
  if (!mtls_base_url.empty()) return mtls_base_url;
  return listener_url("https", address, mtls_port);
}

Config load_config(const std::string& path, const std::map<std::string, std::string>& env) {
  Config config;
  if (!path.empty()) {
    if (ends_with(path, ".toml")) {
      load_toml(config, path);
    } else if (ends_with(path, ".json")) {
      load_json(config, path);
    } else {
      fail(path + ": unknown configuration format (expected .toml or .json)");
    }
  }
  apply_env(config, env);
  validate(config);
  return config;
}

std::map<std::string, std::string> environment() {
  std::map<std::string, std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view kv(*entry);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

}  // namespace server
