#include "authz/jws.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <string>

#include "authz/base64url.hpp"
#include "authz/form.hpp"
#include "json_writer.hpp"
#include "strict_json.hpp"

namespace authz {
namespace {

// Compact JWSs we accept (client assertions, DPoP proofs, request objects) are a few KiB;
// anything far larger is refused before decoding.
constexpr std::size_t kMaxCompactLength = 64 * 1024;
// RFC 7523 §3 item 4-5: a little clock skew between the client and us is tolerated.
constexpr std::int64_t kLeewaySeconds = 60;

// Asymmetric algorithms we verify (RFC 7518 §3.1, RFC 8037 §3.1). HS* are refused for
// client assertions and DPoP: a shared-secret MAC proves nothing about a private key.
constexpr std::array<std::string_view, 4> kAsymmetricAlgs = {"ES256", "RS256", "PS256", "EdDSA"};

bool is_asymmetric_alg(std::string_view alg) {
  return std::find(kAsymmetricAlgs.begin(), kAsymmetricAlgs.end(), alg) != kAsymmetricAlgs.end();
}

OAuthError invalid_client(std::string why) { return make_error("invalid_client", std::move(why)); }

// RFC 7515 §4.1.4: kid selects the key when present; otherwise each key that fits alg is tried.
bool verified_by_any(const JwsParts& parts, const std::vector<PublicKey>& keys) {
  return std::any_of(keys.begin(), keys.end(), [&](const PublicKey& key) {
    return (parts.kid.empty() || key.kid() == parts.kid) && jws_verify(parts, key);
  });
}

// RFC 7519 §4.1.3: aud is a string or an array of strings, one of which must be one of
// `audiences`. Says what is wrong, or nothing.
std::optional<std::string> audience_problem(const nlohmann::json& claims,
                                            const std::vector<std::string>& audiences) {
  auto aud = claims.find("aud");
  if (aud == claims.end()) return "has no aud";
  auto ours = [&](const nlohmann::json& value) {
    return std::find(audiences.begin(), audiences.end(), value.get_ref<const std::string&>()) !=
           audiences.end();
  };
  if (aud->is_string()) {
    if (ours(*aud)) return std::nullopt;
    return "aud is not this server";
  }
  if (!aud->is_array()) return "aud is malformed";
  bool matches = false;
  for (const auto& value : *aud) {
    if (!value.is_string()) return "aud is malformed";
    matches = matches || ours(value);
  }
  if (!matches) return "aud is not this server";
  return std::nullopt;
}

// RFC 7519 §4.1.4-6: exp is required and in the future (with leeway), and at most
// `max_lifetime` ahead; nbf and iat, when present, are not in the future. Sets `exp`; says what
// is wrong, or nothing.
std::optional<std::string> time_problem(const nlohmann::json& claims, std::int64_t now,
                                        std::int64_t max_lifetime, std::int64_t& exp) {
  using detail::MemberState;
  if (detail::numeric_date_member(claims, "exp", exp) != MemberState::kPresent)
    return "needs a numeric exp";
  if (now >= exp + kLeewaySeconds) return "has expired";
  // The lifetime counts from the JWT's iat when that is later than our now: the skew the check
  // below tolerates. A client whose clock runs a few seconds ahead and whose JWTs live exactly
  // `max_lifetime` (Authlib's private_key_jwt assertions: exp = iat + 3600) is not refused for
  // that, and no JWT gets more than the leeway beyond `max_lifetime` (RFC 7523 §3 item 4).
  std::int64_t start = now;
  for (const char* name : {"nbf", "iat"}) {
    std::int64_t t = 0;
    switch (detail::numeric_date_member(claims, name, t)) {
      case MemberState::kWrongType:
        return "date is malformed";
      case MemberState::kPresent:
        if (t > now + kLeewaySeconds) return "is not yet valid";
        if (std::string_view(name) == "iat") start = std::max(start, t);
        break;
      case MemberState::kAbsent:
        break;
    }
  }
  if (exp - start > max_lifetime) return "lives too long";
  return std::nullopt;
}

// Claims shared by client_assertion_subject and verify_client_assertion.
Expected<std::string> assertion_subject(const nlohmann::json& claims) {
  using detail::MemberState;
  std::string iss;
  std::string sub;
  if (detail::string_member(claims, "iss", iss) != MemberState::kPresent ||
      detail::string_member(claims, "sub", sub) != MemberState::kPresent) {
    return invalid_client("client assertion needs string iss and sub");
  }
  // RFC 7523 §3 items 1-2 and RFC 7521 §5.2: for client authentication both are the
  // client_id.
  if (iss.empty() || iss != sub) return invalid_client("client assertion iss must equal sub");
  return iss;
}

}  // namespace

Expected<JwsParts> jws_parse(std::string_view compact) {
  using detail::MemberState;
  auto fail = [](std::string why) { return make_error("invalid_request", std::move(why)); };
  if (compact.size() > kMaxCompactLength) return fail("JWS too large");
  // RFC 7515 §7.1: exactly three base64url parts separated by two dots.
  const auto dot1 = compact.find('.');
  if (dot1 == std::string_view::npos) return fail("JWS must have three parts");
  const auto dot2 = compact.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || compact.find('.', dot2 + 1) != std::string_view::npos) {
    return fail("JWS must have three parts");
  }
  const std::string_view header_b64 = compact.substr(0, dot1);
  const std::string_view payload_b64 = compact.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature_b64 = compact.substr(dot2 + 1);

  auto header = base64url_decode(header_b64);
  auto payload = base64url_decode(payload_b64);
  auto signature = base64url_decode(signature_b64);
  if (!header || !payload || !signature) return fail("JWS part is not strict base64url");
  if (signature->empty()) return fail("JWS is unsigned");

  // RFC 7515 §5.2 step 4 and §4: a JSON object; duplicate names rejected.
  auto json = detail::parse_json_object_strict(*header);
  if (!json) return fail("JWS header is not a strict JSON object");

  JwsParts parts;
  if (detail::string_member(*json, "alg", parts.alg) != MemberState::kPresent ||
      parts.alg.empty()) {
    return fail("JWS header needs a string alg");
  }
  // RFC 8725 §3.1 and §3.2: never accept unsecured JWSs, whatever the case of "none".
  if (iequals(parts.alg, "none")) return fail("alg none is not accepted");
  // RFC 7515 §4.1.11: we implement no extensions, so any "crit" makes the JWS invalid.
  if (json->contains("crit")) return fail("unsupported crit header");
  if (detail::string_member(*json, "typ", parts.typ) == MemberState::kWrongType ||
      detail::string_member(*json, "kid", parts.kid) == MemberState::kWrongType) {
    return fail("JWS typ and kid must be strings");
  }
  if (auto jwk = json->find("jwk"); jwk != json->end()) {
    if (!jwk->is_object()) return fail("JWS jwk must be an object");
    parts.jwk_json = jwk->dump();
  }
  parts.header_json = std::move(*header);
  parts.payload = std::move(*payload);
  parts.signature = std::move(*signature);
  parts.signing_input = std::string(compact.substr(0, dot2));
  return parts;
}

bool jws_verify(const JwsParts& parts, const PublicKey& key) {
  return key.supports_alg(parts.alg) && key.verify(parts.alg, parts.signing_input, parts.signature);
}

std::string jws_sign(const SigningKey& key, std::string_view kid, std::string_view typ,
                     std::string_view payload_json) {
  JsonObject header;
  header.add("alg", key.alg());
  if (!kid.empty()) header.add("kid", kid);
  if (!typ.empty()) header.add("typ", typ);
  std::string input = base64url_encode(header.str());
  input.push_back('.');
  input += base64url_encode(payload_json);
  const std::string signature = key.sign(input);
  input.push_back('.');
  input += base64url_encode(signature);
  return input;
}

Expected<std::vector<PublicKey>> parse_jwk_set(std::string_view jwks_json) {
  auto fail = [](std::string why) { return make_error("invalid_request", std::move(why)); };
  auto set = detail::parse_json_object_strict(jwks_json);
  if (!set) return fail("JWK Set is not a strict JSON object");
  auto keys = set->find("keys");
  if (keys == set->end() || !keys->is_array()) return fail("JWK Set needs a keys array");
  std::vector<PublicKey> result;
  for (const auto& entry : *keys) {
    if (!entry.is_object()) return fail("JWK Set member is not an object");
    // RFC 7517 §5: "implementations SHOULD ignore JWKs within a JWK Set that use "kty"
    // values that are not understood", and the same for unusable keys.
    auto key = PublicKey::from_jwk(entry.dump());
    if (key && key->usable_for_signatures()) result.push_back(std::move(*key));
  }
  return result;
}

Expected<std::string> client_assertion_subject(std::string_view jwt) {
  auto parts = jws_parse(jwt);
  if (!parts) return invalid_client(parts.error().description);
  auto claims = detail::parse_json_object_strict(parts->payload);
  if (!claims) return invalid_client("client assertion claims are not a strict JSON object");
  return assertion_subject(*claims);
}

Expected<ClientAssertion> verify_client_assertion(std::string_view jwt,
                                                  const std::vector<PublicKey>& client_keys,
                                                  std::string_view client_id,
                                                  const std::vector<std::string>& audiences,
                                                  std::int64_t now, std::string_view required_alg,
                                                  std::int64_t max_lifetime) {
  using detail::MemberState;
  auto parts = jws_parse(jwt);
  if (!parts) return invalid_client(parts.error().description);
  if (!is_asymmetric_alg(parts->alg)) {
    return invalid_client("client assertion alg must be asymmetric");
  }
  if (!required_alg.empty() && parts->alg != required_alg) {
    return invalid_client("client assertion must be signed with " + std::string(required_alg) +
                          ", the client's token_endpoint_auth_signing_alg");
  }
  // Explicit typing (RFC 8725 §3.11): refuse JWTs minted for another purpose, such as DPoP
  // proofs or access tokens, while accepting the plain "JWT" most clients send.
  if (!parts->typ.empty() && !iequals(parts->typ, "JWT") &&
      !iequals(parts->typ, "client-authentication+jwt")) {
    return invalid_client("client assertion has an unexpected typ");
  }

  // Signature first: nothing in an unauthenticated payload is worth reasoning about.
  if (!verified_by_any(*parts, client_keys))
    return invalid_client("client assertion signature does not verify");

  auto claims = detail::parse_json_object_strict(parts->payload);
  if (!claims) return invalid_client("client assertion claims are not a strict JSON object");
  auto subject = assertion_subject(*claims);
  if (!subject) return subject.error();
  if (*subject != client_id) return invalid_client("client assertion is for another client");

  // RFC 7523 §3 item 3: aud identifies us; items 4-6: exp, nbf and iat.
  if (auto why = audience_problem(*claims, audiences))
    return invalid_client("client assertion " + *why);
  std::int64_t exp = 0;
  if (auto why = time_problem(*claims, now, max_lifetime, exp))
    return invalid_client("client assertion " + *why);

  // RFC 7523 §3 item 7: jti lets the caller refuse replays.
  ClientAssertion result;
  if (detail::string_member(*claims, "jti", result.jti) != MemberState::kPresent ||
      result.jti.empty()) {
    return invalid_client("client assertion needs a jti");
  }
  result.client_id = std::move(*subject);
  result.exp = exp;
  return result;
}


Expected<Params> verify_request_object(std::string_view jwt,
                                       const std::vector<PublicKey>& client_keys,
                                       std::string_view client_id, std::string_view issuer,
                                       std::int64_t now, std::string_view required_alg) {
  using detail::MemberState;
  auto fail = [](std::string why) {
    return make_error("invalid_request_object", "request object " + std::move(why));
  };
  // RFC 9101 §6.1: encrypted request objects (five parts) are not accepted; §6.2: signed with
  // an asymmetric algorithm (never "none", refused by the parser).
  auto parts = jws_parse(jwt);
  if (!parts) return fail("is not a signed JWT: " + parts.error().description);
  if (!is_asymmetric_alg(parts->alg)) return fail("alg must be asymmetric");
  if (!required_alg.empty() && parts->alg != required_alg)
    return fail("must be signed with " + std::string(required_alg) +
                ", the client's request_object_signing_alg");
  // RFC 9101 §10.8: typ oauth-authz-req+jwt (the "application/" prefix may be left out,
  // RFC 7515 §4.1.9), or the plain JWT most clients still send; never a token or a proof.
  if (!parts->typ.empty() && !iequals(parts->typ, "JWT") &&
      !iequals(parts->typ, "oauth-authz-req+jwt") &&
      !iequals(parts->typ, "application/oauth-authz-req+jwt"))
    return fail("has an unexpected typ");
  if (!verified_by_any(*parts, client_keys)) return fail("signature does not verify");

  auto claims = detail::parse_json_object_strict(parts->payload);
  if (!claims) return fail("claims are not a strict JSON object");
  // RFC 9101 §4 and §5: iss is the client, aud is us, and the client_id inside is the one the
  // request names outside.
  std::string iss;
  if (detail::string_member(*claims, "iss", iss) != MemberState::kPresent || iss != client_id)
    return fail("iss must be the client_id");
  std::string inner_client_id;
  if (detail::string_member(*claims, "client_id", inner_client_id) != MemberState::kPresent ||
      inner_client_id != client_id)
    return fail("client_id must be the request's client_id");
  if (auto why = audience_problem(*claims, {std::string(issuer)})) return fail(*why);
  // FAPI 2.0 Message Signing §5.3.2: lives at most an hour, and nbf is not older than that.
  constexpr std::int64_t kMaxLifetime = 3600;
  std::int64_t exp = 0;
  if (auto why = time_problem(*claims, now, kMaxLifetime, exp)) return fail(*why);
  if (std::int64_t nbf = 0;
      detail::numeric_date_member(*claims, "nbf", nbf) == MemberState::kPresent &&
      nbf < now - kMaxLifetime)
    return fail("nbf is too old");

  // RFC 9101 §5: only the object's parameters count. JSON values become the strings a query
  // would carry; a few parameters are JSON by nature (RFC 9396 §3 authorization_details, OIDC
  // Core §6.1 max_age as a number, RFC 8707 resource as an array, OIDC Core §5.5 claims).
  Params params;
  for (const auto& [name, value] : claims->items()) {
    if (name == "iss" || name == "aud" || name == "exp" || name == "nbf" || name == "iat" ||
        name == "jti")
      continue;
    if (name == "request" || name == "request_uri") return fail("must not hold " + name);
    if (value.is_string()) {
      params.add(name, value.get<std::string>());
    } else if (name == "max_age" && value.is_number_unsigned()) {
      params.add(name, std::to_string(value.get<std::uint64_t>()));
    } else if (name == "authorization_details" && (value.is_array() || value.is_object())) {
      params.add(name, value.dump());
    } else if (name == "resource" && value.is_array()) {
      for (const auto& r : value) {
        if (!r.is_string()) return fail("resource must be strings");
        params.add(name, r.get<std::string>());
      }
    } else if (name == "claims" && value.is_object()) {
      params.add(name, value.dump());  // OIDC Core §5.5, §6.1: a JSON object in the JWT
    } else {
      return fail(name + " has the wrong type");
    }
  }
  return params;
}

std::span<const std::string_view> verifiable_algs() { return kAsymmetricAlgs; }

}  // namespace authz
