#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "authz/expected.hpp"

namespace authz {

/// Decoded request parameters in arrival order.
class Params {
 public:
  Params() = default;
  explicit Params(std::vector<std::pair<std::string, std::string>> items)
      : items_(std::move(items)) {}

  /// The value of `name`, or nullopt when absent.
  [[nodiscard]] std::optional<std::string_view> get(std::string_view name) const;
  /// The value of `name`, or "" when absent.
  [[nodiscard]] std::string value(std::string_view name) const;
  [[nodiscard]] bool has(std::string_view name) const { return get(name).has_value(); }
  /// RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once."
  /// Returns the first name that appears more than once, if any (`resource` may repeat:
  /// RFC 8707 §2).
  [[nodiscard]] std::optional<std::string> first_duplicate() const;
  /// Every value of `name` in order (for `resource`).
  [[nodiscard]] std::vector<std::string> all(std::string_view name) const;
  [[nodiscard]] const std::vector<std::pair<std::string, std::string>>& items() const {
    return items_;
  }
  void add(std::string name, std::string value) {
    items_.emplace_back(std::move(name), std::move(value));
  }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

/// application/x-www-form-urlencoded (WHATWG URL §5.1 with strict percent-decoding):
/// '+' is a space, '%' must be followed by two hex digits, the result must be valid UTF-8,
/// no NUL bytes. An empty value is kept as "" (callers treat empty as absent where RFC 6749
/// §3.1 says so). Errors are `invalid_request`.
Expected<Params> parse_form(std::string_view body);
/// The same rules for a URL query string (without the leading '?').
Expected<Params> parse_query(std::string_view query);

/// Percent-encode for a form/query value (unreserved kept, space as %20).
std::string form_encode(std::string_view value);

/// RFC 6749 §2.3.1 client_secret_basic: "Basic base64(urlencode(id):urlencode(secret))".
/// Scheme compared case-insensitively; strict base64; both parts form-decoded.
/// ASCII case-insensitive equality (HTTP auth schemes, JOSE header values).
bool iequals(std::string_view a, std::string_view b);

struct BasicCredentials {
  std::string client_id;
  std::string client_secret;
};
std::optional<BasicCredentials> parse_basic_authorization(std::string_view header);

/// "Bearer <token>" or "DPoP <token>" (RFC 6750 §2.1, RFC 9449 §7.1): the scheme is
/// returned lower-case; the token must match the b64token syntax.
struct TokenAuthorization {
  std::string scheme;
  std::string token;
};
std::optional<TokenAuthorization> parse_token_authorization(std::string_view header);

/// Cookie header (RFC 6265 §5.4) into name/value pairs; malformed pairs are skipped.
std::vector<std::pair<std::string, std::string>> parse_cookies(std::string_view header);

}  // namespace authz
