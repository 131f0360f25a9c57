#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace storage {

/// Times are seconds since the Unix epoch. JSON-valued fields (authorization_details, jwks)
/// are opaque strings to storage: storage never parses JSON.

struct ClientRecord {
  std::string client_id;
  std::string client_name;
  /// base64url(SHA-256(secret)) or empty for clients without a secret. Client secrets are
  /// server-generated with 256 bits of entropy, so a fast hash is enough (no dictionary).
  std::string secret_hash;
  /// client_secret_basic | client_secret_post | private_key_jwt | none
  std::string token_endpoint_auth_method;
  std::vector<std::string> redirect_uris;
  std::vector<std::string> grant_types;  ///< authorization_code, refresh_token, client_credentials
  std::string scope;                     ///< space-separated scopes the client may ask for
  std::string jwks;                      ///< JWK Set JSON for private_key_jwt, or empty
  std::string default_audience;          ///< `aud` when no `resource` is given
  bool require_par = false;              ///< RFC 9126 §6: require_pushed_authorization_requests
  bool require_dpop = false;             ///< RFC 9449 §5.2: dpop_bound_access_tokens
  std::string registration_access_token_hash;  ///< RFC 7592, empty if not registered dynamically
  /// OIDC RP-Initiated Logout §3.1: where the end-session endpoint may send the browser back.
  std::vector<std::string> post_logout_redirect_uris;
  /// OIDC Core §8: "public" (`sub` is the resident's id) or "pairwise" (a `sub` of its own for
  /// the client's sector, so that clients on different hosts cannot match their residents).
  std::string subject_type = "public";
  /// OIDC Back-Channel Logout 1.0 §2.2: where a logout token is POSTed when a session in
  /// which the client signed a resident in ends; empty = not notified.
  std::string backchannel_logout_uri;
  /// §2.2 backchannel_logout_session_required: the client needs `sid` in the logout token.
  bool backchannel_logout_session_required = false;
  /// OIDC Front-Channel Logout 1.0 §2: a page of the client that the OP's logout page loads in
  /// an iframe to sign the resident out there too; empty = none.
  std::string frontchannel_logout_uri;
  /// §2 frontchannel_logout_session_required: the client needs `iss` and `sid` in that URL.
  bool frontchannel_logout_session_required = false;
  /// RFC 9101 §10.5 require_signed_request_object: every authorization request of this client
  /// comes as a request object signed with one of its registered keys (`jwks`).
  bool require_signed_request_object = false;
  /// OIDC Dynamic Client Registration §2: the one JWS alg of this client's private_key_jwt
  /// assertions, and of its request objects; empty = any asymmetric alg the server supports.
  std::string token_endpoint_auth_signing_alg;
  std::string request_object_signing_alg;
  /// OIDC Registration §2 userinfo_signed_response_alg: "ES256" or "RS256" = UserInfo answers
  /// this client with a JWT signed by the server (OIDC Core §5.3.2); empty = plain JSON.
  std::string userinfo_signed_response_alg;
  /// RFC 8705 §2.1.2, for token_endpoint_auth_method tls_client_auth: which name the client's
  /// certificate must carry (tls_client_auth_subject_dn, _san_dns, _san_uri, _san_ip or
  /// _san_email) and its value; empty for other methods.
  std::string tls_client_auth_name;
  std::string tls_client_auth_value;
  /// RFC 8705 §3.4 tls_client_certificate_bound_access_tokens: this client's access tokens
  /// are bound to the certificate it presents at the token endpoint.
  bool tls_bound_access_tokens = false;
  /// OIDC Registration §2 id_token_signed_response_alg (also the logout tokens' alg, Back-
  /// Channel Logout 1.0 §2.4), RFC 9701 §6 introspection_signed_response_alg and JARM §3
  /// authorization_signed_response_alg: "ES256" or "RS256". Registration and the CLI give a
  /// client that names none the specifications' default, RS256; a record made in code (and a
  /// client stored before schema 23) has ES256.
  std::string id_token_signed_response_alg = "ES256";
  std::string introspection_signed_response_alg = "ES256";
  std::string authorization_signed_response_alg = "ES256";
  std::int64_t created_at = 0;
};

struct ResidentRecord {
  std::string id;             ///< the OIDC `sub`: random, stable, not the username
  std::string username;
  std::string password_hash;  ///< argon2id encoded string
  std::string name;           ///< display name (OIDC `name`)
  std::string email;          ///< may be empty
  std::int64_t created_at = 0;
};

/// A resident's browser session after login. Stored by hash of the cookie value.
struct LoginSession {
  std::string id_hash;
  std::string resident_id;
  std::string csrf_token;  ///< per-session CSRF secret (forms carry it)
  std::int64_t auth_time = 0;
  std::int64_t expires_at = 0;
  /// OIDC Front-/Back-Channel Logout `sid`: a random id of the session that ID tokens carry
  /// (never the cookie or its hash); empty for sessions made before schema 14.
  std::string sid;
};

/// A client that was given a code in a login session: told (back-channel) when it ends.
struct SessionClient {
  std::string sid;
  std::string client_id;
  std::string resident_id;
  std::int64_t expires_at = 0;  ///< the session's end: the row goes with it
};

/// A back-channel logout to send (OIDC Back-Channel Logout 1.0 §2.7): durable until the
/// client answered 200 or the sender gave up.
struct LogoutDelivery {
  std::string sid;
  std::string client_id;
  std::string resident_id;
  int attempts = 0;  ///< counting the one this claim is for
};

/// A validated authorization request waiting for login/consent, or pushed through PAR.
/// Keyed by a random handle (the PAR `request_uri` suffix or the handle in the pages' forms).
struct PendingAuthorization {
  std::string handle;
  std::string client_id;
  std::string redirect_uri;
  std::string scope;
  std::string state;
  std::string nonce;
  std::string code_challenge;
  std::string authorization_details;  ///< JSON array or empty
  std::vector<std::string> resources;
  std::string prompt;
  std::int64_t max_age = -1;  ///< -1 when absent
  std::string dpop_jkt;       ///< RFC 9449 §10: dpop_jkt binding of the code, or empty
  std::string response_mode;  ///< "query" (default) or "fragment"... only query supported
  bool pushed = false;        ///< came through PAR (one-time use at /authorize)
  std::int64_t expires_at = 0;
  std::string ui_locales;     ///< OIDC Core §3.1.2.1: preferred languages (BCP 47), as asked
  std::string login_hint;     ///< OIDC Core §3.1.2.1: the sign-in name to suggest (sealed)
  /// OIDC Core §3.1.2.1 id_token_hint: the `sub` the client's ID token names (as this client
  /// sees residents: pairwise or not), the only one who may complete the request; empty when
  /// no hint was given.
  std::string subject_hint;
  /// RFC 6749 §4.1.3: whether the request named its redirect_uri. One left out (the client
  /// registered exactly one, RFC 6749 §3.1.2.3) need not be repeated at the token endpoint.
  bool redirect_uri_given = true;
  /// OIDC Core §5.5: the claims the request's `claims` parameter asked for in the ID token,
  /// space-separated; empty when it asked for none.
  std::string id_token_claims;
};

struct AuthorizationCode {
  std::string code_hash;
  std::string client_id;
  std::string resident_id;
  /// As the authorization request named it; empty when it named none (RFC 6749 §4.1.3).
  std::string redirect_uri;
  std::string scope;
  std::string nonce;
  std::string code_challenge;
  std::string authorization_details;
  std::vector<std::string> resources;
  std::string dpop_jkt;
  std::string grant_id;
  std::int64_t auth_time = 0;
  std::int64_t expires_at = 0;
  bool used = false;
  std::string sid;  ///< the login session's `sid`, for the ID token
  std::string id_token_claims;  ///< as PendingAuthorization::id_token_claims
};

/// What a resident granted a client. Authorizing again within it skips the consent page.
struct Grant {
  std::string id;
  std::string resident_id;
  std::string client_id;
  std::string scope;
  std::string authorization_details;
  std::int64_t created_at = 0;
  std::int64_t expires_at = 0;  ///< 0 = no end
  bool revoked = false;

  /// Its end (expires_at) has come by `now`, whether or not the sweep has marked it yet.
  [[nodiscard]] bool ended_by(std::int64_t now) const {
    return expires_at != 0 && expires_at <= now;
  }
};

/// An issued access token (JWT). Introspection looks it up by jti and compares hashes, so
/// introspecting our own tokens needs no signature check.
struct AccessTokenRecord {
  std::string jti;
  std::string token_hash;
  std::string client_id;
  std::string resident_id;  ///< empty for client_credentials
  std::string scope;
  std::string audience;     ///< space-separated when several
  std::string authorization_details;
  std::string cnf_jkt;      ///< DPoP binding, or empty
  std::string code_hash;    ///< the code it came from (RFC 9700 §4.5 replay), or empty
  std::string family_id;    ///< the refresh-token family it came from, or empty
  std::int64_t issued_at = 0;
  std::int64_t expires_at = 0;
  bool revoked = false;
  std::string cnf_x5t;      ///< RFC 8705 §3.1: the client certificate's x5t#S256, or empty
};

struct RefreshTokenRecord {
  std::string token_hash;
  std::string family_id;
  std::string client_id;
  std::string resident_id;
  std::string scope;
  std::string authorization_details;
  std::vector<std::string> resources;
  std::string cnf_jkt;
  std::string grant_id;
  std::string code_hash;
  std::int64_t auth_time = 0;
  std::int64_t issued_at = 0;
  std::int64_t expires_at = 0;
  bool rotated = false;  ///< already exchanged for a successor
  bool revoked = false;
  std::string cnf_x5t;   ///< RFC 8705 §4: a public client's certificate binding, or empty
};

struct SigningKeyRecord {
  std::string kid;
  std::string alg;          ///< "ES256"
  std::string private_pem;  ///< PKCS#8 PEM
  std::int64_t created_at = 0;
  std::int64_t retired_at = 0;  ///< 0 while current; retired keys stay in JWKS for a while
  /// When it starts to sign (0: from created_at). Until then it is published but not used, so
  /// that relying parties that keep the key set they fetched have it first.
  std::int64_t activates_at = 0;
};

/// An entry of the audit log: an RFC 9162 Merkle tree whose leaf seq-1 is this entry.
struct Event {
  std::int64_t seq = 0;  ///< assigned by storage: 1, 2, 3, ... without gaps
  std::int64_t time = 0;
  std::string actor;     ///< resident | client | operator | system
  std::string action;    ///< e.g. "login.success", "consent.granted", "token.issued"
  std::string resident;  ///< keyed pseudonym, never the username or the resident id
  std::string client_id;
  std::string purpose;
  std::vector<std::string> datasets;
  std::string outcome;   ///< success | failure | refused | ...
  std::string detail;    ///< JSON with no personal data, password or token values
  std::string request_id;
  std::string leaf_hash;  ///< set by storage on append: 32 raw bytes
};

/// What an auditor filters the log by; empty fields and zero times match everything.
struct EventQuery {
  std::string resident;  ///< pseudonym
  std::string client_id;
  std::string action;
  std::string purpose;
  std::string dataset;
  std::int64_t from = 0;      ///< time >= from
  std::int64_t until = 0;     ///< time < until (0 = open)
  std::int64_t after_seq = 0; ///< pagination cursor (ascending order only)
  int limit = 100;
  bool newest_first = false;  ///< descending seq (the resident's page); after_seq is ignored
};


// --- Portability broker ----------------------------------------------------------------------

/// A service the operator registered: a source or destination of transfers.
struct ServiceRecord {
  std::string id;        ///< short name chosen by the operator, e.g. "blog-x"
  std::string name;      ///< shown to residents
  std::string base_url;  ///< where its portability API lives (…/portability/v1 is appended)
  std::string audience;  ///< `aud` of the tokens it accepts (default: base_url)
  /// "dataset:format" pairs, e.g. "blog_posts:blogger-atom".
  std::vector<std::string> datasets;
  /// How the broker gets tokens for it: "infobank" (pattern 1: infobank is its AS).
  std::string authorization = "infobank";
  std::int64_t created_at = 0;
};

/// A contract between a resident and a service (the delegation to the bank itself is implied
/// by the resident's account).
struct ContractRecord {
  std::string id;
  std::string resident_id;
  std::string service_id;
  std::string subject;    ///< the resident's account name at the service (`sub` of its tokens)
  std::string status;     ///< active | terminated
  std::int64_t since = 0;
  std::int64_t until = 0; ///< 0 while active
  std::string reason;     ///< why it began or ended, in words
  std::string transfer_id;  ///< the transfer that changed it, if one did
};

/// The transfer states a broker worker runs, and so the ones Store::claim_transfer claims.
/// Everything else (requested, awaiting_confirmation and the ends) waits for the resident or
/// is over.
inline constexpr std::array<std::string_view, 5> kRunnableTransferStates = {
    "consented", "exporting", "importing", "verifying", "deleting"};

inline bool runnable_transfer_state(std::string_view state) {
  return std::ranges::find(kRunnableTransferStates, state) != kRunnableTransferStates.end();
}

/// A transfer of a resident's data from one service to another: a durable state machine.
/// States: requested, consented, exporting, importing, verifying, awaiting_confirmation (a
/// switch that could not carry everything waits for the resident; not runnable), deleting,
/// completed, failed, cancelled.
struct TransferRecord {
  std::string id;
  std::string resident_id;
  std::string client_id;  ///< the client that asked for it; empty when the resident did
  std::string source_id;
  std::string destination_id;
  std::string source_subject;
  std::string destination_subject;
  std::vector<std::string> datasets;
  bool delete_at_source = false;  ///< "switch" (true) or "copy"
  std::string state = "requested";
  std::string step;       ///< what it is doing now, in words
  std::string error;      ///< why it failed
  int retries = 0;        ///< retries of the current step so far
  std::int64_t next_attempt_at = 0;
  std::string lease_owner;  ///< the broker node working on it; empty when none
  std::int64_t lease_until = 0;
  std::string report;     ///< JSON text: what moved, what could not be carried
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
};

/// The progress of one dataset within a transfer, committed page by page.
struct TransferDatasetRecord {
  std::string transfer_id;
  std::string dataset;
  std::string source_format;
  std::string destination_format;
  std::string cursor;       ///< the source's cursor for the next page; empty = from the start
  bool exported_all = false;
  std::int64_t pages_done = 0;
  std::int64_t items_done = 0;
  std::int64_t bytes_done = 0;
  std::int64_t items_total = 0;  ///< as the source announced it
  std::int64_t bytes_total = 0;
  std::string digest;       ///< running digest of what was sent (hex)
  std::vector<std::string> not_carried;  ///< model fields the destination cannot hold
  /// parts of the source's items that the model has no field for (Format::to_model)
  std::vector<std::string> not_read;
  bool verified = false;
  bool deleted = false;
};

}  // namespace storage
