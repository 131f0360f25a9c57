#include "authz/crypto.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <sodium.h>

#include <array>
#include <cstdlib>
#include <mutex>
#include <new>
#include <stdexcept>
#include <vector>

#include "authz/base64url.hpp"
#include "authz/openssl_ptr.hpp"
#include "internal.hpp"
#include "strict_json.hpp"

namespace authz {
namespace {

// ---- RAII for OpenSSL handles -------------------------------------------------------------

using PkeyFree = OsslFree<EVP_PKEY_free>;
using PkeyCtxFree = OsslFree<EVP_PKEY_CTX_free>;
using MdCtxFree = OsslFree<EVP_MD_CTX_free>;
using BnFree = OsslFree<BN_free>;
using ParamBldFree = OsslFree<OSSL_PARAM_BLD_free>;
using ParamFree = OsslFree<OSSL_PARAM_free>;
using EcdsaSigFree = OsslFree<ECDSA_SIG_free>;
using BioFree = OsslFree<BIO_free>;

using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, ParamFree>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, EcdsaSigFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

std::shared_ptr<EVP_PKEY> share(PkeyPtr key) {
  return {key.release(), PkeyFree{}};
}

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// Failures on hostile input leave entries in OpenSSL's per-thread error queue; drop them so
// they are not misattributed to a later, unrelated call on the same thread.
struct ErrorQueueGuard {
  ErrorQueueGuard() = default;
  ErrorQueueGuard(const ErrorQueueGuard&) = delete;
  ErrorQueueGuard& operator=(const ErrorQueueGuard&) = delete;
  ~ErrorQueueGuard() { ERR_clear_error(); }
};

constexpr std::size_t kP256CoordinateBytes = 32;
constexpr std::size_t kEd25519KeyBytes = 32;
constexpr int kMinRsaBits = 2048;
// Larger moduli are legal but only serve to make verification expensive (a DoS lever).
// 4096 bits covers real keys; DPoP lets any client pick its key, so this bounds the cost.
constexpr int kMaxRsaBits = 4096;

enum class KeyType { kUnknown, kEc, kRsa, kEd25519 };

KeyType key_type(const EVP_PKEY* key) {
  if (key == nullptr) return KeyType::kUnknown;
  if (EVP_PKEY_is_a(key, "EC")) return KeyType::kEc;
  if (EVP_PKEY_is_a(key, "RSA")) return KeyType::kRsa;
  if (EVP_PKEY_is_a(key, "ED25519")) return KeyType::kEd25519;
  return KeyType::kUnknown;
}

bool is_p256(const EVP_PKEY* key) {
  std::array<char, 64> group{};
  std::size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group.data(), group.size(),
                                     &len) != 1) {
    return false;
  }
  const std::string_view name(group.data(), len);
  return name == "prime256v1" || name == "P-256";
}

// Public key from its parameters (EVP_PKEY_fromdata), then OpenSSL's public-key validation
// (EC: point on the curve and in the subgroup; RSA: SP 800-56B public checks).
PkeyPtr key_from_params(const char* type, OSSL_PARAM_BLD* bld, bool validate) {
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld));
  if (!params) return nullptr;
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) return nullptr;
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) return nullptr;
  PkeyPtr key(raw);
  if (validate) {
    PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
    if (!check || EVP_PKEY_public_check(check.get()) != 1) return nullptr;
  }
  return key;
}

PkeyPtr make_ec_public(std::string_view x, std::string_view y) {
  if (x.size() != kP256CoordinateBytes || y.size() != kP256CoordinateBytes) return nullptr;
  std::string point;
  point.reserve(1 + 2 * kP256CoordinateBytes);
  point.push_back('\x04');  // SEC 1 §2.3.3 uncompressed point
  point.append(x);
  point.append(y);
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return nullptr;
  }
  return key_from_params("EC", bld.get(), /*validate=*/true);
}

PkeyPtr make_rsa_public(std::string_view n, std::string_view e) {
  BnPtr bn_n(BN_bin2bn(bytes(n), static_cast<int>(n.size()), nullptr));
  BnPtr bn_e(BN_bin2bn(bytes(e), static_cast<int>(e.size()), nullptr));
  if (!bn_n || !bn_e) return nullptr;
  const int bits = BN_num_bits(bn_n.get());
  if (bits > kMaxRsaBits || bits < 512) return nullptr;
  // Cheap sanity checks only (odd modulus, odd exponent in (1, n)): the full SP 800-56B
  // check runs Miller-Rabin on n, which an attacker could make us do on every request, and
  // a malformed modulus can only make its own signatures fail.
  if (!BN_is_odd(bn_n.get()) || !BN_is_odd(bn_e.get()) || BN_is_one(bn_e.get()) ||
      BN_cmp(bn_e.get(), bn_n.get()) >= 0) {
    return nullptr;
  }
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    return nullptr;
  }
  return key_from_params("RSA", bld.get(), /*validate=*/false);
}

PkeyPtr make_ed25519_public(std::string_view x) {
  if (x.size() != kEd25519KeyBytes) return nullptr;
  return PkeyPtr(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, bytes(x), x.size()));
}

std::string bn_param(const EVP_PKEY* key, const char* name, int pad_to) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) return {};
  BnPtr bn(raw);
  const int size = pad_to > 0 ? pad_to : BN_num_bytes(bn.get());
  std::string out(static_cast<std::size_t>(size), '\0');
  if (pad_to > 0) {
    if (BN_bn2binpad(bn.get(), reinterpret_cast<unsigned char*>(out.data()), size) != size) {
      return {};
    }
  } else {
    BN_bn2bin(bn.get(), reinterpret_cast<unsigned char*>(out.data()));
  }
  return out;
}

// The RFC 7638 §3.2 required members of the key, base64url-encoded, in lexicographic order.
struct RequiredMembers {
  KeyType type = KeyType::kUnknown;
  std::string a;  // EC: x, RSA: e, OKP: x
  std::string b;  // EC: y, RSA: n
};

RequiredMembers required_members(const EVP_PKEY* key) {
  RequiredMembers m;
  m.type = key_type(key);
  switch (m.type) {
    case KeyType::kEc:
      m.a = base64url_encode(bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, kP256CoordinateBytes));
      m.b = base64url_encode(bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, kP256CoordinateBytes));
      break;
    case KeyType::kRsa:
      m.a = base64url_encode(bn_param(key, OSSL_PKEY_PARAM_RSA_E, 0));
      m.b = base64url_encode(bn_param(key, OSSL_PKEY_PARAM_RSA_N, 0));
      break;
    case KeyType::kEd25519: {
      std::array<unsigned char, kEd25519KeyBytes> raw{};
      std::size_t len = raw.size();
      if (EVP_PKEY_get_raw_public_key(key, raw.data(), &len) == 1) {
        m.a = base64url_encode(std::span<const std::uint8_t>(raw.data(), len));
      }
      break;
    }
    case KeyType::kUnknown:
      break;
  }
  return m;
}

// JOSE ES256 signatures are r||s, 32 bytes each (RFC 7518 §3.4); OpenSSL speaks DER.
std::optional<std::string> es256_jose_to_der(std::string_view jose) {
  if (jose.size() != 2 * kP256CoordinateBytes) return std::nullopt;
  EcdsaSigPtr sig(ECDSA_SIG_new());
  BnPtr r(BN_bin2bn(bytes(jose), kP256CoordinateBytes, nullptr));
  BnPtr s(BN_bin2bn(bytes(jose.substr(kP256CoordinateBytes)), kP256CoordinateBytes, nullptr));
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return std::nullopt;
  (void)r.release();  // now owned by sig
  (void)s.release();
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig.get(), &der);
  if (len <= 0) return std::nullopt;
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return out;
}

std::optional<std::string> es256_der_to_jose(std::string_view der) {
  const unsigned char* p = bytes(der);
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!sig) return std::nullopt;
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string out(2 * kP256CoordinateBytes, '\0');
  auto* data = reinterpret_cast<unsigned char*>(out.data());
  if (BN_bn2binpad(r, data, kP256CoordinateBytes) != kP256CoordinateBytes ||
      BN_bn2binpad(s, data + kP256CoordinateBytes, kP256CoordinateBytes) !=
          kP256CoordinateBytes) {
    return std::nullopt;
  }
  return out;
}

// Members that only a private (or symmetric) JWK has: RFC 7518 §6.2.2, §6.3.2, §6.4.1 and
// RFC 8037 §2. A "public" key carrying them is a leaked private key or a confused client.
constexpr std::array<std::string_view, 8> kPrivateMembers = {"d",  "p",  "q",   "dp",
                                                             "dq", "qi", "oth", "k"};

void ensure_sodium() {
  static const bool ready = [] {
    if (sodium_init() < 0) {
      throw std::runtime_error("libsodium initialisation failed");
    }
    return true;
  }();
  (void)ready;
}

}  // namespace

// ---- hashing and comparison ---------------------------------------------------------------

// SHA-256 fetched once. EVP_sha256() makes every digest look the implementation up again in
// the provider store (a lock and a table walk in OpenSSL 3), which cost more than hashing a
// token. Fetched objects are immutable and may be shared by threads; this one lives as long as
// the process.
const EVP_MD* sha256_md() {
  static const EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (md == nullptr) std::abort();  // only fails if the library is broken
  return md;
}

namespace {

void sha256_into(std::string_view data, unsigned char (&out)[32]) {
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &len, sha256_md(), nullptr) != 1 || len != 32) {
    std::abort();  // only fails if the library is broken
  }
}

}  // namespace

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[32];
  unsigned int len = 0;
  if (HMAC(sha256_md(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len) == nullptr ||
      len != 32) {
    std::abort();  // only fails if the library is broken
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string sha256(std::string_view data) {
  unsigned char digest[32];
  sha256_into(data, digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof digest);
}

std::string sha256_b64url(std::string_view data) { return base64url_encode(sha256(data)); }

std::string id_token_half_hash(std::string_view alg, std::string_view value) {
  if (alg != "EdDSA") return base64url_encode(sha256(value).substr(0, 16));
  unsigned char digest[SHA512_DIGEST_LENGTH];
  SHA512(bytes(value), value.size(), digest);
  return base64url_encode(std::span<const std::uint8_t>(digest, SHA512_DIGEST_LENGTH / 2));
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// ---- passwords ----------------------------------------------------------------------------

// argon2id with 19 MiB and 2 passes: the OWASP Password Storage Cheat Sheet's first
// recommended setting (RFC 9106 §4 leaves the choice to the deployment). libsodium's
// "interactive" preset takes 64 MiB per hash, so a few concurrent sign-ins would cost the
// server hundreds of MiB (and a memory-exhaustion lever); 19 MiB keeps each sign-in small.
// Hashes carry their own parameters, so older ones still verify.
constexpr unsigned long long kPasswordOpsLimit = 2;
constexpr std::size_t kPasswordMemLimit = 19 * 1024 * 1024;

std::string hash_password(std::string_view password) {
  ensure_sodium();
  std::array<char, crypto_pwhash_STRBYTES> out{};
  if (crypto_pwhash_str_alg(out.data(), password.data(), password.size(), kPasswordOpsLimit,
                            kPasswordMemLimit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    throw std::bad_alloc();  // libsodium only fails here when it cannot get the memory
  }
  return std::string(out.data());
}

bool verify_password(std::string_view encoded_hash, std::string_view password) {
  ensure_sodium();
  if (encoded_hash.empty() || encoded_hash.size() >= crypto_pwhash_STRBYTES) return false;
  const std::string hash(encoded_hash);  // libsodium wants a NUL-terminated string
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

// ---- PublicKey ----------------------------------------------------------------------------

Expected<PublicKey> PublicKey::from_jwk(std::string_view jwk_json) {
  ErrorQueueGuard guard;
  using detail::MemberState;
  auto fail = [](std::string why) { return make_error("invalid_request", std::move(why)); };
  auto jwk = detail::parse_json_object_strict(jwk_json);
  if (!jwk) return fail("jwk is not a strict JSON object");
  for (auto name : kPrivateMembers) {
    if (jwk->contains(name)) return fail("jwk contains private key material");
  }
  std::string kty;
  if (detail::string_member(*jwk, "kty", kty) != MemberState::kPresent) {
    return fail("jwk has no kty");
  }
  PublicKey result;
  for (auto [name, target] : {std::pair<std::string_view, std::string*>{"kid", &result.kid_},
                              {"alg", &result.alg_},
                              {"use", &result.use_}}) {
    if (detail::string_member(*jwk, name, *target) == MemberState::kWrongType) {
      return fail("jwk member has the wrong type");
    }
  }
  if (auto ops = jwk->find("key_ops"); ops != jwk->end()) {
    if (!ops->is_array()) return fail("jwk key_ops is not an array");
    result.has_key_ops_ = true;
    for (const auto& op : *ops) {
      if (!op.is_string()) return fail("jwk key_ops is not an array of strings");
      if (op.get<std::string>() == "verify") result.verify_op_ = true;
    }
  }
  // Every required member is a strict base64url string (RFC 7518 §6).
  auto b64_member = [&](std::string_view name) -> std::optional<std::string> {
    std::string text;
    if (detail::string_member(*jwk, name, text) != MemberState::kPresent) return std::nullopt;
    return base64url_decode(text);
  };

  PkeyPtr key;
  if (kty == "EC") {
    std::string crv;
    if (detail::string_member(*jwk, "crv", crv) != MemberState::kPresent || crv != "P-256") {
      return fail("unsupported EC curve");
    }
    auto x = b64_member("x");
    auto y = b64_member("y");
    if (!x || !y) return fail("EC jwk needs base64url x and y");
    key = make_ec_public(*x, *y);
  } else if (kty == "RSA") {
    auto n = b64_member("n");
    auto e = b64_member("e");
    if (!n || !e || n->empty() || e->empty()) return fail("RSA jwk needs base64url n and e");
    // RFC 7518 §6.3.1: Base64urlUInt uses the minimum number of octets.
    if ((*n)[0] == '\0' || (*e)[0] == '\0') return fail("RSA jwk integer has leading zeros");
    key = make_rsa_public(*n, *e);
  } else if (kty == "OKP") {
    std::string crv;
    if (detail::string_member(*jwk, "crv", crv) != MemberState::kPresent || crv != "Ed25519") {
      return fail("unsupported OKP curve");
    }
    auto x = b64_member("x");
    if (!x) return fail("OKP jwk needs base64url x");
    key = make_ed25519_public(*x);
  } else {
    return fail("unsupported kty");
  }
  if (!key) return fail("jwk is not a valid public key");
  result.key_ = share(std::move(key));
  return result;
}

std::string PublicKey::to_jwk_json() const {
  const RequiredMembers m = required_members(key_.get());
  nlohmann::json jwk = nlohmann::json::object();
  switch (m.type) {
    case KeyType::kEc:
      jwk = {{"kty", "EC"}, {"crv", "P-256"}, {"x", m.a}, {"y", m.b}};
      break;
    case KeyType::kRsa:
      jwk = {{"kty", "RSA"}, {"e", m.a}, {"n", m.b}};
      break;
    case KeyType::kEd25519:
      jwk = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", m.a}};
      break;
    case KeyType::kUnknown:
      return "{}";
  }
  if (!kid_.empty()) jwk["kid"] = kid_;
  if (!alg_.empty()) jwk["alg"] = alg_;
  if (!use_.empty()) jwk["use"] = use_;
  return jwk.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string PublicKey::thumbprint() const {
  // RFC 7638 §3: required members only, lexicographic order, no whitespace. The values are
  // base64url and the names fixed, so no JSON escaping is ever needed.
  const RequiredMembers m = required_members(key_.get());
  std::string canonical;
  switch (m.type) {
    case KeyType::kEc:
      canonical = R"({"crv":"P-256","kty":"EC","x":")" + m.a + R"(","y":")" + m.b + R"("})";
      break;
    case KeyType::kRsa:
      canonical = R"({"e":")" + m.a + R"(","kty":"RSA","n":")" + m.b + R"("})";
      break;
    case KeyType::kEd25519:
      canonical = R"({"crv":"Ed25519","kty":"OKP","x":")" + m.a + R"("})";
      break;
    case KeyType::kUnknown:
      return {};
  }
  return sha256_b64url(canonical);
}

bool PublicKey::usable_for_signatures() const {
  if (!key_) return false;
  if (!use_.empty() && use_ != "sig") return false;
  if (has_key_ops_ && !verify_op_) return false;
  return true;
}

bool PublicKey::supports_alg(std::string_view alg) const {
  if (!key_) return false;
  // RFC 7517 §4.4: a key that names its algorithm is used with that algorithm only.
  if (!alg_.empty() && alg_ != alg) return false;
  switch (key_type(key_.get())) {
    case KeyType::kEc:
      return alg == "ES256" && is_p256(key_.get());
    case KeyType::kRsa:
      // RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used".
      return (alg == "RS256" || alg == "PS256") && EVP_PKEY_get_bits(key_.get()) >= kMinRsaBits;
    case KeyType::kEd25519:
      return alg == "EdDSA";
    case KeyType::kUnknown:
      return false;
  }
  return false;
}

bool PublicKey::verify(std::string_view alg, std::string_view signing_input,
                       std::string_view signature) const {
  if (!supports_alg(alg)) return false;
  ErrorQueueGuard guard;
  std::string der;
  std::string_view sig = signature;
  if (alg == "ES256") {
    auto converted = es256_jose_to_der(signature);
    if (!converted) return false;
    der = std::move(*converted);
    sig = der;
  }
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return false;
  EVP_PKEY_CTX* pctx = nullptr;
  const char* digest = alg == "EdDSA" ? nullptr : "SHA256";
  if (EVP_DigestVerifyInit_ex(ctx.get(), &pctx, digest, nullptr, nullptr, key_.get(), nullptr) !=
      1) {
    return false;
  }
  if (alg == "PS256") {
    // RFC 7518 §3.5: MGF1 with SHA-256 and a salt as long as the hash.
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, "SHA256", nullptr) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1) {
      return false;
    }
  } else if (alg == "RS256") {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) return false;
  }
  return EVP_DigestVerify(ctx.get(), bytes(sig), sig.size(), bytes(signing_input),
                          signing_input.size()) == 1;
}

// ---- SigningKey ---------------------------------------------------------------------------

// Signing contexts for one key, each initialised once: setting one up (EVP_DigestSignInit
// fetches the digest and the signature implementation and duplicates the key's context) took
// a fifth of the time of a signature. A context signs for one thread at a time; a thread takes
// an idle one or makes one, and gives it back. There are never more than threads that sign
// at once.
struct SigningKey::Signers {
  std::mutex mutex;
  std::vector<PkeyCtxPtr> idle;

  PkeyCtxPtr take(EVP_PKEY* key, std::string_view alg) {
    {
      std::lock_guard lock(mutex);
      if (!idle.empty()) {
        PkeyCtxPtr ctx = std::move(idle.back());
        idle.pop_back();
        return ctx;
      }
    }
    PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
    if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1) throw std::runtime_error("signing failed");
    // RS256 (RFC 7518 §3.3): the digest is wrapped in its DigestInfo and padded per PKCS #1
    // v1.5, which the context does when it knows the digest. PS256 (§3.5): PSS padding with
    // MGF1 over SHA-256 and a salt as long as the digest.
    if (alg == "RS256" &&
        (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1 ||
         EVP_PKEY_CTX_set_signature_md(ctx.get(), sha256_md()) != 1)) {
      throw std::runtime_error("RS256 signing failed");
    }
    if (alg == "PS256" &&
        (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PSS_PADDING) != 1 ||
         EVP_PKEY_CTX_set_signature_md(ctx.get(), sha256_md()) != 1 ||
         EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), sha256_md()) != 1 ||
         EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), RSA_PSS_SALTLEN_DIGEST) != 1)) {
      throw std::runtime_error("PS256 signing failed");
    }
    return ctx;
  }

  void give_back(PkeyCtxPtr ctx) {
    std::lock_guard lock(mutex);
    idle.push_back(std::move(ctx));
  }
};

SigningKey SigningKey::generate_es256() {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_group_name(ctx.get(), "prime256v1") != 1 ||
      EVP_PKEY_generate(ctx.get(), &raw) != 1) {
    throw std::runtime_error("EC P-256 key generation failed");
  }
  SigningKey key;
  key.key_ = share(PkeyPtr(raw));
  key.signers_ = std::make_shared<Signers>();
  return key;
}

SigningKey SigningKey::generate_rsa(std::string_view alg) {
  if (alg != "RS256" && alg != "PS256")
    throw std::invalid_argument("an RSA key signs with RS256 or PS256, not " + std::string(alg));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), kRsaSigningBits) != 1 ||
      EVP_PKEY_generate(ctx.get(), &raw) != 1) {
    throw std::runtime_error("RSA key generation failed");
  }
  SigningKey key;
  key.key_ = share(PkeyPtr(raw));
  key.signers_ = std::make_shared<Signers>();
  key.alg_ = alg == "RS256" ? "RS256" : "PS256";
  return key;
}

SigningKey SigningKey::generate_ed25519() {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "ED25519", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_generate(ctx.get(), &raw) != 1)
    throw std::runtime_error("Ed25519 key generation failed");
  SigningKey key;
  key.key_ = share(PkeyPtr(raw));
  key.signers_ = std::make_shared<Signers>();
  key.alg_ = "EdDSA";
  return key;
}

SigningKey SigningKey::generate(std::string_view alg) {
  if (alg == "ES256") return generate_es256();
  if (alg == "RS256" || alg == "PS256") return generate_rsa(alg);
  if (alg == "EdDSA") return generate_ed25519();
  throw std::invalid_argument("no signing key for " + std::string(alg));
}

Expected<SigningKey> SigningKey::from_pem(std::string_view pem, std::string_view alg) {
  ErrorQueueGuard guard;
  auto fail = [] {
    return make_error("invalid_request", "not an unencrypted P-256, RSA or Ed25519 PKCS#8 key");
  };
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return fail();
  // A callback that supplies no passphrase: an encrypted PEM fails instead of prompting on a
  // terminal.
  auto no_passphrase = [](char*, int, int, void*) -> int { return -1; };
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!key) return fail();
  const KeyType type = key_type(key.get());
  const int bits = EVP_PKEY_get_bits(key.get());
  const bool ec = type == KeyType::kEc && is_p256(key.get());
  const bool rsa = type == KeyType::kRsa && bits >= kMinRsaBits && bits <= kMaxRsaBits;
  const bool ed25519 = type == KeyType::kEd25519;
  if (!ec && !rsa && !ed25519) return fail();
  const std::string_view own = ec        ? "ES256"
                               : ed25519 ? "EdDSA"
                               : alg == "PS256" ? "PS256"
                                                : "RS256";
  if (!alg.empty() && alg != own)
    return make_error("invalid_request", "the key cannot sign with " + std::string(alg));
  SigningKey result;
  result.key_ = share(std::move(key));
  result.signers_ = std::make_shared<Signers>();
  result.alg_ = own;
  return result;
}

std::string SigningKey::to_pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr,
                                       nullptr) != 1) {
    throw std::runtime_error("cannot serialise the signing key");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

PublicKey SigningKey::public_key() const {
  // A PublicKey holds only the public half, never a reference to the private key.
  PublicKey pub;
  if (alg_ == "ES256") {
    pub.key_ = share(make_ec_public(bn_param(key_.get(), OSSL_PKEY_PARAM_EC_PUB_X, 32),
                                    bn_param(key_.get(), OSSL_PKEY_PARAM_EC_PUB_Y, 32)));
  } else if (alg_ == "EdDSA") {
    std::array<unsigned char, kEd25519KeyBytes> raw{};
    std::size_t len = raw.size();
    if (EVP_PKEY_get_raw_public_key(key_.get(), raw.data(), &len) == 1)
      pub.key_ = share(make_ed25519_public(
          std::string_view(reinterpret_cast<const char*>(raw.data()), len)));
  } else {
    pub.key_ = share(make_rsa_public(bn_param(key_.get(), OSSL_PKEY_PARAM_RSA_N, 0),
                                     bn_param(key_.get(), OSSL_PKEY_PARAM_RSA_E, 0)));
  }
  if (!pub.key_) throw std::runtime_error("cannot derive the public key");
  return pub;
}

// ES256 (RFC 7518 §3.4): ECDSA P-256 over the SHA-256 of the input, hashed here and signed
// as a digest. RS256 (§3.3) and PS256 (§3.5) sign the same digest.
std::string SigningKey::sign(std::string_view signing_input) const {
  if (alg_ == "EdDSA") return sign_ed25519(signing_input);
  unsigned char digest[32];
  sha256_into(signing_input, digest);
  auto ctx = signers_->take(key_.get(), alg_);
  if (alg_ != "ES256") {
    std::string signature(static_cast<std::size_t>(EVP_PKEY_get_size(key_.get())), '\0');
    std::size_t len = signature.size();
    if (EVP_PKEY_sign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &len,
                      digest, sizeof digest) != 1) {
      throw std::runtime_error(std::string(alg_) + " signing failed");
    }
    signers_->give_back(std::move(ctx));
    signature.resize(len);
    return signature;
  }
  std::array<unsigned char, 80> der{};  // an ECDSA P-256 signature in DER is at most 72 bytes
  std::size_t len = der.size();
  // A context that failed is dropped rather than reused.
  if (EVP_PKEY_sign(ctx.get(), der.data(), &len, digest, sizeof digest) != 1)
    throw std::runtime_error("ES256 signing failed");
  signers_->give_back(std::move(ctx));
  auto jose = es256_der_to_jose(std::string_view(reinterpret_cast<const char*>(der.data()), len));
  if (!jose) throw std::runtime_error("ES256 signature conversion failed");
  return *jose;
}

// EdDSA (RFC 8037 §3.1): Ed25519 signs the input itself (PureEdDSA), with no digest first, so
// it takes a one-shot EVP_DigestSign with no digest named rather than a context made once.
std::string SigningKey::sign_ed25519(std::string_view signing_input) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::array<unsigned char, 64> signature{};
  std::size_t len = signature.size();
  if (!ctx ||
      EVP_DigestSignInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, key_.get(), nullptr) !=
          1 ||
      EVP_DigestSign(ctx.get(), signature.data(), &len, bytes(signing_input),
                     signing_input.size()) != 1)
    throw std::runtime_error("EdDSA signing failed");
  return {reinterpret_cast<const char*>(signature.data()), len};
}

}  // namespace authz
