#include "cors.hpp"

#include <nlohmann/json.hpp>

#include "authz/base64url.hpp"
#include "authz/form.hpp"
#include "authz/jws.hpp"
#include "web.hpp"

namespace server {

CorsKind cors_kind(std::string_view path) {
  if (path == "/.well-known/oauth-authorization-server" ||
      path == "/.well-known/openid-configuration" || path == "/jwks")
    return CorsKind::public_data;
  if (path == "/token" || path == "/par" || path == "/revoke" || path == "/userinfo" ||
      path == "/transfers" || path.starts_with("/transfers/") || path == "/contracts")
    return CorsKind::client;
  return CorsKind::none;
}

std::optional<Response> cors_preflight(const Request& req, std::string_view path) {
  const auto kind = cors_kind(path);
  const auto origin = header(req, http::field::origin);
  if (req.method() != http::verb::options || kind == CorsKind::none || origin.empty() ||
      header(req, http::field::access_control_request_method).empty())
    return std::nullopt;
  auto res = base_response(req, http::status::no_content);
  allow_origin(res, kind == CorsKind::public_data ? std::string_view("*") : origin);
  const bool reads = kind == CorsKind::public_data || path == "/contracts" ||
                     path.starts_with("/transfers/");
  res.set(http::field::access_control_allow_methods,
          reads ? "GET" : path == "/userinfo" ? "GET, POST" : "POST");
  res.set(http::field::access_control_allow_headers, "Authorization, Content-Type, DPoP");
  res.set(http::field::access_control_max_age, "600");
  res.prepare_payload();
  return res;
}

std::string claimed_client_id(const Request& req) {
  const auto authorization = header(req, http::field::authorization);
  const auto scheme_is = [&authorization](std::string_view scheme) {
    return authorization.size() > scheme.size() &&
           authz::iequals(std::string_view(authorization).substr(0, scheme.size()), scheme) &&
           authorization[scheme.size()] == ' ';
  };
  if (scheme_is("Basic")) {
    auto basic = authz::parse_basic_authorization(authorization);
    return basic ? basic->client_id : std::string();
  }
  if (scheme_is("Bearer") || scheme_is("DPoP")) {
    const auto token = std::string_view(authorization).substr(authorization.find(' ') + 1);
    auto parts = authz::jws_parse(token);
    if (!parts) return {};
    const auto claims = nlohmann::json::parse(parts->payload, nullptr, false);
    const auto it = claims.is_object() ? claims.find("client_id") : claims.end();
    return it != claims.end() && it->is_string() ? it->get<std::string>() : std::string();
  }
  if (media_type(req) != kFormType) return {};
  auto form = authz::parse_form(req.body());
  if (!form) return {};
  if (auto id = form->value("client_id"); !id.empty()) return id;
  auto subject = authz::client_assertion_subject(form->value("client_assertion"));
  return subject ? *subject : std::string();
}

void allow_origin(Response& res, std::string_view origin) {
  res.set(http::field::access_control_allow_origin, origin);
  // The challenge of a 401 tells a page which scheme and error, and DPoP-Nonce the nonce its
  // next proof needs (RFC 9449 §8.2); let it read them.
  res.set(http::field::access_control_expose_headers, "WWW-Authenticate, DPoP-Nonce");
  if (origin != "*") res.insert(http::field::vary, "Origin");
}

}  // namespace server
