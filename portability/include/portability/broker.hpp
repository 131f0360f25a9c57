#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <stop_token>
#include <thread>
#include <variant>
#include <vector>

#include "storage/records.hpp"
#include "storage/store.hpp"

namespace portability {

// --- Seams the server fills in -----------------------------------------------------------------

struct HttpRequest {
  std::string method;  ///< GET | POST
  std::string url;     ///< absolute http(s) URL
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  ///< names in lower case
  std::string body;
  /// The header's value, or "" when absent (`name` in lower case).
  [[nodiscard]] std::string header(const std::string& name) const;
};

/// The connection failed, timed out, or the body was cut short: worth a retry.
class TransportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A blocking HTTP client; the broker calls it from its own worker threads only.
class HttpClient {
 public:
  virtual ~HttpClient() = default;
  /// Throws TransportError; refuses (TransportError) a response body over `max_body_bytes`.
  virtual HttpResponse send(const HttpRequest& request, std::chrono::milliseconds timeout,
                            std::size_t max_body_bytes) = 0;
};

enum class Side { source, destination };

/// How the broker gets an access token for one side of a transfer. One implementation per
/// OAuth pattern: in pattern 1 infobank issues the token itself; in patterns 2-4 it will be
/// infobank's own client role at the service's authorization server.
class TokenSource {
 public:
  virtual ~TokenSource() = default;
  /// A token the service accepts for the transfer's resident with `scope`, bound to the
  /// transfer. `fresh` after a 401: a cached token must not be returned again.
  virtual std::string access_token(const storage::TransferRecord& transfer,
                                   const storage::ServiceRecord& service, Side side,
                                   std::string_view scope, bool fresh) = 0;
};

/// What the broker needs from the rest of the bank: time, identifiers and audit entries.
class BrokerContext {
 public:
  virtual ~BrokerContext() = default;
  [[nodiscard]] virtual std::int64_t now() const = 0;
  /// A new random identifier (transfer and contract ids).
  virtual std::string new_id() = 0;
  /// A random number in [0, 1) for backoff jitter.
  virtual double jitter() = 0;
  /// An audit entry (resident pseudonymised) ready to append with the step's own writes.
  virtual storage::Event event(std::string_view actor, std::string_view action,
                               std::string_view resident_id, std::string_view client_id,
                               std::string_view detail_json, std::string_view outcome,
                               const std::vector<std::string>& datasets) = 0;
};

// --- The broker -----------------------------------------------------------------------------------

struct BrokerSettings {
  std::string node_id = "local";  ///< lease owner name; unique per node of a cluster
  int workers = 2;                ///< transfers running at once on this node
  int page_size = 100;            ///< items per export page
  int max_retries = 8;            ///< retries of one step before the transfer fails
  std::chrono::milliseconds base_backoff{200};
  std::chrono::milliseconds max_backoff{10'000};
  std::chrono::milliseconds request_timeout{30'000};
  std::size_t max_page_bytes = 32 * 1024 * 1024;
  std::int64_t lease_seconds = 60;  ///< a node silent this long loses its transfers
  std::chrono::milliseconds idle_poll{1'000};
  /// How long a switch may wait in "awaiting_confirmation" for the resident's decision about
  /// deletion at the source; past it, it is decided as keep_at_source (nothing deleted).
  std::int64_t confirmation_timeout_seconds = 14 * 24 * 3600;
};

/// A request to move datasets, before it is stored.
struct TransferRequest {
  std::string resident_id;
  std::string resident_username;  ///< the account name at a destination without a contract
  std::string client_id;          ///< empty when the resident asked in the browser
  std::string source_id;
  std::string destination_id;
  std::vector<std::string> datasets;
  bool delete_at_source = false;
  /// True when the resident already consented to exactly this (a client's token carried the
  /// granted personal_data_transfer detail); otherwise the transfer waits in "requested".
  bool consented = false;
};

/// The result of a resident- or client-facing operation: the transfer, or why not.
struct BrokerError {
  std::string error;        ///< invalid_request | not_found | conflict
  std::string description;
};

/// What the resident decides on their transfer page. Each decision is taken in one state
/// only: approve and deny while the transfer waits for consent ("requested");
/// delete_at_source and keep_at_source while a verified switch waits because some data could
/// not be carried ("awaiting_confirmation").
enum class Decision {
  approve,           ///< requested -> consented
  deny,              ///< requested -> cancelled
  delete_at_source,  ///< awaiting_confirmation -> deleting: delete anyway, then switch
  keep_at_source,    ///< awaiting_confirmation -> completed as a copy: nothing deleted
};

/// Everything GET /transfers/{id} shows.
struct TransferView {
  storage::TransferRecord transfer;
  std::vector<storage::TransferDatasetRecord> datasets;
  /// For a transfer awaiting the resident's decision: when it is kept at the source without
  /// one (Broker::expire_confirmations); 0 otherwise, or when unknown.
  std::int64_t decide_by = 0;
};

/// Runs transfers: a durable state machine in storage (requested -> consented -> exporting /
/// importing page by page -> verifying -> deleting at the source -> completed, with the
/// contracts changed in the same transaction; or failed, cancelled). A switch whose report
/// names anything not read from the source or not carried by the destination does not delete
/// on its own: after verify it waits in "awaiting_confirmation" (not runnable) for the
/// resident's decision, since deleting would lose exactly that. Every page's progress is
/// committed before the next one starts, so a process killed at any instant resumes from the
/// last committed page; imports carry an Idempotency-Key derived from the page, so a page sent
/// again is not stored twice; the source is asked to delete only after the destination's
/// verify matched what was sent.
class Broker {
 public:
  Broker(storage::Store& store, HttpClient& http, TokenSource& tokens, BrokerContext& context,
         BrokerSettings settings);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  /// Starts the worker threads (after releasing leases this node held before a restart).
  void start();
  /// Stops the workers; a transfer in flight stops between two steps and resumes later.
  void stop();
  /// Tells idle workers that a transfer may have become runnable.
  void wake();

  /// Validates and stores a new transfer.
  std::variant<storage::TransferRecord, BrokerError> request(const TransferRequest& request);
  /// The resident's decision on their transfer page, in the one state it belongs to (see
  /// Decision); in any other state, or for another resident's transfer, an error and no
  /// change. keep_at_source completes the transfer at once, as a copy.
  std::variant<storage::TransferRecord, BrokerError> decide(std::string_view transfer_id,
                                                           std::string_view resident_id,
                                                           Decision decision);
  std::optional<TransferView> view(std::string_view transfer_id);

  /// Decides keep_at_source, as the system, for transfers that have waited in
  /// "awaiting_confirmation" longer than settings().confirmation_timeout_seconds (since they
  /// entered it: their updated_at): completed as a copy, nothing deleted at the source, logged
  /// as transfer.deletion_declined with the reason "timeout". Each is the same guarded
  /// transition as the resident's decision, in one transaction, so with any number of nodes
  /// (and the resident) at once exactly one decides, and a process killed meanwhile leaves
  /// either the waiting transfer or the completed one. Returns the number this call decided
  /// (at most one batch). What a timer thread of start() does every idle_poll; tests call it.
  int expire_confirmations();

  /// Claims one runnable transfer and runs it until it ends or must wait; false if none was
  /// runnable. What the workers do; tests call it to step without threads.
  bool run_once();

  const BrokerSettings& settings() const { return settings_; }

 private:
  class Run;
  void worker(std::stop_token stop);
  /// Writes the resident's decision on `transfer` as read in state `expected`; false when the
  /// row changed since (nothing written).
  bool apply_decision(storage::TransferRecord& transfer, const std::string& expected,
                      Decision decision);
  /// Decision::keep_at_source: completes a waiting switch as a copy, with `decided` logged and
  /// `step` saying why, guarded by its state; false when it was no longer waiting.
  bool complete_as_copy(storage::TransferRecord& transfer, storage::Event decided,
                        std::string step);
  /// Waits up to `delay` unless stop is requested; false when stopping.
  bool pause(std::chrono::milliseconds delay);

  storage::Store& store_;
  HttpClient& http_;
  TokenSource& tokens_;
  BrokerContext& context_;
  BrokerSettings settings_;
  std::mutex mutex_;
  std::condition_variable_any wakeup_;
  std::uint64_t wakes_ = 0;  ///< bumped by wake(), under mutex_
  std::stop_source stop_;
  std::vector<std::jthread> workers_;
  std::jthread timer_;  ///< expire_confirmations() every idle_poll while started
};

/// The JSON of a transfer as GET /transfers/{id} answers it (and the resident's page shows).
std::string transfer_json(const TransferView& view);

}  // namespace portability
