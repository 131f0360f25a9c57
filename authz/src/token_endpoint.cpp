// The back channel: client authentication (RFC 6749 §2.3, RFC 7523), the token endpoint
// (RFC 6749 §4.1.3, §4.4, §6 with RFC 9700 and OAuth 2.1), JWT access tokens (RFC 9068),
// DPoP (RFC 9449), introspection (RFC 7662), revocation (RFC 7009), UserInfo (OIDC Core §5.3)
// and dynamic registration (RFC 7591).
#include <algorithm>
#include <array>
#include <chrono>
#include <nlohmann/json.hpp>

#include "authz/base64url.hpp"
#include "authz/dpop.hpp"
#include "authz/jws.hpp"
#include "authz/oauth.hpp"
#include "authz/pkce.hpp"
#include "internal.hpp"
#include "json_writer.hpp"

namespace authz {

namespace {

constexpr std::string_view kJwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

bool has(const std::vector<std::string>& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// Reads the payload of one of our own JWTs without checking its signature: used only to
// find the record, which is then compared by hash (the record is the truth, not the JWT), so
// what it returns for a token we did not issue matters not. Our tokens name jti once, as an
// unescaped string ahead of any nested object: a scan for that member finds it without
// parsing the payload (introspection and every bearer check come here). Anything else is
// parsed whole.
std::optional<std::string> jwt_jti(std::string_view token) {
  auto first = token.find('.');
  if (first == std::string_view::npos) return std::nullopt;
  auto second = token.find('.', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  auto payload = base64url_decode(token.substr(first + 1, second - first - 1));
  if (!payload) return std::nullopt;
  constexpr std::string_view kMember = R"("jti":")";
  if (const auto at = payload->find(kMember); at != std::string::npos) {
    const auto begin = at + kMember.size();
    const auto end = payload->find_first_of(R"("\)", begin);
    if (end != std::string::npos && (*payload)[end] == '"')
      return payload->substr(begin, end - begin);
  }
  auto json = nlohmann::json::parse(*payload, nullptr, false);
  if (!json.is_object() || !json.contains("jti") || !json["jti"].is_string()) return std::nullopt;
  return json["jti"].get<std::string>();
}

// Why a grant no longer backs tokens, or nullptr while it does. An end that has come counts
// before the sweep has marked the grant.
const char* grant_ended(const std::optional<storage::Grant>& grant, std::int64_t now) {
  if (!grant) return "the grant was withdrawn";
  if (grant->ended_by(now)) return "the consent has expired";
  if (grant->revoked) return "the grant was withdrawn";
  return nullptr;
}

// The earlier of two ends, where 0 means "no end".
std::int64_t earlier_end(std::int64_t a, std::int64_t b) {
  if (a == 0) return b;
  if (b == 0) return a;
  return std::min(a, b);
}

}  // namespace

// An access token's id: the moment of issue in microseconds (14 hex digits, so ids sort by
// time) and 96 random bits. New rows then land at the end of the jti index, where one batch's
// inserts share a page, instead of one random page each.
std::string AuthorizationServer::new_jti() {
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string jti(14, '0');
  auto left = static_cast<std::uint64_t>(micros);
  for (std::size_t i = jti.size(); i-- > 0; left >>= 4) jti[i] = kHex[left & 0xf];
  jti += random_.token(12);
  return jti;
}

struct AuthorizationServer::Issue {
  const storage::ClientRecord* client = nullptr;
  std::string grant_type;
  std::string resident_id;
  std::string scope;
  std::string authorization_details;
  std::vector<std::string> resources;
  std::string cnf_jkt;
  std::string cnf_x5t;  ///< RFC 8705 §3: the certificate the access token is bound to
  std::string code_hash;
  std::string family_id;
  std::string grant_id;
  std::string nonce;
  std::string sid;  ///< the login session's, for the ID token (Back-Channel Logout §2.1)
  std::string id_token_claims;  ///< OIDC Core §5.5: asked for in the ID token
  std::int64_t auth_time = 0;
  bool with_refresh = false;
  bool with_id_token = false;
  std::string rotate_from;  ///< hash of the refresh token being exchanged
  std::int64_t access_ends_at = 0;   ///< the access token expires by then (its details' end)
  std::int64_t refresh_ends_at = 0;  ///< the refresh token expires by then (the grant's end)
  std::string request_id;
  std::optional<TokenWrite>* deferred = nullptr;  ///< see token()
};

Expected<storage::ClientRecord, EndpointError> AuthorizationServer::authenticate_client(
    const Params& form, const RequestFacts& facts) {
  std::optional<BasicCredentials> basic;
  if (facts.authorization) {
    std::string_view header = *facts.authorization;
    // RFC 9110 §11.1: the scheme is case-insensitive.
    if (header.size() >= 6 && iequals(header.substr(0, 5), "Basic") && header[5] == ' ') {
      basic = parse_basic_authorization(header);
      if (!basic) return fail("invalid_client", "malformed Basic credentials", "Basic");
    }
  }
  const bool post = form.has("client_secret");
  const bool jwt = form.has("client_assertion") || form.has("client_assertion_type");
  // RFC 6749 §2.3: a client MUST NOT use more than one authentication method per request.
  if (int(basic.has_value()) + int(post) + int(jwt) > 1)
    return fail("invalid_request", "use exactly one client authentication method");

  const auto now = clock_.now();
  std::string method;
  std::string client_id;
  if (basic) {
    method = "client_secret_basic";
    client_id = basic->client_id;
    if (form.has("client_id") && form.value("client_id") != client_id)
      return fail("invalid_request", "client_id differs from the authenticated client");
  } else if (post) {
    method = "client_secret_post";
    client_id = form.value("client_id");
  } else if (jwt) {
    method = "private_key_jwt";
    if (form.value("client_assertion_type") != kJwtBearer)
      return fail("invalid_client", "unsupported client_assertion_type");
    auto subject = client_assertion_subject(form.value("client_assertion"));
    if (!subject) return EndpointError{subject.error(), {}};
    client_id = *subject;
    if (form.has("client_id") && form.value("client_id") != client_id)
      return fail("invalid_client", "client_id differs from the assertion");
  } else {
    client_id = form.value("client_id");
  }
  const std::string scheme = basic ? "Basic" : "";
  if (client_id.empty()) return fail("invalid_client", "client authentication is required", scheme);
  auto client = cached_client(client_id);
  // RFC 8705 §2: a client registered for a certificate method authenticates by the TLS
  // handshake, with no credential in the request; any other client without one is public.
  if (method.empty()) {
    const bool tls_method = client && is_tls_client_auth(client->token_endpoint_auth_method);
    method = tls_method ? client->token_endpoint_auth_method : "none";
  }
  // One answer for unknown client, wrong method and wrong secret: nothing to enumerate.
  // The two secret methods are equally strong, so a secret client may use either; a key-based
  // or public client may use only its own.
  const auto& registered = client ? client->token_endpoint_auth_method : std::string();
  if (!client ||
      (registered != method && !(uses_client_secret(method) && uses_client_secret(registered))))
    return fail("invalid_client", "client authentication failed", scheme);
  if (uses_client_secret(method)) {
    const auto& secret = basic ? basic->client_secret : form.value("client_secret");
    if (!constant_time_equal(sha256_b64url(secret), client->secret_hash))
      return fail("invalid_client", "client authentication failed", scheme);
  } else if (method == "private_key_jwt") {
    auto keys = client_keys(client->jwks);
    if (!keys) return fail("invalid_client", "client authentication failed");
    const auto& iss = settings_.issuer;
    std::vector<std::string> audiences = {iss, iss + "/token", facts.url};
    auto assertion = verify_client_assertion(form.value("client_assertion"), *keys, client_id,
                                             audiences, now,
                                             client->token_endpoint_auth_signing_alg);
    if (!assertion) return EndpointError{assertion.error(), {}};
    // RFC 7523 §3 item 7: a jti is used once.
    if (!store_.remember_jti("client_assertion:" + client_id, assertion->jti, assertion->exp + 60,
                             now))
      return fail("invalid_client", "client assertion was replayed");
  } else if (method == "tls_client_auth") {
    // RFC 8705 §2.1: a chain to a trust anchor of this server, naming the client as registered.
    const auto& cert = facts.client_cert;
    if (!cert || !cert->trusted ||
        !certificate_names(*cert, client->tls_client_auth_name, client->tls_client_auth_value))
      return fail("invalid_client", "client authentication failed");
  } else if (method == "self_signed_tls_client_auth") {
    // RFC 8705 §2.2: the very certificate the client registered.
    if (!facts.client_cert || !certificate_registered(*facts.client_cert, client->jwks))
      return fail("invalid_client", "client authentication failed");
  }
  return *client;
}

void AuthorizationServer::forget_cached_client(const std::string& client_id) {
  std::lock_guard lock(clients_mutex_);
  clients_.erase(client_id);
}

std::optional<storage::ClientRecord> AuthorizationServer::cached_client(
    const std::string& client_id) {
  constexpr std::int64_t kClientCacheSeconds = 2;
  constexpr std::size_t kMaxCachedClients = 10'000;
  const auto now = clock_.now();
  {
    std::lock_guard lock(clients_mutex_);
    auto it = clients_.find(client_id);
    if (it != clients_.end() && now - it->second.loaded_at < kClientCacheSeconds &&
        now >= it->second.loaded_at)
      return it->second.record;
  }
  auto record = store_.find_client(client_id);
  std::lock_guard lock(clients_mutex_);
  // Unknown ids are cached too (briefly), but the map is bounded: a flood of made-up ids
  // cannot grow it without limit.
  if (clients_.size() >= kMaxCachedClients) clients_.clear();
  clients_[client_id] = CachedClient{record, now};
  return record;
}

Expected<std::optional<std::string>> AuthorizationServer::dpop_jkt(
    const RequestFacts& facts, std::optional<std::string_view> token) {
  if (facts.dpop_repeated) return make_error("invalid_dpop_proof", "more than one DPoP header");
  if (!facts.dpop) return std::optional<std::string>{};
  DpopCheck check;
  check.method = facts.method;
  check.url = facts.url;
  check.now = clock_.now();
  check.max_age = settings_.dpop_max_age;
  check.access_token = token;
  if (settings_.dpop_require_nonce) {
    // This window's nonce and the one before: one given out just before the window turned
    // is still good.
    const auto window = check.now / kDpopNonceWindow;
    check.nonces = {dpop_nonce_of(window), dpop_nonce_of(window - 1)};
  }
  auto proof = dpop_verify(*facts.dpop, check);
  if (!proof) return proof.error();
  // RFC 9449 §11.1: each proof is accepted once within its window, across all nodes.
  if (!store_.remember_jti("dpop", proof->jti, proof->iat + 2 * settings_.dpop_max_age,
                           check.now))
    return make_error("invalid_dpop_proof", "DPoP proof was replayed");
  return std::optional<std::string>{proof->jkt};
}

namespace {

// OIDC Core §5.4: the resident's claims that `scope` grants (profile: name and
// preferred_username; email: email, when there is one).
nlohmann::json scope_claims(const storage::ResidentRecord& resident, std::string_view scope) {
  nlohmann::json out = nlohmann::json::object();
  if (contains_word(scope, "profile")) {
    out["name"] = resident.name.empty() ? resident.username : resident.name;
    out["preferred_username"] = resident.username;
  }
  if (contains_word(scope, "email") && !resident.email.empty()) out["email"] = resident.email;
  return out;
}

// The `cnf` claim (RFC 7800) of a bound token: the DPoP key's thumbprint (RFC 9449 §6), the
// client certificate's (RFC 8705 §3.1), or both.
std::string confirmation(const std::string& jkt, const std::string& x5t) {
  JsonObject cnf;
  if (!jkt.empty()) cnf.add("jkt", jkt);
  if (!x5t.empty()) cnf.add("x5t#S256", x5t);
  return cnf.str();
}

// RFC 8705 §3: the x5t#S256 an access token is bound to: the certificate the client presented
// when it registered tls_client_certificate_bound_access_tokens (then it must present one),
// else none.
Expected<std::string, EndpointError> certificate_binding(const storage::ClientRecord& client,
                                                         const RequestFacts& facts) {
  if (!client.tls_bound_access_tokens) return std::string();
  if (!facts.client_cert)
    return fail("invalid_request",
                "this client's tokens are bound to its TLS client certificate: ask over "
                "mutual TLS (mtls_endpoint_aliases) with one");
  return facts.client_cert->x5t_s256;
}

}  // namespace

std::optional<EndpointError> AuthorizationServer::unbound_refused(std::string_view jkt,
                                                                 std::string_view x5t) const {
  if (!settings_.require_sender_constrained_tokens || !jkt.empty() || !x5t.empty())
    return std::nullopt;
  return fail("invalid_request",
              "this server issues only sender-constrained tokens: send a DPoP proof (RFC 9449), "
              "or ask over mutual TLS as a client registered for certificate-bound tokens "
              "(RFC 8705)");
}

Answer AuthorizationServer::token(const Params& form, const RequestFacts& facts,
                                  std::optional<TokenWrite>* deferred) {
  if (auto dup = form.first_duplicate())
    return fail("invalid_request", "parameter " + *dup + " appears more than once");
  auto client = authenticate_client(form, facts);
  if (!client) return client.error();
  auto grant_type = form.value("grant_type");
  if (grant_type.empty()) return fail("invalid_request", "grant_type is required");
  if (grant_type != "authorization_code" && grant_type != "refresh_token" &&
      grant_type != "client_credentials")
    return fail("unsupported_grant_type", "grant_type is not supported");
  if (!has(client->grant_types, grant_type))
    return fail("unauthorized_client", "client may not use this grant type");
  // Only client_credentials tokens are left for the caller to write. A token from a code or
  // a refresh token must be in storage before the grant's next use can look for it: a replayed
  // code (RFC 9700 §4.5) or a reused refresh token revokes every token issued from it.
  if (grant_type == "authorization_code") return token_authorization_code(form, facts, *client);
  if (grant_type == "refresh_token") return token_refresh(form, facts, *client);
  return token_client_credentials(form, facts, *client, deferred);
}

std::optional<Answer> AuthorizationServer::token_in_memory(const Params& form,
                                                          const RequestFacts& facts,
                                                          std::optional<TokenWrite>& deferred) {
  // These are known to need storage (a DPoP proof's or client assertion's jti is remembered
  // there): not worth a try.
  if (form.value("grant_type") != "client_credentials" || facts.dpop || facts.dpop_repeated ||
      form.has("client_assertion"))
    return std::nullopt;
  const storage::StorageForbidden here;
  try {
    return token(form, facts, &deferred);
  } catch (const storage::StorageNotAllowed&) {
    deferred.reset();
    return std::nullopt;
  }
}

Answer AuthorizationServer::token_authorization_code(const Params& form, const RequestFacts& facts,
                                                     const storage::ClientRecord& client) {
  auto code = form.value("code");
  if (code.empty()) return fail("invalid_request", "code is required");
  auto verifier = form.value("code_verifier");
  // RFC 7636 §4.5 / RFC 9700 §2.1.1: without the verifier there is no PKCE; refuse.
  if (verifier.empty()) return fail("invalid_request", "code_verifier is required");
  if (!pkce_verifier_well_formed(verifier))
    return fail("invalid_request", "code_verifier is malformed");
  auto jkt = dpop_jkt(facts, std::nullopt);
  if (!jkt) return EndpointError{jkt.error(), {}};
  if (client.require_dpop && !jkt->has_value())
    return fail("invalid_dpop_proof", "this client must use DPoP");
  // Before the code is spent: a request refused for how it came leaves the code usable.
  auto x5t = certificate_binding(client, facts);
  if (!x5t) return x5t.error();
  if (auto refused = unbound_refused(jkt->value_or(""), *x5t)) return *refused;

  const auto now = clock_.now();
  const std::string code_hash = sha256_b64url(code);
  auto record = store_.consume_code(code_hash);
  if (!record) return fail("invalid_grant", "code is invalid");
  if (record->used) {
    // RFC 9700 §4.5 / RFC 6749 §4.1.2: a second use means the code leaked; revoke all that
    // was issued from it.
    store_.revoke_tokens_from_code(code_hash);
    event("system", "code.replayed", record->resident_id, record->client_id, "{}",
          facts.request_id, "refused");
    return fail("invalid_grant", "code was already used");
  }
  // From here the code is spent: a code presented with a wrong verifier or by another client
  // is burnt rather than left for a second guess.
  if (record->client_id != client.client_id) return fail("invalid_grant", "code is invalid");
  if (record->expires_at <= now) return fail("invalid_grant", "code has expired");
  // RFC 6749 §4.1.3: required, and identical, when the authorization request named it; when
  // it did not (the client's one registered URI was used), it may be left out here too.
  const bool redirect_uri_matches =
      record->redirect_uri.empty()
          ? !form.has("redirect_uri") ||
                std::ranges::find(client.redirect_uris, form.value("redirect_uri")) !=
                    client.redirect_uris.end()
          : form.value("redirect_uri") == record->redirect_uri;
  if (!redirect_uri_matches)
    return fail("invalid_grant", "redirect_uri does not match the authorization request");
  if (!pkce_s256_matches(verifier, record->code_challenge))
    return fail("invalid_grant", "code_verifier does not match the code_challenge");
  if (!record->dpop_jkt.empty() && (!jkt->has_value() || **jkt != record->dpop_jkt))
    return fail("invalid_dpop_proof", "DPoP key does not match dpop_jkt");
  const auto grant = store_.find_grant(record->grant_id);
  if (const char* why = grant_ended(grant, now)) return fail("invalid_grant", why);
  // Details whose own end has come are no longer granted (another detail keeps the grant).
  const auto in_force = details_in_force(record->authorization_details, now);
  if (in_force.json.empty() && !record->authorization_details.empty() && record->scope.empty())
    return fail("invalid_grant", "the consent has expired");

  Issue issue;
  issue.client = &client;
  issue.grant_type = "authorization_code";
  issue.cnf_x5t = *x5t;
  issue.request_id = facts.request_id;
  issue.resident_id = record->resident_id;
  issue.scope = record->scope;
  issue.authorization_details = in_force.json;
  issue.access_ends_at = earlier_end(in_force.ends_at, grant->expires_at);
  issue.refresh_ends_at = grant->expires_at;
  issue.resources = record->resources;
  // RFC 8707 §2.2: a resource at the token endpoint narrows the audience.
  auto requested = form.all("resource");
  if (!requested.empty()) {
    for (const auto& r : requested) {
      if (!record->resources.empty() && !has(record->resources, r))
        return fail("invalid_target", "resource was not part of the authorization");
    }
    issue.resources = requested;
  }
  issue.cnf_jkt = jkt->value_or("");
  issue.code_hash = code_hash;
  issue.grant_id = record->grant_id;
  issue.nonce = record->nonce;
  issue.auth_time = record->auth_time;
  // OIDC Core §11: in an OpenID request a refresh token is what offline_access asks for;
  // plain OAuth requests get one when the client may use the refresh_token grant.
  issue.with_refresh = has(client.grant_types, "refresh_token") &&
                       (!contains_word(record->scope, "openid") ||
                        contains_word(record->scope, "offline_access"));
  issue.with_id_token = contains_word(record->scope, "openid");
  issue.sid = record->sid;
  issue.id_token_claims = record->id_token_claims;
  return issue_tokens(issue);
}

Answer AuthorizationServer::token_refresh(const Params& form, const RequestFacts& facts,
                                          const storage::ClientRecord& client) {
  auto token = form.value("refresh_token");
  if (token.empty()) return fail("invalid_request", "refresh_token is required");
  auto jkt = dpop_jkt(facts, std::nullopt);
  if (!jkt) return EndpointError{jkt.error(), {}};
  const auto now = clock_.now();
  const std::string hash = sha256_b64url(token);
  auto current = store_.find_refresh_token(hash);
  if (!current || current->client_id != client.client_id)
    return fail("invalid_grant", "refresh token is invalid");
  if (current->rotated) {
    // RFC 9700 §4.14.2: a rotated refresh token used again means it leaked: revoke the family.
    store_.revoke_family(current->family_id);
    event("system", "refresh.reused", current->resident_id, client.client_id, "{}",
          facts.request_id, "refused");
    return fail("invalid_grant", "refresh token was already used");
  }
  if (current->revoked || current->expires_at <= now)
    return fail("invalid_grant", "refresh token is invalid");
  // RFC 9449 §5: a bound refresh token needs a proof with the same key.
  if (!current->cnf_jkt.empty() && (!jkt->has_value() || **jkt != current->cnf_jkt))
    return fail("invalid_dpop_proof", "DPoP key does not match the refresh token");
  if (client.require_dpop && !jkt->has_value())
    return fail("invalid_dpop_proof", "this client must use DPoP");
  // RFC 8705 §4: a public client's refresh token is bound to its certificate.
  if (!current->cnf_x5t.empty() &&
      (!facts.client_cert || facts.client_cert->x5t_s256 != current->cnf_x5t))
    return fail("invalid_grant", "the refresh token is bound to another client certificate");
  auto x5t = certificate_binding(client, facts);
  if (!x5t) return x5t.error();
  std::string scope = current->scope;
  if (auto asked = form.get("scope"); asked && !asked->empty()) {
    // RFC 6749 §6: the scope may only shrink.
    for (const auto& s : split_scope(*asked)) {
      if (!contains_word(current->scope, s))
        return fail("invalid_scope", "scope exceeds what was granted");
    }
    scope = join(split_scope(*asked));
  }
  std::int64_t grant_ends_at = 0;
  if (!current->grant_id.empty()) {
    const auto grant = store_.find_grant(current->grant_id);
    if (const char* why = grant_ended(grant, now)) return fail("invalid_grant", why);
    grant_ends_at = grant->expires_at;
  }
  const auto in_force = details_in_force(current->authorization_details, now);
  if (in_force.json.empty() && !current->authorization_details.empty() && scope.empty())
    return fail("invalid_grant", "the consent has expired");
  Issue issue;
  issue.client = &client;
  issue.grant_type = "refresh_token";
  issue.request_id = facts.request_id;
  issue.resident_id = current->resident_id;
  issue.scope = scope;
  issue.authorization_details = in_force.json;
  issue.access_ends_at = earlier_end(in_force.ends_at, grant_ends_at);
  issue.refresh_ends_at = grant_ends_at;
  issue.resources = current->resources;
  issue.cnf_jkt = current->cnf_jkt.empty() ? jkt->value_or("") : current->cnf_jkt;
  issue.cnf_x5t = *x5t;
  if (auto refused = unbound_refused(issue.cnf_jkt, issue.cnf_x5t)) return *refused;
  issue.code_hash = current->code_hash;
  issue.family_id = current->family_id;
  issue.grant_id = current->grant_id;
  issue.auth_time = current->auth_time;
  issue.with_refresh = true;
  issue.with_id_token = false;
  issue.rotate_from = hash;
  return issue_tokens(issue);
}

Answer AuthorizationServer::token_client_credentials(const Params& form, const RequestFacts& facts,
                                                     const storage::ClientRecord& client,
                                                     std::optional<TokenWrite>* deferred) {
  if (client.token_endpoint_auth_method == "none")
    return fail("unauthorized_client", "public clients cannot use client_credentials");
  auto jkt = dpop_jkt(facts, std::nullopt);
  if (!jkt) return EndpointError{jkt.error(), {}};
  if (client.require_dpop && !jkt->has_value())
    return fail("invalid_dpop_proof", "this client must use DPoP");
  std::vector<std::string> scopes;
  for (const auto& s : split_scope(form.value("scope"))) {
    // Only what the client was registered for; identity scopes make no sense without a person.
    if (!contains_word(client.scope, s) || s == "openid" || s == "offline_access")
      return fail("invalid_scope", "scope " + s + " is not allowed for this client");
    scopes.push_back(s);
  }
  if (scopes.empty()) {
    for (const auto& s : split_scope(client.scope)) {
      if (s != "openid" && s != "offline_access" && s != "profile" && s != "email")
        scopes.push_back(s);
    }
  }
  Issue issue;
  issue.client = &client;
  issue.grant_type = "client_credentials";
  issue.request_id = facts.request_id;
  issue.scope = join(scopes);
  if (auto details = form.get("authorization_details"); details && !details->empty()) {
    auto canonical = canonical_authorization_details(*details);
    if (!canonical) return EndpointError{canonical.error(), {}};
    // As at /authorize: nothing that has already ended, and the token ends with its details.
    const auto in_force = details_in_force(*canonical, clock_.now());
    if (in_force.json != *canonical)
      return fail("invalid_authorization_details", "retention_until has already passed");
    issue.authorization_details = *canonical;
    issue.access_ends_at = in_force.ends_at;
  }
  for (const auto& r : form.all("resource")) {
    if (!absolute_uri(r)) return fail("invalid_target", "resource must be an absolute URI");
    issue.resources.push_back(r);
  }
  issue.cnf_jkt = jkt->value_or("");
  auto x5t = certificate_binding(client, facts);
  if (!x5t) return x5t.error();
  issue.cnf_x5t = *x5t;
  if (auto refused = unbound_refused(issue.cnf_jkt, issue.cnf_x5t)) return *refused;
  issue.deferred = deferred;
  return issue_tokens(issue);
}

Answer AuthorizationServer::issue_tokens(const Issue& issue) {
  const auto now = clock_.now();
  const auto& client = *issue.client;
  const std::string sub = subject(&client, issue.resident_id);  // OIDC Core §8
  std::string refresh;  // the new refresh token, if any

  std::string family = issue.family_id;
  if (issue.with_refresh) {
    storage::RefreshTokenRecord next;
    refresh = random_.token(32);
    next.token_hash = sha256_b64url(refresh);
    next.family_id = family.empty() ? random_.token(16) : family;
    next.client_id = client.client_id;
    next.resident_id = issue.resident_id;
    next.scope = issue.scope;
    next.authorization_details = issue.authorization_details;
    next.resources = issue.resources;
    // RFC 9449 §5: refresh tokens of public clients are bound to the DPoP key; confidential
    // clients are already bound by their authentication.
    next.cnf_jkt = client.token_endpoint_auth_method == "none" ? issue.cnf_jkt : "";
    // RFC 8705 §4: the same for their certificate.
    next.cnf_x5t = client.token_endpoint_auth_method == "none" ? issue.cnf_x5t : "";
    next.grant_id = issue.grant_id;
    next.code_hash = issue.code_hash;
    next.auth_time = issue.auth_time;
    next.issued_at = now;
    // No token outlives the consent it was issued under.
    next.expires_at = earlier_end(now + settings_.refresh_token_ttl, issue.refresh_ends_at);
    if (!issue.rotate_from.empty()) {
      auto old = store_.rotate_refresh_token(issue.rotate_from, next);
      if (!old || old->rotated || old->revoked)
        return fail("invalid_grant", "refresh token was already used");
    } else {
      store_.insert_refresh_token(next);
    }
    family = next.family_id;
  }

  const std::int64_t access_expires_at =
      earlier_end(now + settings_.access_token_ttl, issue.access_ends_at);
  auto key = keys_.current();
  const std::string jti = new_jti();
  std::string aud_json;  // the aud claim's value, serialised
  std::string audience;  // as stored with the token
  if (issue.resources.size() > 1) {
    aud_json = nlohmann::json(issue.resources).dump();
    audience = join(issue.resources);
  } else {
    audience = issue.resources.size() == 1
                   ? issue.resources.front()
                   : (client.default_audience.empty() ? settings_.issuer : client.default_audience);
    if (!append_json_string(aud_json, audience)) throw std::invalid_argument("JSON text must be UTF-8");
  }
  // The authorization details were checked and stored by us; parsed and dumped again, the
  // token carries a single JSON value whatever the stored text holds.
  const std::string details_json =
      issue.authorization_details.empty() ? std::string()
                                          : nlohmann::json::parse(issue.authorization_details).dump();
  JsonObject claims;
  claims.add("iss", settings_.issuer)
      .add("sub", sub)
      .add_json("aud", aud_json)
      .add("client_id", client.client_id)
      .add("iat", now)
      .add("exp", access_expires_at)
      .add("jti", jti);
  if (!issue.scope.empty()) claims.add("scope", issue.scope);
  if (issue.auth_time != 0) claims.add("auth_time", issue.auth_time);
  if (!details_json.empty()) claims.add_json("authorization_details", details_json);
  if (!issue.cnf_jkt.empty() || !issue.cnf_x5t.empty())
    claims.add_json("cnf", confirmation(issue.cnf_jkt, issue.cnf_x5t));
  // RFC 9068 §2.1: typ "at+jwt" keeps access tokens from being taken for id_tokens.
  const std::string access = jws_sign(key.key, key.kid, "at+jwt", claims.str());

  storage::AccessTokenRecord record;
  record.jti = jti;
  record.token_hash = sha256_b64url(access);
  record.client_id = client.client_id;
  record.resident_id = issue.resident_id;
  record.scope = issue.scope;
  record.audience = std::move(audience);
  record.authorization_details = issue.authorization_details;
  record.cnf_jkt = issue.cnf_jkt;
  record.cnf_x5t = issue.cnf_x5t;
  record.code_hash = issue.code_hash;
  record.family_id = issue.with_refresh ? family : issue.family_id;
  record.issued_at = now;
  record.expires_at = access_expires_at;
  // The token and its audit entry are written together (one group-committed transaction). The
  // detail's members in sorted order: the audit log's canonical form, copied as it is.
  auto event = make_event(issue.resident_id.empty() ? "client" : "resident",
                          issue.grant_type == "refresh_token" ? "token.refreshed" : "token.issued",
                          issue.resident_id, client.client_id,
                          JsonObject()
                              .add("grant_type", issue.grant_type)
                              .add("jti", jti)
                              .add("scope", issue.scope)
                              .str(),
                          issue.request_id, "success", issue.authorization_details);
  if (issue.deferred != nullptr) {
    issue.deferred->emplace(TokenWrite{std::move(record), std::move(event)});
  } else {
    store_.insert_access_token(record, event);
  }

  JsonObject body;
  body.add("access_token", access)
      .add("token_type", issue.cnf_jkt.empty() ? "Bearer" : "DPoP")
      .add("expires_in", access_expires_at - now);
  if (!issue.scope.empty()) body.add("scope", issue.scope);
  if (!details_json.empty()) body.add_json("authorization_details", details_json);
  if (!refresh.empty()) body.add("refresh_token", refresh);

  if (issue.with_id_token) {
    JsonObject id;
    id.add("iss", settings_.issuer)
        .add("sub", sub)
        .add("aud", client.client_id)
        .add("azp", client.client_id)
        .add("iat", now)
        .add("exp", now + settings_.access_token_ttl)
        .add("auth_time", issue.auth_time)
        // RFC 8176 §2: residents sign in with a password, the only way there is.
        .add_json("amr", R"(["pwd"])");
    if (!issue.nonce.empty()) id.add("nonce", issue.nonce);
    if (!issue.sid.empty()) id.add("sid", issue.sid);
    // OIDC Core §5.5: the claims the request asked for in the ID token, of those its scope
    // grants (the consent page asked for the scopes; the claims parameter only says where).
    if (!issue.id_token_claims.empty()) {
      const auto resident = find_resident(issue.resident_id);
      const auto granted =
          resident ? scope_claims(*resident, issue.scope) : nlohmann::json::object();
      for (const auto& name : split_scope(issue.id_token_claims)) {
        if (granted.contains(name)) id.add(name, granted[name].get<std::string>());
      }
    }
    const auto id_key = keys_.current(response_alg(client.id_token_signed_response_alg));
    id.add("at_hash", id_token_half_hash(id_key.key.alg(), access));
    body.add("id_token", jws_sign(id_key.key, id_key.kid, "JWT", id.str()));
  }
  return JsonAnswer{body.str(), 200};
}

namespace {

constexpr std::string_view kIntrospectionJwt = "application/token-introspection+jwt";
constexpr std::string_view kInactive = R"({"active":false})";

// Whether an Accept header (RFC 9110 §12.5.1) lists `type` (parameters and case aside) without
// refusing it with a weight of 0.
bool accepts_media_type(std::string_view accept, std::string_view type) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  auto next = [](std::string_view& list, char separator) {
    const auto at = list.find(separator);
    const auto item = list.substr(0, at);
    list = at == std::string_view::npos ? std::string_view() : list.substr(at + 1);
    return item;
  };
  while (!accept.empty()) {
    std::string_view member = next(accept, ',');
    if (!iequals(trim(next(member, ';')), type)) continue;
    bool refused = false;
    while (!member.empty()) {
      const auto param = trim(next(member, ';'));
      if (param.size() >= 2 && iequals(param.substr(0, 2), "q="))
        refused = param.substr(2).find_first_not_of("0.") == std::string_view::npos;
    }
    if (!refused) return true;
  }
  return false;
}

}  // namespace

std::string AuthorizationServer::IntrospectionCache::key(std::string_view client_id,
                                                         std::string_view token) {
  std::string key;
  key.reserve(client_id.size() + 1 + token.size());
  key.append(client_id).append(1, '\n').append(token);  // client ids hold no line break
  return key;
}

AuthorizationServer::IntrospectionCache::Shard& AuthorizationServer::IntrospectionCache::shard(
    const std::string& key) {
  return shards_[std::hash<std::string>{}(key) % kShards];
}

std::optional<std::string> AuthorizationServer::IntrospectionCache::find(const std::string& key,
                                                                         std::uint64_t stamp,
                                                                         std::int64_t now) {
  auto& s = shard(key);
  std::lock_guard lock(s.mutex);
  const auto it = s.entries.find(key);
  if (it == s.entries.end()) return std::nullopt;
  if (it->second.stamp != stamp || it->second.expires_at <= now) {
    s.entries.erase(it);
    return std::nullopt;
  }
  return it->second.answer;
}

void AuthorizationServer::IntrospectionCache::put(std::string key, Entry entry) {
  auto& s = shard(key);
  std::lock_guard lock(s.mutex);
  // Full: start over. What was kept is read again once, which is what a bound costs.
  if (s.entries.size() >= kEntriesPerShard) s.entries.clear();
  s.entries.insert_or_assign(std::move(key), std::move(entry));
}

std::optional<Answer> AuthorizationServer::introspect_in_memory(const Params& form,
                                                                const RequestFacts& facts) {
  if (form.has("client_assertion")) return std::nullopt;  // its jti is remembered in storage
  const storage::StorageForbidden here;
  try {
    // Read first: the answer kept must have been read under the state as it is from now on.
    const auto stamp = store_.token_state_stamp();
    if (!stamp) return std::nullopt;
    auto client = authenticate_client(form, facts);
    if (!client || client->token_endpoint_auth_method == "none") return std::nullopt;
    const auto token = form.value("token");
    if (token.empty()) return std::nullopt;
    auto answer = introspections_.find(IntrospectionCache::key(client->client_id, token), *stamp,
                                       clock_.now());
    if (!answer) return std::nullopt;
    return introspection_answer(*client, std::move(*answer), facts);
  } catch (const storage::StorageNotAllowed&) {
    return std::nullopt;
  }
}

Answer AuthorizationServer::introspect(const Params& form, const RequestFacts& facts) {
  // Before anything is read: an answer kept under this stamp was read after it was taken.
  const auto stamp = store_.token_state_stamp();
  auto client = authenticate_client(form, facts);
  if (!client) return client.error();
  if (client->token_endpoint_auth_method == "none")
    return fail("invalid_client", "introspection needs an authenticated client");
  auto token = form.value("token");
  if (token.empty()) return fail("invalid_request", "token is required");
  const auto now = clock_.now();
  std::int64_t active_until = 0;  // the active token's expiry
  const std::string inactive(kInactive);
  const std::string hash = sha256_b64url(token);
  auto hint = form.value("token_type_hint");
  // RFC 7662 §2.2's members that both kinds of token answer with, after active and iss.
  const auto describe = [&](JsonObject& out, const std::string& scope,
                            const std::string& authorization_details, const std::string& cnf_jkt,
                            const std::string& cnf_x5t) {
    if (!scope.empty()) out.add("scope", scope);
    if (!authorization_details.empty())
      out.add_json("authorization_details", nlohmann::json::parse(authorization_details).dump());
    if (!cnf_jkt.empty() || !cnf_x5t.empty()) out.add_json("cnf", confirmation(cnf_jkt, cnf_x5t));
  };
  auto as_access = [&]() -> std::optional<std::string> {
    auto jti = jwt_jti(token);
    if (!jti) return std::nullopt;
    auto rec = store_.find_access_token(*jti);
    if (!rec || !constant_time_equal(rec->token_hash, hash)) return std::nullopt;
    if (rec->revoked || rec->expires_at <= now) return inactive;
    active_until = rec->expires_at;
    JsonObject out;
    out.add_json("active", "true")
        .add("iss", settings_.issuer)
        .add("client_id", rec->client_id)
        .add("sub", subject(rec->client_id, rec->resident_id))
        .add("jti", rec->jti)
        .add("iat", rec->issued_at)
        .add("exp", rec->expires_at)
        .add("token_type", rec->cnf_jkt.empty() ? "Bearer" : "DPoP");
    auto auds = split_scope(rec->audience);
    if (auds.size() == 1) {
      out.add("aud", auds.front());
    } else if (!auds.empty()) {
      out.add_json("aud", nlohmann::json(auds).dump());
    }
    describe(out, rec->scope, rec->authorization_details, rec->cnf_jkt, rec->cnf_x5t);
    return out.str();
  };
  auto as_refresh = [&]() -> std::optional<std::string> {
    auto rec = store_.find_refresh_token(hash);
    if (!rec) return std::nullopt;
    // Refresh tokens are shown only to the client they were issued to.
    if (rec->client_id != client->client_id || rec->revoked || rec->rotated ||
        rec->expires_at <= now)
      return inactive;
    active_until = rec->expires_at;
    JsonObject out;
    out.add_json("active", "true")
        .add("iss", settings_.issuer)
        .add("client_id", rec->client_id)
        .add("sub", subject(&*client, rec->resident_id))
        .add("iat", rec->issued_at)
        .add("exp", rec->expires_at)
        .add("token_type", "refresh_token");
    describe(out, rec->scope, rec->authorization_details, rec->cnf_jkt, rec->cnf_x5t);
    return out.str();
  };
  std::optional<std::string> answer;
  if (hint == "refresh_token") {
    answer = as_refresh();
    if (!answer) answer = as_access();
  } else {
    answer = as_access();
    if (!answer) answer = as_refresh();
  }
  if (stamp && answer && active_until > now) {
    introspections_.put(IntrospectionCache::key(client->client_id, token),
                        {*stamp, active_until, *answer});
  }
  return introspection_answer(*client, answer ? std::move(*answer) : inactive, facts);
}

Answer AuthorizationServer::introspection_answer(const storage::ClientRecord& client,
                                                 std::string answer, const RequestFacts& facts) {
  if (!accepts_media_type(facts.accept, kIntrospectionJwt))
    return JsonAnswer{std::move(answer), 200};
  // RFC 9701 §5: the answer signed for the client that asked, as the claim token_introspection
  // of a JWT with iss, aud and iat, typed so that it cannot pass for an access token.
  auto key = keys_.current(response_alg(client.introspection_signed_response_alg));
  JsonObject claims;
  claims.add("iss", settings_.issuer)
      .add("aud", client.client_id)
      .add("iat", clock_.now())
      .add_json("token_introspection", answer);
  return JsonAnswer{jws_sign(key.key, key.kid, "token-introspection+jwt", claims.str()), 200,
                    std::string(kIntrospectionJwt)};
}

Answer AuthorizationServer::revoke(const Params& form, const RequestFacts& facts) {
  auto client = authenticate_client(form, facts);
  if (!client) return client.error();
  auto token = form.value("token");
  if (token.empty()) return fail("invalid_request", "token is required");
  const std::string hash = sha256_b64url(token);
  // RFC 7009 §2.2: unknown tokens and tokens of other clients get the same 200, so the answer
  // tells nothing; only the owner's tokens are revoked.
  if (auto rec = store_.find_refresh_token(hash); rec && rec->client_id == client->client_id) {
    store_.revoke_family(rec->family_id);
    event("client", "token.revoked", rec->resident_id, client->client_id,
          nlohmann::json{{"kind", "refresh_token"}}.dump(), facts.request_id, "success",
          rec->authorization_details);
  } else if (auto jti = jwt_jti(token)) {
    auto at = store_.find_access_token(*jti);
    if (at && at->client_id == client->client_id && constant_time_equal(at->token_hash, hash)) {
      store_.revoke_access_token(*jti);
      event("client", "token.revoked", at->resident_id, client->client_id,
            nlohmann::json{{"kind", "access_token"}, {"jti", *jti}}.dump(), facts.request_id,
            "success", at->authorization_details);
    }
  }
  return JsonAnswer{"{}", 200};
}

Expected<storage::AccessTokenRecord, EndpointError> AuthorizationServer::bearer(
    const RequestFacts& facts) {
  // RFC 6750 §3.1: a request without credentials gets a bare challenge (401).
  if (!facts.authorization) {
    auto error = fail("invalid_token", "an access token is required", "Bearer");
    error.bare_challenge = true;
    return error;
  }
  auto auth = parse_token_authorization(*facts.authorization);
  if (!auth) return fail("invalid_request", "malformed Authorization header", "Bearer");
  const std::string scheme = auth->scheme == "dpop" ? "DPoP" : "Bearer";
  const auto now = clock_.now();
  auto jti = jwt_jti(auth->token);
  auto rec = jti ? store_.find_access_token(*jti) : std::nullopt;
  if (!rec || !constant_time_equal(rec->token_hash, sha256_b64url(auth->token)) || rec->revoked ||
      rec->expires_at <= now)
    return fail("invalid_token", "access token is invalid", scheme);
  if (!rec->cnf_jkt.empty()) {
    // RFC 9449 §7.1: a DPoP-bound token is presented with the DPoP scheme and a proof.
    if (scheme != "DPoP") return fail("invalid_token", "DPoP-bound token needs DPoP", "DPoP");
    auto jkt = dpop_jkt(facts, auth->token);
    if (!jkt) return fail(jkt.error().error, jkt.error().description, "DPoP");
    if (!jkt->has_value() || **jkt != rec->cnf_jkt)
      return fail("invalid_dpop_proof", "DPoP proof key does not match", "DPoP");
  } else if (scheme == "DPoP") {
    return fail("invalid_token", "token is not DPoP-bound", "Bearer");
  }
  // RFC 8705 §3: a certificate-bound token comes over mutual TLS with that certificate.
  if (!rec->cnf_x5t.empty() &&
      (!facts.client_cert || !constant_time_equal(facts.client_cert->x5t_s256, rec->cnf_x5t)))
    return fail("invalid_token", "access token is bound to another client certificate", scheme);
  return *rec;
}

Answer AuthorizationServer::userinfo(const RequestFacts& facts) {
  auto token = bearer(facts);
  if (!token) return token.error();
  auto rec = std::move(*token);
  const std::string scheme = rec.cnf_jkt.empty() ? "Bearer" : "DPoP";
  if (rec.resident_id.empty()) return fail("invalid_token", "access token is invalid", scheme);
  if (!contains_word(rec.scope, "openid"))
    return fail("insufficient_scope", "the openid scope is required", scheme);
  auto resident = find_resident(rec.resident_id);
  if (!resident) return fail("invalid_token", "access token is invalid", scheme);
  nlohmann::json out = scope_claims(*resident, rec.scope);
  out["sub"] = subject(rec.client_id, resident->id);
  // OIDC Core §5.3.2: a client that registered userinfo_signed_response_alg gets the claims as
  // a JWT signed with the current key, with iss and aud (the client) beside them.
  const auto client = cached_client(rec.client_id);
  if (client && !client->userinfo_signed_response_alg.empty()) {
    out["iss"] = settings_.issuer;
    out["aud"] = rec.client_id;
    out["iat"] = clock_.now();
    const auto key = keys_.current(response_alg(client->userinfo_signed_response_alg));
    return JsonAnswer{jws_sign(key.key, key.kid, "", out.dump()), 200, "application/jwt"};
  }
  return JsonAnswer{out.dump(), 200};
}

namespace {

// /register's metadata (RFC 7591 §2) into `draft`. Unknown members are ignored (§2); those we
// do not support are refused rather than silently dropped.
std::optional<OAuthError> read_client_metadata(const nlohmann::json& meta,
                                               storage::ClientRecord& draft) {
  auto invalid = [](std::string why) { return make_error("invalid_client_metadata", std::move(why)); };
  auto strings = [&](const char* name, std::vector<std::string>& out) -> bool {
    if (!meta.contains(name)) return true;
    const auto& v = meta[name];
    if (!v.is_array()) return false;
    for (const auto& s : v) {
      if (!s.is_string()) return false;
      out.push_back(s.get<std::string>());
    }
    return true;
  };
  auto string = [&](const char* name, std::string& out) -> bool {
    if (!meta.contains(name)) return true;
    if (!meta[name].is_string()) return false;
    out = meta[name].get<std::string>();
    return true;
  };
  auto boolean = [&](const char* name, bool& out) -> bool {
    if (!meta.contains(name)) return true;
    if (!meta[name].is_boolean()) return false;
    out = meta[name].get<bool>();
    return true;
  };
  std::vector<std::string> response_types;
  if (!strings("redirect_uris", draft.redirect_uris) || !strings("grant_types", draft.grant_types) ||
      !strings("post_logout_redirect_uris", draft.post_logout_redirect_uris) ||
      !strings("response_types", response_types) || !string("client_name", draft.client_name) ||
      !string("token_endpoint_auth_method", draft.token_endpoint_auth_method) ||
      !string("scope", draft.scope) || !string("subject_type", draft.subject_type) ||
      !string("backchannel_logout_uri", draft.backchannel_logout_uri) ||
      !string("frontchannel_logout_uri", draft.frontchannel_logout_uri))
    return invalid("metadata has the wrong types");
  for (const auto& rt : response_types) {
    if (rt != "code") return invalid("only response_type code");
  }
  if (meta.contains("sector_identifier_uri")) return invalid("sector_identifier_uri is not supported");
  // OIDC Registration §2: the one alg of the client's assertions and request objects. Only
  // what this server verifies: asymmetric (so neither "none" nor a client_secret_jwt HMAC).
  for (auto [name, field] : {std::pair{"token_endpoint_auth_signing_alg",
                                       &storage::ClientRecord::token_endpoint_auth_signing_alg},
                             std::pair{"request_object_signing_alg",
                                       &storage::ClientRecord::request_object_signing_alg}}) {
    if (!meta.contains(name)) continue;
    const auto algs = verifiable_algs();
    if (!meta[name].is_string() ||
        std::find(algs.begin(), algs.end(), meta[name].get<std::string>()) == algs.end()) {
      std::string why = std::string(name) + " must be one of";
      for (const auto alg : algs) why += " " + std::string(alg);
      return invalid(std::move(why));
    }
    draft.*field = meta[name].get<std::string>();
  }
  if (meta.contains("jwks_uri")) return invalid("jwks_uri is not supported; send jwks");
  if (meta.contains("jwks")) {
    if (!meta["jwks"].is_object()) return invalid("jwks must be an object");
    draft.jwks = meta["jwks"].dump();
  }
  if (!boolean("dpop_bound_access_tokens", draft.require_dpop))
    return invalid("dpop_bound_access_tokens must be a boolean");
  if (!boolean("tls_client_certificate_bound_access_tokens", draft.tls_bound_access_tokens))
    return invalid("tls_client_certificate_bound_access_tokens must be a boolean");
  // RFC 8705 §2.1.2: one name the certificate of a tls_client_auth client carries.
  for (const auto name : kTlsClientAuthNames) {
    const std::string key(name);
    if (!meta.contains(key)) continue;
    if (!meta[key].is_string()) return invalid(key + " must be a string");
    if (!draft.tls_client_auth_name.empty())
      return invalid("register only one of the tls_client_auth_* names");
    draft.tls_client_auth_name = key;
    draft.tls_client_auth_value = meta[key].get<std::string>();
  }
  if (!boolean("backchannel_logout_session_required", draft.backchannel_logout_session_required))
    return invalid("backchannel_logout_session_required must be a boolean");
  if (!boolean("frontchannel_logout_session_required", draft.frontchannel_logout_session_required))
    return invalid("frontchannel_logout_session_required must be a boolean");
  if (!boolean("require_signed_request_object", draft.require_signed_request_object))
    return invalid("require_signed_request_object must be a boolean");
  if (!boolean("require_pushed_authorization_requests", draft.require_par))
    return invalid("require_pushed_authorization_requests must be a boolean");
  // What the server signs for the client, and with which algorithm (KeyRing::kAlgs), and
  // when the client names none, Settings::default_signing_alg (complete_client), RS256 unless
  // configured otherwise, the default where these are defined (OIDC Registration §2, JARM §3,
  // RFC 9701 §6). One that asks for another algorithm is refused rather than handed objects it
  // will not accept.
  for (auto [name, field] :
       {std::pair{"id_token_signed_response_alg",
                  &storage::ClientRecord::id_token_signed_response_alg},
        std::pair{"authorization_signed_response_alg",
                  &storage::ClientRecord::authorization_signed_response_alg},
        std::pair{"introspection_signed_response_alg",
                  &storage::ClientRecord::introspection_signed_response_alg}}) {
    draft.*field = "";
    if (!meta.contains(name)) continue;
    if (!meta[name].is_string() || !signs_with(meta[name].get<std::string>())) {
      return invalid(std::string(name) + " must be " + kSignedAlgsInWords +
                     ", those this server signs with");
    }
    draft.*field = meta[name].get<std::string>();
  }
  // OIDC Registration §2: with no default (plain JSON), signed UserInfo answers are asked for.
  if (meta.contains("userinfo_signed_response_alg")) {
    const auto& alg = meta["userinfo_signed_response_alg"];
    if (!alg.is_string() || !signs_with(alg.get<std::string>())) {
      return invalid(std::string("userinfo_signed_response_alg must be ") + kSignedAlgsInWords +
                     ", those this server signs with");
    }
    draft.userinfo_signed_response_alg = alg.get<std::string>();
  }
  // Nothing is encrypted.
  for (const char* unsupported :
       {"id_token_encrypted_response_alg", "id_token_encrypted_response_enc",
        "userinfo_encrypted_response_alg", "userinfo_encrypted_response_enc",
        "authorization_encrypted_response_alg", "authorization_encrypted_response_enc",
        "introspection_encrypted_response_alg", "introspection_encrypted_response_enc",
        "request_object_encryption_alg", "request_object_encryption_enc"}) {
    if (meta.contains(unsupported)) return invalid(std::string(unsupported) + " is not supported");
  }
  return std::nullopt;
}

// The client's registration as RFC 7591 §3.2.1 and RFC 7592 §3 answer it (never the secret,
// which is stored only as a hash).
nlohmann::json registration_json(const storage::ClientRecord& c, std::string_view issuer) {
  nlohmann::json out = {{"client_id", c.client_id},
                        {"client_id_issued_at", c.created_at},
                        {"client_name", c.client_name},
                        {"redirect_uris", c.redirect_uris},
                        {"grant_types", c.grant_types},
                        {"response_types", {"code"}},
                        {"token_endpoint_auth_method", c.token_endpoint_auth_method},
                        {"subject_type", c.subject_type},
                        {"dpop_bound_access_tokens", c.require_dpop},
                        {"tls_client_certificate_bound_access_tokens", c.tls_bound_access_tokens},
                        {"require_pushed_authorization_requests", c.require_par},
                        {"require_signed_request_object", c.require_signed_request_object}};
  if (!c.scope.empty()) out["scope"] = c.scope;
  if (!c.jwks.empty()) out["jwks"] = nlohmann::json::parse(c.jwks);
  if (!c.post_logout_redirect_uris.empty())
    out["post_logout_redirect_uris"] = c.post_logout_redirect_uris;
  if (!c.backchannel_logout_uri.empty()) {
    out["backchannel_logout_uri"] = c.backchannel_logout_uri;
    out["backchannel_logout_session_required"] = c.backchannel_logout_session_required;
  }
  if (!c.frontchannel_logout_uri.empty()) {
    out["frontchannel_logout_uri"] = c.frontchannel_logout_uri;
    out["frontchannel_logout_session_required"] = c.frontchannel_logout_session_required;
  }
  if (!c.token_endpoint_auth_signing_alg.empty())
    out["token_endpoint_auth_signing_alg"] = c.token_endpoint_auth_signing_alg;
  if (!c.request_object_signing_alg.empty())
    out["request_object_signing_alg"] = c.request_object_signing_alg;
  if (!c.userinfo_signed_response_alg.empty())
    out["userinfo_signed_response_alg"] = c.userinfo_signed_response_alg;
  if (!c.tls_client_auth_name.empty()) out[c.tls_client_auth_name] = c.tls_client_auth_value;
  if (!c.registration_access_token_hash.empty())
    out["registration_client_uri"] = std::string(issuer) + "/register/" + c.client_id;
  out["id_token_signed_response_alg"] = c.id_token_signed_response_alg;
  out["authorization_signed_response_alg"] = c.authorization_signed_response_alg;
  out["introspection_signed_response_alg"] = c.introspection_signed_response_alg;
  return out;
}

}  // namespace

Answer AuthorizationServer::register_client(std::string_view json_body, const RequestFacts& facts) {
  if (settings_.initial_access_token.empty())
    return fail("access_denied", "dynamic registration is disabled");
  auto auth = facts.authorization ? parse_token_authorization(*facts.authorization) : std::nullopt;
  if (!auth || auth->scheme != "bearer" ||
      !constant_time_equal(auth->token, settings_.initial_access_token))
    return fail("invalid_token", "a valid initial access token is required", "Bearer");
  auto meta = nlohmann::json::parse(json_body, nullptr, false);
  if (meta.is_discarded() || !meta.is_object())
    return fail("invalid_client_metadata", "body must be a JSON object");
  storage::ClientRecord draft;
  if (auto invalid = read_client_metadata(meta, draft)) return EndpointError{*invalid, {}};
  // RFC 7592 §3: the token with which the client manages its registration, stored hashed.
  const std::string registration_token = random_.token(32);
  draft.registration_access_token_hash = sha256_b64url(registration_token);
  auto created = create_client(std::move(draft));
  if (!created) return EndpointError{created.error(), {}};
  auto out = registration_json(created->record, settings_.issuer);
  out["registration_access_token"] = registration_token;
  if (!created->client_secret.empty()) {
    out["client_secret"] = created->client_secret;
    out["client_secret_expires_at"] = 0;
  }
  return JsonAnswer{out.dump(), 201};
}

Answer AuthorizationServer::manage_client(std::string_view method, std::string_view client_id,
                                          std::string_view json_body, const RequestFacts& facts) {
  // RFC 7592 §2: the registration access token, as a Bearer token (RFC 6750). One answer for
  // an unknown client, one registered by the operator and a wrong token: nothing to learn.
  auto auth = facts.authorization ? parse_token_authorization(*facts.authorization) : std::nullopt;
  if (!auth || auth->scheme != "bearer")
    return fail("invalid_token", "the registration access token is required", "Bearer");
  auto client = store_.find_client(client_id);
  if (!client || client->registration_access_token_hash.empty() ||
      !constant_time_equal(sha256_b64url(auth->token), client->registration_access_token_hash))
    return fail("invalid_token", "the registration access token is not valid", "Bearer");

  if (method == "GET") return JsonAnswer{registration_json(*client, settings_.issuer).dump(), 200};
  if (method == "DELETE") {
    // RFC 7592 §2.3: the client, its grants and every token issued to it are gone.
    if (!store_.remove_client(client->client_id))
      return fail("invalid_token", "the registration access token is not valid", "Bearer");
    event("client", "client.deleted", {}, client->client_id, "{}");
    forget_cached_client(client->client_id);
    return JsonAnswer{"", 204};
  }
  // PUT, RFC 7592 §2.2: the body is the whole new metadata; what it leaves out is reset.
  auto meta = nlohmann::json::parse(json_body, nullptr, false);
  if (meta.is_discarded() || !meta.is_object())
    return fail("invalid_client_metadata", "body must be a JSON object");
  if (!meta.contains("client_id") || meta["client_id"] != client->client_id)
    return fail("invalid_request", "client_id must be the client's");
  for (const char* server_set : {"registration_access_token", "registration_client_uri",
                                 "client_secret_expires_at", "client_id_issued_at"}) {
    if (meta.contains(server_set))
      return fail("invalid_request", std::string(server_set) + " is set by the server");
  }
  if (meta.contains("client_secret") &&
      (!meta["client_secret"].is_string() ||
       !constant_time_equal(sha256_b64url(meta["client_secret"].get<std::string>()),
                            client->secret_hash)))
    return fail("invalid_request", "client_secret is not the client's");
  storage::ClientRecord draft;
  if (auto invalid = read_client_metadata(meta, draft)) return EndpointError{*invalid, {}};
  auto replaced = replace_client(*client, std::move(draft), false, "client");
  if (!replaced && replaced.error().error == "invalid_client")
    return fail("invalid_token", "the registration access token is not valid", "Bearer");
  if (!replaced) return EndpointError{replaced.error(), {}};
  auto out = registration_json(replaced->record, settings_.issuer);
  if (!replaced->client_secret.empty()) {
    out["client_secret"] = replaced->client_secret;
    out["client_secret_expires_at"] = 0;
  }
  return JsonAnswer{out.dump(), 200};
}

}  // namespace authz

namespace authz {

std::string AuthorizationServer::issue_self_token(std::string_view resident_id,
                                                  std::string_view subject,
                                                  std::string_view audience,
                                                  std::string_view scope,
                                                  std::string_view authorization_details,
                                                  int ttl_seconds) {
  const auto now = clock_.now();
  auto key = keys_.current();
  const std::string jti = new_jti();
  nlohmann::json claims = {{"iss", settings_.issuer},
                           {"sub", subject},
                           {"aud", audience},
                           {"client_id", kBrokerClientId},
                           {"scope", scope},
                           {"iat", now},
                           {"exp", now + ttl_seconds},
                           {"jti", jti}};
  if (!authorization_details.empty())
    claims["authorization_details"] = nlohmann::json::parse(authorization_details);
  const std::string access = jws_sign(key.key, key.kid, "at+jwt", claims.dump());

  storage::AccessTokenRecord record;
  record.jti = jti;
  record.token_hash = sha256_b64url(access);
  record.client_id = std::string(kBrokerClientId);
  record.resident_id = resident_id;
  record.scope = scope;
  record.audience = audience;
  record.authorization_details = authorization_details;
  record.issued_at = now;
  record.expires_at = now + ttl_seconds;
  store_.insert_access_token(
      record, make_event("system", "token.issued", resident_id, kBrokerClientId,
                         nlohmann::json{{"jti", jti}, {"grant_type", "self"}, {"scope", scope},
                                        {"audience", audience}}
                             .dump(),
                         {}, "success", authorization_details));
  return access;
}

}  // namespace authz
