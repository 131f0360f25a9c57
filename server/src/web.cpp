// Small pieces every route uses: parsing a request's parts, and the house's responses with
// their security headers.
#include "web.hpp"

#include <algorithm>
#include <boost/url.hpp>
#include <ctime>
#include <nlohmann/json.hpp>

namespace server {



std::string_view path_of(std::string_view target) {
  return target.substr(0, target.find('?'));
}

std::string_view query_of(std::string_view target) {
  auto q = target.find('?');
  return q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
}

std::string header(const Request& req, http::field field) {
  auto it = req.find(field);
  return it == req.end() ? std::string() : std::string(it->value());
}

// Media type without parameters, lower-cased: "application/x-www-form-urlencoded; charset=..."
std::string media_type(const Request& req) {
  std::string type = header(req, http::field::content_type);
  type = type.substr(0, type.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.pop_back();
  for (auto& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return type;
}

Response base_response(const Request& req, http::status status) {
  Response res{status, req.version()};
  res.set(http::field::server, "infobank");
  res.set("X-Content-Type-Options", "nosniff");
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  return res;
}

Response json_response(const Request& req, http::status status, std::string body) {
  auto res = base_response(req, status);
  res.set(http::field::content_type, "application/json");
  // RFC 6749 §5.1: token responses are never cached.
  res.set(http::field::pragma, "no-cache");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

std::string error_json(const authz::OAuthError& error) {
  nlohmann::json body = {{"error", error.error}};
  if (!error.description.empty()) body["error_description"] = error.description;
  return body.dump();
}

Response oauth_error(const Request& req, const authz::EndpointError& e) {
  const auto& code = e.error.error;
  auto status = http::status::bad_request;
  std::string challenge;
  auto quoted = [](std::string_view s) {
    std::string out;
    for (char c : s) {
      if (c != '"' && c != '\\') out += c;
    }
    return out;
  };
  if (e.bare_challenge) {
    // RFC 6750 §3.1: no credentials were sent, so the challenge carries no error code.
    status = http::status::unauthorized;
    challenge = e.auth_scheme + " realm=\"infobank\"";
  } else if (code == "invalid_client") {
    // RFC 6749 §5.2: 401 with a challenge for the scheme the client can use.
    status = http::status::unauthorized;
    challenge = "Basic realm=\"infobank\"";
  } else if (code == "invalid_token" || (code == "invalid_request" && !e.auth_scheme.empty() &&
                                         e.auth_scheme != "Basic")) {
    // RFC 6750 §3.1 / RFC 9449 §7.1.
    status = code == "invalid_token" ? http::status::unauthorized : http::status::bad_request;
    challenge = e.auth_scheme + " realm=\"infobank\", error=\"" + code +
                "\", error_description=\"" + quoted(e.error.description) + "\"";
    if (e.auth_scheme == "DPoP") challenge += ", algs=\"ES256 RS256 PS256 EdDSA\"";
  } else if (code == "insufficient_scope") {
    status = http::status::forbidden;
    challenge = e.auth_scheme + " realm=\"infobank\", error=\"insufficient_scope\"";
  } else if ((code == "invalid_dpop_proof" || code == "use_dpop_nonce") &&
             e.auth_scheme == "DPoP") {
    // RFC 9449 §7.1 and §9: at a resource, 401 with the DPoP challenge (the token endpoint's
    // use_dpop_nonce is a 400, §8).
    status = http::status::unauthorized;
    challenge = "DPoP realm=\"infobank\", error=\"" + code +
                "\", algs=\"ES256 RS256 PS256 EdDSA\"";
  } else if (code == "access_denied") {
    status = http::status::forbidden;
  }
  auto res = json_response(req, status, error_json(e.error));
  if (!challenge.empty()) res.set(http::field::www_authenticate, challenge);
  return res;
}

Response bad_request(const Request& req, std::string description) {
  return oauth_error(req, authz::EndpointError{authz::make_error("invalid_request", std::move(description)), {}});
}

Response page_response(const Request& req, http::status status, std::string html,
                       std::string_view form_target,
                       const std::vector<std::string>& frame_sources,
                       std::string_view script_hash) {
  auto res = base_response(req, status);
  res.set(http::field::content_type, "text/html; charset=utf-8");
  // No script but the one named by hash; the one style block is allowed by hash.
  // frame-ancestors and X-Frame-Options stop clickjacking of the consent page (RFC 9700 §4.16).
  // form-action: a page whose form ends at a client (sign-in or consent, then the redirect to
  // it; form_post; the logout confirmation) has none, because browsers hold every redirect
  // after a form's submission to it (Chromium blocks the whole navigation), and the client's
  // own redirects onwards, to another of its origins, are not ours to list.
  std::string csp = "default-src 'none'; style-src " + std::string(pages::kStyleCspHash);
  if (form_target.empty()) csp += "; form-action 'self'";
  csp += "; frame-ancestors 'none'; base-uri 'none'";
  if (!script_hash.empty()) csp += "; script-src " + std::string(script_hash);
  if (!frame_sources.empty()) {
    std::vector<std::string> origins;
    for (const auto& uri : frame_sources) {
      auto origin = origin_of(uri);
      if (!origin.empty() && std::ranges::find(origins, origin) == origins.end())
        origins.push_back(std::move(origin));
    }
    csp += "; frame-src";
    for (const auto& origin : origins) csp += " " + origin;
  }
  res.set("Content-Security-Policy", csp);
  res.set("X-Frame-Options", "DENY");
  res.set("Referrer-Policy", "no-referrer");
  res.body() = std::move(html);
  res.prepare_payload();
  return res;
}

Response redirect(const Request& req, const std::string& location) {
  auto res = base_response(req, http::status::see_other);
  res.set(http::field::location, location);
  res.set("Referrer-Policy", "no-referrer");
  res.prepare_payload();
  return res;
}

Response to_client(const Request& req, const authz::Redirect& response, pages::Lang lang) {
  if (!response.form_post) return redirect(req, response.location);
  // Nothing but its one script may run on the page, and nothing may load.
  return page_response(req, http::status::ok,
                       pages::render_form_post(response.location, response.form_fields, lang),
                       response.location, {}, pages::kFormPostScriptCspHash);
}

pages::Lang lang_of(const Request& req) {
  return pages::negotiate_language(header(req, http::field::accept_language));
}

pages::Lang lang_of(const Request& req, std::string_view ui_locales) {
  return pages::ui_locales_language(ui_locales).value_or(lang_of(req));
}

std::vector<pages::AuthorizationDetailView> detail_views(const std::string& json) {
  std::vector<pages::AuthorizationDetailView> out;
  if (json.empty()) return out;
  auto parsed = nlohmann::json::parse(json, nullptr, false);
  if (!parsed.is_array()) return out;
  for (const auto& d : parsed) {
    pages::AuthorizationDetailView v;
    v.type = d.value("type", "");
    if (d.contains("datasets")) v.datasets = d["datasets"].get<std::vector<std::string>>();
    v.purpose = d.value("purpose", "");
    v.recipient = d.value("recipient", "");
    v.retention_until = d.value("retention_until", "");
    v.source = d.value("source", "");
    v.destination = d.value("destination", "");
    v.delete_at_source = d.value("delete_at_source", false);
    out.push_back(std::move(v));
  }
  return out;
}

std::string iso_time(std::int64_t t) {
  if (t == 0) return {};
  std::time_t tt = t;
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}


std::string session_cookie_name(bool tls) { return tls ? "__Host-ib_session" : "ib_session"; }
std::string csrf_cookie_name(bool tls) { return tls ? "__Host-ib_csrf" : "ib_csrf"; }

Cookies read_cookies(const Request& req, bool tls) {
  Cookies c;
  for (auto it = req.find(http::field::cookie); it != req.end() && it->name() == http::field::cookie; ++it) {
    for (auto& [name, value] : authz::parse_cookies(it->value())) {
      if (name == session_cookie_name(tls)) c.session = value;
      if (name == csrf_cookie_name(tls)) c.login_csrf = value;
    }
  }
  return c;
}

std::string cookie(std::string_view name, std::string_view value, bool tls, std::string_view same_site,
                   std::int64_t max_age) {
  std::string out = std::string(name) + "=" + std::string(value) +
                    "; Path=/; HttpOnly; SameSite=" + std::string(same_site) +
                    "; Max-Age=" + std::to_string(max_age);
  if (tls) out += "; Secure";
  return out;
}

authz::RequestFacts request_facts(const Request& req, const RequestContext& ctx, std::string url,
                                  bool& repeated_authorization) {
  authz::RequestFacts facts;
  facts.method = std::string(req.method_string());
  facts.url = std::move(url);
  repeated_authorization = req.count(http::field::authorization) > 1;
  if (auto it = req.find(http::field::authorization); it != req.end())
    facts.authorization = std::string(it->value());
  const auto dpop_count = req.count("DPoP");
  if (dpop_count > 0) facts.dpop = std::string(req.find("DPoP")->value());
  facts.dpop_repeated = dpop_count > 1;
  facts.remote_addr = ctx.remote_addr;
  facts.request_id = ctx.request_id;
  if (auto it = req.find(http::field::accept); it != req.end()) facts.accept = std::string(it->value());
  facts.client_cert = ctx.client_cert;
  return facts;
}

std::string endpoint_url(const authz::Settings& settings, const RequestContext& ctx,
                         std::string_view path) {
  return (ctx.mtls ? settings.mtls_base_url : settings.issuer) + std::string(path);
}

}  // namespace server
