#pragma once

// The pieces of HTTP every route shares: reading a request's parts, and building responses
// with the house's headers (no-store, nosniff; CSP and frame-ancestors on pages).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "authz/oauth.hpp"
#include "http_server.hpp"
#include "pages.hpp"

namespace server {

inline constexpr std::string_view kJsonType = "application/json";
inline constexpr std::string_view kFormType = "application/x-www-form-urlencoded";

std::string_view path_of(std::string_view target);
std::string_view query_of(std::string_view target);
/// The first value of the header, or "".
std::string header(const Request& req, http::field field);
/// Media type without parameters, lower-cased.
std::string media_type(const Request& req);

Response base_response(const Request& req, http::status status);
/// JSON with Cache-Control: no-store and Pragma: no-cache (RFC 6749 §5.1).
Response json_response(const Request& req, http::status status, std::string body);
std::string error_json(const authz::OAuthError& error);
/// The RFC's status and WWW-Authenticate challenge for an endpoint error.
Response oauth_error(const Request& req, const authz::EndpointError& e);
Response bad_request(const Request& req, std::string description);
using authz::origin_of;
/// An HTML page under the strict CSP. `form_target`, when given, is the client URI its form
/// leads to (through our redirect): then the CSP has no form-action, since browsers apply it
/// to the client's own redirects onwards too; otherwise form-action is 'self'.
/// `frame_sources`, when given, are the only origins the page may frame (CSP frame-src; each
/// URI's origin, once); otherwise it frames nothing (default-src 'none').
/// `script_hash`, when given, is the one script the page may run (a CSP hash-source).
Response page_response(const Request& req, http::status status, std::string html,
                       std::string_view form_target = {},
                       const std::vector<std::string>& frame_sources = {},
                       std::string_view script_hash = {});
/// 303 See Other.
Response redirect(const Request& req, const std::string& location);
/// The authorization response on its way to the client: a 303 to its location, or for
/// response_mode form_post the page that posts its fields there.
Response to_client(const Request& req, const authz::Redirect& response, pages::Lang lang);
pages::Lang lang_of(const Request& req);
/// The language of a page within an authorization request: the first of the request's OIDC
/// `ui_locales` (space-separated BCP 47 tags) that we have, else as lang_of(req).
pages::Lang lang_of(const Request& req, std::string_view ui_locales);
std::vector<pages::AuthorizationDetailView> detail_views(const std::string& json);
/// "2026-01-02 03:04 UTC", or "" for 0.
std::string iso_time(std::int64_t t);

/// What the domain needs to know of a request to an OAuth-protected endpoint at `url` (its
/// absolute URL, the DPoP `htu`): method, Authorization and DPoP headers, peer, request id,
/// the client's TLS certificate (mutual TLS). `repeated_authorization` is set when the
/// Authorization header appears more than once.
authz::RequestFacts request_facts(const Request& req, const RequestContext& ctx, std::string url,
                                  bool& repeated_authorization);

/// The absolute URL of `path` as the client called it: under the issuer, or under the
/// mutual-TLS listener's URL when the request came in there (RFC 8705 §5).
std::string endpoint_url(const authz::Settings& settings, const RequestContext& ctx,
                         std::string_view path);

struct Cookies {
  std::string session;
  std::string login_csrf;
};
std::string session_cookie_name(bool tls);
std::string csrf_cookie_name(bool tls);
Cookies read_cookies(const Request& req, bool tls);
std::string cookie(std::string_view name, std::string_view value, bool tls,
                   std::string_view same_site, std::int64_t max_age);

}  // namespace server
