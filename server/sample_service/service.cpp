#include "service.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/url.hpp>
#include <cctype>
#include <charconv>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "authz/crypto.hpp"

namespace sample_service {

namespace {

namespace http = server::http;
using boost::asio::awaitable;
using server::Request;
using server::Response;

constexpr std::string_view kPrefix = "/portability/v1/";
constexpr std::string_view kRealm = "sample-service";
constexpr int kDefaultLimit = 100;
constexpr int kMaxLimit = 1000;
constexpr std::size_t kMaxIdLength = 256;

constexpr std::string_view kScopeExport = "portability.export";
constexpr std::string_view kScopeImport = "portability.import";
constexpr std::string_view kScopeDelete = "portability.delete";

Response json_response(const Request& req, http::status status, const nlohmann::json& body) {
  Response res{status, req.version()};
  res.set(http::field::server, "sample-service");
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  res.body() = body.dump();
  res.prepare_payload();
  return res;
}

Response error_response(const Request& req, http::status status, std::string_view error,
                        std::string_view description = {}) {
  nlohmann::json body = {{"error", error}};
  if (!description.empty()) body["error_description"] = description;
  return json_response(req, status, body);
}

std::string quoted(std::string_view s) {
  // RFC 6750 §3: error_description is a quoted-string of printable ASCII without '"' and '\'.
  std::string out;
  for (char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') out += c;
  }
  return out;
}

// RFC 6750 §3.1: invalid_token is 401 with a challenge. A request without any credentials gets
// the challenge without an error code (RFC 6750 §3, "SHOULD NOT include an error code").
Response unauthorized(const Request& req, std::string_view description, bool no_credentials) {
  auto res = error_response(req, http::status::unauthorized, "invalid_token", description);
  std::string challenge = "Bearer realm=\"" + std::string(kRealm) + "\"";
  if (!no_credentials) {
    challenge += ", error=\"invalid_token\", error_description=\"" + quoted(description) + "\"";
  }
  res.set(http::field::www_authenticate, challenge);
  return res;
}

// RFC 6750 §3.1: insufficient_scope is 403, naming the scope the request needs.
Response forbidden(const Request& req, std::string_view scope, std::string_view description) {
  auto res = error_response(req, http::status::forbidden, "insufficient_scope", description);
  res.set(http::field::www_authenticate,
          "Bearer realm=\"" + std::string(kRealm) + "\", error=\"insufficient_scope\", scope=\"" +
              std::string(scope) + "\", error_description=\"" + quoted(description) + "\"");
  return res;
}

Response bad_request(const Request& req, std::string_view description) {
  return error_response(req, http::status::bad_request, "invalid_request", description);
}

Response not_found(const Request& req) {
  return error_response(req, http::status::not_found, "not_found");
}

// Media type without parameters, lower case.
std::string bare_media_type(std::string_view type) {
  type = type.substr(0, type.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  std::string out(type);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 0x0f];
  }
  return out;
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

// The cursor is opaque to clients: "a" followed by the row id of the last item sent.
std::string make_cursor(std::int64_t after) { return "a" + std::to_string(after); }
std::optional<std::int64_t> read_cursor(std::string_view c) {
  if (c.size() < 2 || c.front() != 'a') return std::nullopt;
  return parse_int(c.substr(1));
}

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdLength) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
}

struct Query {
  std::map<std::string, std::string, std::less<>> values;
  bool duplicate = false;
  [[nodiscard]] const std::string* get(std::string_view name) const {
    auto it = values.find(name);
    return it == values.end() ? nullptr : &it->second;
  }
};

// The request's path segments (percent-decoded) and query, or nullopt when the target is not
// a valid origin-form.
struct Target {
  std::vector<std::string> segments;
  Query query;
};

std::optional<Target> parse_target(std::string_view target) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return std::nullopt;
  Target t;
  for (auto seg : url->segments()) t.segments.emplace_back(seg);
  for (auto param : url->params()) {
    if (!t.query.values.emplace(param.key, param.value).second) t.query.duplicate = true;
  }
  return t;
}

std::string bearer_token(const Request& req, bool& present) {
  present = false;
  auto it = req.find(http::field::authorization);
  if (it == req.end()) return {};
  present = true;
  std::string_view v = it->value();
  // RFC 6750 §2.1: "Bearer" 1*SP b64token; the scheme is case-insensitive (RFC 9110 §11.1).
  if (v.size() < 7 || !boost::beast::iequals(v.substr(0, 6), "Bearer") || v[6] != ' ') return {};
  v.remove_prefix(7);
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  return std::string(v);
}

// Fault injection (--corrupt-item): breaks the item with native id `id` inside an export
// document so that the document no longer parses: an iCalendar VEVENT loses its END:VEVENT
// line; in XML an unclosed "<broken" follows the id's text; in JSON a stray '{' follows the id's
// string. The document is left as it was when the id is not found.
void corrupt(std::string& document, const std::string& id) {
  if (auto at = document.find("UID:" + id); at != std::string::npos) {
    const auto end = document.find("END:VEVENT", at);
    if (end == std::string::npos) return;
    auto eol = document.find('\n', end);
    eol = eol == std::string::npos ? document.size() : eol + 1;
    document.erase(end, eol - end);
  } else if (auto xml = document.find(">" + id + "<"); xml != std::string::npos) {
    document.insert(xml + 1 + id.size(), "<broken");
  } else if (auto json = document.find("\"" + id + "\""); json != std::string::npos) {
    document.insert(json + id.size() + 2, "{");
  }
}

}  // namespace

Service::Service(const portability::Format& format, Store& store, TokenVerifier& verifier,
                 const Faults& faults, boost::asio::thread_pool& workers, server::Logger& logger,
                 const server::Metrics& metrics)
    : format_(format),
      store_(store),
      verifier_(verifier),
      faults_(faults),
      workers_(workers),
      logger_(logger),
      metrics_(metrics),
      random_(faults.seed),
      unauthorized_pending_(faults.unauthorized_once) {}

Service::Draw Service::draw() {
  std::lock_guard lock(random_mutex_);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  // Always three draws, in this order, so the sequence does not depend on the rates.
  const double f = u(random_);
  const double d = u(random_);
  const double c = u(random_);
  return {f < faults_.fail_rate, d < faults_.delay_rate, c < faults_.cut_rate};
}

awaitable<Response> Service::handle(Request&& req, const server::RequestContext& ctx) {
  (void)ctx;
  const std::string target(req.target());
  const std::string_view path = std::string_view(target).substr(0, target.find('?'));
  if (path == "/healthz") {
    auto res = req.method() == http::verb::get || req.method() == http::verb::head
                   ? json_response(req, http::status::ok, {{"status", "ok"}})
                   : error_response(req, http::status::method_not_allowed, "invalid_request");
    server::set_route(res, "healthz");
    co_return res;
  }
  if (path == "/metrics" && req.method() == http::verb::get) {
    Response res{http::status::ok, req.version()};
    res.set(http::field::server, "sample-service");
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.keep_alive(req.keep_alive());
    res.body() = metrics_.render();
    res.prepare_payload();
    server::set_route(res, "metrics");
    co_return res;
  }
  if (!path.starts_with(kPrefix)) {
    auto res = not_found(req);
    co_return res;
  }

  const Draw faults = draw();
  if (faults.fail) {
    auto res = error_response(req, http::status::internal_server_error, "server_error",
                              "injected fault");
    server::set_route(res, "fault");
    co_return res;
  }
  if (faults.delay && faults_.delay_ms > 0) {
    // A timer on this connection's strand: the I/O thread serves others meanwhile.
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
    timer.expires_after(std::chrono::milliseconds(faults_.delay_ms));
    co_await timer.async_wait(boost::asio::use_awaitable);
  }
  std::string_view route = "other";
  auto res = co_await api(std::move(req), route);
  if (faults.cut) {
    res.set(server::kCutBodyHeader, std::to_string(res.body().size() / 2));
  }
  server::set_route(res, route);
  co_return res;
}

awaitable<Response> Service::api(Request&& req, std::string_view& route) {
  auto target = parse_target(req.target());
  if (!target) co_return bad_request(req, "malformed request target");
  if (target->query.duplicate) co_return bad_request(req, "a query parameter is repeated");
  const auto& seg = target->segments;
  const auto& query = target->query;
  // seg[0] == "portability", seg[1] == "v1".
  const std::size_t n = seg.size();
  const bool get = req.method() == http::verb::get;
  const bool post = req.method() == http::verb::post;

  enum class Op { datasets, export_page, import, verify, remove } op{};
  std::string dataset;
  std::string transfer;
  http::verb method = http::verb::get;
  if (n == 3 && seg[2] == "datasets") {
    op = Op::datasets;
    route = "datasets";
  } else if (n == 5 && seg[2] == "datasets" && seg[4] == "export") {
    op = Op::export_page;
    dataset = seg[3];
    route = "export";
  } else if (n == 5 && seg[2] == "datasets" && seg[4] == "import") {
    op = Op::import;
    dataset = seg[3];
    method = http::verb::post;
    route = "import";
  } else if (n == 5 && seg[2] == "transfers" && seg[4] == "verify") {
    op = Op::verify;
    transfer = seg[3];
    route = "verify";
  } else if (n == 5 && seg[2] == "transfers" && seg[4] == "delete") {
    op = Op::remove;
    transfer = seg[3];
    method = http::verb::post;
    route = "delete";
  } else {
    co_return not_found(req);
  }
  if ((method == http::verb::get && !get) || (method == http::verb::post && !post)) {
    auto res = error_response(req, http::status::method_not_allowed, "invalid_request",
                              "method not allowed");
    res.set(http::field::allow, method == http::verb::get ? "GET" : "POST");
    co_return res;
  }

  // ---- RFC 6750 bearer token, RFC 9068 checks ----
  bool present = false;
  const std::string jwt = bearer_token(req, present);
  if (!present) co_return unauthorized(req, "no access token", true);
  if (jwt.empty()) co_return unauthorized(req, "Authorization is not a Bearer token", false);
  auto verify_job = [this, &jwt] { return verifier_.verify(jwt); };
  auto token = co_await server::offload(workers_, verify_job);
  if (!token) {
    if (token.error().error == "server_error") {
      logger_.warn("cannot fetch the issuer's keys", {{"error", token.error().description}});
      auto res = error_response(req, http::status::service_unavailable, "temporarily_unavailable",
                                "the issuer's keys cannot be fetched");
      res.set(http::field::retry_after, "1");
      co_return res;
    }
    co_return unauthorized(req, token.error().description, false);
  }
  if (unauthorized_pending_.exchange(false)) {
    // Fault injection: make the client fetch a new token once.
    co_return unauthorized(req, "token revoked (injected fault)", false);
  }

  // Scope (RFC 6750 §3.1 insufficient_scope), then the transfer the token is bound to.
  std::string_view scope;
  switch (op) {
    case Op::datasets:
      scope = token->has_scope(kScopeImport) ? kScopeImport : kScopeExport;
      break;
    case Op::export_page: scope = kScopeExport; break;
    case Op::import: scope = kScopeImport; break;
    case Op::verify: scope = kScopeImport; break;
    case Op::remove: scope = kScopeDelete; break;
  }
  if (!token->has_scope(scope)) {
    co_return forbidden(req, scope, "the token lacks the scope " + std::string(scope));
  }
  if (op == Op::export_page || op == Op::import) {
    const auto* t = query.get("transfer");
    if (t == nullptr || !valid_id(*t)) co_return bad_request(req, "transfer is required");
    transfer = *t;
  }
  if (op == Op::verify || op == Op::remove) {
    if (!valid_id(transfer)) co_return bad_request(req, "malformed transfer id");
    const auto* d = query.get("dataset");
    if (d == nullptr || d->empty()) co_return bad_request(req, "dataset is required");
    dataset = *d;
  }
  if (op != Op::datasets && !token->bound_to(transfer)) {
    // RFC 9396: the token's authorization_details name the one transfer it may act on.
    co_return forbidden(req, scope, "the token is not bound to this transfer");
  }
  if (op != Op::datasets && dataset != portability::to_string(format_.dataset())) {
    co_return error_response(req, http::status::not_found, "not_found",
                             "this service holds no dataset " + dataset);
  }
  const std::string resident = token->sub;

  switch (op) {
    case Op::datasets: {
      auto job = [this, &resident] { return store_.stats(resident); };
      const auto stats = co_await server::offload(workers_, job);
      nlohmann::json body = {
          {"datasets", nlohmann::json::array({{{"name", portability::to_string(format_.dataset())},
                                               {"format", format_.name()},
                                               {"media_type", format_.media_type()},
                                               {"count", stats.count},
                                               {"bytes", stats.bytes}}})}};
      co_return json_response(req, http::status::ok, body);
    }

    case Op::export_page: {
      std::int64_t after = 0;
      if (const auto* c = query.get("cursor")) {
        auto parsed = read_cursor(*c);
        if (!parsed) co_return bad_request(req, "unknown cursor");
        after = *parsed;
      }
      int limit = kDefaultLimit;
      if (const auto* l = query.get("limit")) {
        auto parsed = parse_int(*l);
        if (!parsed || *parsed < 1 || *parsed > kMaxLimit) {
          co_return bad_request(req, "limit must be an integer from 1 to 1000");
        }
        limit = static_cast<int>(*parsed);
      }
      struct Out {
        std::string document;
        std::size_t count = 0;
        std::optional<std::int64_t> next_after;
      };
      auto job = [this, &resident, &transfer, after, limit] {
        auto page = store_.export_page(resident, transfer, after, limit);
        std::vector<portability::NativeItem> items;
        items.reserve(page.items.size());
        std::string corrupt_id;
        std::size_t count = page.items.size();
        for (auto& item : page.items) {
          if (faults_.corrupt_item > 0 && item.row == faults_.corrupt_item) {
            corrupt_id = item.native.id;
          }
          if (faults_.miscount_item > 0 && item.row == faults_.miscount_item) ++count;
          items.push_back(std::move(item.native));
        }
        std::string document = format_.join(items);
        if (!corrupt_id.empty()) corrupt(document, corrupt_id);
        return Out{std::move(document), count, page.next_after};
      };
      auto out = co_await server::offload(workers_, job);
      Response res{http::status::ok, req.version()};
      res.set(http::field::server, "sample-service");
      res.set(http::field::content_type, format_.media_type());
      res.set(http::field::cache_control, "no-store");
      res.set("Portability-Item-Count", std::to_string(out.count));
      if (out.next_after) res.set("Portability-Next-Cursor", make_cursor(*out.next_after));
      res.keep_alive(req.keep_alive());
      res.body() = std::move(out.document);
      res.prepare_payload();
      co_return res;
    }

    case Op::import: {
      auto key_it = req.find("Idempotency-Key");
      if (key_it == req.end() || key_it->value().empty() || key_it->value().size() > 255) {
        co_return bad_request(req, "the Idempotency-Key header is required (1 to 255 characters)");
      }
      const std::string key(key_it->value());
      if (bare_media_type(req[http::field::content_type]) != bare_media_type(format_.media_type())) {
        co_return error_response(req, http::status::unsupported_media_type, "invalid_request",
                                 "Content-Type must be " + std::string(format_.media_type()));
      }
      struct Out {
        ImportOutcome outcome;
        std::string format_error;
      };
      auto job = [this, &resident, &transfer, &key, &req]() -> Out {
        std::vector<portability::NativeItem> items;
        std::vector<std::string> hashes;
        try {
          items = format_.split(req.body());
          hashes.reserve(items.size());
          for (const auto& item : items) {
            hashes.push_back(hex(authz::sha256(portability::canonical(format_.to_model(item)))));
          }
        } catch (const portability::FormatError& e) {
          return Out{{}, e.what()};
        }
        // The request is identified by what it would store: dataset, transfer and body.
        std::string material(portability::to_string(format_.dataset()));
        material += '\n';
        material += transfer;
        material += '\n';
        material += req.body();
        const std::string request_hash = hex(authz::sha256(material));
        auto respond = [](const std::vector<std::string>& ids) {
          return nlohmann::json{{"imported", ids.size()}, {"ids", ids}}.dump();
        };
        return Out{store_.import(resident, transfer, key, request_hash, items, hashes, respond),
                   {}};
      };
      auto out = co_await server::offload(workers_, job);
      if (!out.format_error.empty()) co_return bad_request(req, out.format_error);
      if (out.outcome.kind == ImportOutcome::Kind::key_reused) {
        co_return error_response(req, http::status::unprocessable_entity, "idempotency_key_reused",
                                 "this Idempotency-Key was used for a different request");
      }
      Response res{static_cast<http::status>(out.outcome.status), req.version()};
      res.set(http::field::server, "sample-service");
      res.set(http::field::content_type, "application/json");
      res.set(http::field::cache_control, "no-store");
      if (out.outcome.kind == ImportOutcome::Kind::replayed) res.set("Idempotent-Replayed", "true");
      res.keep_alive(req.keep_alive());
      res.body() = std::move(out.outcome.response);
      res.prepare_payload();
      co_return res;
    }

    case Op::verify: {
      struct Out {
        std::size_t count = 0;
        std::string digest;
      };
      auto job = [this, &resident, &transfer] {
        portability::Digest digest;
        auto items = store_.imported(resident, transfer);
        for (const auto& item : items) digest.add(format_.to_model(item.native));
        return Out{items.size(), digest.hex()};
      };
      auto out = co_await server::offload(workers_, job);
      co_return json_response(req, http::status::ok,
                              {{"transfer", transfer},
                               {"dataset", dataset},
                               {"count", out.count},
                               {"digest", out.digest}});
    }

    case Op::remove: {
      auto job = [this, &resident, &transfer] { return store_.delete_exported(resident, transfer); };
      const auto out = co_await server::offload(workers_, job);
      co_return json_response(req, http::status::ok,
                              {{"deleted", out.deleted}, {"remaining", out.remaining}});
    }
  }
  co_return not_found(req);
}

}  // namespace sample_service
