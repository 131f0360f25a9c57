#include "authz/client_certificate.hpp"

#include <arpa/inet.h>
#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "authz/base64url.hpp"
#include "authz/crypto.hpp"
#include "authz/openssl_ptr.hpp"
#include "authz/form.hpp"

namespace authz {
namespace {

using Attributes = std::vector<std::pair<std::string, std::string>>;

using X509Free = OsslFree<X509_free>;
using NamesFree = OsslFree<GENERAL_NAMES_free>;

char ascii_upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = ascii_upper(c);
  return out;
}

std::string utf8_of(const ASN1_STRING* s) {
  unsigned char* out = nullptr;
  const int n = ASN1_STRING_to_UTF8(&out, s);
  if (n < 0) return {};
  std::string text(reinterpret_cast<const char*>(out), static_cast<std::size_t>(n));
  OPENSSL_free(out);
  return text;
}

// The attribute type as RFC 4514 §3 writes it: its short name for the ones the RFC lists,
// else the dotted OID.
std::string type_name(const ASN1_OBJECT* object) {
  static constexpr std::string_view kShortNames[] = {"CN", "L",  "ST", "O",
                                                     "OU", "C",  "STREET", "DC", "UID"};
  const int nid = OBJ_obj2nid(object);
  if (nid != NID_undef) {
    const char* sn = OBJ_nid2sn(nid);
    if (sn != nullptr) {
      const std::string name = upper(sn);
      for (auto known : kShortNames) {
        if (name == known) return name;
      }
    }
  }
  char oid[128];
  const int n = OBJ_obj2txt(oid, sizeof oid, object, 1);
  return n > 0 && n < static_cast<int>(sizeof oid) ? std::string(oid, static_cast<std::size_t>(n))
                                                   : std::string();
}

// The attribute types a subject DN commonly carries, for names written in another case than
// OpenSSL's (type names are case-insensitive, RFC 4512 §1.4).
constexpr int kNameTypes[] = {
    NID_commonName,          NID_countryName,       NID_localityName,
    NID_stateOrProvinceName, NID_organizationName,  NID_organizationalUnitName,
    NID_streetAddress,       NID_domainComponent,   NID_userId,
    NID_pkcs9_emailAddress,  NID_serialNumber,      NID_title,
    NID_givenName,           NID_surname,           NID_initials,
    NID_pseudonym,           NID_businessCategory,  NID_organizationIdentifier,
    NID_jurisdictionCountryName};

// The dotted OID of an RFC 4514 type name, or the name itself when it is one already.
std::string dotted_oid(std::string_view type) {
  if (!type.empty() && type.front() >= '0' && type.front() <= '9') return std::string(type);
  int nid = NID_undef;
  for (const int known : kNameTypes) {
    const char* sn = OBJ_nid2sn(known);
    const char* ln = OBJ_nid2ln(known);
    if ((sn != nullptr && iequals(type, sn)) ||
        (ln != nullptr && iequals(type, ln))) {
      nid = known;
      break;
    }
  }
  // RFC 4514 §3 and OpenSSL spell two of them differently.
  if (nid == NID_undef && iequals(type, "STREET")) nid = NID_streetAddress;
  if (nid == NID_undef && iequals(type, "UID")) nid = NID_userId;
  if (nid == NID_undef) {
    const std::string name(type);
    nid = OBJ_sn2nid(name.c_str());
    if (nid == NID_undef) nid = OBJ_ln2nid(name.c_str());
  }
  if (nid == NID_undef) return {};
  char oid[128];
  const int n = OBJ_obj2txt(oid, sizeof oid, OBJ_nid2obj(nid), 1);
  return n > 0 && n < static_cast<int>(sizeof oid) ? std::string(oid, static_cast<std::size_t>(n))
                                                   : std::string();
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 4514 §3: a distinguished name's string form, read into its attributes in order. A
// multi-valued RDN (`+`) counts as its attributes in the order written. Values in the `#hex`
// BER form are not accepted: a client registers the name as text.
std::optional<Attributes> parse_dn(std::string_view text) {
  Attributes out;
  std::size_t i = 0;
  const auto skip_spaces = [&] {
    while (i < text.size() && text[i] == ' ') ++i;
  };
  for (;;) {
    skip_spaces();
    const std::size_t type_start = i;
    while (i < text.size() && text[i] != '=' && text[i] != ',' && text[i] != '+') ++i;
    if (i >= text.size() || text[i] != '=') return std::nullopt;
    std::string_view type = text.substr(type_start, i - type_start);
    while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
    if (type.empty()) return std::nullopt;
    for (char c : type) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '-' || c == '.';
      if (!ok) return std::nullopt;
    }
    ++i;  // '='
    skip_spaces();
    if (i < text.size() && text[i] == '#') return std::nullopt;
    std::string value;
    std::size_t keep = 0;  // the value's length up to its last escaped or non-space character
    while (i < text.size() && text[i] != ',' && text[i] != '+') {
      const char c = text[i];
      if (c == '\\') {
        if (i + 1 >= text.size()) return std::nullopt;
        const int hi = hex_value(text[i + 1]);
        if (hi >= 0 && i + 2 < text.size() && hex_value(text[i + 2]) >= 0) {
          value += static_cast<char>(hi * 16 + hex_value(text[i + 2]));
          i += 3;
        } else {
          static constexpr std::string_view kSpecial = " \"#+,;<=>\\";
          if (kSpecial.find(text[i + 1]) == std::string_view::npos) return std::nullopt;
          value += text[i + 1];
          i += 2;
        }
        keep = value.size();
        continue;
      }
      if (c == '"' || c == ';' || c == '<' || c == '>' || c == '\0') return std::nullopt;
      value += c;
      if (c != ' ') keep = value.size();
      ++i;
    }
    value.resize(keep);  // spaces before the separator are not part of the value
    out.emplace_back(std::string(type), std::move(value));
    if (i >= text.size()) break;
    ++i;  // ',' or '+'
  }
  return out;
}

std::optional<std::string> canonical_ip(std::string_view text) {
  const std::string s(text);
  unsigned char bytes[16];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, s.c_str(), bytes) == 1)
    return std::string(inet_ntop(AF_INET, bytes, out, sizeof out));
  if (inet_pton(AF_INET6, s.c_str(), bytes) == 1)
    return std::string(inet_ntop(AF_INET6, bytes, out, sizeof out));
  return std::nullopt;
}

bool same_type(const std::string& cert_type, const std::string& registered) {
  if (iequals(cert_type, registered)) return true;
  const auto a = dotted_oid(cert_type);
  return !a.empty() && a == dotted_oid(registered);
}

bool has(const std::vector<std::string>& list, std::string_view value) {
  for (const auto& v : list) {
    if (v == value) return true;
  }
  return false;
}

}  // namespace

Expected<ClientCertificate> parse_client_certificate(std::string_view der, bool trusted) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<X509, X509Free> x509(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!x509 || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size())
    return make_error("invalid_request", "the client certificate does not parse");
  ClientCertificate cert;
  cert.der = std::string(der);
  cert.x5t_s256 = sha256_b64url(der);
  cert.trusted = trusted;
  const X509_NAME* subject = X509_get_subject_name(x509.get());
  for (int i = X509_NAME_entry_count(subject); i-- > 0;) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(subject, i);
    cert.subject.emplace_back(type_name(X509_NAME_ENTRY_get_object(entry)),
                              utf8_of(X509_NAME_ENTRY_get_data(entry)));
  }
  std::unique_ptr<GENERAL_NAMES, NamesFree> names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(x509.get(), NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    switch (name->type) {
      case GEN_DNS: cert.san_dns.push_back(utf8_of(name->d.dNSName)); break;
      case GEN_URI: cert.san_uri.push_back(utf8_of(name->d.uniformResourceIdentifier)); break;
      case GEN_EMAIL: cert.san_email.push_back(utf8_of(name->d.rfc822Name)); break;
      case GEN_IPADD: {
        const ASN1_OCTET_STRING* ip = name->d.iPAddress;
        char out[INET6_ADDRSTRLEN];
        const int family = ip->length == 4 ? AF_INET : ip->length == 16 ? AF_INET6 : 0;
        if (family != 0 && inet_ntop(family, ip->data, out, sizeof out) != nullptr)
          cert.san_ip.emplace_back(out);
        break;
      }
      default: break;
    }
  }
  return cert;
}

Expected<std::string> canonical_tls_client_auth(std::string_view name, std::string_view value) {
  const auto bad = [&](const char* why) {
    return make_error("invalid_client_metadata", std::string(name) + " " + why);
  };
  if (value.empty()) return bad("must not be empty");
  if (name == "tls_client_auth_subject_dn") {
    auto dn = parse_dn(value);
    if (!dn) return bad("is not a distinguished name as RFC 4514 writes it");
    for (const auto& [type, v] : *dn) {
      if (dotted_oid(type).empty()) return bad("names an unknown attribute type");
    }
    return std::string(value);
  }
  if (name == "tls_client_auth_san_ip") {
    auto ip = canonical_ip(value);
    if (!ip) return bad("is not an IP address");
    return *ip;
  }
  if (name == "tls_client_auth_san_dns" || name == "tls_client_auth_san_uri" ||
      name == "tls_client_auth_san_email")
    return std::string(value);
  return make_error("invalid_client_metadata", "unknown certificate name " + std::string(name));
}

bool certificate_names(const ClientCertificate& cert, std::string_view name,
                       std::string_view value) {
  if (name == "tls_client_auth_subject_dn") {
    const auto dn = parse_dn(value);
    if (!dn || dn->size() != cert.subject.size() || dn->empty()) return false;
    for (std::size_t i = 0; i < dn->size(); ++i) {
      if (!same_type(cert.subject[i].first, (*dn)[i].first) ||
          !iequals(cert.subject[i].second, (*dn)[i].second))
        return false;
    }
    return true;
  }
  if (name == "tls_client_auth_san_dns") {
    for (const auto& dns : cert.san_dns) {
      if (iequals(dns, value)) return true;
    }
    return false;
  }
  if (name == "tls_client_auth_san_uri") return has(cert.san_uri, value);
  if (name == "tls_client_auth_san_ip") return has(cert.san_ip, value);
  if (name == "tls_client_auth_san_email") return has(cert.san_email, value);
  return false;
}

std::vector<std::string> registered_certificates(std::string_view jwks_json) {
  std::vector<std::string> out;
  const auto set = nlohmann::json::parse(jwks_json, nullptr, false);
  if (!set.is_object() || !set.contains("keys") || !set["keys"].is_array()) return out;
  for (const auto& key : set["keys"]) {
    if (!key.is_object() || !key.contains("x5c") || !key["x5c"].is_array() ||
        key["x5c"].empty() || !key["x5c"][0].is_string())
      continue;
    // RFC 7517 §4.7: base64, not base64url; the first certificate holds the key.
    auto der = base64_decode(key["x5c"][0].get<std::string>());
    if (der && parse_client_certificate(*der, false)) out.push_back(std::move(*der));
  }
  return out;
}

bool certificate_registered(const ClientCertificate& cert, std::string_view jwks_json) {
  return std::ranges::any_of(registered_certificates(jwks_json), [&](const std::string& der) {
    return constant_time_equal(der, cert.der);
  });
}

}  // namespace authz
