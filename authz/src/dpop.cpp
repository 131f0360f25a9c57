#include "authz/dpop.hpp"

#include <algorithm>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include "authz/crypto.hpp"
#include "authz/jws.hpp"
#include "strict_json.hpp"

namespace authz {
namespace {

constexpr std::string_view kDpopTyp = "dpop+jwt";

OAuthError invalid_proof(std::string why) {
  return make_error("invalid_dpop_proof", std::move(why));
}

// RFC 9449 §4.3 item 9 and RFC 3986 §6.2.2-6.2.3: syntax- and scheme-based normalisation
// (case of scheme and host, percent-encoding, dot segments, default port, empty path), with
// query and fragment dropped. Only absolute http(s) URIs qualify.
std::optional<std::string> normalize_htu(std::string_view text) {
  auto parsed = boost::urls::parse_uri(boost::urls::string_view(text.data(), text.size()));
  if (!parsed) return std::nullopt;
  boost::urls::url url(*parsed);
  url.remove_query();
  url.remove_fragment();
  url.normalize();
  const auto scheme = url.scheme_id();
  if (scheme != boost::urls::scheme::http && scheme != boost::urls::scheme::https) {
    return std::nullopt;
  }
  if (!url.has_authority() || url.encoded_host().empty()) return std::nullopt;
  if (url.has_port()) {
    const auto port = url.port();
    if (port.empty() || (scheme == boost::urls::scheme::http && port == "80") ||
        (scheme == boost::urls::scheme::https && port == "443")) {
      url.remove_port();
    }
  }
  // Query and fragment are gone, so the buffer ends with the path. An empty path means "/"
  // (RFC 3986 §6.2.3). Appending by hand: Boost.URL 1.81's set_encoded_path("/") yields "/./".
  std::string normal(url.buffer());
  if (url.encoded_path().empty()) normal.push_back('/');
  return normal;
}

}  // namespace

Expected<DpopProof> dpop_verify(std::string_view proof, const DpopCheck& check) {
  using detail::MemberState;
  // RFC 9449 §4.3 items 1-3: one well-formed JWS.
  auto parts = jws_parse(proof);
  if (!parts) return invalid_proof(parts.error().description);
  // Item 4: typ is exactly "dpop+jwt" (explicit typing; no case folding, no "application/").
  if (parts->typ != kDpopTyp) return invalid_proof("typ must be dpop+jwt");
  // Item 5: an asymmetric algorithm we support (jws_parse already refused "none").
  if (parts->alg != "ES256" && parts->alg != "RS256" && parts->alg != "PS256" &&
      parts->alg != "EdDSA") {
    return invalid_proof("unsupported alg");
  }
  // Items 6-7: the header's jwk is a public key (from_jwk rejects private members) and it
  // verifies the signature.
  if (parts->jwk_json.empty()) return invalid_proof("jwk header missing");
  auto key = PublicKey::from_jwk(parts->jwk_json);
  if (!key) return invalid_proof("jwk is not an acceptable public key");
  if (!jws_verify(*parts, *key)) return invalid_proof("signature does not verify");

  auto claims = detail::parse_json_object_strict(parts->payload);
  if (!claims) return invalid_proof("claims are not a strict JSON object");

  // Item 8: htm matches the method (methods are case-sensitive, RFC 9110 §9.1).
  std::string htm;
  if (detail::string_member(*claims, "htm", htm) != MemberState::kPresent ||
      htm != check.method) {
    return invalid_proof("htm does not match");
  }
  // Item 9: htu matches the request URI, ignoring query and fragment.
  std::string htu;
  if (detail::string_member(*claims, "htu", htu) != MemberState::kPresent) {
    return invalid_proof("htu missing");
  }
  auto htu_normal = normalize_htu(htu);
  auto url_normal = normalize_htu(check.url);
  if (!htu_normal || !url_normal || *htu_normal != *url_normal) {
    return invalid_proof("htu does not match");
  }
  // Item 11: iat within the acceptable window (both directions: a proof from the future is
  // as suspicious as a stale one).
  DpopProof result;
  if (detail::numeric_date_member(*claims, "iat", result.iat) != MemberState::kPresent) {
    return invalid_proof("iat missing");
  }
  if (result.iat > check.now + check.max_age || result.iat < check.now - check.max_age) {
    return invalid_proof("iat outside the acceptable window");
  }
  // jti (RFC 9449 §4.2): the caller checks replay.
  if (detail::string_member(*claims, "jti", result.jti) != MemberState::kPresent ||
      result.jti.empty()) {
    return invalid_proof("jti missing");
  }
  // Item 12 (§4.3) and §7: with an access token, ath = base64url(SHA-256(token)).
  if (check.access_token) {
    std::string ath;
    if (detail::string_member(*claims, "ath", ath) != MemberState::kPresent ||
        !constant_time_equal(ath, sha256_b64url(*check.access_token))) {
      return invalid_proof("ath does not match the access token");
    }
  }
  // Item 10 (§4.3), last: the nonce the server gave out, when it asks for one (§8, §9). A
  // proof otherwise good is worth another try with a fresh nonce; a bad one is not.
  if (!check.nonces.empty()) {
    std::string nonce;
    if (detail::string_member(*claims, "nonce", nonce) != MemberState::kPresent ||
        std::ranges::none_of(check.nonces,
                             [&](const std::string& n) { return constant_time_equal(n, nonce); })) {
      return make_error("use_dpop_nonce", "the DPoP proof must carry the nonce in DPoP-Nonce");
    }
  }
  result.jkt = key->thumbprint();
  return result;
}

}  // namespace authz
