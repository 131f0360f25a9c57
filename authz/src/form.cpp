#include "authz/form.hpp"

#include <boost/url/encode.hpp>
#include <boost/url/pct_string_view.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include <algorithm>
#include <cctype>

#include "authz/base64url.hpp"
#include "internal.hpp"

namespace authz {
namespace {

// One name or value of application/x-www-form-urlencoded: '+' is a space and every '%'
// starts a valid escape (Boost.URL checks that; WHATWG would pass a bad '%' through, we
// refuse it). The decoded bytes must be UTF-8 without NUL.
std::optional<std::string> form_decode(std::string_view text) {
  auto pct = boost::urls::make_pct_string_view(boost::urls::string_view(text.data(), text.size()));
  if (!pct) return std::nullopt;
  boost::urls::encoding_opts opts;
  opts.space_as_plus = true;
  std::string decoded = pct->decode(opts);
  if (decoded.find('\0') != std::string::npos || !valid_utf8(decoded)) return std::nullopt;
  return decoded;
}

Expected<Params> parse_urlencoded(std::string_view text, std::string_view what) {
  Params params;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('&', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view pair = text.substr(start, end - start);
    start = end + 1;
    if (pair.empty()) continue;  // WHATWG URL §5.1 step 3.1: empty sequences are skipped
    const std::size_t eq = pair.find('=');
    const std::string_view raw_name = pair.substr(0, eq);
    const std::string_view raw_value =
        eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    auto name = form_decode(raw_name);
    auto value = form_decode(raw_value);
    if (!name || !value) {
      return make_error("invalid_request", "malformed " + std::string(what) + " encoding");
    }
    params.add(std::move(*name), std::move(*value));
  }
  return params;
}


// Splits "<scheme> 1*SP <credentials>" (RFC 9110 §11.4). The rest must be non-empty and
// contain no further spaces.
std::optional<std::pair<std::string_view, std::string_view>> split_credentials(
    std::string_view header) {
  const std::size_t sp = header.find(' ');
  if (sp == std::string_view::npos || sp == 0) return std::nullopt;
  const std::string_view scheme = header.substr(0, sp);
  std::string_view rest = header.substr(sp);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (rest.empty() || rest.find_first_of(" \t") != std::string_view::npos) return std::nullopt;
  return std::pair{scheme, rest};
}

bool is_alpha_digit(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
bool is_b64token(std::string_view s) {
  std::size_t body = 0;
  while (body < s.size() && (is_alpha_digit(s[body]) || s[body] == '-' || s[body] == '.' ||
                             s[body] == '_' || s[body] == '~' || s[body] == '+' ||
                             s[body] == '/')) {
    ++body;
  }
  if (body == 0) return false;
  return std::all_of(s.begin() + static_cast<std::ptrdiff_t>(body), s.end(),
                     [](char c) { return c == '='; });
}

// RFC 9110 §5.6.2 tchar, the syntax of a cookie-name (RFC 6265 §4.1.1).
bool is_tchar(char c) {
  return is_alpha_digit(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// RFC 6265 §4.1.1 cookie-octet.
bool is_cookie_octet(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u == 0x21 || (u >= 0x23 && u <= 0x2B) || (u >= 0x2D && u <= 0x3A) ||
         (u >= 0x3C && u <= 0x5B) || (u >= 0x5D && u <= 0x7E);
}

bool is_cookie_value(std::string_view v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  return std::all_of(v.begin(), v.end(), is_cookie_octet);
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::optional<std::string_view> Params::get(std::string_view name) const {
  for (const auto& [n, v] : items_) {
    if (n == name) return std::string_view(v);
  }
  return std::nullopt;
}

std::string Params::value(std::string_view name) const {
  auto v = get(name);
  return v ? std::string(*v) : std::string();
}

std::optional<std::string> Params::first_duplicate() const {
  for (std::size_t i = 0; i < items_.size(); ++i) {
    const auto& name = items_[i].first;
    if (name == "resource") continue;  // RFC 8707 §2: may repeat
    for (std::size_t j = 0; j < i; ++j) {
      if (items_[j].first == name) return name;
    }
  }
  return std::nullopt;
}

std::vector<std::string> Params::all(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [n, v] : items_) {
    if (n == name) out.push_back(v);
  }
  return out;
}

Expected<Params> parse_form(std::string_view body) { return parse_urlencoded(body, "form"); }

Expected<Params> parse_query(std::string_view query) { return parse_urlencoded(query, "query"); }

std::string form_encode(std::string_view value) {
  return boost::urls::encode(boost::urls::string_view(value.data(), value.size()),
                             boost::urls::unreserved_chars);
}

std::optional<BasicCredentials> parse_basic_authorization(std::string_view header) {
  auto parts = split_credentials(header);
  if (!parts || !iequals(parts->first, "Basic")) return std::nullopt;
  auto decoded = base64_decode(parts->second);
  if (!decoded) return std::nullopt;
  // RFC 6749 §2.3.1: id and secret are form-urlencoded before joining with ':', so the first
  // ':' is the separator.
  const std::size_t colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  auto id = form_decode(std::string_view(*decoded).substr(0, colon));
  auto secret = form_decode(std::string_view(*decoded).substr(colon + 1));
  if (!id || !secret || id->empty()) return std::nullopt;
  return BasicCredentials{std::move(*id), std::move(*secret)};
}

std::optional<TokenAuthorization> parse_token_authorization(std::string_view header) {
  auto parts = split_credentials(header);
  if (!parts || !is_b64token(parts->second)) return std::nullopt;
  std::string token(parts->second);
  if (iequals(parts->first, "Bearer")) return TokenAuthorization{"bearer", std::move(token)};
  if (iequals(parts->first, "DPoP")) return TokenAuthorization{"dpop", std::move(token)};
  return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> parse_cookies(std::string_view header) {
  std::vector<std::pair<std::string, std::string>> cookies;
  std::size_t start = 0;
  while (start <= header.size()) {
    std::size_t end = header.find(';', start);
    if (end == std::string_view::npos) end = header.size();
    const std::string_view pair = trim_ows(header.substr(start, end - start));
    start = end + 1;
    const std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    const std::string_view name = trim_ows(pair.substr(0, eq));
    const std::string_view value = trim_ows(pair.substr(eq + 1));
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_tchar) ||
        !is_cookie_value(value)) {
      continue;
    }
    cookies.emplace_back(std::string(name), std::string(value));
  }
  return cookies;
}

}  // namespace authz
