#include "client_trust.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

#include "authz/openssl_ptr.hpp"

namespace server {

namespace {

using StoreFree = authz::OsslFree<X509_STORE_free>;
using StoreCtxFree = authz::OsslFree<X509_STORE_CTX_free>;
using BioFree = authz::OsslFree<BIO_free>;
using X509Free = authz::OsslFree<X509_free>;
using CrlFree = authz::OsslFree<X509_CRL_free>;

// What a file was when read: a changed size or modification time means it is read again.
struct Stamp {
  std::uintmax_t size = 0;
  std::filesystem::file_time_type modified{};
  bool operator==(const Stamp&) const = default;
};

std::optional<Stamp> stamp_of(const std::string& path) {
  if (path.empty()) return Stamp{};
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return std::nullopt;
  const auto modified = std::filesystem::last_write_time(path, ec);
  if (ec) return std::nullopt;
  return Stamp{size, modified};
}

// Every PEM object of one kind in `path`, read with `read` (PEM_read_bio_X509 or _X509_CRL).
template <class T, class Free, class Read>
std::vector<std::unique_ptr<T, Free>> read_all(const std::string& path, const char* what,
                                               Read read) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) throw std::runtime_error("tls: cannot read " + std::string(what) + " " + path);
  std::vector<std::unique_ptr<T, Free>> out;
  while (T* item = read(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(item);
  // The loop ends at the end of the file (PEM_R_NO_START_LINE) or at a broken object.
  const unsigned long error = ERR_peek_last_error();
  ERR_clear_error();
  if (error != 0 && ERR_GET_REASON(error) != PEM_R_NO_START_LINE)
    throw std::runtime_error("tls: " + path + " holds a malformed " + what);
  if (out.empty()) throw std::runtime_error("tls: " + path + " holds no " + what);
  return out;
}

}  // namespace

struct ClientTrust::Loaded {
  std::unique_ptr<X509_STORE, StoreFree> store;
  Stamp ca;
  Stamp crl;
};

ClientTrust::ClientTrust(std::string ca_file, std::string crl_file)
    : ca_file_(std::move(ca_file)), crl_file_(std::move(crl_file)), current_(load()) {}

ClientTrust::~ClientTrust() = default;

std::shared_ptr<const ClientTrust::Loaded> ClientTrust::load() const {
  auto loaded = std::make_shared<Loaded>();
  // Stamped before reading: a file replaced while it is read is read again next time.
  const auto ca_stamp = stamp_of(ca_file_);
  const auto crl_stamp = stamp_of(crl_file_);
  if (!ca_stamp) throw std::runtime_error("tls: cannot read client certificate authorities " +
                                          ca_file_);
  if (!crl_stamp) throw std::runtime_error("tls: cannot read certificate revocation lists " +
                                           crl_file_);
  loaded->ca = *ca_stamp;
  loaded->crl = *crl_stamp;
  loaded->store.reset(X509_STORE_new());
  if (!loaded->store) throw std::runtime_error("tls: out of memory");
  const auto authorities =
      read_all<X509, X509Free>(ca_file_, "client certificate authority", PEM_read_bio_X509);
  for (const auto& ca : authorities) {
    if (X509_STORE_add_cert(loaded->store.get(), ca.get()) != 1)
      throw std::runtime_error("tls: cannot use the authorities in " + ca_file_);
  }
  if (!crl_file_.empty()) {
    const auto lists = read_all<X509_CRL, CrlFree>(crl_file_, "certificate revocation list",
                                                   PEM_read_bio_X509_CRL);
    for (const auto& crl : lists) {
      // A list counts only when one of the authorities signed it (RFC 5280 §6.3.3 (f)); one
      // that none did is an operator's mistake, said at once rather than found at a refusal.
      const bool signed_by_one = std::any_of(authorities.begin(), authorities.end(),
                                             [&](const auto& ca) {
        return X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), X509_get_subject_name(ca.get())) ==
                   0 &&
               X509_CRL_verify(crl.get(), X509_get0_pubkey(ca.get())) == 1;
      });
      ERR_clear_error();
      if (!signed_by_one)
        throw std::runtime_error("tls: a revocation list in " + crl_file_ +
                                 " is not signed by an authority of " + ca_file_);
      if (X509_STORE_add_crl(loaded->store.get(), crl.get()) != 1)
        throw std::runtime_error("tls: cannot use the revocation lists in " + crl_file_);
    }
    // Every certificate of the chain, its issuer's list: none missing, none out of date.
    X509_STORE_set_flags(loaded->store.get(), X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
  }
  return loaded;
}

std::shared_ptr<const ClientTrust::Loaded> ClientTrust::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

bool ClientTrust::trusted(X509* leaf, STACK_OF(X509) * chain) const {
  const auto loaded = current();
  std::unique_ptr<X509_STORE_CTX, StoreCtxFree> ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), loaded->store.get(), leaf, chain) != 1) {
    ERR_clear_error();
    return false;
  }
  // As OpenSSL checks a client's certificate in a handshake: for TLS client authentication.
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT);
  const bool ok = X509_verify_cert(ctx.get()) == 1;
  ERR_clear_error();
  return ok;
}

std::optional<std::string> ClientTrust::reload_if_changed() {
  const auto before = current();
  if (stamp_of(ca_file_) == std::optional(before->ca) &&
      stamp_of(crl_file_) == std::optional(before->crl))
    return std::nullopt;
  try {
    auto fresh = load();
    {
      std::lock_guard lock(mutex_);
      current_ = std::move(fresh);
    }
    generation_.fetch_add(1, std::memory_order_acq_rel);
    return std::string();
  } catch (const std::exception& e) {
    return std::string(e.what());
  }
}

}  // namespace server
