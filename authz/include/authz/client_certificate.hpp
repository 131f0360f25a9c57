#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "authz/expected.hpp"

namespace authz {

/// The X.509 certificate a client presented in the TLS handshake on the mutual-TLS listener
/// (RFC 8705), as the domain needs it.
struct ClientCertificate {
  std::string der;
  /// RFC 8705 §3.1: base64url(SHA-256(DER)), the `x5t#S256` a bound token's `cnf` carries.
  std::string x5t_s256;
  /// The TLS layer verified its chain to one of the configured trust anchors (RFC 8705 §2.1:
  /// the PKI method); false for a self-signed certificate or when none are configured.
  bool trusted = false;
  /// The subject's attributes in RFC 4514 order (the last RDN of the DER first): the type as
  /// RFC 4514 names it (CN, O, ...) or as a dotted OID, and the value in UTF-8.
  std::vector<std::pair<std::string, std::string>> subject;
  std::vector<std::string> san_dns;
  std::vector<std::string> san_uri;
  std::vector<std::string> san_ip;  ///< in the text form inet_ntop writes
  std::vector<std::string> san_email;
};

/// Reads a DER certificate. Errors are `invalid_request` (it does not parse).
Expected<ClientCertificate> parse_client_certificate(std::string_view der, bool trusted);

/// The client metadata names of RFC 8705 §2.1.2, one of which a `tls_client_auth` client
/// registers with the value its certificate must carry.
inline constexpr std::string_view kTlsClientAuthNames[] = {
    "tls_client_auth_subject_dn", "tls_client_auth_san_dns", "tls_client_auth_san_uri",
    "tls_client_auth_san_ip", "tls_client_auth_san_email"};

/// The value a client registers under `name` (one of kTlsClientAuthNames) in the form it is
/// stored and compared in: a subject DN checked against RFC 4514, an IP address in inet_ntop's
/// form, the others as given. Errors are `invalid_client_metadata`.
Expected<std::string> canonical_tls_client_auth(std::string_view name, std::string_view value);

/// RFC 8705 §2.1.2: the certificate names the client as its registration says (`name` one of
/// kTlsClientAuthNames, `value` canonical): the subject DN attribute by attribute (types and
/// ASCII letters of values compared without case), a DNS name without case, the others
/// exactly. The chain's trust is for the caller to check.
bool certificate_names(const ClientCertificate& cert, std::string_view name,
                       std::string_view value);

/// The certificates (DER) a JWK Set registers: the first of each key's `x5c` chain that parses.
std::vector<std::string> registered_certificates(std::string_view jwks_json);

/// RFC 8705 §2.2: the certificate is the first of the `x5c` chain of one of the keys in the
/// client's registered JWK Set.
bool certificate_registered(const ClientCertificate& cert, std::string_view jwks_json);

}  // namespace authz
