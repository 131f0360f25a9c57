#pragma once

// CORS (the Fetch standard's HTTP access control) for the endpoints that a browser-based client
// (a public client running in a page, OAuth 2.1 §2.1) calls with fetch(): discovery and the
// JWK Set are public data, for any origin; the token, PAR, revocation and userinfo endpoints,
// and the broker's client API (/transfers, /contracts), answer a page only when its origin is
// the origin of a redirect URI registered by the client the request names. Nothing carries credentials (no cookies): these endpoints authenticate by
// what the request itself holds. The resident's pages (/authorize, /login, /consent, /account,
// /logout) are navigations and never answer a cross-origin read.

#include <optional>
#include <string>
#include <string_view>

#include "http_server.hpp"

namespace server {

enum class CorsKind {
  none,         ///< no CORS headers
  public_data,  ///< Access-Control-Allow-Origin: *
  client,       ///< the origin, when the named client registered a redirect URI there
};

CorsKind cors_kind(std::string_view path);

/// The answer to a preflight (OPTIONS with Origin and Access-Control-Request-Method) on a CORS
/// path: 204 with the methods and request headers the endpoint takes, cached for 10 minutes.
/// The preflight allows any origin to ask; whether the page may read the answer is decided on
/// the answer itself. nullopt when `req` is no preflight for a CORS path.
std::optional<Response> cors_preflight(const Request& req, std::string_view path);

/// The client a request to a client CORS path names, unverified (the endpoint verifies it): the
/// Basic credentials' id, else the form's client_id, else the client assertion's subject, else
/// the client_id claim of the bearer (or DPoP) access token. Empty when it names none.
std::string claimed_client_id(const Request& req);

/// Lets a page at `origin` read `res`; `origin` is "*" for public data.
void allow_origin(Response& res, std::string_view origin);

}  // namespace server
