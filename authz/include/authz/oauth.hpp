#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "authz/audit.hpp"
#include "authz/client_certificate.hpp"
#include "authz/clock.hpp"
#include "authz/crypto.hpp"
#include "authz/expected.hpp"
#include "authz/form.hpp"
#include "authz/random.hpp"
#include "authz/sealer.hpp"
#include "storage/store.hpp"

namespace authz {

struct Settings {
  std::string issuer;  ///< e.g. https://bank.example (no trailing slash)
  std::int64_t access_token_ttl = 600;
  std::int64_t refresh_token_ttl = 30 * 24 * 3600;
  std::int64_t code_ttl = 60;
  std::int64_t par_ttl = 90;
  std::int64_t pending_ttl = 900;  ///< how long a person may take to log in and consent
  std::int64_t session_ttl = 8 * 3600;
  std::int64_t key_retention = 7 * 24 * 3600;
  std::int64_t dpop_max_age = 300;
  std::string initial_access_token;  ///< RFC 7591 §3; empty disables /register
  bool require_par = false;
  /// RFC 9449 §8 and §9: every DPoP proof, at the token endpoint and at resources, carries a
  /// nonce this server gave out (the DPoP-Nonce header), which limits how long a proof made
  /// ahead of time is good for. Nonces are good for kDpopNonceWindow to twice that.
  bool dpop_require_nonce = false;
  /// RFC 8705 §5: where the mutual-TLS listener serves the endpoints (https://host:port, no
  /// trailing slash), published as mtls_endpoint_aliases; empty when there is none, and then
  /// no client can authenticate with a certificate or have its tokens bound to one.
  std::string mtls_base_url;
  /// FAPI 2.0 Security Profile §5.3.2.1: every access token is sender-constrained, bound to a
  /// DPoP key (RFC 9449) or to the client's certificate (RFC 8705); a token request that would
  /// get a bearer token is refused with invalid_request, before anything is spent.
  bool require_sender_constrained_tokens = false;
  /// The algorithm a client registered without id_token_, authorization_ or
  /// introspection_signed_response_alg gets for each (one of KeyRing::kAlgs): RS256, their
  /// default where they are defined (OIDC Registration §2, JARM §3, RFC 9701 §6). FAPI 2.0
  /// (Security Profile §5.4.1) allows only PS256, ES256 and EdDSA: set one of them there.
  std::string default_signing_alg = "RS256";
};
inline constexpr std::int64_t kDpopNonceWindow = 300;

/// What infobank knows how to grant, with words for people (the pages render them).
inline constexpr std::string_view kScopesSupported[] = {
    "openid", "profile", "email", "offline_access",
    "portability.export", "portability.import", "portability.delete", "audit.read"};
inline constexpr std::string_view kAuthorizationDetailsTypes[] = {"personal_data_provision",
                                                                  "personal_data_transfer"};
inline constexpr std::string_view kRequestUriPrefix = "urn:ietf:params:oauth:request_uri:";

/// Facts about the HTTP request that the domain needs, without HTTP types.
struct RequestFacts {
  std::string method;                        ///< "POST"
  std::string url;                           ///< absolute URL of the endpoint (DPoP htu)
  std::optional<std::string> authorization;  ///< Authorization header
  std::optional<std::string> dpop;           ///< DPoP header
  bool dpop_repeated = false;                ///< more than one DPoP header (RFC 9449 §4.3)
  std::string remote_addr;
  std::string request_id;
  std::string accept;  ///< Accept header (RFC 9701: a signed introspection answer is asked for)
  /// The certificate the client presented on the mutual-TLS listener (RFC 8705), if any.
  std::shared_ptr<const ClientCertificate> client_cert;
};

/// The authorization response (RFC 6749 §4.1.2), sent back to the client through the browser.
/// Usually a redirect to `location`: the redirect URI with code or error, state and iss in its
/// query (or JARM's one `response`). For response_mode form_post or form_post.jwt (OAuth 2.0
/// Form Post Response Mode §2, JARM §2.3.3) `form_post` is set: `location` is the redirect URI
/// as registered, and the browser posts `form_fields` to it from a page that submits itself.
struct Redirect {
  std::string location;
  bool form_post = false;
  std::vector<std::pair<std::string, std::string>> form_fields;
};

/// The outcome of the front-channel checks of /authorize (RFC 6749 §4.1.2.1): either an
/// error to show to the person (the client or redirect URI cannot be trusted), an error to
/// send back to the client's redirect URI, or a request to carry through login and consent.
struct AuthorizeResult {
  enum class Kind { show_error, redirect_error, proceed };
  Kind kind = Kind::show_error;
  OAuthError error;
  std::string redirect_uri;  ///< for redirect_error
  std::string state;         ///< for redirect_error
  Redirect response;         ///< for redirect_error: the whole response (query, form or JARM)
  storage::PendingAuthorization pending;  ///< for proceed (already stored)
  std::string client_name;
};

/// What the browser flow does next for a pending request and the person's session.
enum class NextStep { login, consent, issue_code, login_required, consent_required };


struct LoginOutcome {
  enum class Kind { ok, invalid_credentials, too_many_attempts };
  Kind kind = Kind::invalid_credentials;
  std::string session_cookie;  ///< raw cookie value for ok
  storage::LoginSession session;
  int failures = 0;  ///< recent failures for this username (to slow the answer)
  /// Back-channel logouts queued because signing in ended someone else's session.
  int logouts_queued = 0;
};

/// A JSON HTTP answer from a back-channel endpoint, already serialised.
struct JsonAnswer {
  JsonAnswer() = default;
  JsonAnswer(std::string body_, int status_, std::string content_type_ = {})
      : body(std::move(body_)), status(status_), content_type(std::move(content_type_)) {}
  std::string body;
  int status = 200;
  std::string content_type;  ///< empty: application/json
};

/// Errors of back-channel endpoints carry the scheme that authenticated (or failed to), so
/// server/ can set WWW-Authenticate (RFC 6749 §5.2, RFC 6750 §3, RFC 9449 §7.1).
struct EndpointError {
  OAuthError error;
  std::string auth_scheme;  ///< "Basic", "Bearer", "DPoP" or ""
  /// RFC 6750 §3.1: the request carried no credentials at all, so the challenge names no
  /// error code (a bare `Bearer realm=...`).
  bool bare_challenge = false;
};
using Answer = Expected<JsonAnswer, EndpointError>;

/// What ending a session leaves to do for the clients signed in within it.
struct LogoutOutcome {
  int backchannel_queued = 0;  ///< back-channel logouts queued (the sender sends them)
  /// OIDC Front-Channel Logout 1.0 §3: the URLs the signed-out page loads in iframes, with
  /// `iss` and `sid` for the clients that asked for them.
  std::vector<std::string> frontchannel_uris;
};

/// What a token answer waits for: the access token's row and its audit entry, written in one
/// transaction (Store::insert_access_token / submit_access_token).
struct TokenWrite {
  storage::AccessTokenRecord record;
  storage::Event event;
};

/// The signing keys, one current per algorithm: ES256 signs access tokens and whatever a client
/// asks no other algorithm for; RS256 (the algorithm OpenID Connect requires a provider to
/// offer, and the default of id_token_signed_response_alg and its kin), PS256 and EdDSA (which
/// FAPI 2.0 allows where it forbids RS256) sign what a client asked for with them. The newest key of an
/// algorithm is current; retired ones stay in the JWKS for key_retention. Every key is published
/// before anything is signed with it: `serve` makes the missing ES256 and RS256 keys before it
/// answers, and registering a client that needs a key makes it then (the CLI may run before the
/// first `serve`; PS256's and EdDSA's are made only for a client that asks for them). Reloaded from storage at
/// most every few seconds so `keys rotate` in another process (or on another node) takes effect
/// without a restart. Private keys are stored sealed (bound to their kid) and opened only in
/// memory.
class KeyRing {
 public:
  /// The algorithm of access tokens (RFC 9068), and the one every key ring holds.
  static constexpr std::string_view kDefaultAlg = "ES256";
  /// Every algorithm the ring signs with.
  static constexpr std::array<std::string_view, 4> kAlgs = {"ES256", "RS256", "PS256", "EdDSA"};

  KeyRing(storage::Store& store, const Clock& clock, const Sealer& sealer,
          std::int64_t key_retention);
  /// Creates the ES256 key when storage has no current one.
  void ensure_key();
  /// Creates the ES256 and RS256 keys, and one for `also` (Settings::default_signing_alg, which
  /// may be PS256 or EdDSA), that storage has no current one for (`serve` does, before it
  /// answers).
  void ensure_keys(std::string_view also = {});
  /// Creates a current key for `alg` (one of kAlgs) when storage has none.
  void make_key(std::string_view alg);
  struct Current {
    std::string kid;
    SigningKey key;
    std::int64_t since = 0;  ///< when it started to sign
  };
  /// The key to sign with by `alg` (reloads if stale; makes the key if there is none).
  Current current(std::string_view alg = kDefaultAlg);
  /// The public JWK Set JSON with current and recently retired keys.
  std::string jwks_json();
  /// Public key by kid (for our own id_token/access token checks).
  std::optional<PublicKey> find(std::string_view kid);
  /// Rotates `alg`'s key: a new key, published at once, signs from `activate_in` seconds on
  /// (0: at once) and the old one stops signing then; it stays published for key_retention
  /// after. Returns the new kid.
  std::string rotate(Random& random, std::string_view alg = kDefaultAlg,
                     std::int64_t activate_in = 0);
  struct Rotated {
    std::string kid;
    std::string alg;
    std::int64_t activates_at = 0;
  };
  /// Scheduled rotation: for each algorithm whose current key has signed for `interval`
  /// seconds less `lead`, a successor is published now and signs from `lead` seconds on,
  /// unless one is already waiting (made by another process). Returns what it scheduled.
  std::vector<Rotated> rotate_due(Random& random, std::int64_t interval, std::int64_t lead);

 private:
  /// Reads the keys from storage when the last read is older than a few seconds, or `force`.
  void refresh(bool force = false);
  [[nodiscard]] storage::SigningKeyRecord new_key(std::string kid, std::string_view alg) const;
  storage::Store& store_;
  const Clock& clock_;
  const Sealer& sealer_;
  std::int64_t retention_;
  std::mutex mutex_;  ///< guards the fields below; never held across a storage call
  std::int64_t loaded_at_ = -1;
  /// The next moment a key read then starts or stops signing (a rotation scheduled ahead): the
  /// keys are read again from then on, not up to the reload interval later.
  std::int64_t switch_at_ = std::numeric_limits<std::int64_t>::max();
  std::array<std::shared_ptr<const Current>, kAlgs.size()> current_;  ///< by kAlgs' index
  std::vector<PublicKey> published_;
  std::string jwks_;
  /// Each published key as read, by kid: a key's row never changes but for retired_at, so a
  /// reload opens (unseals and parses) only the keys it has not read before.
  struct Opened;
  std::map<std::string, std::shared_ptr<const Opened>, std::less<>> opened_;
};

/// The origin of a URI as a browser serializes it (scheme://host[:port], lower-case, no default
/// port; RFC 6454 §6.2), for CSP sources, CORS and same-origin rules; "" when it has none.
std::string origin_of(std::string_view uri);

/// `base` with the non-empty parameters appended to its query, percent-encoded, keeping any
/// query it has (RFC 6749 §3.1.2: the redirect URI's query must be retained).
std::string with_params(std::string_view base,
                        std::initializer_list<std::pair<std::string_view, std::string_view>> params);

/// Splits a space-separated scope string; duplicates removed, order kept.
std::vector<std::string> split_scope(std::string_view scope);
/// Validates and canonicalises an RFC 9396 authorization_details JSON array against the types
/// we know. Errors are `invalid_authorization_details`.
Expected<std::string> canonical_authorization_details(std::string_view json);
/// When a consent to these canonical authorization details ends, in epoch seconds: the latest
/// retention_until (a date alone covers that whole day in UTC) when every detail names one;
/// 0 (no end) when one does not, or there are none.
std::int64_t consent_end(std::string_view details_json);
/// The canonical details whose retention_until has not passed at `now` (empty text when none
/// is left), and the earliest end among them (0 when none names one): what a token issued at
/// `now` may carry, and when it must expire at the latest.
struct DetailsInForce {
  std::string json;
  std::int64_t ends_at = 0;
};
DetailsInForce details_in_force(std::string_view details_json, std::int64_t now);

/// The authorization server's rules. Synchronous and blocking (storage, argon2id): call it
/// from the worker pool, never from an I/O thread. `sealer` encrypts what is kept at rest
/// (residents' personal data, private keys, the audit log's secrets); it must outlive the server.
/// The client_id in the tokens infobank issues to itself as the portability broker.
inline constexpr std::string_view kBrokerClientId = "infobank-broker";

/// An ID token this server issued, offered back as an id_token_hint (OIDC Core §3.1.2.1,
/// RP-Initiated Logout 1.0 §2): whom it names and to which client it was issued.
struct IdTokenHint {
  std::string subject;
  std::string client_id;
};

/// A back-channel logout to send (OIDC Back-Channel Logout 1.0 §2.5): POST
/// `logout_token=<jwt>` as a form to `uri`.
struct BackchannelLogout {
  std::string uri;
  std::string logout_token;
};

/// How long a logout token is valid (Back-Channel Logout §2.4 recommends at most two minutes).
inline constexpr std::int64_t kLogoutTokenTtl = 120;

/// A checked RP-Initiated Logout 1.0 request to the end-session endpoint.
struct LogoutRequest {
  std::string client_id;    ///< from client_id or the hint's audience; empty when neither
  std::string client_name;  ///< for the confirmation page
  std::string post_logout_redirect_uri;  ///< registered exactly for client_id, or empty
  std::string state;                     ///< returned with the redirect
  std::string ui_locales;
};

class AuthorizationServer {
 public:
  AuthorizationServer(Settings settings, storage::Store& store, const Clock& clock,
                      Random& random, const Sealer& sealer);

  [[nodiscard]] const Settings& settings() const { return settings_; }
  KeyRing& keys() { return keys_; }
  AuditLog& audit() { return audit_; }
  storage::Store& store() { return store_; }

  /// RFC 9449 §8: the nonce DPoP proofs are to carry now, when Settings::dpop_require_nonce
  /// (the value for the DPoP-Nonce header). The same on every node of a cluster: an HMAC of the
  /// time window under a key kept sealed in storage, read on the first call.
  [[nodiscard]] std::string dpop_nonce();
  /// RFC 8414 / OpenID Connect Discovery metadata JSON.
  [[nodiscard]] std::string metadata_json(bool openid) const;

  // Front channel.
  AuthorizeResult authorize(const Params& query);
  /// The authorization response (RFC 6749 §4.1.2, §4.1.2.1): `params` (empty ones left out)
  /// and `iss` (RFC 9207); or, for response_mode `jwt`, `query.jwt` and `form_post.jwt`
  /// (JARM), one `response` parameter: a JWT signed with the current key that carries them
  /// with iss, aud (the client) and exp. In the redirect URI's query, or for `form_post` and
  /// `form_post.jwt` as the fields of a form the browser posts to it.
  Redirect authorization_response(
      std::string_view redirect_uri, std::string_view client_id, std::string_view response_mode,
      std::initializer_list<std::pair<std::string_view, std::string_view>> params);
  NextStep next_step(const storage::PendingAuthorization& pending,
                     const std::optional<storage::LoginSession>& session);
  std::optional<storage::PendingAuthorization> find_pending(std::string_view handle);
  /// The request's OIDC login_hint, opened (it is sealed at rest); empty when none.
  [[nodiscard]] std::string login_hint(const storage::PendingAuthorization& pending) const;
  /// One-time: the pending request is removed (a second consent POST finds nothing).
  std::optional<storage::PendingAuthorization> take_pending(std::string_view handle);
  std::optional<storage::ClientRecord> find_client(std::string_view client_id);
  /// The resident with name and email opened (callers never see sealed values). Throws
  /// std::runtime_error if they do not open: the master key is not the one they were sealed
  /// with, or the row was altered. Either is an outage, not a request error.
  std::optional<storage::ResidentRecord> find_resident(std::string_view resident_id);
  /// Signs a resident in with a fresh session cookie. `previous_cookie`: the session the
  /// browser had. The same resident signing in again keeps that session's sid (one session at
  /// this server, re-authenticated; the old cookie stops working); anyone else ends it, and
  /// the clients signed in within it are told (back-channel logout).
  LoginOutcome login(std::string_view username, std::string_view password,
                     std::string_view remote_addr, std::string_view previous_cookie = {});
  /// `resident_id` signed in within the pending request: prompt=login / max_age=0 are
  /// satisfied. When the request's id_token_hint names someone else, the request can only end
  /// in login_required (OIDC Core §3.1.2.1).
  void after_login(std::string_view handle, std::string_view resident_id);
  std::optional<storage::LoginSession> session_from_cookie(std::string_view cookie);
  /// Ends the session (if any) and logs `logout`, for `client_id` when a client asked for it.
  LogoutOutcome logout(std::string_view cookie, std::string_view client_id = {});
  /// The request for one queued back-channel logout: a logout token (typ logout+jwt, `sub` as
  /// the client sees the resident, the session's `sid`) for the client's registered URI;
  /// nullopt when the client is gone or no longer has one.
  std::optional<BackchannelLogout> backchannel_logout(const storage::LogoutDelivery& delivery);
  /// Logs `logout.backchannel`: delivered (the client answered 200) or given up, and why.
  void backchannel_logout_ended(const storage::LogoutDelivery& delivery, bool delivered,
                                std::string_view why);
  /// An id_token_hint: a JWS with typ "JWT" signed by one of this server's published keys,
  /// `iss` this issuer, naming a `sub` and a client (`azp`, else `aud`). Its expiry is not
  /// checked: a hint names someone and grants nothing. Errors are invalid_request.
  Expected<IdTokenHint> id_token_hint(std::string_view jwt);
  /// RP-Initiated Logout 1.0 §2-3: id_token_hint, client_id (the hint's client when both are
  /// given), post_logout_redirect_uri (exactly one the client registered), state, ui_locales.
  /// Errors are invalid_request, to be shown and never redirected.
  Expected<LogoutRequest> logout_request(const Params& params);
  /// Consent given (or the grant already covers it): stores the grant and issues a code.
  Redirect approve(const storage::PendingAuthorization& pending,
                   const storage::LoginSession& session);
  /// Consent refused, or prompt=none could not be honoured.
  /// `resident_id`: the signed-in resident who refused (access_denied), so that the entry is
  /// theirs in "who used my data"; empty when nobody is signed in.
  Redirect deny(const storage::PendingAuthorization& pending, std::string_view error,
                std::string_view resident_id = {});

  // Back channel.
  Answer par(const Params& form, const RequestFacts& facts);
  /// With `deferred`, a client_credentials token's write (its row and audit entry) is not made
  /// here but left in *deferred for the caller to commit without holding a thread
  /// (Store::submit_access_token); the answer must not be sent before that write committed.
  /// Without it, or for the other grants, the write is made before token() returns.
  Answer token(const Params& form, const RequestFacts& facts,
               std::optional<TokenWrite>* deferred = nullptr);
  /// token() with `deferred`, when it can answer without storage, on the calling thread (an
  /// I/O thread): a client_credentials grant, without DPoP, by a client authenticating with a
  /// secret that the client cache holds, while the signing keys are fresh. nullopt when the
  /// request needs storage (the caller then runs token() on a worker); nothing was changed.
  std::optional<Answer> token_in_memory(const Params& form, const RequestFacts& facts,
                                        std::optional<TokenWrite>& deferred);
  Answer introspect(const Params& form, const RequestFacts& facts);
  /// introspect() on the calling thread (an I/O thread), from memory: the answer for an active
  /// token that this node read for the same client while storage's token state was what it
  /// still is (Store::token_state_stamp), by a client authenticating with a secret that the
  /// client cache holds. nullopt otherwise (the caller then runs introspect() on a worker).
  std::optional<Answer> introspect_in_memory(const Params& form, const RequestFacts& facts);
  Answer revoke(const Params& form, const RequestFacts& facts);
  Answer userinfo(const RequestFacts& facts);
  Answer register_client(std::string_view json_body, const RequestFacts& facts);

  /// A valid access token presented in the Authorization header (RFC 6750 §2.1, with its DPoP
  /// proof when bound: RFC 9449 §7), or the error with its challenge scheme.
  Expected<storage::AccessTokenRecord, EndpointError> bearer(const RequestFacts& facts);

  // The auditor's API (scope audit.read, audience this server).
  Answer audit_entries(const Params& query, const RequestFacts& facts, bool json_lines);
  Answer audit_tree_head(const RequestFacts& facts);
  Answer audit_inclusion(const Params& query, const RequestFacts& facts);
  Answer audit_consistency(const Params& query, const RequestFacts& facts);
  /// The resident's own entries ("who used my data"), newest first.
  std::vector<storage::Event> activity_of(std::string_view resident_id, int limit);

  /// Operator tools (CLI) and the resident pages.
  struct NewClient {
    storage::ClientRecord record;
    std::string client_secret;  ///< empty for methods without a secret
  };
  Expected<NewClient> create_client(storage::ClientRecord draft);
  /// Replaces the metadata of the client `current` with `draft`, validated like a new
  /// client's. The client keeps its id, creation time and registration access token, and its
  /// secret while it authenticates with one; it gets a new secret (returned once, like
  /// create_client's) when it starts to use one or when `new_secret` asks; one that stops
  /// loses it. Cached copies are dropped, so the change holds on this process's next request
  /// (another process's within its client cache's two seconds). `actor` names who changed it
  /// in the audit trail. invalid_client_metadata when the draft is not a valid client or
  /// `new_secret` is asked of a client without a secret; invalid_client when it is gone.
  Expected<NewClient> replace_client(const storage::ClientRecord& current,
                                     storage::ClientRecord draft, bool new_secret,
                                     std::string_view actor);
  /// RFC 7592 client configuration endpoint (`/register/{client_id}`), authorized by the
  /// registration access token that /register returned: GET reads the client's metadata, PUT
  /// replaces it (`json_body`, RFC 7592 §2.2), DELETE removes the client and everything issued
  /// to it. A wrong or missing token, or a client that was not registered dynamically, is
  /// invalid_token (401) whether or not the client exists.
  Answer manage_client(std::string_view method, std::string_view client_id,
                       std::string_view json_body, const RequestFacts& facts);
  /// Stores a new resident with name and email sealed (bound to the resident's id); username
  /// stays plain as the login lookup key. False if the id or username exists.
  bool insert_resident(storage::ResidentRecord resident);
  /// Every resident, opened as find_resident() does.
  std::vector<storage::ResidentRecord> list_residents();
  /// The resident's grants in force (neither withdrawn nor past their end), newest first.
  std::vector<storage::Grant> grants_of(std::string_view resident_id);
  /// The resident withdraws their consent: the grant ends with its tokens, logged as
  /// consent.withdrawn (or consent.expired if its end has already come). False if the grant is
  /// not theirs or has already ended.
  bool revoke_grant(std::string_view resident_id, std::string_view grant_id);
  /// Ends up to `limit` grants whose end (their details' retention_until) has come, with every
  /// token issued under them, each logged once as consent.expired. Returns how many it ended.
  /// Blocking (storage): for the server's sweep thread and tests.
  int expire_grants(int limit = 100);

  /// Appends to the audit log (durable when this returns). `authorization_details`, when
  /// given, fills the entry's purpose and datasets.
  void event(std::string_view actor, std::string_view action, std::string_view resident_id,
             std::string_view client_id, std::string_view detail_json,
             std::string_view request_id = {}, std::string_view outcome = "success",
             std::string_view authorization_details = {});
  /// An access token infobank issues to itself to act for a resident at a service (pattern 1
  /// of a transfer): RFC 9068 like any other, `sub` = the resident's account at the service,
  /// `aud` = the service, `client_id` = kBrokerClientId, and `authorization_details` binding it
  /// to one transfer. Stored (so it can be introspected and revoked) and logged.
  std::string issue_self_token(std::string_view resident_id, std::string_view subject,
                               std::string_view audience, std::string_view scope,
                               std::string_view authorization_details, int ttl_seconds);

  /// OIDC Core §8: the `sub` that `client` sees for a resident: the resident's id for a public
  /// client; for a pairwise client, base64url(HMAC-SHA-256(key, sector NUL resident id)) with
  /// the sector the host of its redirect URIs and the key a secret of this deployment (sealed
  /// in storage, shared by every node). The client's own id when `resident_id` is empty
  /// (client_credentials); the resident's id when the client is unknown (infobank's own).
  std::string subject(const storage::ClientRecord* client, std::string_view resident_id);
  std::string subject(std::string_view client_id, std::string_view resident_id);

  /// The entry as event() would append it, for callers that append it with other writes.
  storage::Event make_event(std::string_view actor, std::string_view action,
                            std::string_view resident_id, std::string_view client_id,
                            std::string_view detail_json, std::string_view request_id,
                            std::string_view outcome, std::string_view authorization_details);

 private:
  Expected<storage::ClientRecord, EndpointError> authenticate_client(const Params& form,
                                                                     const RequestFacts& facts);
  /// Client metadata defaults and rules (create_client, manage_client): an error, or nothing
  /// when `draft` may be stored.
  std::optional<OAuthError> complete_client(storage::ClientRecord& draft);
  /// `signed_object`: the parameters came from a verified request object (RFC 9101).
  Expected<storage::PendingAuthorization> validate_request(const Params& params,
                                                          const storage::ClientRecord& client,
                                                          bool signed_object);
  /// The authorization request a request object carries, verified with the client's keys.
  Expected<Params> request_object(std::string_view jwt, const storage::ClientRecord& client);
  Answer token_authorization_code(const Params& form, const RequestFacts& facts,
                                  const storage::ClientRecord& client);
  Expected<storage::AccessTokenRecord, EndpointError> auditor(const RequestFacts& facts);
  Answer token_refresh(const Params& form, const RequestFacts& facts,
                       const storage::ClientRecord& client);
  Answer token_client_credentials(const Params& form, const RequestFacts& facts,
                                  const storage::ClientRecord& client,
                                  std::optional<TokenWrite>* deferred);
  Expected<std::optional<std::string>> dpop_jkt(const RequestFacts& facts,
                                                std::optional<std::string_view> token);
  /// The refusal of a token that would be bound to neither a DPoP key (`jkt`) nor a
  /// certificate (`x5t`), when Settings::require_sender_constrained_tokens; else nothing.
  [[nodiscard]] std::optional<EndpointError> unbound_refused(std::string_view jkt,
                                                             std::string_view x5t) const;
  struct Issue;
  Answer issue_tokens(const Issue& issue);
  std::string new_jti();
  /// Clients change rarely and are read on every back-channel request: kept for a couple of
  /// seconds, so a client removed (by any node or the CLI) stops working within that time.
  std::optional<storage::ClientRecord> cached_client(const std::string& client_id);
  /// This node's cache drops the client (changed or removed here; other nodes within 2 s).
  void forget_cached_client(const std::string& client_id);
  [[nodiscard]] storage::ResidentRecord open_resident(storage::ResidentRecord sealed) const;
  /// Ends a grant whose end has come, logged as consent.expired; false if already ended.
  bool end_expired(const storage::Grant& grant);
  /// The grant `pending` makes: `existing` with the request's scopes and details added, or a
  /// new grant of the pair (after ending one whose end has come but was not yet swept).
  storage::Grant merged_grant(const std::optional<storage::Grant>& existing,
                              const storage::PendingAuthorization& pending,
                              std::string_view resident_id, std::int64_t now);
  /// How often approve() reads and merges again when another approval saved first.
  static constexpr int kSaveGrantAttempts = 8;

  /// The introspection answer `answer` (a JSON object) as the client asked for it: as it is,
  /// or signed (RFC 9701).
  Answer introspection_answer(const storage::ClientRecord& client, std::string answer,
                              const RequestFacts& facts);

  struct CachedClient {
    std::optional<storage::ClientRecord> record;
    std::int64_t loaded_at = 0;
  };

  /// Answers of introspect() for active tokens, by client and token, each with the token state
  /// stamp it was read under and the moment it stops being true (the token's expiry); bounded.
  class IntrospectionCache {
   public:
    struct Entry {
      std::uint64_t stamp = 0;
      std::int64_t expires_at = 0;
      std::string answer;
    };
    static std::string key(std::string_view client_id, std::string_view token);
    /// The answer kept under `key`, if read under `stamp` and not expired by `now`.
    std::optional<std::string> find(const std::string& key, std::uint64_t stamp,
                                    std::int64_t now);
    void put(std::string key, Entry entry);

   private:
    static constexpr std::size_t kShards = 8;
    static constexpr std::size_t kEntriesPerShard = 512;
    struct Shard {
      std::mutex mutex;
      std::unordered_map<std::string, Entry> entries;
    };
    Shard& shard(const std::string& key);
    std::array<Shard, kShards> shards_;
  };
  IntrospectionCache introspections_;
  std::mutex clients_mutex_;
  std::unordered_map<std::string, CachedClient> clients_;
  std::once_flag pairwise_once_;
  std::string pairwise_key_;
  std::once_flag dpop_nonce_once_;
  std::string dpop_nonce_key_;
  /// The nonce of the time window `window` (now / kDpopNonceWindow).
  std::string dpop_nonce_of(std::int64_t window);

  Settings settings_;
  storage::Store& store_;
  const Clock& clock_;
  Random& random_;
  const Sealer& sealer_;
  KeyRing keys_;
  AuditLog audit_;
};

}  // namespace authz
