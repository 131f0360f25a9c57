// The portability broker over HTTP: the client API (POST /transfers, GET /transfers/{id},
// GET /contracts) and the resident's pages (start a transfer, consent to it, follow it).

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>

#include "app.hpp"
#include "authz/crypto.hpp"
#include "authz/form.hpp"
#include "pages.hpp"
#include "web.hpp"

namespace server {
namespace {

using boost::asio::awaitable;

constexpr std::string_view kContractsScope = "contracts.read";

Response not_found(const Request& req) {
  return json_response(req, http::status::not_found,
                       R"({"error":"not_found","error_description":"no such transfer"})");
}

authz::EndpointError forbidden(std::string description) {
  return authz::EndpointError{authz::make_error("insufficient_scope", std::move(description)),
                              "Bearer"};
}

// The body of POST /transfers: exactly these members, each of its type.
struct TransferBody {
  std::string source;
  std::string destination;
  std::vector<std::string> datasets;
  bool delete_at_source = false;
};

std::variant<TransferBody, std::string> parse_transfer_body(std::string_view text) {
  const auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) return std::string("the body is not a JSON object");
  TransferBody body;
  for (const auto& [name, value] : json.items()) {
    if (name == "source" && value.is_string()) {
      body.source = value.get<std::string>();
    } else if (name == "destination" && value.is_string()) {
      body.destination = value.get<std::string>();
    } else if (name == "delete_at_source" && value.is_boolean()) {
      body.delete_at_source = value.get<bool>();
    } else if (name == "datasets" && value.is_array()) {
      for (const auto& d : value) {
        if (!d.is_string()) return std::string("datasets must be strings");
        body.datasets.push_back(d.get<std::string>());
      }
    } else {
      return "unknown or mistyped member: " + name.substr(0, 40);
    }
  }
  if (body.source.empty() || body.destination.empty() || body.datasets.empty())
    return std::string("source, destination and datasets are required");
  return body;
}

// RFC 9396 §2: the token must carry a granted personal_data_transfer detail that covers the
// request: same source, destination and deletion, and every requested dataset.
bool covered(const std::string& authorization_details, const TransferBody& body) {
  const auto details = nlohmann::json::parse(authorization_details, nullptr, false);
  if (!details.is_array()) return false;
  for (const auto& d : details) {
    if (!d.is_object() || d.value("type", "") != "personal_data_transfer") continue;
    if (d.value("source", "") != body.source || d.value("destination", "") != body.destination)
      continue;
    if (d.value("delete_at_source", false) != body.delete_at_source) continue;
    if (!d.contains("datasets") || !d["datasets"].is_array()) continue;
    const auto granted = d["datasets"];
    const bool all = std::all_of(body.datasets.begin(), body.datasets.end(), [&](const auto& x) {
      return std::find(granted.begin(), granted.end(), x) != granted.end();
    });
    if (all) return true;
  }
  return false;
}

std::string contracts_json(const std::vector<storage::ContractRecord>& contracts) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& c : contracts) {
    nlohmann::json j = {{"id", c.id},         {"service", c.service_id}, {"status", c.status},
                        {"since", c.since},   {"reason", c.reason}};
    if (c.until != 0) j["until"] = c.until;
    if (!c.transfer_id.empty()) j["transfer"] = c.transfer_id;
    list.push_back(std::move(j));
  }
  return nlohmann::json{{"contracts", list}}.dump();
}

// The decision form's value: approve | deny on the consent form, delete | keep (at the source)
// on the form of a switch that could not carry everything.
std::optional<portability::Decision> decision_of(std::string_view value) {
  if (value == "approve") return portability::Decision::approve;
  if (value == "deny") return portability::Decision::deny;
  if (value == "delete") return portability::Decision::delete_at_source;
  if (value == "keep") return portability::Decision::keep_at_source;
  return std::nullopt;
}

struct ApiOutcome {
  std::optional<authz::EndpointError> error;
  int status = 200;
  std::string json;
  std::string location;
};

ApiOutcome refuse(authz::EndpointError e) {
  ApiOutcome o;
  o.error = std::move(e);
  return o;
}

ApiOutcome answer(int status, std::string json, std::string location = {}) {
  ApiOutcome o;
  o.status = status;
  o.json = std::move(json);
  o.location = std::move(location);
  return o;
}

}  // namespace

awaitable<Response> App::transfers_api(const Request& req, const RequestContext& ctx,
                                       std::string_view path) {
  if (broker_ == nullptr) co_return json_response(req, http::status::not_found, R"({"error":"not_found"})");
  bool repeated = false;
  const auto facts =
      request_facts(req, ctx, endpoint_url(server_.settings(), ctx, path), repeated);
  if (repeated) co_return bad_request(req, "more than one Authorization header");
  if (!query_of(req.target()).empty())
    co_return bad_request(req, "this endpoint takes no query parameters");

  std::optional<TransferBody> body;
  std::string body_error;
  if (path == "/transfers") {
    if (media_type(req) != kJsonType) {
      body_error = "Content-Type must be application/json";
    } else {
      auto parsed = parse_transfer_body(req.body());
      if (parsed.index() == 1) body_error = std::get<std::string>(parsed);
      else body = std::get<TransferBody>(std::move(parsed));
    }
  }
  // The body is judged after the token (below): an unauthenticated caller learns nothing
  // about what a well-formed request looks like.


  auto job = [&]() -> ApiOutcome {
    auto token = server_.bearer(facts);
    if (!token) return refuse(token.error());
    if (token->resident_id.empty())
      return refuse(forbidden("a resident's token is required (not client_credentials)"));
    if (path == "/contracts") {
      const auto scopes = authz::split_scope(token->scope);
      if (std::find(scopes.begin(), scopes.end(), kContractsScope) == scopes.end())
        return refuse(forbidden("scope contracts.read is required"));
      return answer(200, contracts_json(server_.store().list_contracts(token->resident_id)));
    }
    if (path == "/transfers") {
      if (!body_error.empty())
        return refuse(authz::EndpointError{authz::make_error("invalid_request", body_error), {}});
      if (!covered(token->authorization_details, *body))
        return refuse(forbidden("the token carries no personal_data_transfer consent for this transfer"));
      auto resident = server_.find_resident(token->resident_id);
      if (!resident) return refuse(forbidden("the resident no longer exists"));
      portability::TransferRequest r;
      r.resident_id = resident->id;
      r.resident_username = resident->username;
      r.client_id = token->client_id;
      r.source_id = body->source;
      r.destination_id = body->destination;
      r.datasets = body->datasets;
      r.delete_at_source = body->delete_at_source;
      // The resident consented on the bank's consent page when the client asked for the
      // personal_data_transfer detail this token carries.
      r.consented = true;
      auto result = broker_->request(r);
      if (auto* e = std::get_if<portability::BrokerError>(&result))
        return refuse(authz::EndpointError{authz::make_error(e->error, e->description), {}});
      const auto& t = std::get<storage::TransferRecord>(result);
      auto view = broker_->view(t.id);
      return answer(201, portability::transfer_json(*view), "/transfers/" + t.id);
    }
    // GET /transfers/{id}: the resident's token of the client that asked for it.
    const std::string id(path.substr(std::string_view("/transfers/").size()));
    auto view = broker_->view(id);
    if (!view || view->transfer.resident_id != token->resident_id ||
        view->transfer.client_id != token->client_id) {
      return answer(404, {});
    }
    return answer(200, portability::transfer_json(*view));
  };
  auto out = co_await offload(workers_, job);
  if (out.error) co_return oauth_error(req, *out.error);
  if (out.status == 404) co_return not_found(req);
  auto res = json_response(req, static_cast<http::status>(out.status), std::move(out.json));
  if (!out.location.empty()) res.set(http::field::location, out.location);
  co_return res;
}

void App::fill_portability(pages::AccountPage& page, const std::string& resident_id) {
  if (broker_ == nullptr) return;
  auto& store = server_.store();
  const auto services = store.list_services();
  auto name_of = [&](const std::string& id) {
    for (const auto& s : services) {
      if (s.id == id) return s.name;
    }
    return id;
  };
  for (const auto& c : store.list_contracts(resident_id)) {
    page.contracts.push_back(
        {name_of(c.service_id), c.status, iso_time(c.since), iso_time(c.until), c.reason});
  }
  for (const auto& t : store.list_transfers(resident_id)) {
    page.transfers.push_back({t.id, name_of(t.source_id), name_of(t.destination_id), t.state,
                              iso_time(t.created_at)});
  }
  for (const auto& s : services) {
    pages::ServiceChoice choice{s.id, s.name, {}, false};
    for (const auto& d : s.datasets) choice.datasets.push_back(d.substr(0, d.find(':')));
    choice.contracted = store.find_active_contract(resident_id, s.id).has_value();
    page.services.push_back(std::move(choice));
  }
  page.transfer_action = "/account/transfers";
}

awaitable<Response> App::account_transfers(const Request& req, const RequestContext& ctx,
                                           std::string_view path) {
  const auto lang = lang_of(req);
  if (broker_ == nullptr) {
    co_return page_response(req, http::status::not_found,
                            pages::render_error({"not_found", "no such page"}, lang));
  }
  const bool post = req.method() == http::verb::post;
  std::optional<authz::Params> form;
  if (post) {
    if (media_type(req) != kFormType) {
      co_return page_response(req, http::status::bad_request,
                              pages::render_error({"invalid_request", "form body expected"}, lang));
    }
    auto parsed = authz::parse_form(req.body());
    if (!parsed) {
      co_return page_response(req, http::status::bad_request,
                              pages::render_error({"invalid_request", parsed.error().description}, lang));
    }
    form = std::move(*parsed);
  }
  const auto cookies = read_cookies(req, ctx.tls);
  // "/account/transfers/<id>" or "/account/transfers/<id>/decision".
  std::string id;
  bool decision = false;
  if (path.size() > std::string_view("/account/transfers/").size()) {
    id = std::string(path.substr(std::string_view("/account/transfers/").size()));
    if (auto slash = id.find('/'); slash != std::string::npos) {
      decision = id.substr(slash) == "/decision";
      if (!decision || !post) {
        co_return page_response(req, http::status::not_found,
                                pages::render_error({"not_found", "no such page"}, lang));
      }
      id.resize(slash);
    } else if (post) {
      co_return page_response(req, http::status::not_found,
                              pages::render_error({"not_found", "no such page"}, lang));
    }
  }

  struct Outcome {
    int status = 200;  // 303: redirect to `location`
    std::string message;
    std::string location;
    std::optional<pages::TransferPage> page;
  };
  auto say = [](int status, std::string message, std::string location = {}) {
    Outcome o;
    o.status = status;
    o.message = std::move(message);
    o.location = std::move(location);
    return o;
  };
  const auto& session_cookie = cookies.session;
  auto job = [&]() -> Outcome {
    auto session = server_.session_from_cookie(session_cookie);
    if (!session) return say(303, "", "/account");
    // CSRF (RFC 9700 §4.7): every form carries the session's token.
    if (post && !authz::constant_time_equal(form->value("csrf_token"), session->csrf_token))
      return say(403, "the form expired or came from another site");
    if (post && id.empty()) {
      auto resident = server_.find_resident(session->resident_id);
      if (!resident) return say(403, "the account no longer exists");
      portability::TransferRequest r;
      r.resident_id = resident->id;
      r.resident_username = resident->username;
      r.source_id = form->value("source");
      r.destination_id = form->value("destination");
      r.datasets = form->all("datasets");
      const auto mode = form->value("mode");
      if (mode != "switch" && mode != "copy") return say(400, "choose switch or copy");
      r.delete_at_source = mode == "switch";
      auto result = broker_->request(r);
      if (auto* e = std::get_if<portability::BrokerError>(&result)) return say(400, e->description);
      return say(303, "", "/account/transfers/" + std::get<storage::TransferRecord>(result).id);
    }
    if (decision) {
      // One form field for every decision the page offers; the broker takes each one only in
      // the state it belongs to (consent while "requested", deletion at the source while
      // "awaiting_confirmation").
      const auto choice = decision_of(form->value("decision"));
      if (!choice) return say(400, "decision must be approve, deny, delete or keep");
      auto result = broker_->decide(id, session->resident_id, *choice);
      if (auto* e = std::get_if<portability::BrokerError>(&result))
        return say(e->error == "not_found" ? 404 : 409, e->description);
      return say(303, "", "/account/transfers/" + id);
    }
    auto view = broker_->view(id);
    if (!view || view->transfer.resident_id != session->resident_id)
      return say(404, "no such transfer");
    const auto& t = view->transfer;
    pages::TransferPage page;
    page.id = t.id;
    auto name_of = [&](const std::string& service_id) {
      auto s = server_.store().find_service(service_id);
      return s ? s->name : service_id;
    };
    page.source_name = name_of(t.source_id);
    page.destination_name = name_of(t.destination_id);
    page.delete_at_source = t.delete_at_source;
    page.state = t.state;
    page.step = t.step;
    page.error = t.error;
    page.retries = t.retries;
    page.csrf_token = session->csrf_token;
    if (t.state == "requested" || t.state == "awaiting_confirmation")
      page.decision_action = "/account/transfers/" + t.id + "/decision";
    if (view->decide_by != 0) page.decide_by = iso_time(view->decide_by);
    for (const auto& d : view->datasets) {
      page.datasets.push_back({d.dataset, d.source_format, d.destination_format, d.items_done,
                               d.items_total, d.bytes_done, d.bytes_total, d.verified, d.deleted,
                               d.not_carried, d.not_read});
    }
    auto o = say(200, "");
    o.page = std::move(page);
    return o;
  };
  auto out = co_await offload(workers_, job);
  if (out.status == 303) co_return redirect(req, out.location);
  if (out.status != 200) {
    co_return page_response(req, static_cast<http::status>(out.status),
                            pages::render_error({out.status == 404 ? "not_found" : "invalid_request",
                                                 out.message},
                                                lang));
  }
  co_return page_response(req, http::status::ok, pages::render_transfer(*out.page, lang));
}

}  // namespace server
