// Encryption at rest: AES-256-GCM under a key derived from the master key file.
#include "authz/sealer.hpp"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <stdexcept>
#include <vector>

#include "authz/base64url.hpp"
#include "authz/openssl_ptr.hpp"
#include "authz/random.hpp"

namespace authz {
namespace {

constexpr std::string_view kVersion = "v1";
constexpr std::size_t kNonceBytes = 12;  // NIST SP 800-38D §8.2.2: 96-bit random IVs
constexpr std::size_t kTagBytes = 16;    // the full 128-bit tag, never truncated
constexpr std::size_t kKeyIdBytes = 6;   // 8 base64url characters
// Random 96-bit nonces stay within SP 800-38D's 2^-32 collision bound for 2^32 values per key;
// a value that large is a bug, not a name or an e-mail address.
constexpr std::size_t kMaxPlaintext = 1 << 20;

using CipherCtxFree = OsslFree<EVP_CIPHER_CTX_free>;
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;
using KdfFree = OsslFree<EVP_KDF_free>;
using KdfCtxFree = OsslFree<EVP_KDF_CTX_free>;

// Wipes a buffer holding key material when it goes out of scope.
template <class Buffer>
struct Wipe {
  Buffer& buffer;
  ~Wipe() { OPENSSL_cleanse(buffer.data(), buffer.size()); }
};

// Never a null pointer, even for an empty view: OpenSSL gets a valid address for 0 bytes.
const unsigned char* bytes(std::string_view s) {
  static constexpr unsigned char kNothing = 0;
  return s.data() == nullptr ? &kNothing : reinterpret_cast<const unsigned char*>(s.data());
}

// RFC 5869 HKDF-SHA256: the AES key and the key id come from the master key with different
// `info`, so neither reveals the other.
void hkdf(std::string_view master_key, std::string_view info, std::span<std::uint8_t> out) {
  std::unique_ptr<EVP_KDF, KdfFree> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  if (!kdf) throw std::runtime_error("sealer: HKDF is not available");
  std::unique_ptr<EVP_KDF_CTX, KdfCtxFree> ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) throw std::runtime_error("sealer: out of memory");
  static constexpr std::string_view kSalt = "infobank sealer";
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(master_key.data()),
                                        master_key.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(kSalt.data()),
                                        kSalt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()),
                                        info.size()),
      OSSL_PARAM_construct_end()};
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1)
    throw std::runtime_error("sealer: HKDF failed");
}

[[noreturn]] void fail_file(const std::string& what, const std::string& path) {
  throw std::runtime_error("master key file " + path + ": " + what);
}

[[noreturn]] void fail_errno(const std::string& what, const std::string& path) {
  fail_file(what + ": " + std::strerror(errno), path);
}

// Reads exactly kKeyBytes from an open key file after checking what it is. Closes `fd`.
std::string read_key_file(int fd, const std::string& path) {
  struct Close {
    int fd;
    ~Close() { ::close(fd); }
  } close_fd{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail_errno("cannot stat", path);
  if (!S_ISREG(st.st_mode)) fail_file("is not a regular file", path);
  // Like ssh with private keys: a key others can read (or replace) is not a secret any more.
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    fail_file(std::string("is accessible by group or others (mode ") + mode +
                  "); it must be 0600 (chmod 600)",
              path);
  }
  if (st.st_size != static_cast<off_t>(Sealer::kKeyBytes))
    fail_file("must hold exactly 32 bytes, it holds " + std::to_string(st.st_size), path);
  std::string key(Sealer::kKeyBytes + 1, '\0');  // one more to notice a file that grew
  std::size_t got = 0;
  while (got < key.size()) {
    const auto n = ::read(fd, key.data() + got, key.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      OPENSSL_cleanse(key.data(), key.size());
      fail_errno("cannot read", path);
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got != Sealer::kKeyBytes) {
    OPENSSL_cleanse(key.data(), key.size());
    fail_file("must hold exactly 32 bytes", path);
  }
  key.resize(Sealer::kKeyBytes);
  return key;
}

// Writes a new random key to a private temporary file, then link()s it into place: link fails
// with EEXIST if another process got there first, so the key file appears whole or not at all
// and two processes starting together end up with the same key.
void create_key_file(const std::string& path) {
  const std::filesystem::path target(path);
  if (target.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(target.parent_path(), ec);
    if (ec) fail_file("cannot create its directory: " + ec.message(), path);
  }
  OsRandom random;
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + random.token(6);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) fail_errno("cannot create " + tmp, path);
  std::array<std::uint8_t, Sealer::kKeyBytes> key{};
  Wipe<decltype(key)> wipe{key};
  random.fill(key);
  bool ok = ::fchmod(fd, 0600) == 0;  // whatever the umask: exactly owner read/write
  std::size_t written = 0;
  while (ok && written < key.size()) {
    const auto n = ::write(fd, key.data() + written, key.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ok = false;
    else written += static_cast<std::size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(tmp.c_str());
    errno = saved;
    fail_errno("cannot write " + tmp, path);
  }
  if (::link(tmp.c_str(), path.c_str()) != 0 && errno != EEXIST) {
    const int link_errno = errno;
    ::unlink(tmp.c_str());
    errno = link_errno;
    fail_errno("cannot create", path);
  }
  ::unlink(tmp.c_str());
  // Make the new directory entry durable before anything is sealed with the key.
  const auto dir = target.has_parent_path() ? target.parent_path().string() : std::string(".");
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

OAuthError bad(std::string description) {
  return make_error("invalid_sealed_value", std::move(description));
}

}  // namespace

Expected<Sealer> Sealer::from_key(std::string_view master_key) {
  if (master_key.size() != kKeyBytes) return bad("the master key must be exactly 32 bytes");
  Sealer sealer;
  hkdf(master_key, "infobank sealer v1 aes-256-gcm key", sealer.aes_key_);
  std::array<std::uint8_t, kKeyIdBytes> id{};
  hkdf(master_key, "infobank sealer v1 key id", id);
  sealer.key_id_ = base64url_encode(std::span<const std::uint8_t>(id));
  return sealer;
}

Sealer Sealer::load_or_create(const std::string& path) {
  if (path.empty()) throw std::runtime_error("master key file: no path configured");
  // Twice at most: the file is missing, we (or a concurrent process) create it, we read it.
  for (int attempt = 0; attempt < 2; ++attempt) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      auto key = read_key_file(fd, path);
      Wipe<std::string> wipe{key};
      auto sealer = from_key(key);
      if (!sealer) fail_file(sealer.error().description, path);
      return std::move(sealer).value();
    }
    if (errno != ENOENT) fail_errno("cannot open", path);
    create_key_file(path);
  }
  fail_file("vanished right after it was created", path);
}

Sealer::Sealer(Sealer&& other) noexcept : aes_key_(other.aes_key_), key_id_(std::move(other.key_id_)) {
  OPENSSL_cleanse(other.aes_key_.data(), other.aes_key_.size());
}

Sealer& Sealer::operator=(Sealer&& other) noexcept {
  if (this != &other) {
    aes_key_ = other.aes_key_;
    key_id_ = std::move(other.key_id_);
    OPENSSL_cleanse(other.aes_key_.data(), other.aes_key_.size());
  }
  return *this;
}

Sealer::~Sealer() { OPENSSL_cleanse(aes_key_.data(), aes_key_.size()); }

std::string Sealer::seal(std::string_view plaintext, std::string_view aad) const {
  if (plaintext.size() > kMaxPlaintext || aad.size() > kMaxPlaintext)
    throw std::logic_error("sealer: value too large to seal");
  // nonce || ciphertext || tag. The nonce always comes from the operating system's generator,
  // never from an injected (possibly seeded) Random: a repeated nonce under one GCM key leaks
  // the XOR of two plaintexts and the authentication key.
  std::vector<std::uint8_t> out(kNonceBytes + plaintext.size() + kTagBytes);
  OsRandom().fill(std::span<std::uint8_t>(out.data(), kNonceBytes));
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx ||
      EVP_EncryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), aes_key_.data(), out.data(), nullptr) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, bytes(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out.data() + kNonceBytes, &len, bytes(plaintext),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), out.data() + kNonceBytes + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kTagBytes),
                          out.data() + kNonceBytes + plaintext.size()) != 1)
    throw std::runtime_error("sealer: AES-256-GCM encryption failed");
  std::string sealed(kVersion);
  sealed += '.';
  sealed += key_id_;
  sealed += '.';
  sealed += base64url_encode(std::span<const std::uint8_t>(out));
  return sealed;
}

Expected<std::string> Sealer::open(std::string_view sealed, std::string_view aad) const {
  const auto first = sealed.find('.');
  if (first == std::string_view::npos || sealed.substr(0, first) != kVersion)
    return bad("not a sealed value of a known version");
  const auto second = sealed.find('.', first + 1);
  if (second == std::string_view::npos) return bad("malformed sealed value");
  // The key id is public (derived one-way from the key): an ordinary comparison is fine.
  if (sealed.substr(first + 1, second - first - 1) != key_id_)
    return bad("sealed with another master key");
  auto raw = base64url_decode(sealed.substr(second + 1));
  if (!raw || raw->size() < kNonceBytes + kTagBytes || raw->size() > kMaxPlaintext + 64)
    return bad("malformed sealed value");
  const std::string_view data(*raw);
  const auto nonce = data.substr(0, kNonceBytes);
  const auto ciphertext = data.substr(kNonceBytes, data.size() - kNonceBytes - kTagBytes);
  std::string tag(data.substr(data.size() - kTagBytes));
  std::string plaintext(ciphertext.size(), '\0');
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  const bool ok =
      ctx &&
      EVP_DecryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), aes_key_.data(), bytes(nonce), nullptr) == 1 &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, bytes(aad), static_cast<int>(aad.size())) == 1 &&
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plaintext.data()), &len,
                        bytes(ciphertext), static_cast<int>(ciphertext.size())) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kTagBytes),
                          tag.data()) == 1 &&
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plaintext.data()) + len,
                          &len) == 1;
  if (!ok) {
    // The tag did not verify: whatever was decrypted is unauthenticated and is not returned.
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    return bad("the sealed value does not open (altered, moved from another row, or another key)");
  }
  return plaintext;
}

}  // namespace authz
