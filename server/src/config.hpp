#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <thread>

namespace server {

/// Everything `infobank serve` can be told. Loaded from a TOML or JSON file (by extension),
/// then every key overridden by an environment variable INFOBANK_<SECTION>_<KEY> (upper
/// case), e.g. server.port <- INFOBANK_SERVER_PORT, oauth.issuer <- INFOBANK_OAUTH_ISSUER,
/// data_dir <- INFOBANK_DATA_DIR.
/// The machine's CPU cores as the standard library sees them (at least 1).
inline int cpu_cores() {
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

struct Config {
  std::string data_dir = "./var";  ///< top-level key "data_dir"

  // [server]
  std::string address = "127.0.0.1";
  std::uint16_t port = 8080;         ///< 0 picks a free port (see port_file)
  /// One per CPU core by default: each runs its own io_context.
  int io_threads = cpu_cores();
  /// Pool for blocking work (storage, argon2id). One per core by default, at least two: the
  /// token endpoint's writes wait for their group commit without holding one, and more
  /// threads than cores only add wake-ups. With PostgreSQL, where each query waits for the
  /// network, more can pay.
  int worker_threads = std::max(2, cpu_cores());
  std::string tls_cert;              ///< PEM chain; TLS is on when both are set
  std::string tls_key;
  std::size_t max_header_bytes = 8 * 1024;
  std::size_t max_body_bytes = 64 * 1024;
  int read_timeout = 10;   ///< seconds to receive one whole request
  int idle_timeout = 60;   ///< seconds a keep-alive connection may wait for the next request
  std::string port_file;   ///< when set, the bound port is written here once listening
  /// RFC 8705: a second TLS listener, on this port of the same address, that asks clients for
  /// a certificate (mutual TLS) and serves the same endpoints; -1 = none, 0 = a free port.
  /// Needs tls_cert and tls_key.
  int mtls_port = -1;
  std::string mtls_port_file;  ///< when set, the mutual-TLS listener's port is written here
  /// PEM file of the certificate authorities whose client certificates count for
  /// tls_client_auth (RFC 8705 §2.1); without it only self_signed_tls_client_auth works.
  std::string mtls_client_ca;
  /// PEM file of certificate revocation lists (RFC 5280 §5), one from each authority of
  /// mtls_client_ca (and of each intermediate authority a client's chain holds): a chain with
  /// a revoked certificate, or one whose list is missing or out of date, does not count.
  std::string mtls_client_crl;
  /// Seconds between looks at mtls_client_ca's and mtls_client_crl's files; a changed file is
  /// read again without a restart.
  int mtls_trust_reload_interval = 30;

  // [storage]
  std::string storage_backend = "sqlite";  ///< "sqlite" | "postgres" (key storage.backend)
  std::string database;    ///< SQLite file; default <data_dir>/infobank.db
  /// libpq conninfo or postgresql:// URI, for backend = "postgres". May hold a password:
  /// never logged, never in an error message.
  std::string postgres_url;
  /// The 256-bit key that seals personal data and private keys at rest; created (0600) when
  /// missing. Default <data_dir>/master.key. Losing it loses the sealed data.
  std::string master_key_file;

  // [oauth]
  std::string issuer;      ///< default http(s)://<address>:<port>
  int access_token_ttl = 600;
  int refresh_token_ttl = 30 * 24 * 3600;
  int code_ttl = 60;
  int par_ttl = 90;
  int session_ttl = 8 * 3600;
  int key_retention = 7 * 24 * 3600;  ///< how long a rotated key stays in JWKS
  /// Seconds a signing key signs before `serve` rotates it on its own (0: only `keys rotate`).
  int key_rotation_interval = 90 * 24 * 3600;
  /// Seconds a key rotated on schedule (or by `keys rotate --activate-in`) is published before
  /// it signs: relying parties keep the key set they fetched for a while.
  int key_publish_ahead = 24 * 3600;
  std::string initial_access_token;   ///< RFC 7591 §3: required for /register; empty disables
  bool require_par = false;           ///< require PAR of every client
  bool dpop_require_nonce = false;    ///< RFC 9449 §8, §9: DPoP proofs carry a server nonce
  /// FAPI 2.0: every access token is bound to a DPoP key or a client certificate.
  bool require_sender_constrained_tokens = false;
  /// What a client registered without *_signed_response_alg gets: ES256, RS256, PS256 or EdDSA.
  std::string default_signing_alg = "RS256";
  /// RFC 8705 §5: the mutual-TLS listener's public URL (mtls_endpoint_aliases); default
  /// https://<address>:<mtls_port>.
  std::string mtls_base_url;
  int sweep_interval = 60;  ///< seconds between sweeps of ended consents and expired rows

  // [broker] — the portability broker
  std::string broker_node_id = "local";  ///< lease owner; unique per node of a cluster
  int broker_workers = 2;                ///< transfers run at once; 0 = no broker on this node
  int broker_page_size = 100;            ///< items per export page
  int broker_max_retries = 8;            ///< retries of one step before a transfer fails
  int broker_request_timeout_ms = 30'000;  ///< deadline of one call to a service, whole
  int broker_lease_seconds = 60;         ///< a node silent this long loses its transfers
  /// How long a switch waits for the resident's decision about deleting at the source what
  /// could not be carried; then it completes as a copy, nothing deleted (14 days).
  int broker_confirmation_timeout_seconds = 14 * 24 * 3600;

  // [backchannel] — OpenID Connect Back-Channel Logout, the sending side
  int backchannel_max_attempts = 6;          ///< tries before giving up on a client
  int backchannel_first_retry_seconds = 1;   ///< the n-th retry waits 2^(n-1) times this
  int backchannel_lease_seconds = 30;        ///< a claimed delivery is not claimed again before
  int backchannel_request_timeout_ms = 5000; ///< deadline of one POST, whole
  int backchannel_concurrency = 16;          ///< deliveries in flight at once on this node
  int backchannel_poll_ms = 1000;  ///< how often deliveries queued elsewhere are looked for

  // [log]
  std::string log_level = "info";     ///< debug | info | warn | error

  /// Effective values after defaults (database path, master key path, issuer).
  [[nodiscard]] std::string database_path() const;
  [[nodiscard]] std::string master_key_path() const;
  [[nodiscard]] std::string effective_issuer() const;
  [[nodiscard]] bool tls_enabled() const { return !tls_cert.empty() && !tls_key.empty(); }
  [[nodiscard]] bool mtls_enabled() const { return mtls_port >= 0; }
  /// mtls_base_url or its default; empty when there is no mutual-TLS listener.
  [[nodiscard]] std::string effective_mtls_base_url() const;
};

/// Loads `path` (".toml" or ".json"; empty path = defaults only), then applies the
/// INFOBANK_* variables in `env`. Throws std::runtime_error naming the key on a bad value
/// or an unknown key.
Config load_config(const std::string& path, const std::map<std::string, std::string>& env);

/// The process environment as a map.
std::map<std::string, std::string> environment();

}  // namespace server
