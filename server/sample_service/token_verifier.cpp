#include "token_verifier.hpp"

#include <algorithm>
#include <boost/url.hpp>
#include <cctype>
#include <nlohmann/json.hpp>

#include "authz/jws.hpp"
#include "broker_wiring.hpp"

namespace sample_service {

namespace {

authz::OAuthError invalid_token(std::string description) {
  return authz::make_error("invalid_token", std::move(description));
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::vector<std::string> split_spaces(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    const auto start = i;
    while (i < s.size() && s[i] != ' ') ++i;
    if (i > start) out.emplace_back(s.substr(start, i - start));
  }
  return out;
}

}  // namespace

bool AccessToken::has_scope(std::string_view scope) const {
  return std::find(scopes.begin(), scopes.end(), scope) != scopes.end();
}

bool AccessToken::bound_to(std::string_view transfer) const {
  return std::find(transfers.begin(), transfers.end(), transfer) != transfers.end();
}

// ---------------------------------------------------------------------------------------------

std::string IssuerKeySource::metadata_url(std::string_view issuer) {
  auto parsed = boost::urls::parse_absolute_uri(issuer);
  if (!parsed) return std::string(issuer) + "/.well-known/oauth-authorization-server";
  std::string path(parsed->encoded_path());
  if (path == "/") path.clear();
  return std::string(parsed->scheme()) + "://" + std::string(parsed->encoded_host_and_port()) +
         "/.well-known/oauth-authorization-server" + path;
}

namespace {

struct FetchResult {
  int status = 0;
  std::string body;
};

// One GET with the broker's HTTP client (plain or TLS), a deadline and a body cap.
authz::Expected<FetchResult> http_get(const std::string& url) {
  server::BeastHttpClient client;
  try {
    auto res = client.send({"GET", url, {}, {}}, std::chrono::seconds(5), 1 << 20);
    return FetchResult{res.status, std::move(res.body)};
  } catch (const portability::TransportError& e) {
    return authz::make_error("server_error", e.what());
  }
}

}  // namespace

authz::Expected<std::vector<authz::PublicKey>> IssuerKeySource::fetch() {
  const auto url = metadata_url(issuer_);
  auto meta = http_get(url);
  if (!meta) return meta.error();
  if (meta->status != 200) {
    return authz::make_error("server_error",
                             "issuer metadata: HTTP " + std::to_string(meta->status));
  }
  auto doc = nlohmann::json::parse(meta->body, nullptr, false);
  if (!doc.is_object() || !doc.contains("jwks_uri") || !doc["jwks_uri"].is_string()) {
    return authz::make_error("server_error", "issuer metadata has no jwks_uri");
  }
  // RFC 8414 §3.3: the metadata must name the issuer we asked about, or it is not its own.
  if (!doc.contains("issuer") || !doc["issuer"].is_string() || doc["issuer"] != issuer_) {
    return authz::make_error("server_error", "issuer metadata names another issuer");
  }
  auto jwks = http_get(doc["jwks_uri"].get<std::string>());
  if (!jwks) return jwks.error();
  if (jwks->status != 200) {
    return authz::make_error("server_error", "jwks_uri: HTTP " + std::to_string(jwks->status));
  }
  auto keys = authz::parse_jwk_set(jwks->body);
  if (!keys) return authz::make_error("server_error", "jwks_uri: " + keys.error().description);
  return std::move(*keys);
}

// ---------------------------------------------------------------------------------------------

authz::Expected<std::vector<authz::PublicKey>> TokenVerifier::candidates(const std::string& kid) {
  std::lock_guard lock(mutex_);
  auto pick = [&] {
    std::vector<authz::PublicKey> out;
    for (const auto& k : cache_) {
      if ((kid.empty() || k.kid() == kid) && k.supports_alg("ES256")) out.push_back(k);
    }
    return out;
  };
  auto found = pick();
  // Fetch on first use, and once more when the token names a kid we do not hold: the issuer
  // may have rotated its key since (RFC 7517 §4.5: kid selects the key).
  if (!found.empty() || (fetched_ && kid.empty())) return found;
  auto keys = keys_.fetch();
  if (!keys) {
    if (!fetched_) return keys.error();
    return found;  // keep serving with the keys we have
  }
  cache_ = std::move(*keys);
  fetched_ = true;
  return pick();
}

authz::Expected<AccessToken> TokenVerifier::verify(std::string_view jwt) {
  auto parts = authz::jws_parse(jwt);
  if (!parts) return invalid_token("malformed token: " + parts.error().description);
  // RFC 9068 §4: the typ must be at+jwt (or its full media type), so that an ID token or
  // another JWT signed by the same issuer cannot be replayed as an access token.
  if (!iequals(parts->typ, "at+jwt") && !iequals(parts->typ, "application/at+jwt")) {
    return invalid_token("typ must be at+jwt");
  }
  if (parts->alg != "ES256") return invalid_token("alg must be ES256");

  auto keys = candidates(parts->kid);
  if (!keys) return keys.error();
  if (keys->empty()) return invalid_token("unknown signing key");
  const bool signed_ok = std::any_of(keys->begin(), keys->end(), [&](const authz::PublicKey& k) {
    return authz::jws_verify(*parts, k);
  });
  if (!signed_ok) return invalid_token("bad signature");

  auto claims = nlohmann::json::parse(parts->payload, nullptr, false);
  if (!claims.is_object()) return invalid_token("claims are not a JSON object");
  // RFC 9068 §4: iss must be exactly the issuer whose keys verified the signature.
  if (!claims.contains("iss") || !claims["iss"].is_string() || claims["iss"] != issuer_) {
    return invalid_token("wrong issuer");
  }
  // RFC 9068 §4 / RFC 7519 §4.1.3: this service must be among the audiences.
  bool audience_ok = false;
  if (claims.contains("aud")) {
    const auto& aud = claims["aud"];
    if (aud.is_string()) audience_ok = aud == audience_;
    if (aud.is_array()) {
      audience_ok = std::any_of(aud.begin(), aud.end(), [&](const nlohmann::json& a) {
        return a.is_string() && a == audience_;
      });
    }
  }
  if (!audience_ok) return invalid_token("token is not meant for this service (aud)");
  const auto now = clock_.now();
  if (!claims.contains("exp") || !claims["exp"].is_number()) return invalid_token("no exp");
  if (claims["exp"].get<double>() + static_cast<double>(kSkewSeconds) <=
      static_cast<double>(now)) {
    return invalid_token("token expired");
  }
  if (claims.contains("nbf")) {
    if (!claims["nbf"].is_number()) return invalid_token("nbf is not a number");
    if (claims["nbf"].get<double>() > static_cast<double>(now + kSkewSeconds)) {
      return invalid_token("token not yet valid");
    }
  }
  if (!claims.contains("sub") || !claims["sub"].is_string() ||
      claims["sub"].get_ref<const std::string&>().empty()) {
    return invalid_token("no sub");
  }
  // A sender-constrained token (RFC 9449 §6, RFC 8705 §3) is good only with proof of its key
  // or certificate, neither of which this service checks: it is not taken as a bearer token.
  if (claims.contains("cnf")) return invalid_token("bound tokens (cnf) are not accepted here");

  AccessToken token;
  token.sub = claims["sub"].get<std::string>();
  if (claims.contains("scope")) {
    if (!claims["scope"].is_string()) return invalid_token("scope is not a string");
    token.scopes = split_spaces(claims["scope"].get_ref<const std::string&>());
  }
  if (claims.contains("client_id") && claims["client_id"].is_string()) {
    token.client_id = claims["client_id"].get<std::string>();
  }
  // RFC 9396 §2 / §9.2: authorization_details is an array of objects with a "type"; the
  // common field "identifier" names the transfer this token is for.
  if (claims.contains("authorization_details")) {
    const auto& details = claims["authorization_details"];
    if (!details.is_array()) return invalid_token("authorization_details is not an array");
    for (const auto& d : details) {
      if (!d.is_object()) return invalid_token("authorization_details holds a non-object");
      if (!d.contains("type") || !d["type"].is_string() || d["type"] != "personal_data_transfer") {
        continue;
      }
      if (d.contains("identifier") && d["identifier"].is_string()) {
        token.transfers.push_back(d["identifier"].get<std::string>());
      }
    }
  }
  return token;
}

}  // namespace sample_service
