// Ownership of OpenSSL's handles, each released by its own free function:
//
//   authz::OsslPtr<X509, X509_free> cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
//   std::unique_ptr<BIO, authz::OsslFree<BIO_free>> bio(BIO_new_file(path, "r"));
#pragma once

#include <memory>

namespace authz {

/// A deleter that calls `Free` (what it returns, if anything, is of no use in a destructor).
template <auto Free>
struct OsslFree {
  template <class T>
  void operator()(T* p) const {
    static_cast<void>(Free(p));
  }
};

template <class T, auto Free>
using OsslPtr = std::unique_ptr<T, OsslFree<Free>>;

}  // namespace authz
