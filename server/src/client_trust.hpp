// The certificate authorities, and their revocation lists, that client certificates on the
// mutual-TLS listener are checked against for tls_client_auth (RFC 8705 §2.1).
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace server {

/// Loaded from two PEM files: `ca_file` (server.mtls_client_ca), the authorities whose client
/// certificates count, and `crl_file` (server.mtls_client_crl, may be empty), a certificate
/// revocation list (RFC 5280 §5) of each of them. With a CRL file every certificate of a chain
/// is checked against its issuer's list, and a chain is refused when a list is missing, has
/// passed its nextUpdate, or names a certificate of it: a revocation that cannot be checked
/// does not pass. Thread-safe: connections check certificates while reload_if_changed()
/// swaps in what the files hold now.
class ClientTrust {
 public:
  /// Throws std::runtime_error naming the file when one cannot be read, holds no certificate
  /// (no CRL), or holds a CRL that none of the authorities signed.
  ClientTrust(std::string ca_file, std::string crl_file);
  ~ClientTrust();
  ClientTrust(const ClientTrust&) = delete;
  ClientTrust& operator=(const ClientTrust&) = delete;

  /// Whether `leaf`, with the other certificates the client sent (`chain`, may be null),
  /// verifies to one of the authorities for TLS client authentication, and (with a CRL file)
  /// nothing in the chain is revoked.
  [[nodiscard]] bool trusted(X509* leaf, STACK_OF(X509) * chain) const;

  /// Reads the files again when either changed (size or modification time) since the last
  /// read. Returns nullopt when nothing changed, "" when the new contents are in use, or why
  /// they were not (the previous set stays in use). Blocking file I/O: not on an I/O thread.
  std::optional<std::string> reload_if_changed();

  /// Counts the new sets reload_if_changed() put in use: a verdict given under an earlier
  /// generation may no longer hold (a certificate revoked since, an authority removed).
  [[nodiscard]] std::uint64_t generation() const {
    return generation_.load(std::memory_order_acquire);
  }

 private:
  struct Loaded;
  std::shared_ptr<const Loaded> load() const;
  [[nodiscard]] std::shared_ptr<const Loaded> current() const;

  std::string ca_file_;
  std::string crl_file_;
  mutable std::mutex mutex_;  ///< guards current_
  std::shared_ptr<const Loaded> current_;
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace server
