// sample-service: one third-party service (a blog, a calendar, a health app, a location
// service) that speaks infobank's portability API (docs/portability-api.md), so the broker's
// tests have real sources and destinations. One process = one service = one format.
#include <CLI/CLI.hpp>
#include <atomic>
#include <fstream>
#include <iostream>
#include <sstream>

#include "authz/clock.hpp"
#include "authz/crypto.hpp"
#include "config.hpp"
#include "http_server.hpp"
#include "log.hpp"
#include "metrics.hpp"
#include "portability/formats.hpp"
#include "service.hpp"
#include "store.hpp"
#include "token_verifier.hpp"

namespace {

std::string hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 0x0f];
  }
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::string text;
  in.seekg(0, std::ios::end);
  const auto size = in.tellg();
  if (size > 0) text.reserve(static_cast<std::size_t>(size));
  in.seekg(0, std::ios::beg);
  text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return text;
}

const portability::Format& format_named(const std::string& name) {
  const auto* format = portability::find_format(name);
  if (format == nullptr) {
    std::string known;
    for (const auto* f : portability::all_formats()) {
      if (!known.empty()) known += ", ";
      known += f->name();
    }
    throw std::runtime_error("unknown format " + name + " (known: " + known + ")");
  }
  return *format;
}

// Loads a native export file for `resident` unless they already hold items, so that a
// restarted service does not hold its seed twice. Holds the file and its items, nothing more:
// the file is released once split, and items are stored in batches.
std::size_t seed(sample_service::Store& store, const portability::Format& format,
                 const std::string& file, const std::string& resident) {
  if (store.has_items(resident)) return 0;
  std::vector<portability::NativeItem> items;
  {
    const std::string document = read_file(file);
    items = format.split(document);
  }
  constexpr std::size_t kBatch = 5000;
  std::vector<portability::NativeItem> batch;
  std::vector<std::string> hashes;
  for (std::size_t i = 0; i < items.size(); ++i) {
    hashes.push_back(hex(authz::sha256(portability::canonical(format.to_model(items[i])))));
    batch.push_back(std::move(items[i]));
    if (batch.size() == kBatch || i + 1 == items.size()) {
      store.append(resident, batch, hashes);
      batch.clear();
      hashes.clear();
    }
  }
  return items.size();
}

int dump(const std::string& db, const std::string& resident) {
  sample_service::Store store(db, {});
  const auto& format = format_named(store.format());
  store.for_each(resident, [&](const sample_service::StoredItem& item) {
    std::cout << portability::canonical(format.to_model(item.native)) << '\n';
  });
  std::cout.flush();
  return std::cout ? 0 : 1;
}

struct ServeOptions {
  std::string format;
  std::string db;
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;
  std::string port_file;
  std::string issuer;
  std::string audience;
  std::string seed_file;
  std::string resident;
  std::size_t max_body_bytes = 8 * 1024 * 1024;
  std::string log_level = "info";
  std::string tls_cert;  // PEM chain and key: the service answers HTTPS when both are given
  std::string tls_key;
  sample_service::Faults faults;
};

int serve(const ServeOptions& o) {
  const auto& format = format_named(o.format);
  server::Logger logger(server::parse_log_level(o.log_level).value_or(server::LogLevel::info));
  sample_service::Store store(o.db, format.name());
  if (!o.seed_file.empty()) {
    const auto n = seed(store, format, o.seed_file, o.resident);
    logger.info("seeded", {{"items", n}, {"resident", o.resident}});
  }

  server::Config config;
  config.address = o.address;
  config.port = o.port;
  config.port_file = o.port_file;
  config.max_body_bytes = o.max_body_bytes;
  config.io_threads = 2;
  config.worker_threads = 4;
  config.read_timeout = 60;  // a whole import document must arrive within this
  config.tls_cert = o.tls_cert;
  config.tls_key = o.tls_key;
  server::Metrics metrics;

  // The default audience names the bound port, known only after start(): answer 503 until
  // the service exists.
  std::atomic<sample_service::Service*> service{nullptr};
  server::HttpServer http(
      config,
      [&service](server::Request&& req, const server::RequestContext& rc)
          -> boost::asio::awaitable<server::Response> {
        if (auto* s = service.load(std::memory_order_acquire)) {
          co_return co_await s->handle(std::move(req), rc);
        }
        server::Response res{server::http::status::service_unavailable, req.version()};
        res.set(server::http::field::retry_after, "1");
        co_return res;
      },
      metrics, logger);
  http.handle_signals();
  const auto port = http.start();
  std::string audience = o.audience;
  if (audience.empty()) {
    const bool v6 = o.address.find(':') != std::string::npos;
    audience = std::string(config.tls_enabled() ? "https://" : "http://") +
               (v6 ? "[" + o.address + "]" : o.address) + ":" + std::to_string(port);
  }
  authz::SystemClock clock;
  sample_service::IssuerKeySource keys(o.issuer);
  sample_service::TokenVerifier verifier(o.issuer, audience, keys, clock);
  sample_service::Service app(format, store, verifier, o.faults, http.workers(), logger, metrics);
  service.store(&app, std::memory_order_release);
  logger.info("ready", {{"port", static_cast<std::int64_t>(port)},
                        {"format", format.name()},
                        {"audience", audience},
                        {"issuer", o.issuer}});
  http.wait();
  service.store(nullptr);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  server::tune_allocator();
  CLI::App cli{"sample-service: a third-party service implementing infobank's portability API"};
  cli.require_subcommand(1);

  ServeOptions o;
  auto* serve_cmd = cli.add_subcommand("serve", "run the service until SIGTERM");
  serve_cmd->add_option("--format", o.format, "native format (blogger-atom, icalendar, ...)")
      ->required();
  serve_cmd->add_option("--db", o.db, "SQLite file (created when missing)")->required();
  serve_cmd->add_option("--address", o.address, "IP address to listen on")
      ->capture_default_str();
  serve_cmd->add_option("--port", o.port, "TCP port; 0 picks a free one")->capture_default_str();
  serve_cmd->add_option("--port-file", o.port_file, "write the bound port here once listening");
  serve_cmd->add_option("--issuer", o.issuer, "the authorization server whose tokens count")
      ->required();
  serve_cmd->add_option("--audience", o.audience,
                        "this service's identifier in tokens' aud (default http://ADDRESS:PORT)");
  auto* seed_opt =
      serve_cmd->add_option("--seed", o.seed_file, "native export file to load at start");
  auto* resident_opt =
      serve_cmd->add_option("--resident", o.resident, "the resident (token sub) the seed belongs to");
  seed_opt->needs(resident_opt);
  resident_opt->needs(seed_opt);
  serve_cmd->add_option("--max-body-bytes", o.max_body_bytes, "request body limit (413 beyond)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  serve_cmd->add_option("--tls-cert", o.tls_cert, "PEM certificate chain: serve HTTPS")
      ->check(CLI::ExistingFile);
  serve_cmd->add_option("--tls-key", o.tls_key, "PEM private key of --tls-cert")
      ->check(CLI::ExistingFile);
  serve_cmd->add_option("--log-level", o.log_level, "debug | info | warn | error")
      ->capture_default_str();
  auto rate = CLI::Range(0.0, 1.0);
  serve_cmd->add_option("--fail-rate", o.faults.fail_rate, "share of API requests answered 500")
      ->check(rate);
  serve_cmd->add_option("--delay-rate", o.faults.delay_rate, "share of API requests delayed")
      ->check(rate);
  serve_cmd->add_option("--delay-ms", o.faults.delay_ms, "delay of a delayed request")
      ->check(CLI::NonNegativeNumber);
  serve_cmd->add_option("--cut-rate", o.faults.cut_rate,
                        "share of API responses cut mid-body (connection closed)")
      ->check(rate);
  serve_cmd->add_flag("--unauthorized-once", o.faults.unauthorized_once,
                      "answer the first request with a good token 401 invalid_token");
  serve_cmd->add_option("--corrupt-item", o.faults.corrupt_item,
                        "export the N-th stored item (row id N) with its native text broken")
      ->check(CLI::PositiveNumber);
  serve_cmd->add_option("--miscount-item", o.faults.miscount_item,
                        "export pages holding the N-th stored item (row id N) count one item "
                        "more in Portability-Item-Count than they hold")
      ->check(CLI::PositiveNumber);
  serve_cmd->add_option("--fault-seed", o.faults.seed, "seed of the fault PRNG")
      ->capture_default_str();

  auto* dump_cmd = cli.add_subcommand(
      "dump", "print a resident's items as canonical common-model JSON, one per line, in stored order");
  std::string dump_db, dump_resident;
  dump_cmd->add_option("--db", dump_db, "SQLite file")->required()->check(CLI::ExistingFile);
  dump_cmd->add_option("--resident", dump_resident, "the resident")->required();

  CLI11_PARSE(cli, argc, argv);

  try {
    if (*serve_cmd) return serve(o);
    if (*dump_cmd) return dump(dump_db, dump_resident);
  } catch (const std::exception& e) {
    std::cerr << "sample-service: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
