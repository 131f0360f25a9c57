// The front channel (RFC 6749 §4.1 with RFC 9700 and OAuth 2.1 rules), PAR (RFC 9126),
// metadata (RFC 8414, OpenID Connect Discovery), client creation and the audit events.
#include <algorithm>
#include <boost/url.hpp>
#include <cctype>
#include <nlohmann/json.hpp>

#include "authz/oauth.hpp"
#include "authz/base64url.hpp"
#include "authz/jws.hpp"
#include "authz/pkce.hpp"
#include "internal.hpp"
#include "json_writer.hpp"
#include "strict_json.hpp"

namespace authz {

namespace {

bool loopback_host(std::string_view host) {
  return host == "127.0.0.1" || host == "[::1]" || host == "localhost";
}

// A URI this server sends requests to (a client's backchannel_logout_uri): https with a host,
// or http to the loopback interface; no user info, no fragment.
bool server_callable_uri(std::string_view uri) {
  auto parsed = boost::urls::parse_absolute_uri(uri);
  if (!parsed || parsed->has_userinfo() || parsed->has_fragment()) return false;
  const std::string scheme = parsed->scheme();
  if (scheme == "https") return !parsed->encoded_host().empty();
  return scheme == "http" && loopback_host(parsed->encoded_host());
}

}  // namespace

std::string origin_of(std::string_view uri) {
  auto parsed = boost::urls::parse_absolute_uri(uri);
  if (!parsed || !parsed->has_authority() || parsed->encoded_host().empty()) return {};
  // As a browser serializes an origin (RFC 6454 §6.2): scheme and host lower-case, no default
  // port.
  std::string out = std::string(parsed->scheme()) + "://" + std::string(parsed->encoded_host());
  const auto scheme = parsed->scheme_id();
  const bool default_port = (scheme == boost::urls::scheme::https && parsed->port() == "443") ||
                            (scheme == boost::urls::scheme::http && parsed->port() == "80");
  if (parsed->has_port() && !default_port) out += ":" + std::string(parsed->port());
  std::ranges::transform(out, out.begin(), [](unsigned char c) { return std::tolower(c); });
  // Only characters CSP source expressions allow.
  for (char c : out) {
    if (c == ';' || c == ',' || c == ' ' || c == '\'' || c == '"') return {};
  }
  return out;
}

namespace {

// RFC 9700 §4.1.3 and OAuth 2.1 §2.3.1: redirect URIs are registered whole and compared as
// strings; only absolute URIs without a fragment can be registered.
bool registrable_redirect_uri(std::string_view uri) {
  auto parsed = boost::urls::parse_absolute_uri(uri);
  if (!parsed) return false;
  const std::string scheme = parsed->scheme();
  // Schemes that would run or read something in the browser instead of reaching a client.
  if (scheme == "javascript" || scheme == "data" || scheme == "file" || scheme == "vbscript" ||
      scheme == "about" || scheme == "blob")
    return false;
  if (scheme == "https") return !parsed->host().empty();
  if (scheme == "http") {
    // RFC 8252 §7.3 and OAuth 2.1 §2.3.1: plain http only to the loopback interface.
    return loopback_host(parsed->host());
  }
  // Private-use schemes of native apps (RFC 8252 §7.1), e.g. com.example.app:/cb.
  return scheme.find('.') != std::string::npos;
}

// OIDC Core §8.1: a pairwise client's sector is the host of its redirect URIs (lower-case);
// empty when they have no host or more than one.
std::string sector_of(const std::vector<std::string>& redirect_uris) {
  std::string sector;
  for (const auto& uri : redirect_uris) {
    auto parsed = boost::urls::parse_absolute_uri(uri);
    if (!parsed || parsed->encoded_host().empty()) return {};
    std::string host(parsed->encoded_host());
    std::ranges::transform(host, host.begin(), [](unsigned char c) { return std::tolower(c); });
    if (!sector.empty() && host != sector) return {};
    sector = std::move(host);
  }
  return sector;
}

bool registrable_redirect_uris(const std::vector<std::string>& uris) {
  return std::ranges::all_of(uris, [](const std::string& uri) {
    return registrable_redirect_uri(uri) && uri.find('#') == std::string::npos;
  });
}

// OIDC Core §3.1.2.1 ui_locales: space-separated BCP 47 tags (RFC 5646), bounded.
bool valid_ui_locales(std::string_view tags) {
  return tags.size() <= 256 && std::ranges::all_of(tags, [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == ' ';
         });
}

// The response modes: query (RFC 6749), form_post (OAuth 2.0 Form Post Response Mode) and their
// JWT forms (JARM §2.3; for the code flow "jwt" means "query.jwt", §2.3.4). No fragment: the
// code flow never answers in the fragment (OAuth 2.1 §4.1.2).
bool is_response_mode(std::string_view v) {
  return v == "query" || v == "form_post" || v == "jwt" || v == "query.jwt" ||
         v == "form_post.jwt";
}
bool is_jwt_response_mode(std::string_view v) {
  return v == "jwt" || v == "query.jwt" || v == "form_post.jwt";
}
bool is_form_post_mode(std::string_view v) { return v == "form_post" || v == "form_post.jwt"; }
// A browser posts a form to a web address only, not to an app's private-use scheme.
bool can_post_to(std::string_view redirect_uri) {
  return redirect_uri.starts_with("https://") || redirect_uri.starts_with("http://");
}

// OIDC Core §5.5: what a request's `claims` parameter asks for that this server acts on: the
// claims to put in the ID token (space-separated, in the order asked) and the `sub` it demands
// (§5.5.1: only that resident may complete the request). Members other than `userinfo` and
// `id_token` are ignored, as are claims this server does not know (§5.5); a malformed request
// is invalid_request. An essential `acr` with values cannot be met (this server names no
// authentication context classes) and is access_denied (§5.5.1.1: a failed authentication).
struct ClaimsRequest {
  std::string id_token;
  std::string sub;
};

Expected<ClaimsRequest> read_claims_request(std::string_view text) {
  const auto bad = [](const std::string& why) { return make_error("invalid_request", why); };
  auto doc = detail::parse_json_object_strict(text);
  if (!doc) return bad("claims must be a JSON object");
  ClaimsRequest out;
  for (const char* where : {"userinfo", "id_token"}) {
    if (!doc->contains(where)) continue;
    const auto& members = (*doc)[where];
    if (!members.is_object()) return bad(std::string("claims.") + where + " must be an object");
    for (const auto& [name, ask] : members.items()) {
      const std::string at = std::string("claims.") + where + "." + name;
      if (!ask.is_null() && !ask.is_object()) return bad(at + " must be null or an object");
      if (ask.is_object()) {
        if (ask.contains("essential") && !ask["essential"].is_boolean())
          return bad(at + ".essential must be a boolean");
        if (ask.contains("values") && !ask["values"].is_array())
          return bad(at + ".values must be an array");
        if (name == "sub" && ask.contains("value")) {
          if (!ask["value"].is_string() || ask["value"].get_ref<const std::string&>().empty())
            return bad(at + ".value must be a string");
          const auto& sub = ask["value"].get_ref<const std::string&>();
          if (!out.sub.empty() && out.sub != sub) return bad("claims name two different subs");
          out.sub = sub;
        }
        if (name == "acr" && ask.value("essential", false) &&
            (ask.contains("value") || ask.contains("values")))
          return make_error("access_denied", "no authentication context class here meets the "
                                             "essential acr asked for");
      }
      if (std::string_view(where) == "id_token" && !contains_word(out.id_token, name) &&
          name.find(' ') == std::string::npos) {
        if (!out.id_token.empty()) out.id_token += ' ';
        out.id_token += name;
      }
    }
  }
  return out;
}

// RFC 6749 §3.1.2.3 and §4.1.1: a client that registered exactly one redirect URI may leave
// redirect_uri out, and that one is used; OIDC Core §3.1.2.1 requires it in an OpenID request.
// Empty when the request must name it.
std::string default_redirect_uri(const Params& request, const storage::ClientRecord& client) {
  if (client.redirect_uris.size() != 1 || contains_word(request.value("scope"), "openid"))
    return {};
  return client.redirect_uris.front();
}
constexpr std::string_view kRedirectUriRequired =
    "redirect_uri is missing: an OpenID request, or a client with more than one registered, "
    "must name it";
// JARM §2.1: exp; the response is used at once, when the browser arrives at the client.
constexpr std::int64_t kAuthorizationResponseTtl = 300;

bool is_prompt_value(std::string_view v) {
  return v == "none" || v == "login" || v == "consent" || v == "select_account";
}

// A consent entry's detail: `detail` with the authorization details (RFC 9396) it concerns,
// as JSON, when there are any.
std::string consent_detail(nlohmann::json detail, std::string_view authorization_details) {
  if (!authorization_details.empty())
    detail["authorization_details"] = nlohmann::json::parse(authorization_details);
  return detail.dump();
}

constexpr std::int64_t kFailureWindow = 15 * 60;
constexpr int kMaxFailuresPerUser = 10;
constexpr int kMaxFailuresPerAddress = 100;

// Personal data at rest is sealed, each value bound to its column and resident: a name copied
// into another resident's row (or into the email column) does not open.
std::string resident_name_aad(std::string_view id) { return "resident.name:" + std::string(id); }
constexpr std::string_view kLoginHintAad = "pending.login_hint";
std::string resident_email_aad(std::string_view id) { return "resident.email:" + std::string(id); }

}  // namespace

std::string with_params(std::string_view base,
                        std::initializer_list<std::pair<std::string_view, std::string_view>> params) {
  boost::urls::url url(base);
  for (const auto& [name, value] : params) {
    if (!value.empty()) url.params().append({name, value});
  }
  return std::string(url.buffer());
}

bool absolute_uri(std::string_view text) {
  auto parsed = boost::urls::parse_absolute_uri(text);
  return parsed.has_value();
}

bool contains_word(std::string_view list, std::string_view word) {
  auto words = split_scope(list);
  return std::find(words.begin(), words.end(), word) != words.end();
}

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += ' ';
    out += w;
  }
  return out;
}

AuthorizationServer::AuthorizationServer(Settings settings, storage::Store& store,
                                         const Clock& clock, Random& random, const Sealer& sealer)
    : settings_(std::move(settings)),
      store_(store),
      clock_(clock),
      random_(random),
      sealer_(sealer),
      keys_(store, clock, sealer, settings_.key_retention),
      audit_(store, clock, sealer) {}

std::string AuthorizationServer::metadata_json(bool openid) const {
  const auto& iss = settings_.issuer;
  nlohmann::ordered_json m;
  m["issuer"] = iss;
  m["authorization_endpoint"] = iss + "/authorize";
  m["token_endpoint"] = iss + "/token";
  m["pushed_authorization_request_endpoint"] = iss + "/par";
  m["require_pushed_authorization_requests"] = settings_.require_par;
  m["introspection_endpoint"] = iss + "/introspect";
  m["revocation_endpoint"] = iss + "/revoke";
  m["userinfo_endpoint"] = iss + "/userinfo";
  m["end_session_endpoint"] = iss + "/logout";
  m["jwks_uri"] = iss + "/jwks";
  if (!settings_.initial_access_token.empty()) m["registration_endpoint"] = iss + "/register";
  m["scopes_supported"] = std::vector<std::string>(std::begin(kScopesSupported),
                                                   std::end(kScopesSupported));
  m["response_types_supported"] = {"code"};
  m["response_modes_supported"] = {"query", "form_post", "jwt", "query.jwt", "form_post.jwt"};
  // What the server signs with (KeyRing::kAlgs): OIDC Discovery §3 requires RS256 among the
  // ID token's algorithms; FAPI 2.0 clients pick PS256, ES256 or EdDSA.
  const std::vector<std::string> signing(KeyRing::kAlgs.begin(), KeyRing::kAlgs.end());
  m["authorization_signing_alg_values_supported"] = signing;  // JARM §3
  m["grant_types_supported"] = {"authorization_code", "refresh_token", "client_credentials"};
  m["code_challenge_methods_supported"] = {"S256"};
  // Introspection answers authenticated clients only (introspect() refuses "none").
  const bool mtls = !settings_.mtls_base_url.empty();
  std::vector<std::string> authenticated = {"client_secret_basic", "client_secret_post",
                                            "private_key_jwt"};
  if (mtls) {
    authenticated.emplace_back("tls_client_auth");
    authenticated.emplace_back("self_signed_tls_client_auth");
  }
  std::vector<std::string> auth_methods = authenticated;
  auth_methods.emplace_back("none");
  const std::vector<std::string> algs(verifiable_algs().begin(), verifiable_algs().end());
  m["token_endpoint_auth_methods_supported"] = auth_methods;
  m["token_endpoint_auth_signing_alg_values_supported"] = algs;
  m["introspection_endpoint_auth_methods_supported"] = authenticated;
  m["introspection_endpoint_auth_signing_alg_values_supported"] = algs;
  m["introspection_signing_alg_values_supported"] = signing;  // RFC 9701 §7
  m["revocation_endpoint_auth_methods_supported"] = auth_methods;
  m["revocation_endpoint_auth_signing_alg_values_supported"] = algs;
  m["dpop_signing_alg_values_supported"] = algs;
  m["authorization_details_types_supported"] = std::vector<std::string>(
      std::begin(kAuthorizationDetailsTypes), std::end(kAuthorizationDetailsTypes));
  m["authorization_response_iss_parameter_supported"] = true;
  m["prompt_values_supported"] = {"none", "login", "consent", "select_account"};
  m["ui_locales_supported"] = {"en", "ja"};
  m["subject_types_supported"] = {"public", "pairwise"};
  m["id_token_signing_alg_values_supported"] = signing;
  m["userinfo_signing_alg_values_supported"] = signing;
  m["claims_supported"] = {"sub", "iss", "aud", "exp", "iat", "auth_time", "amr", "nonce", "azp",
                           "at_hash", "sid", "name", "preferred_username", "email"};
  // OIDC Back-Channel Logout 1.0 §2.1.
  m["backchannel_logout_supported"] = true;
  m["backchannel_logout_session_supported"] = true;
  // OIDC Front-Channel Logout 1.0 §3.
  m["frontchannel_logout_supported"] = true;
  m["frontchannel_logout_session_supported"] = true;
  // OIDC Core §5.5: see read_claims_request.
  m["claims_parameter_supported"] = true;
  // RFC 9101: request objects by value, at /authorize and /par; by reference only the
  // request_uri that /par returns (no fetching of client-hosted URIs).
  m["request_parameter_supported"] = true;
  m["request_object_signing_alg_values_supported"] = algs;
  m["request_uri_parameter_supported"] = false;
  m["require_request_uri_registration"] = true;
  // RFC 8705 §3.3, §5: certificate-bound tokens, and the endpoints on the listener that asks
  // for client certificates (the others never ask, so a browser is never shown a prompt).
  m["tls_client_certificate_bound_access_tokens"] = mtls;
  if (mtls) {
    const auto& base = settings_.mtls_base_url;
    nlohmann::ordered_json aliases;
    aliases["token_endpoint"] = base + "/token";
    aliases["pushed_authorization_request_endpoint"] = base + "/par";
    aliases["introspection_endpoint"] = base + "/introspect";
    aliases["revocation_endpoint"] = base + "/revoke";
    aliases["userinfo_endpoint"] = base + "/userinfo";
    m["mtls_endpoint_aliases"] = aliases;
  }
  if (!openid) m.erase("userinfo_signing_alg_values_supported");
  return m.dump();
}

std::optional<storage::ClientRecord> AuthorizationServer::find_client(std::string_view id) {
  return store_.find_client(id);
}

storage::ResidentRecord AuthorizationServer::open_resident(storage::ResidentRecord sealed) const {
  auto name = sealer_.open(sealed.name, resident_name_aad(sealed.id));
  auto email = sealer_.open(sealed.email, resident_email_aad(sealed.id));
  if (!name || !email) {
    // The id is random, not personal data; it names the row for the operator.
    throw std::runtime_error("resident " + sealed.id + ": personal data does not open (" +
                             (name ? email : name).error().description +
                             "): is this the master key it was sealed with?");
  }
  sealed.name = std::move(name).value();
  sealed.email = std::move(email).value();
  return sealed;
}

std::optional<storage::ResidentRecord> AuthorizationServer::find_resident(std::string_view id) {
  auto resident = store_.find_resident(id);
  if (!resident) return std::nullopt;
  return open_resident(std::move(*resident));
}

bool AuthorizationServer::insert_resident(storage::ResidentRecord resident) {
  resident.name = sealer_.seal(resident.name, resident_name_aad(resident.id));
  resident.email = sealer_.seal(resident.email, resident_email_aad(resident.id));
  return store_.insert_resident(resident);
}

std::vector<storage::ResidentRecord> AuthorizationServer::list_residents() {
  auto residents = store_.list_residents();
  for (auto& r : residents) r = open_resident(std::move(r));
  return residents;
}

Expected<std::vector<PublicKey>> client_keys(std::string_view jwks) {
  if (jwks.empty()) return std::vector<PublicKey>{};
  return parse_jwk_set(jwks);
}

Expected<Params> AuthorizationServer::request_object(std::string_view jwt,
                                                     const storage::ClientRecord& client) {
  auto keys = client_keys(client.jwks);
  if (!keys || keys->empty())
    return make_error("invalid_request_object", "the client has no registered keys to sign with");
  return verify_request_object(jwt, *keys, client.client_id, settings_.issuer, clock_.now(),
                               client.request_object_signing_alg);
}

Expected<storage::PendingAuthorization> AuthorizationServer::validate_request(
    const Params& params, const storage::ClientRecord& client, bool signed_object) {
  if (auto dup = params.first_duplicate())
    return make_error("invalid_request", "parameter " + *dup + " appears more than once");
  // RFC 9101 §10.5 require_signed_request_object.
  if (client.require_signed_request_object && !signed_object)
    return make_error("invalid_request", "this client must send a signed request object");
  if (std::find(client.grant_types.begin(), client.grant_types.end(), "authorization_code") ==
      client.grant_types.end())
    return make_error("unauthorized_client", "client may not use the authorization code grant");
  auto response_type = params.value("response_type");
  if (response_type.empty()) return make_error("invalid_request", "response_type is required");
  // OAuth 2.1 §4.1.1: the implicit grant and hybrid responses are gone.
  if (response_type != "code")
    return make_error("unsupported_response_type", "only response_type=code is supported");
  auto mode = params.value("response_mode");
  if (!mode.empty() && !is_response_mode(mode)) {
    return make_error("invalid_request",
                      "response_mode must be query, form_post, jwt, query.jwt or form_post.jwt");
  }
  const bool redirect_uri_given = params.has("redirect_uri");
  const auto redirect_uri =
      redirect_uri_given ? params.value("redirect_uri") : default_redirect_uri(params, client);
  if (redirect_uri.empty() && !redirect_uri_given)
    return make_error("invalid_request", std::string(kRedirectUriRequired));
  if (std::find(client.redirect_uris.begin(), client.redirect_uris.end(), redirect_uri) ==
      client.redirect_uris.end())
    return make_error("invalid_request", "redirect_uri is not registered for this client");
  if (is_form_post_mode(mode) && !can_post_to(redirect_uri)) {
    return make_error("invalid_request", "response_mode " + mode +
                                             " needs an http or https redirect_uri");
  }

  // RFC 9700 §2.1.1 and RFC 7636 §4.3: PKCE with S256 is required; "plain" (the default
  // when the method is absent) is refused so that a downgrade is impossible.
  auto challenge = params.value("code_challenge");
  auto method = params.value("code_challenge_method");
  if (challenge.empty()) return make_error("invalid_request", "code_challenge is required");
  if (method != "S256")
    return make_error("invalid_request", "code_challenge_method must be S256");
  if (!pkce_challenge_well_formed(challenge))
    return make_error("invalid_request", "code_challenge is malformed");

  storage::PendingAuthorization p;
  p.client_id = client.client_id;
  p.redirect_uri = redirect_uri;
  p.redirect_uri_given = redirect_uri_given;
  p.code_challenge = challenge;
  p.state = params.value("state");
  p.nonce = params.value("nonce");
  if (p.state.size() > 2048 || p.nonce.size() > 512)
    return make_error("invalid_request", "state or nonce too long");
  // OIDC Core §3.1.2.1: the pages' language (space-separated BCP 47 tags, RFC 5646) and the
  // sign-in name to suggest. Both only shape pages; neither decides anything.
  p.ui_locales = params.value("ui_locales");
  if (!valid_ui_locales(p.ui_locales))
    return make_error("invalid_request", "ui_locales must be space-separated language tags");
  // A login hint is often an e-mail address: personal data, sealed at rest like the resident's.
  const auto hint = params.value("login_hint");
  if (hint.size() > 256) return make_error("invalid_request", "login_hint too long");
  if (!hint.empty()) p.login_hint = sealer_.seal(hint, kLoginHintAad);
  // OIDC Core §3.1.2.1: an ID token the client received names the resident it expects; only
  // that resident may complete the request (next_step). The ID token must be this client's.
  if (auto id_token = params.get("id_token_hint"); id_token && !id_token->empty()) {
    auto named = id_token_hint(*id_token);
    if (!named) return named.error();
    if (named->client_id != client.client_id)
      return make_error("invalid_request", "id_token_hint was issued to another client");
    p.subject_hint = std::move(named->subject);
  }
  if (auto claims = params.get("claims"); claims && !claims->empty()) {
    auto asked = read_claims_request(*claims);
    if (!asked) return asked.error();
    if (!asked->sub.empty()) {
      if (!p.subject_hint.empty() && p.subject_hint != asked->sub)
        return make_error("invalid_request", "claims name another sub than id_token_hint");
      p.subject_hint = asked->sub;
    }
    p.id_token_claims = std::move(asked->id_token);
  }

  auto allowed = split_scope(client.scope.empty() ? std::string() : client.scope);
  auto requested = split_scope(params.value("scope"));
  for (const auto& s : requested) {
    bool known = std::find(std::begin(kScopesSupported), std::end(kScopesSupported), s) !=
                 std::end(kScopesSupported);
    bool permitted = client.scope.empty() ? known
                                          : std::find(allowed.begin(), allowed.end(), s) !=
                                                allowed.end();
    if (!permitted) return make_error("invalid_scope", "scope " + s + " is not allowed");
  }
  p.scope = join(requested);

  if (auto details = params.get("authorization_details"); details && !details->empty()) {
    auto canonical = canonical_authorization_details(*details);
    if (!canonical) return canonical.error();
    // A consent that would end before it is given asks for nothing.
    if (details_in_force(*canonical, clock_.now()).json != *canonical)
      return make_error("invalid_authorization_details", "retention_until has already passed");
    p.authorization_details = *canonical;
  }
  if (p.scope.empty() && p.authorization_details.empty())
    return make_error("invalid_scope", "ask for a scope or authorization_details");

  for (const auto& resource : params.all("resource")) {
    // RFC 8707 §2: an absolute URI without a fragment.
    if (!absolute_uri(resource)) return make_error("invalid_target", "resource must be an absolute URI");
    p.resources.push_back(resource);
  }

  auto prompts = split_scope(params.value("prompt"));
  for (const auto& v : prompts) {
    if (!is_prompt_value(v)) return make_error("invalid_request", "unknown prompt value");
  }
  if (contains_word(params.value("prompt"), "none") && prompts.size() > 1)
    return make_error("invalid_request", "prompt=none cannot be combined");
  p.prompt = join(prompts);

  if (auto max_age = params.get("max_age"); max_age && !max_age->empty()) {
    if (max_age->size() > 9 ||
        !std::all_of(max_age->begin(), max_age->end(), [](char c) { return c >= '0' && c <= '9'; }))
      return make_error("invalid_request", "max_age must be a non-negative integer");
    p.max_age = std::stoll(std::string(*max_age));
  }
  if (auto jkt = params.get("dpop_jkt"); jkt && !jkt->empty()) {
    if (!pkce_challenge_well_formed(*jkt))  // same shape: base64url SHA-256
      return make_error("invalid_request", "dpop_jkt is malformed");
    p.dpop_jkt = std::string(*jkt);
  }
  p.response_mode = mode.empty() ? "query" : mode;
  return p;
}

AuthorizeResult AuthorizationServer::authorize(const Params& query) {
  AuthorizeResult r;
  const auto now = clock_.now();
  auto client_id = query.value("client_id");
  if (client_id.empty()) {
    r.error = make_error("invalid_request", "client_id is missing");
    return r;
  }
  auto client = store_.find_client(client_id);
  if (!client) {
    r.error = make_error("invalid_client", "unknown client");
    return r;
  }
  r.client_name = client->client_name;

  storage::PendingAuthorization pending;
  // RFC 9101 §5: a request comes by value or by reference, not both.
  if (query.has("request") && query.has("request_uri")) {
    r.error = make_error("invalid_request", "send request or request_uri, not both");
    return r;
  }
  if (auto request_uri = query.get("request_uri")) {
    // RFC 9126 §4: the pushed request is used once and replaces the query's parameters.
    if (!request_uri->starts_with(kRequestUriPrefix)) {
      r.error = make_error("invalid_request_uri", "request_uri was not issued here");
      return r;
    }
    auto pushed = store_.take_pending(request_uri->substr(kRequestUriPrefix.size()), now);
    if (!pushed || !pushed->pushed || pushed->client_id != client->client_id) {
      r.error = make_error("invalid_request_uri", "request_uri is unknown, used or expired");
      return r;
    }
    pending = std::move(*pushed);
  } else {
    if (settings_.require_par || client->require_par) {
      r.error = make_error("invalid_request", "this client must use pushed authorization requests");
      return r;
    }
    // RFC 9101 §5-6: a request object replaces the query's parameters once it verifies; one
    // that does not is shown to the person, as its redirect_uri cannot be trusted.
    Params object;
    const bool signed_object = query.has("request");
    if (signed_object) {
      if (auto dup = query.first_duplicate()) {
        r.error = make_error("invalid_request", "parameter " + *dup + " appears more than once");
        return r;
      }
      auto verified = request_object(query.value("request"), *client);
      if (!verified) {
        r.error = verified.error();
        return r;
      }
      object = std::move(*verified);
    }
    const Params& request = signed_object ? object : query;
    // RFC 6749 §4.1.2.1: with an unknown or mismatching redirect URI the person is told,
    // never redirected (RFC 9700 §4.11: no open redirector).
    const auto named = request.all("redirect_uri").size();
    if (named > 1) {
      r.error = make_error("invalid_request", "redirect_uri is repeated");
      return r;
    }
    const auto redirect_uri =
        named == 1 ? request.value("redirect_uri") : default_redirect_uri(request, *client);
    if (named == 0 && redirect_uri.empty()) {
      r.error = make_error("invalid_request", std::string(kRedirectUriRequired));
      return r;
    }
    if (std::find(client->redirect_uris.begin(), client->redirect_uris.end(), redirect_uri) ==
        client->redirect_uris.end()) {
      r.error = make_error("invalid_request", "redirect_uri does not match a registered one");
      return r;
    }
    auto validated = validate_request(request, *client, signed_object);
    if (!validated) {
      r.kind = AuthorizeResult::Kind::redirect_error;
      r.error = validated.error();
      r.redirect_uri = redirect_uri;
      r.state = request.value("state");
      // The error goes back in the mode asked for when that mode can carry it (a form only
      // to a web address); otherwise in the query, which every client reads.
      auto mode = request.value("response_mode");
      if (!is_response_mode(mode) || (is_form_post_mode(mode) && !can_post_to(redirect_uri)))
        mode = "query";
      r.response = authorization_response(redirect_uri, client->client_id, mode,
                                          {{"error", r.error.error},
                                           {"error_description", r.error.description},
                                           {"state", r.state}});
      return r;
    }
    pending = std::move(*validated);
  }
  pending.handle = random_.token(32);
  pending.pushed = false;
  pending.expires_at = now + settings_.pending_ttl;
  store_.insert_pending(pending);
  r.kind = AuthorizeResult::Kind::proceed;
  r.pending = std::move(pending);
  return r;
}

std::optional<storage::PendingAuthorization> AuthorizationServer::find_pending(
    std::string_view handle) {
  return store_.find_pending(handle, clock_.now());
}

std::optional<storage::PendingAuthorization> AuthorizationServer::take_pending(
    std::string_view handle) {
  return store_.take_pending(handle, clock_.now());
}

NextStep AuthorizationServer::next_step(const storage::PendingAuthorization& pending,
                                        const std::optional<storage::LoginSession>& session) {
  const auto now = clock_.now();
  const bool prompt_none = contains_word(pending.prompt, "none");
  bool need_login = !session || session->resident_id.empty();
  if (session) {
    // OIDC Core §3.1.2.1: prompt=login and max_age=0 ask for a fresh sign-in within this
    // request (after_login() clears them once it happened); max_age > 0 bounds the age of the
    // sign-in.
    // prompt=select_account: the sign-in page, where the resident may sign in as someone else
    // (one account per browser session here, so choosing one is signing in with it).
    if (contains_word(pending.prompt, "login") || contains_word(pending.prompt, "select_account") ||
        pending.max_age == 0)
      need_login = true;
    if (pending.max_age > 0 && now - session->auth_time > pending.max_age) need_login = true;
    // OIDC Core §3.1.2.1 id_token_hint: someone else is signed in, so the hinted resident has
    // to sign in (or, with prompt=none, the answer is login_required).
    if (!pending.subject_hint.empty() &&
        subject(pending.client_id, session->resident_id) != pending.subject_hint)
      need_login = true;
  }
  if (need_login) return prompt_none ? NextStep::login_required : NextStep::login;

  bool covered = false;
  if (!contains_word(pending.prompt, "consent")) {
    if (auto grant = store_.find_active_grant(session->resident_id, pending.client_id, now)) {
      covered = true;
      for (const auto& s : split_scope(pending.scope)) {
        if (!contains_word(grant->scope, s)) covered = false;
      }
      if (!pending.authorization_details.empty()) {
        auto granted = nlohmann::json::parse(
            grant->authorization_details.empty() ? "[]" : grant->authorization_details);
        for (const auto& d : nlohmann::json::parse(pending.authorization_details)) {
          if (std::find(granted.begin(), granted.end(), d) == granted.end()) covered = false;
        }
      }
    }
  }
  if (covered) return NextStep::issue_code;
  return prompt_none ? NextStep::consent_required : NextStep::consent;
}

LoginOutcome AuthorizationServer::login(std::string_view username, std::string_view password,
                                        std::string_view remote_addr,
                                        std::string_view previous_cookie) {
  LoginOutcome out;
  const auto now = clock_.now();
  const std::string user_key = "user:" + sha256_b64url(username);
  const std::string addr_key = "addr:" + std::string(remote_addr);
  out.failures = store_.login_failures(user_key, now, kFailureWindow);
  if (out.failures >= kMaxFailuresPerUser ||
      store_.login_failures(addr_key, now, kFailureWindow) >= kMaxFailuresPerAddress) {
    out.kind = LoginOutcome::Kind::too_many_attempts;
    event("system", "login.throttled", {}, {}, "{}", {}, "refused");
    return out;
  }
  auto resident = store_.find_resident_by_username(username);
  // Hash even for an unknown name so the answer's timing does not tell which names exist.
  static const std::string kDummy = hash_password("not a real password");
  bool ok = verify_password(resident ? resident->password_hash : kDummy, password) && resident;
  if (!ok) {
    out.failures = store_.record_login_failure(user_key, now, kFailureWindow);
    store_.record_login_failure(addr_key, now, kFailureWindow);
    out.kind = LoginOutcome::Kind::invalid_credentials;
    event("resident", "login.failure", resident ? resident->id : std::string(), {}, "{}", {},
          "failure");
    return out;
  }
  store_.clear_login_failures(user_key);
  out.kind = LoginOutcome::Kind::ok;
  out.session_cookie = random_.token(32);
  out.session.id_hash = sha256_b64url(out.session_cookie);
  out.session.resident_id = resident->id;
  out.session.csrf_token = random_.token(32);
  out.session.auth_time = now;
  out.session.expires_at = now + settings_.session_ttl;
  const auto previous = session_from_cookie(previous_cookie);
  if (previous && previous->resident_id == resident->id && !previous->sid.empty()) {
    out.session.sid = previous->sid;
    store_.renew_session(previous->id_hash, out.session);
  } else {
    // The browser is on its way through the sign-in, not on a signed-out page: clients hear
    // of the ended session by the back channel only.
    if (previous) out.logouts_queued = logout(previous_cookie).backchannel_queued;
    out.session.sid = random_.token(16);
    store_.insert_session(out.session);
  }
  event("resident", "login.success", resident->id, {}, "{}");
  return out;
}

void AuthorizationServer::after_login(std::string_view handle, std::string_view resident_id) {
  auto pending = store_.take_pending(handle, clock_.now());
  if (!pending) return;
  auto prompts = split_scope(pending->prompt);
  std::erase(prompts, "login");
  std::erase(prompts, "select_account");
  pending->prompt = join(prompts);
  // Someone other than the resident the id_token_hint names signed in: OIDC Core §3.1.2.1 asks
  // for an error, such as login_required, not another round of pages. next_step() answers
  // login_required for a mismatch under prompt=none.
  if (!pending->subject_hint.empty() &&
      pending->subject_hint != subject(pending->client_id, resident_id))
    pending->prompt = "none";
  // The sign-in just made is as fresh as max_age=0 can ask; keep a positive max_age, which
  // the new auth_time satisfies.
  if (pending->max_age == 0) pending->max_age = -1;
  store_.insert_pending(*pending);
}

std::optional<storage::LoginSession> AuthorizationServer::session_from_cookie(
    std::string_view cookie) {
  if (cookie.empty() || cookie.size() > 128) return std::nullopt;
  return store_.find_session(sha256_b64url(cookie), clock_.now());
}

LogoutOutcome AuthorizationServer::logout(std::string_view cookie, std::string_view client_id) {
  LogoutOutcome out;
  if (cookie.empty() || cookie.size() > 128) return out;
  const auto id_hash = sha256_b64url(cookie);
  const auto now = clock_.now();
  const auto session = store_.find_session(id_hash, now);
  if (session && !session->sid.empty()) {
    // Front-Channel Logout §3: every client signed in within the session that registered a
    // URI for it, read now (not from the cache) so that a URI just removed is not loaded.
    for (const auto& id : store_.session_client_ids(session->sid)) {
      const auto client = store_.find_client(id);
      if (!client || client->frontchannel_logout_uri.empty()) continue;
      out.frontchannel_uris.push_back(
          client->frontchannel_logout_session_required
              ? with_params(client->frontchannel_logout_uri,
                            {{"iss", settings_.issuer}, {"sid", session->sid}})
              : client->frontchannel_logout_uri);
    }
  }
  out.backchannel_queued = store_.end_session(id_hash, now);
  if (session) event("resident", "logout", session->resident_id, client_id, "{}");
  return out;
}

std::optional<BackchannelLogout> AuthorizationServer::backchannel_logout(
    const storage::LogoutDelivery& delivery) {
  const auto client = store_.find_client(delivery.client_id);
  if (!client || client->backchannel_logout_uri.empty()) return std::nullopt;
  const auto now = clock_.now();
  // §2.4: signed with the keys that sign ID tokens, so with the client's ID tokens' algorithm.
  auto key = keys_.current(response_alg(client->id_token_signed_response_alg));
  // Back-Channel Logout 1.0 §2.4: iss, aud, iat, exp, jti, events, and sub and/or sid; never a
  // nonce (so that it cannot pass for an ID token), and typ logout+jwt (§2.4, RFC 8725 §3.11).
  JsonObject claims;
  claims.add("iss", settings_.issuer)
      .add("sub", subject(&*client, delivery.resident_id))
      .add("aud", client->client_id)
      .add("iat", now)
      .add("exp", now + kLogoutTokenTtl)
      .add("jti", new_jti())
      .add("sid", delivery.sid)
      .add_json("events", R"({"http://schemas.openid.net/event/backchannel-logout":{}})");
  return BackchannelLogout{client->backchannel_logout_uri,
                           jws_sign(key.key, key.kid, "logout+jwt", claims.str())};
}

void AuthorizationServer::backchannel_logout_ended(const storage::LogoutDelivery& delivery,
                                                   bool delivered, std::string_view why) {
  const auto detail = JsonObject()
                          .add("attempts", static_cast<std::int64_t>(delivery.attempts))
                          .add("result", why)
                          .str();
  // A resident removed since (their sessions ended with them) is not named: that would tie a
  // new pseudonym in the log to the id the removal let go of.
  const bool removed = !store_.find_resident(delivery.resident_id);
  event("system", "logout.backchannel", removed ? std::string_view() : delivery.resident_id,
        delivery.client_id, detail, {}, delivered ? "success" : "failure");
}

Expected<IdTokenHint> AuthorizationServer::id_token_hint(std::string_view jwt) {
  const auto refused = [] {
    return make_error("invalid_request", "id_token_hint is not an ID token issued here");
  };
  if (jwt.size() > 8192) return refused();
  auto parts = jws_parse(jwt);
  // Only ID tokens (typ JWT): never an access token (at+jwt, RFC 9068 §2.1), which must not
  // travel in a URL, nor a signed tree head.
  if (!parts || parts->typ != "JWT" || parts->kid.empty()) return refused();
  auto key = keys_.find(parts->kid);
  if (!key || !jws_verify(*parts, *key)) return refused();
  const auto claims = nlohmann::json::parse(parts->payload, nullptr, false);
  if (!claims.is_object()) return refused();
  const auto text = [&claims](const char* name) {
    const auto it = claims.find(name);
    return it != claims.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  IdTokenHint hint{text("sub"), text("azp")};
  if (hint.client_id.empty()) hint.client_id = text("aud");
  if (text("iss") != settings_.issuer || hint.subject.empty() || hint.client_id.empty())
    return refused();
  return hint;
}

Expected<LogoutRequest> AuthorizationServer::logout_request(const Params& params) {
  if (auto dup = params.first_duplicate())
    return make_error("invalid_request", "parameter " + *dup + " appears more than once");
  LogoutRequest r;
  r.client_id = params.value("client_id");
  if (auto id_token = params.get("id_token_hint"); id_token && !id_token->empty()) {
    auto named = id_token_hint(*id_token);
    if (!named) return named.error();
    if (!r.client_id.empty() && r.client_id != named->client_id)
      return make_error("invalid_request", "client_id is not the client of id_token_hint");
    r.client_id = std::move(named->client_id);
  }
  std::optional<storage::ClientRecord> client;
  if (!r.client_id.empty()) {
    client = store_.find_client(r.client_id);
    if (!client) return make_error("invalid_request", "unknown client");
    r.client_name = client->client_name;
  }
  // §2 and §3: the browser goes back only to a URI the client registered for this, compared
  // as a string, so the end-session endpoint is no open redirector (RFC 9700 §4.11).
  r.post_logout_redirect_uri = params.value("post_logout_redirect_uri");
  if (!r.post_logout_redirect_uri.empty()) {
    if (!client)
      return make_error("invalid_request",
                        "post_logout_redirect_uri needs client_id or id_token_hint");
    const auto& registered = client->post_logout_redirect_uris;
    if (std::ranges::find(registered, r.post_logout_redirect_uri) == registered.end())
      return make_error("invalid_request",
                        "post_logout_redirect_uri is not registered for this client");
  }
  r.state = params.value("state");
  if (r.state.size() > 2048) return make_error("invalid_request", "state too long");
  r.ui_locales = params.value("ui_locales");
  if (!valid_ui_locales(r.ui_locales))
    return make_error("invalid_request", "ui_locales must be space-separated language tags");
  return r;
}

storage::Grant AuthorizationServer::merged_grant(const std::optional<storage::Grant>& existing,
                                                 const storage::PendingAuthorization& pending,
                                                 std::string_view resident_id, std::int64_t now) {
  storage::Grant grant;
  if (existing) {
    grant = *existing;
  } else {
    // A grant of this pair whose end has come, and that the sweep has not ended yet, is ended
    // first: ending a grant revokes its pair's access tokens, and the new grant's must not be
    // among them.
    for (const auto& old : store_.list_grants(resident_id)) {
      if (old.client_id == pending.client_id && !old.revoked && old.ended_by(now)) {
        end_expired(old);
      }
    }
    grant.id = random_.token(16);
    grant.resident_id = resident_id;
    grant.client_id = pending.client_id;
    grant.created_at = now;
  }
  auto scopes = split_scope(grant.scope);
  for (const auto& s : split_scope(pending.scope)) {
    if (std::find(scopes.begin(), scopes.end(), s) == scopes.end()) scopes.push_back(s);
  }
  grant.scope = join(scopes);
  if (!pending.authorization_details.empty()) {
    auto merged = nlohmann::json::parse(
        grant.authorization_details.empty() ? "[]" : grant.authorization_details);
    for (const auto& d : nlohmann::json::parse(pending.authorization_details)) {
      if (std::find(merged.begin(), merged.end(), d) == merged.end()) merged.push_back(d);
    }
    grant.authorization_details = merged.dump();
  }
  // The grant lasts as long as its details say (it has no end if one of them names none).
  grant.expires_at = consent_end(grant.authorization_details);
  return grant;
}

Redirect AuthorizationServer::approve(const storage::PendingAuthorization& pending,
                                      const storage::LoginSession& session) {
  const auto now = clock_.now();
  // Read, merge, save; again if another approval of the pair saved first (save_grant says
  // so), so that the pair keeps one grant holding both consents.
  storage::Grant grant;
  for (int attempt = 1;; ++attempt) {
    const auto existing = store_.find_active_grant(session.resident_id, pending.client_id, now);
    grant = merged_grant(existing, pending, session.resident_id, now);
    // A consent that adds to an active grant amends it; one that adds nothing confirms it.
    const bool amended = existing && (grant.scope != existing->scope ||
                                      grant.authorization_details !=
                                          existing->authorization_details);
    nlohmann::json detail = {{"scope", pending.scope}, {"grant_id", grant.id}};
    if (amended) {
      detail["previous_scope"] = existing->scope;
      detail["granted_scope"] = grant.scope;
    }
    const auto consented =
        make_event("resident", amended ? "consent.amended" : "consent.granted",
                   session.resident_id, pending.client_id,
                   consent_detail(std::move(detail), pending.authorization_details), {},
                   "success", pending.authorization_details);
    if (store_.save_grant(grant, existing, consented)) break;
    if (attempt == kSaveGrantAttempts)
      throw std::runtime_error("the grant kept changing while it was saved");
  }

  const std::string code = random_.token(32);
  storage::AuthorizationCode record;
  record.code_hash = sha256_b64url(code);
  record.client_id = pending.client_id;
  record.resident_id = session.resident_id;
  // RFC 6749 §4.1.3: the token request repeats redirect_uri only if this request named it.
  record.redirect_uri = pending.redirect_uri_given ? pending.redirect_uri : std::string();
  record.scope = pending.scope;
  record.nonce = pending.nonce;
  record.code_challenge = pending.code_challenge;
  record.authorization_details = pending.authorization_details;
  record.resources = pending.resources;
  record.dpop_jkt = pending.dpop_jkt;
  record.id_token_claims = pending.id_token_claims;
  record.grant_id = grant.id;
  record.auth_time = session.auth_time;
  record.expires_at = now + settings_.code_ttl;
  record.sid = session.sid;
  // Back-Channel Logout §2.7: the clients signed in within a session are told when it ends.
  if (!session.sid.empty())
    store_.add_session_client({session.sid, pending.client_id, session.resident_id,
                               session.expires_at});
  store_.insert_code(record);

  return authorization_response(pending.redirect_uri, pending.client_id, pending.response_mode,
                                {{"code", code}, {"state", pending.state}});
}

Redirect AuthorizationServer::authorization_response(
    std::string_view redirect_uri, std::string_view client_id, std::string_view response_mode,
    std::initializer_list<std::pair<std::string_view, std::string_view>> params) {
  std::vector<std::pair<std::string, std::string>> fields;
  if (is_jwt_response_mode(response_mode)) {
    const auto now = clock_.now();
    JsonObject claims;
    claims.add("iss", settings_.issuer)
        .add("aud", client_id)
        .add("exp", now + kAuthorizationResponseTtl);
    for (const auto& [name, value] : params) {
      if (!value.empty()) claims.add(name, value);
    }
    // JARM §3: signed with the client's authorization_signed_response_alg.
    const auto client = cached_client(std::string(client_id));
    auto key = keys_.current(
        response_alg(client ? client->authorization_signed_response_alg : std::string()));
    fields.emplace_back("response", jws_sign(key.key, key.kid, "", claims.str()));
  } else {
    for (const auto& [name, value] : params) {
      if (!value.empty()) fields.emplace_back(name, value);
    }
    // RFC 9207: iss in the response lets the client detect mix-up attacks.
    fields.emplace_back("iss", settings_.issuer);
  }
  if (is_form_post_mode(response_mode))
    return Redirect{std::string(redirect_uri), true, std::move(fields)};
  boost::urls::url url(redirect_uri);
  for (const auto& [name, value] : fields) url.params().append({name, value});
  return Redirect{std::string(url.buffer()), false, {}};
}

Redirect AuthorizationServer::deny(const storage::PendingAuthorization& pending,
                                   std::string_view error, std::string_view resident_id) {
  if (error == "access_denied") {
    event("resident", "consent.refused", resident_id, pending.client_id,
          consent_detail({{"scope", pending.scope}}, pending.authorization_details), {},
          "refused", pending.authorization_details);
  }
  return authorization_response(pending.redirect_uri, pending.client_id, pending.response_mode,
                                {{"error", error}, {"state", pending.state}});
}

Answer AuthorizationServer::par(const Params& form, const RequestFacts& facts) {
  auto client = authenticate_client(form, facts);
  if (!client) return client.error();
  if (form.has("request_uri"))
    return EndpointError{make_error("invalid_request", "request_uri is not allowed in PAR"), {}};
  // RFC 9126 §3: a pushed request may be a request object (RFC 9101); then only its parameters
  // count, and the client that signed it is the one that authenticated.
  Params object;
  const bool signed_object = form.has("request");
  if (signed_object) {
    if (auto dup = form.first_duplicate())
      return EndpointError{
          make_error("invalid_request", "parameter " + *dup + " appears more than once"), {}};
    auto verified = request_object(form.value("request"), *client);
    if (!verified) return EndpointError{verified.error(), {}};
    object = std::move(*verified);
  }
  auto validated = validate_request(signed_object ? object : form, *client, signed_object);
  if (!validated) return EndpointError{validated.error(), {}};
  // RFC 9449 §10.1: a DPoP proof sent with the pushed request binds the code to its key, as
  // dpop_jkt does; with both, they must name the same key.
  auto jkt = dpop_jkt(facts, std::nullopt);
  if (!jkt) return EndpointError{jkt.error(), {}};
  if (jkt->has_value()) {
    if (!validated->dpop_jkt.empty() && validated->dpop_jkt != **jkt) {
      return EndpointError{
          make_error("invalid_request", "dpop_jkt is not the key of the DPoP proof"), {}};
    }
    validated->dpop_jkt = **jkt;
  }
  validated->handle = random_.token(32);
  validated->pushed = true;
  validated->expires_at = clock_.now() + settings_.par_ttl;
  store_.insert_pending(*validated);
  nlohmann::json body = {{"request_uri", std::string(kRequestUriPrefix) + validated->handle},
                         {"expires_in", settings_.par_ttl}};
  return JsonAnswer{body.dump(), 201};
}

Expected<AuthorizationServer::NewClient> AuthorizationServer::create_client(
    storage::ClientRecord draft) {
  if (auto invalid = complete_client(draft)) return *invalid;
  if (draft.client_id.empty()) draft.client_id = random_.identifier(16);
  if (draft.client_name.empty()) draft.client_name = draft.client_id;
  draft.created_at = clock_.now();
  NewClient out;
  if (uses_client_secret(draft.token_endpoint_auth_method)) {
    // 256 bits from the CSPRNG: a fast hash suffices (no dictionary to attack).
    out.client_secret = random_.token(32);
    draft.secret_hash = sha256_b64url(out.client_secret);
  }
  if (!store_.insert_client(draft))
    return make_error("invalid_client_metadata", "client_id already exists");
  out.record = std::move(draft);
  event("operator", "client.registered", {}, out.record.client_id, "{}");
  return out;
}

Expected<AuthorizationServer::NewClient> AuthorizationServer::replace_client(
    const storage::ClientRecord& current, storage::ClientRecord draft, bool new_secret,
    std::string_view actor) {
  if (auto invalid = complete_client(draft)) return *invalid;
  draft.client_id = current.client_id;
  if (draft.client_name.empty()) draft.client_name = draft.client_id;
  draft.created_at = current.created_at;
  draft.registration_access_token_hash = current.registration_access_token_hash;
  NewClient out;
  draft.secret_hash.clear();
  if (uses_client_secret(draft.token_endpoint_auth_method)) {
    draft.secret_hash = current.secret_hash;
    if (draft.secret_hash.empty() || new_secret) {
      out.client_secret = random_.token(32);
      draft.secret_hash = sha256_b64url(out.client_secret);
    }
  } else if (new_secret) {
    return make_error("invalid_client_metadata",
                      "the client does not authenticate with a secret");
  }
  if (!store_.update_client(draft)) return make_error("invalid_client", "no such client");
  const std::string detail =
      nlohmann::json{{"new_secret", !out.client_secret.empty()}}.dump();
  event(actor, "client.updated", {}, draft.client_id, detail);
  forget_cached_client(draft.client_id);
  out.record = std::move(draft);
  return out;
}

std::optional<OAuthError> AuthorizationServer::complete_client(storage::ClientRecord& draft) {
  static const std::vector<std::string> kMethods = {
      "client_secret_basic", "client_secret_post",         "private_key_jwt", "none",
      "tls_client_auth",     "self_signed_tls_client_auth"};
  static const std::vector<std::string> kGrants = {"authorization_code", "refresh_token",
                                                   "client_credentials"};
  auto& method = draft.token_endpoint_auth_method;
  if (method.empty()) method = "client_secret_basic";
  if (std::find(kMethods.begin(), kMethods.end(), method) == kMethods.end())
    return make_error("invalid_client_metadata", "unsupported token_endpoint_auth_method");
  if (draft.grant_types.empty()) draft.grant_types = {"authorization_code", "refresh_token"};
  for (const auto& g : draft.grant_types) {
    if (std::find(kGrants.begin(), kGrants.end(), g) == kGrants.end())
      return make_error("invalid_client_metadata", "unsupported grant type " + g);
  }
  bool code_flow = std::find(draft.grant_types.begin(), draft.grant_types.end(),
                             "authorization_code") != draft.grant_types.end();
  if (code_flow && draft.redirect_uris.empty())
    return make_error("invalid_redirect_uri", "redirect_uris are required");
  if (!registrable_redirect_uris(draft.redirect_uris))
    return make_error("invalid_redirect_uri", "redirect URIs must be absolute, without fragment");
  // RP-Initiated Logout §3.1: the same rules as redirect URIs; only a code-flow client has an
  // ID token to end a session with.
  if (!draft.post_logout_redirect_uris.empty() && !code_flow)
    return make_error("invalid_client_metadata",
                      "post_logout_redirect_uris need the authorization_code grant");
  if (!registrable_redirect_uris(draft.post_logout_redirect_uris))
    return make_error("invalid_client_metadata",
                      "post-logout redirect URIs must be absolute, without fragment");
  // Back-Channel Logout §2.2: the server itself calls it, so only https (http on a loopback
  // host, for a client on this machine), never a fragment.
  if (!draft.backchannel_logout_uri.empty() && !code_flow)
    return make_error("invalid_client_metadata",
                      "backchannel_logout_uri needs the authorization_code grant");
  if (!draft.backchannel_logout_uri.empty() && !server_callable_uri(draft.backchannel_logout_uri))
    return make_error("invalid_client_metadata",
                      "backchannel_logout_uri must be an https URI (http only on a loopback "
                      "host), without fragment");
  if (draft.backchannel_logout_session_required && draft.backchannel_logout_uri.empty())
    return make_error("invalid_client_metadata",
                      "backchannel_logout_session_required needs a backchannel_logout_uri");
  // Front-Channel Logout §2: the resident's browser loads it, so it must share scheme, host and
  // port with one of the client's redirect URIs; no fragment.
  if (!draft.frontchannel_logout_uri.empty()) {
    if (!code_flow)
      return make_error("invalid_client_metadata",
                        "frontchannel_logout_uri needs the authorization_code grant");
    const auto origin = origin_of(draft.frontchannel_logout_uri);
    auto parsed = boost::urls::parse_absolute_uri(draft.frontchannel_logout_uri);
    const bool same_origin =
        !origin.empty() && std::ranges::any_of(draft.redirect_uris, [&](const std::string& r) {
          return origin_of(r) == origin;
        });
    if (!parsed || parsed->has_fragment() || parsed->has_userinfo() || !same_origin)
      return make_error("invalid_client_metadata",
                        "frontchannel_logout_uri must have the scheme, host and port of a "
                        "redirect URI, and no fragment");
  }
  if (draft.frontchannel_logout_session_required && draft.frontchannel_logout_uri.empty())
    return make_error("invalid_client_metadata",
                      "frontchannel_logout_session_required needs a frontchannel_logout_uri");
  // OIDC Core §8: a pairwise client's residents are named for its sector, the one host of its
  // redirect URIs (sector_identifier_uri, which lists several, is not supported).
  if (draft.subject_type.empty()) draft.subject_type = "public";
  if (draft.subject_type != "public" && draft.subject_type != "pairwise")
    return make_error("invalid_client_metadata", "subject_type must be public or pairwise");
  if (draft.subject_type == "pairwise" && code_flow && sector_of(draft.redirect_uris).empty())
    return make_error("invalid_client_metadata",
                      "a pairwise client's redirect URIs must share one host (its sector)");
  // What the server signs for the client, it signs with an algorithm it has keys for.
  if (!draft.userinfo_signed_response_alg.empty() &&
      !signs_with(draft.userinfo_signed_response_alg))
    return make_error("invalid_client_metadata",
                      std::string("userinfo_signed_response_alg must be ") +
                          kSignedAlgsInWords);
  for (auto* alg : {&draft.id_token_signed_response_alg,
                    &draft.authorization_signed_response_alg,
                    &draft.introspection_signed_response_alg}) {
    if (alg->empty()) *alg = settings_.default_signing_alg;  // the client named none
    if (!signs_with(*alg))
      return make_error("invalid_client_metadata",
                        std::string("the *_signed_response_alg metadata must be ") +
                            kSignedAlgsInWords);
  }
  if (method == "none" && std::find(draft.grant_types.begin(), draft.grant_types.end(),
                                    "client_credentials") != draft.grant_types.end())
    return make_error("invalid_client_metadata", "public clients cannot use client_credentials");
  const auto keys = client_keys(draft.jwks);
  if (!keys) return make_error("invalid_client_metadata", "jwks is malformed");
  if (method == "private_key_jwt" && keys->empty())
    return make_error("invalid_client_metadata", "private_key_jwt needs a jwks with public keys");
  if ((is_tls_client_auth(method) || draft.tls_bound_access_tokens) &&
      settings_.mtls_base_url.empty())
    return make_error("invalid_client_metadata",
                      "this server has no mutual-TLS endpoint (server.mtls_port) for client "
                      "certificates");
  // RFC 8705 §2.1.2: a tls_client_auth client names exactly one thing its certificate carries.
  if (method == "tls_client_auth") {
    if (draft.tls_client_auth_name.empty())
      return make_error("invalid_client_metadata",
                        "tls_client_auth needs one of tls_client_auth_subject_dn, "
                        "tls_client_auth_san_dns, _san_uri, _san_ip or _san_email");
    auto value = canonical_tls_client_auth(draft.tls_client_auth_name, draft.tls_client_auth_value);
    if (!value) return value.error();
    draft.tls_client_auth_value = *value;
  } else if (!draft.tls_client_auth_name.empty()) {
    return make_error("invalid_client_metadata",
                      draft.tls_client_auth_name + " is for tls_client_auth clients only");
  }
  // RFC 8705 §2.2.2: a self-signed client registers its certificate as the x5c of a key.
  if (method == "self_signed_tls_client_auth" && registered_certificates(draft.jwks).empty())
    return make_error("invalid_client_metadata",
                      "self_signed_tls_client_auth needs a jwks whose key carries its "
                      "certificate (x5c)");
  // RFC 9101 §10.5: request objects are verified with the client's registered keys (client
  // secrets are stored only as hashes, so there is nothing to check an HMAC with).
  if (draft.require_signed_request_object) {
    if (!code_flow)
      return make_error("invalid_client_metadata",
                        "require_signed_request_object needs the authorization_code grant");
    if (keys->empty())
      return make_error("invalid_client_metadata",
                        "require_signed_request_object needs a jwks with public keys");
  }
  for (const auto& s : split_scope(draft.scope)) {
    // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). Services define their own
    // scopes (e.g. "data.read"); the operator decides which a client may ask for.
    if (!std::all_of(s.begin(), s.end(), [](char c) {
          return c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
        }))
      return make_error("invalid_client_metadata", "malformed scope");
  }
  // A key the client's objects will be signed with is published now, before the client can
  // fetch the JWK Set: a relying party that cached the set would not look again for a key
  // that came later (openid-client waits a minute before it fetches the set again).
  for (const auto* alg : {&draft.id_token_signed_response_alg,
                          &draft.authorization_signed_response_alg,
                          &draft.introspection_signed_response_alg,
                          &draft.userinfo_signed_response_alg}) {
    if (!alg->empty() && *alg != KeyRing::kDefaultAlg) keys_.make_key(*alg);
  }
  return std::nullopt;
}

std::string AuthorizationServer::subject(const storage::ClientRecord* client,
                                         std::string_view resident_id) {
  if (resident_id.empty()) return client ? client->client_id : std::string();
  if (!client || client->subject_type != "pairwise") return std::string(resident_id);
  std::call_once(pairwise_once_, [this] {
    pairwise_key_ = named_secret(store_, sealer_, "oidc.pairwise_key", random_.token(32));
  });
  std::string input = sector_of(client->redirect_uris);
  input.push_back('\0');
  input += resident_id;
  return base64url_encode(hmac_sha256(pairwise_key_, input));
}

std::string AuthorizationServer::dpop_nonce_of(std::int64_t window) {
  std::call_once(dpop_nonce_once_, [this] {
    dpop_nonce_key_ = named_secret(store_, sealer_, "dpop.nonce_key", random_.token(32));
  });
  return base64url_encode(hmac_sha256(dpop_nonce_key_, "dpop-nonce " + std::to_string(window)));
}

std::string AuthorizationServer::dpop_nonce() {
  return dpop_nonce_of(clock_.now() / kDpopNonceWindow);
}

std::string AuthorizationServer::subject(std::string_view client_id, std::string_view resident_id) {
  if (resident_id.empty()) return std::string(client_id);
  const auto client = cached_client(std::string(client_id));
  return subject(client ? &*client : nullptr, resident_id);
}

std::string AuthorizationServer::login_hint(const storage::PendingAuthorization& pending) const {
  if (pending.login_hint.empty()) return {};
  auto hint = sealer_.open(pending.login_hint, kLoginHintAad);
  return hint ? *hint : std::string();
}

std::vector<storage::Grant> AuthorizationServer::grants_of(std::string_view resident_id) {
  auto grants = store_.list_grants(resident_id);
  const auto now = clock_.now();
  std::erase_if(grants, [now](const storage::Grant& g) {
    return g.revoked || g.ended_by(now);
  });
  return grants;
}

bool AuthorizationServer::revoke_grant(std::string_view resident_id, std::string_view grant_id) {
  auto grant = store_.find_grant(grant_id);
  if (!grant || grant->resident_id != resident_id) return false;
  // A grant whose end has come is ended as expired, not withdrawn, even before the sweep.
  if (grant->ended_by(clock_.now())) return end_expired(*grant);
  return store_.revoke_grant(
      grant_id,
      make_event("resident", "consent.withdrawn", resident_id, grant->client_id,
                 consent_detail({{"grant_id", std::string(grant_id)}, {"scope", grant->scope}},
                                grant->authorization_details),
                 {}, "success", grant->authorization_details));
}

bool AuthorizationServer::end_expired(const storage::Grant& grant) {
  return store_.revoke_grant(
      grant.id,
      make_event("system", "consent.expired", grant.resident_id, grant.client_id,
                 consent_detail({{"grant_id", grant.id},
                                 {"scope", grant.scope},
                                 {"expired_at", grant.expires_at}},
                                grant.authorization_details),
                 {}, "success", grant.authorization_details),
      grant.expires_at);
}

int AuthorizationServer::expire_grants(int limit) {
  int ended = 0;
  for (const auto& grant : store_.list_ended_grants(clock_.now(), limit)) {
    if (end_expired(grant)) ++ended;
  }
  return ended;
}

storage::Event AuthorizationServer::make_event(std::string_view actor, std::string_view action,
                                               std::string_view resident_id,
                                               std::string_view client_id,
                                               std::string_view detail_json,
                                               std::string_view request_id,
                                               std::string_view outcome,
                                               std::string_view authorization_details) {
  storage::Event e;
  e.time = clock_.now();
  e.actor = actor;
  e.action = action;
  e.resident = audit_.pseudonym(resident_id);
  e.client_id = client_id;
  e.detail = detail_json.empty() ? "{}" : std::string(detail_json);
  e.request_id = request_id;
  e.outcome = outcome;
  if (!authorization_details.empty()) {
    // Purposes and datasets (never values) of what was asked or granted.
    auto details = nlohmann::json::parse(authorization_details, nullptr, false);
    if (details.is_array()) {
      std::vector<std::string> purposes;
      for (const auto& d : details) {
        if (d.contains("purpose") && d["purpose"].is_string()) {
          auto p = d["purpose"].get<std::string>();
          if (std::find(purposes.begin(), purposes.end(), p) == purposes.end()) purposes.push_back(p);
        }
        if (d.contains("datasets") && d["datasets"].is_array()) {
          for (const auto& ds : d["datasets"]) {
            if (!ds.is_string()) continue;
            auto name = ds.get<std::string>();
            if (std::find(e.datasets.begin(), e.datasets.end(), name) == e.datasets.end())
              e.datasets.push_back(name);
          }
        }
      }
      for (const auto& p : purposes) {
        if (!e.purpose.empty()) e.purpose += "; ";
        e.purpose += p;
      }
    }
  }
  return e;
}

void AuthorizationServer::event(std::string_view actor, std::string_view action,
                                std::string_view resident_id, std::string_view client_id,
                                std::string_view detail_json, std::string_view request_id,
                                std::string_view outcome, std::string_view authorization_details) {
  store_.append_event(make_event(actor, action, resident_id, client_id, detail_json, request_id,
                                 outcome, authorization_details));
}

}  // namespace authz
