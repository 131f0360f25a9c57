#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

/// Server-rendered HTML pages for residents (sign-in, consent, errors, account).
/// Pure functions: no I/O, no HTTP types. Every string from the caller is escaped, because
/// client names, scope names and dataset names come from (possibly hostile) clients.
/// The pages contain no style attributes and no external resources, and no script but the
/// form_post page's one line; the only styling is one <style> element whose CSP hash is
/// kStyleCspHash, so the pages work under
///   default-src 'none'; style-src <kStyleCspHash>; form-action 'self';
///   frame-ancestors 'none'; base-uri 'none'
/// and the form_post page under the same with script-src <kFormPostScriptCspHash>.
namespace server::pages {

/// CSP source expression (CSP 3 §2.3.1 hash-source) for the one <style> element of every
/// page. tests/server/test_pages.cpp recomputes it from the rendered text.
inline constexpr std::string_view kStyleCspHash =
    "'sha256-fC0jPqZdeZJ4hHQBB7lX7QKD0dJUTFkXEmACgGb6VW4='";
/// The same for the form_post page's <script>, which submits its form.
inline constexpr std::string_view kFormPostScriptCspHash =
    "'sha256-8lDeP0UDwCO6/RhblgeH/ctdBzjVpJxrXizsnIk3cEQ='";

enum class Lang { en, ja };

/// Picks ja or en from an Accept-Language header value (RFC 9110 §12.5.4 q-values;
/// RFC 4647 §3.4 lookup, so "ja-JP" selects ja). "*" stands for any language not named
/// otherwise; q=0 means "not acceptable". Default, ties with "*" and anything unparsable: en.
Lang negotiate_language(std::string_view accept_language);
/// The language a page should have for OIDC `ui_locales` (space-separated BCP 47 tags, in order
/// of preference): the first tag whose primary subtag we serve, or nullopt when none is.
std::optional<Lang> ui_locales_language(std::string_view ui_locales);

/// HTML-escapes text for element content and quoted attribute values (& < > " ').
std::string escape(std::string_view text);

struct LoginPage {
  std::string action;       ///< form POST target, e.g. "/login"
  std::string handle;       ///< hidden field "handle": the pending authorization
  std::string csrf_token;   ///< hidden field "csrf_token"
  std::string client_name;  ///< who is asking; may be empty
  std::string username;     ///< prefill after a failed attempt
  std::string error;        ///< "" | "invalid_credentials" | "too_many_attempts"
};
/// Sign-in form: POST action with username, password, handle, csrf_token.
std::string render_login(const LoginPage& page, Lang lang);

/// One RFC 9396 authorization_details entry, as the resident should read it.
struct AuthorizationDetailView {
  std::string type;  ///< "personal_data_provision" | "personal_data_transfer"
  std::vector<std::string> datasets;
  // personal_data_provision
  std::string purpose;
  std::string recipient;
  std::string retention_until;
  // personal_data_transfer
  std::string source;
  std::string destination;
  bool delete_at_source = false;
};

struct ConsentPage {
  std::string action;  ///< "/consent"
  std::string handle;
  std::string csrf_token;
  std::string client_name;
  std::string client_id;
  std::string resident_name;
  std::vector<std::string> scopes;
  std::vector<AuthorizationDetailView> details;
  std::string redirect_host;  ///< where the answer is sent
};
/// Consent form: POST action with handle, csrf_token and decision=approve | decision=deny.
std::string render_consent(const ConsentPage& page, Lang lang);

struct ErrorPage {
  std::string error;        ///< RFC 6749 error code, e.g. "invalid_client"
  std::string description;  ///< shown as given (escaped)
};
/// An error shown to the person instead of being redirected (RFC 6749 §4.1.2.1: unknown
/// client or mismatching redirect_uri).
std::string render_error(const ErrorPage& page, Lang lang);

/// OAuth 2.0 Form Post Response Mode §2: the authorization response as a form that posts
/// `fields` to `action` (the client's redirect URI) and submits itself when the page loads;
/// its button submits it where script does not run.
std::string render_form_post(std::string_view action,
                             const std::vector<std::pair<std::string, std::string>>& fields,
                             Lang lang);

/// OpenID Connect RP-Initiated Logout: the resident confirms before the session ends, so that
/// no other site can sign them out (§2: the OP asks the End-User).
struct LogoutPage {
  std::string action;         ///< "/logout"
  std::string csrf_token;     ///< the session's
  std::string client_name;    ///< the client that asked; may be empty
  std::string client_id;      ///< hidden, checked again on POST
  std::string post_logout_redirect_uri;  ///< hidden, checked again on POST
  std::string state;          ///< hidden
  std::string ui_locales;     ///< hidden
  std::string resident_name;  ///< who is signed in
};
/// Confirmation form: POST action with csrf_token and the hidden fields above.
std::string render_logout(const LogoutPage& page, Lang lang);
/// OIDC Front-Channel Logout 1.0 §3: after the session ended, a page that loads each client's
/// `frontchannel_uris` in a hidden iframe, then goes on to `next` by itself after two seconds
/// (no script: a refresh), with a link to go at once.
std::string render_signed_out(const std::vector<std::string>& frontchannel_uris,
                              std::string_view next, Lang lang);

struct GrantView {
  std::string id;
  std::string client_name;
  std::string scope;  ///< space-separated, as granted
  std::vector<AuthorizationDetailView> details;
  std::string created_at;
  std::string expires_at;  ///< may be empty: no expiry
};

/// One audit log entry about the resident ("who used my data").
struct ActivityView {
  std::string time;
  std::string action;       ///< e.g. "token.issued", "consent.granted"
  std::string client_name;  ///< may be empty (e.g. a sign-in)
  std::string purpose;
  std::vector<std::string> datasets;
  std::string outcome;
};

/// A contract between the resident and a service.
struct ContractView {
  std::string service_name;
  std::string status;  ///< active | terminated
  std::string since;
  std::string until;   ///< empty while active
  std::string reason;
};

/// One transfer in the resident's list.
struct TransferSummary {
  std::string id;
  std::string source_name;
  std::string destination_name;
  std::string state;
  std::string created_at;
};

/// A service the resident may pick in the transfer form.
struct ServiceChoice {
  std::string id;
  std::string name;
  std::vector<std::string> datasets;  ///< dataset names it holds or takes
  bool contracted = false;            ///< the resident has an active contract with it
};

struct AccountPage {
  std::string resident_name;
  std::string csrf_token;
  std::vector<GrantView> grants;
  std::vector<ActivityView> activity;  ///< newest first
  std::string revoke_action;  ///< "/account/grants/revoke": POST with grant_id + csrf_token
  std::string logout_action;  ///< POST with csrf_token; omitted when empty
  std::vector<ContractView> contracts;
  std::vector<TransferSummary> transfers;  ///< newest first
  std::vector<ServiceChoice> services;
  /// "/account/transfers": POST source, destination, datasets (repeated), mode, csrf_token.
  std::string transfer_action;
};
/// The resident's grants, each with a withdraw (revoke) form, what the audit log recorded
/// about them, and a sign-out form.
std::string render_account(const AccountPage& page, Lang lang);

struct TransferDatasetView {
  std::string dataset;
  std::string source_format;
  std::string destination_format;
  std::int64_t items_done = 0;
  std::int64_t items_total = 0;
  std::int64_t bytes_done = 0;
  std::int64_t bytes_total = 0;
  bool verified = false;
  bool deleted = false;
  std::vector<std::string> not_carried;
  std::vector<std::string> not_read;  ///< parts of the source's items the model has no field for
};

/// A transfer: the consent form while it waits for the resident's decision, its progress
/// afterwards (refreshing itself every few seconds while it runs), and, when a verified switch
/// could not carry everything ("awaiting_confirmation"), what deleting at the source would
/// lose with the choice to delete anyway or keep the data at the source.
struct TransferPage {
  std::string id;
  std::string source_name;
  std::string destination_name;
  bool delete_at_source = false;
  std::string state;
  std::string step;
  std::string error;
  int retries = 0;
  std::vector<TransferDatasetView> datasets;
  std::string csrf_token;
  /// "/account/transfers/<id>/decision": POST csrf_token and decision = approve | deny while
  /// the transfer waits for consent ("requested"), delete | keep while it waits for the
  /// decision about deletion at the source ("awaiting_confirmation"). Empty otherwise.
  std::string decision_action;
  /// While "awaiting_confirmation": when the time limit ends the wait, keeping the data at the
  /// source ("2026-01-01 00:00 UTC"). Empty otherwise.
  std::string decide_by;
};
std::string render_transfer(const TransferPage& page, Lang lang);

}  // namespace server::pages
