#include <openssl/crypto.h>

#include <algorithm>
#include <limits>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "authz/oauth.hpp"

namespace authz {

namespace {
// Reload at most this often: `keys rotate` run by the operator (or on another node) is seen
// within this many seconds without a restart.
constexpr std::int64_t kReloadInterval = 2;

// The private key is bound to its kid: a sealed key moved to another row does not open, so
// nobody with write access to the database can make us sign under a kid of their choosing.
std::string signing_key_aad(std::string_view kid) { return "signing_key:" + std::string(kid); }

// The index of `alg` in kAlgs, or kAlgs.size() when the ring does not sign with it.
std::size_t alg_index(std::string_view alg) {
  const auto* it = std::find(KeyRing::kAlgs.begin(), KeyRing::kAlgs.end(), alg);
  return static_cast<std::size_t>(it - KeyRing::kAlgs.begin());
}
}  // namespace

struct KeyRing::Opened {
  std::string alg;
  SigningKey key;
  PublicKey pub;
  nlohmann::json jwk;
};

KeyRing::KeyRing(storage::Store& store, const Clock& clock, const Sealer& sealer,
                 std::int64_t key_retention)
    : store_(store), clock_(clock), sealer_(sealer), retention_(key_retention) {}

storage::SigningKeyRecord KeyRing::new_key(std::string kid, std::string_view alg) const {
  storage::SigningKeyRecord record;
  record.kid = std::move(kid);
  record.alg = std::string(alg);
  record.private_pem =
      sealer_.seal(SigningKey::generate(alg).to_pem(), signing_key_aad(record.kid));
  record.created_at = clock_.now();
  return record;
}

void KeyRing::ensure_key() { make_key(kDefaultAlg); }

void KeyRing::ensure_keys(std::string_view also) {
  // PS256 and EdDSA only when asked: an RSA key takes a moment to make, and only clients that
  // ask for them need one (complete_client makes it when such a client is registered).
  for (const std::string_view alg : {kDefaultAlg, std::string_view("RS256")}) make_key(alg);
  if (!also.empty()) make_key(also);
}

// rotate_signing_key, not an insert: when two processes find no key at once, the second
// retires the first's, and one key stays current either way (the other stays published).
void KeyRing::make_key(std::string_view alg) {
  if (alg_index(alg) == kAlgs.size()) throw std::invalid_argument("no key for " + std::string(alg));
  const auto have = [&] {
    const auto keys = store_.list_signing_keys();
    return std::any_of(keys.begin(), keys.end(), [&](const storage::SigningKeyRecord& k) {
      return k.alg == alg && k.retired_at == 0;
    });
  }();
  if (!have) {
    OsRandom random;
    auto record = new_key(random.token(12), alg);
    store_.rotate_signing_key(record, record.created_at);
  }
  // Either way the next read reloads: a key another process made is read now, not in up to
  // kReloadInterval.
  std::lock_guard lock(mutex_);
  loaded_at_ = -1;
}

// Storage is read with no lock held, so a thread that only wants the current key (an I/O
// thread answering from memory, say) never waits on another thread's read; two threads that
// find the keys stale at once both read, and the later one's copy stays.
void KeyRing::refresh(bool force) {
  const auto now = clock_.now();
  {
    std::lock_guard lock(mutex_);
    if (!force && loaded_at_ >= 0 && now - loaded_at_ < kReloadInterval && now < switch_at_ &&
        current_[0])
      return;
  }
  auto records = store_.list_signing_keys();
  decltype(opened_) before;
  {
    std::lock_guard lock(mutex_);
    before = opened_;
  }
  decltype(current_) current;
  decltype(opened_) opened;
  auto switch_at = std::numeric_limits<std::int64_t>::max();
  std::vector<PublicKey> published;
  nlohmann::json keys = nlohmann::json::array();
  for (const auto& record : records) {
    if (record.retired_at != 0 && now - record.retired_at > retention_) continue;
    const auto index = alg_index(record.alg);
    if (index == kAlgs.size()) continue;  // a key of a later version's algorithm
    // A key read before is not opened again: /jwks reads the table on every request, and
    // unsealing and parsing every RSA key each time would make each request cost that.
    std::shared_ptr<const Opened> one;
    if (auto it = before.find(record.kid); it != before.end() && it->second->alg == record.alg) {
      one = it->second;
    } else {
      auto pem = sealer_.open(record.private_pem, signing_key_aad(record.kid));
      if (!pem) {
        throw std::runtime_error("stored signing key " + record.kid + " does not open (" +
                                 pem.error().description +
                                 "): is this the master key it was sealed with?");
      }
      auto key = SigningKey::from_pem(*pem, record.alg);
      OPENSSL_cleanse(pem->data(), pem->size());
      if (!key || key->alg() != record.alg)
        throw std::runtime_error("stored signing key " + record.kid + " is unreadable");
      auto pub = key->public_key();
      pub.set_kid(record.kid);
      auto jwk = nlohmann::json::parse(pub.to_jwk_json());
      jwk["kid"] = record.kid;
      jwk["alg"] = record.alg;
      jwk["use"] = "sig";
      one = std::make_shared<const Opened>(
          Opened{record.alg, std::move(*key), std::move(pub), std::move(jwk)});
    }
    // Newest first: the first key of an algorithm that signs now is its current one. A key
    // still waiting for its activates_at is published already; one retired at a later moment
    // (a rotation scheduled ahead) signs until then.
    const bool started = record.activates_at <= now;
    const bool ended = record.retired_at != 0 && record.retired_at <= now;
    if (!started) switch_at = std::min(switch_at, record.activates_at);
    if (record.retired_at > now) switch_at = std::min(switch_at, record.retired_at);
    if (started && !ended && !current[index]) {
      const auto since = record.activates_at != 0 ? record.activates_at : record.created_at;
      current[index] = std::make_shared<const Current>(Current{record.kid, one->key, since});
    }
    keys.push_back(one->jwk);
    published.push_back(one->pub);
    opened.emplace(record.kid, std::move(one));
  }
  if (!current[0]) throw std::runtime_error("no current signing key: run `infobank keys rotate`");
  auto jwks = nlohmann::json{{"keys", std::move(keys)}}.dump();
  std::lock_guard lock(mutex_);
  current_ = std::move(current);
  published_ = std::move(published);
  jwks_ = std::move(jwks);
  opened_ = std::move(opened);
  loaded_at_ = now;
  switch_at_ = switch_at;
}

KeyRing::Current KeyRing::current(std::string_view alg) {
  const auto index = alg_index(alg);
  if (index == kAlgs.size()) throw std::invalid_argument("no key for " + std::string(alg));
  refresh();
  {
    std::lock_guard lock(mutex_);
    if (current_[index]) return *current_[index];
  }
  make_key(alg);
  refresh();
  std::lock_guard lock(mutex_);
  if (!current_[index]) throw std::runtime_error("no current " + std::string(alg) + " key");
  return *current_[index];
}

// Read afresh each time: relying parties fetch the set seldom and then keep it (openid-client
// for a minute before it looks again for a kid it does not know), so the set they get must
// hold a key another process made a moment ago (`client add`, `keys rotate`).
std::string KeyRing::jwks_json() {
  refresh(true);
  std::lock_guard lock(mutex_);
  return jwks_;
}

std::optional<PublicKey> KeyRing::find(std::string_view kid) {
  // A kid not known yet may be a key another process made since the last read: read again
  // once (an unknown kid costs a read of the small key table, nothing more).
  for (const bool force : {false, true}) {
    refresh(force);
    std::lock_guard lock(mutex_);
    for (const auto& key : published_) {
      if (key.kid() == kid) return key;
    }
  }
  return std::nullopt;
}

std::string KeyRing::rotate(Random& random, std::string_view alg, std::int64_t activate_in) {
  if (alg_index(alg) == kAlgs.size()) throw std::invalid_argument("no key for " + std::string(alg));
  auto record = new_key(random.token(12), alg);
  if (activate_in > 0) record.activates_at = record.created_at + activate_in;
  store_.rotate_signing_key(record, record.created_at);
  std::lock_guard lock(mutex_);
  loaded_at_ = -1;
  return record.kid;
}

std::vector<KeyRing::Rotated> KeyRing::rotate_due(Random& random, std::int64_t interval,
                                                  std::int64_t lead) {
  std::vector<Rotated> out;
  if (interval <= 0) return out;
  refresh(true);
  const auto now = clock_.now();
  const auto keys = store_.list_signing_keys();
  for (std::size_t i = 0; i < kAlgs.size(); ++i) {
    std::shared_ptr<const Current> current;
    {
      std::lock_guard lock(mutex_);
      current = current_[i];
    }
    // Only the algorithms in use; a key that has signed for `interval`, less the lead its
    // successor is published with, is due, unless its successor is waiting already (no key is
    // made for nothing at every sweep of the lead).
    if (!current || now < current->since + interval - lead) continue;
    const bool waiting = std::any_of(keys.begin(), keys.end(), [&](const auto& k) {
      return k.alg == kAlgs[i] && k.activates_at > now &&
             (k.retired_at == 0 || k.retired_at > k.activates_at);
    });
    if (waiting) continue;
    auto record = new_key(random.token(12), kAlgs[i]);
    record.activates_at = record.created_at + std::max<std::int64_t>(lead, 0);
    // Another process (another node) may have scheduled it a moment ago: one successor only.
    if (store_.rotate_signing_key(record, record.created_at, /*unless_pending=*/true))
      out.push_back(Rotated{record.kid, std::string(kAlgs[i]), record.activates_at});
  }
  std::lock_guard lock(mutex_);
  loaded_at_ = -1;
  return out;
}

}  // namespace authz
