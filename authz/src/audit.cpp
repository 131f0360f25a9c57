// The tamper-evident audit log (RFC 9162's Merkle tree over infobank's events).
#include "authz/audit.hpp"

#include <openssl/crypto.h>

#include <nlohmann/json.hpp>
#include <ostream>

#include "authz/base64url.hpp"
#include "authz/jws.hpp"
#include "authz/merkle.hpp"
#include "authz/random.hpp"
#include "internal.hpp"
#include "json_writer.hpp"

namespace authz {

namespace {

constexpr std::string_view kLogKey = "audit.log_key";
constexpr std::string_view kLogKid = "audit.log_kid";

merkle::Hash to_hash(std::string_view raw) {
  merkle::Hash h{};
  if (raw.size() != h.size()) throw std::runtime_error("audit log: stored hash has the wrong size");
  std::copy(raw.begin(), raw.end(), h.begin());
  return h;
}

std::string raw(const merkle::Hash& h) { return std::string(h.begin(), h.end()); }

class Sha256LogHasher final : public storage::LogHasher {
 public:
  [[nodiscard]] std::string leaf_hash(const storage::Event& entry) const override {
    return raw(merkle::leaf_hash(canonical_entry(entry)));
  }
  // The canonical form sorts its members, so "seq" is second to last, before "time" (a
  // number): the last `"seq":0,` of the form made with seq 0 is the member itself, whatever
  // the strings before it hold.
  [[nodiscard]] Prepared prepare(const storage::Event& entry) const override {
    const std::string text = canonical_entry(entry, 0);
    constexpr std::string_view kSeq = "\"seq\":0,";
    const auto at = text.rfind(kSeq);
    if (at == std::string::npos) throw std::logic_error("audit log: no seq in the canonical form");
    const auto digits = at + kSeq.size() - 2;  // where "0" stands
    return {text.substr(0, digits), text.substr(digits + 1)};
  }
  [[nodiscard]] std::string leaf_hash(const Prepared& entry, std::int64_t seq) const override {
    return raw(merkle::leaf_hash(entry.before_seq + std::to_string(seq) + entry.after_seq));
  }
  [[nodiscard]] std::string node_hash(std::string_view left, std::string_view right) const override {
    return raw(merkle::node_hash(to_hash(left), to_hash(right)));
  }
};

merkle::Hash stored_node(storage::Store& store, unsigned level, std::uint64_t index) {
  auto node = store.audit_node(level, static_cast<std::int64_t>(index));
  if (!node) throw std::runtime_error("audit log: a Merkle node is missing (the log was damaged)");
  return to_hash(*node);
}

// Levels below this are read from storage each time (they are most of the nodes); from here
// up they are cached: at 10^6 entries that is ~62,000 hashes, about 6 MB.
constexpr unsigned kCachedLevel = 4;

nlohmann::json entry_json(const storage::Event& e, std::int64_t seq) {
  nlohmann::json detail = nlohmann::json::parse(e.detail.empty() ? "{}" : e.detail, nullptr, false);
  if (detail.is_discarded()) detail = e.detail;
  return {{"seq", seq},           {"time", e.time},         {"actor", e.actor},
          {"action", e.action},     {"resident", e.resident}, {"client_id", e.client_id},
          {"purpose", e.purpose},   {"datasets", e.datasets}, {"outcome", e.outcome},
          {"detail", detail},       {"request_id", e.request_id}};
}

// Whether `json` is already exactly what nlohmann::json::parse(json).dump() writes: no
// whitespace, members in std::map's order (byte-wise, on the unescaped names) without
// duplicates, integers in their shortest form within 18 digits, strings escaped as dump()
// escapes them, valid UTF-8. The details infobank writes are dump()'s output, so they are
// copied as they are instead of parsed and dumped again. Fractions, exponents and deep nesting
// answer false, as does anything else unusual: a false answer costs only the slow way.
class CanonicalJson {
 public:
  static bool is(std::string_view json) {
    CanonicalJson scan(json);
    return scan.value(0) && scan.at_ == json.size();
  }

 private:
  explicit CanonicalJson(std::string_view s) : s_(s) {}

  static constexpr int kMaxDepth = 32;

  bool next_is(char c) const { return at_ < s_.size() && s_[at_] == c; }

  bool value(int depth) {
    if (at_ >= s_.size()) return false;
    switch (s_[at_]) {
      case '{': return object(depth);
      case '[': return array(depth);
      case '"': return string(nullptr);
      case 't': return literal("true");
      case 'f': return literal("false");
      case 'n': return literal("null");
      default: return integer();
    }
  }

  bool literal(std::string_view word) {
    if (s_.substr(at_, word.size()) != word) return false;
    at_ += word.size();
    return true;
  }

  // nlohmann reads "-0" as 0, and past 18 digits a number may leave the 64-bit integers.
  bool integer() {
    std::size_t i = at_;
    if (s_[i] == '-') ++i;
    const std::size_t first = i;
    while (i < s_.size() && s_[i] >= '0' && s_[i] <= '9') ++i;
    const std::size_t digits = i - first;
    if (digits == 0 || digits > 18) return false;
    if (s_[first] == '0' && (digits > 1 || first != at_)) return false;
    if (i < s_.size() && (s_[i] == '.' || s_[i] == 'e' || s_[i] == 'E')) return false;
    at_ = i;
    return true;
  }

  // `open` item (`,` item)* `close`, or `open` `close`, at most kMaxDepth deep.
  template <class Item>
  bool sequence(int depth, char close, Item item) {
    if (depth >= kMaxDepth) return false;
    ++at_;
    if (next_is(close)) {
      ++at_;
      return true;
    }
    for (;;) {
      if (!item()) return false;
      if (next_is(',')) {
        ++at_;
        continue;
      }
      if (!next_is(close)) return false;
      ++at_;
      return true;
    }
  }

  bool array(int depth) {
    return sequence(depth, ']', [&] { return value(depth + 1); });
  }

  bool object(int depth) {
    std::string previous;
    std::string name;
    bool first = true;
    return sequence(depth, '}', [&] {
      if (!next_is('"') || !string(&name)) return false;
      if (!first && !(previous < name)) return false;
      first = false;
      if (!next_is(':')) return false;
      ++at_;
      if (!value(depth + 1)) return false;
      previous.swap(name);
      return true;
    });
  }

  static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;  // dump() writes lower case
  }

  // At the opening quote. Escapes are ASCII, so the text between the quotes is valid UTF-8
  // exactly when the string it spells is. `unescaped`, when given, receives that string.
  bool string(std::string* unescaped) {
    ++at_;
    const std::size_t start = at_;
    std::size_t run = at_;  // start of the bytes not yet copied to `unescaped`
    if (unescaped != nullptr) unescaped->clear();
    for (;;) {
      if (at_ >= s_.size()) return false;
      const auto c = static_cast<unsigned char>(s_[at_]);
      if (c == '"') break;
      if (c < 0x20) return false;
      if (c != '\\') {
        ++at_;
        continue;
      }
      if (at_ + 1 >= s_.size()) return false;
      char decoded = 0;
      std::size_t length = 2;
      switch (s_[at_ + 1]) {
        case '"': decoded = '"'; break;
        case '\\': decoded = '\\'; break;
        case 'b': decoded = '\b'; break;
        case 'f': decoded = '\f'; break;
        case 'n': decoded = '\n'; break;
        case 'r': decoded = '\r'; break;
        case 't': decoded = '\t'; break;
        case 'u': {
          // Only \u00XX, for a control character without a short escape.
          if (at_ + 6 > s_.size() || s_.substr(at_ + 2, 2) != "00") return false;
          const int high = hex_digit(s_[at_ + 4]);
          const int low = hex_digit(s_[at_ + 5]);
          if (high < 0 || low < 0) return false;
          const int code = high * 16 + low;
          if (code >= 0x20 || code == '\b' || code == '\f' || code == '\n' || code == '\r' ||
              code == '\t')
            return false;
          decoded = static_cast<char>(code);
          length = 6;
          break;
        }
        default: return false;
      }
      if (unescaped != nullptr) {
        unescaped->append(s_.substr(run, at_ - run));
        unescaped->push_back(decoded);
      }
      at_ += length;
      run = at_;
    }
    if (!valid_utf8(s_.substr(start, at_ - start))) return false;
    if (unescaped != nullptr) unescaped->append(s_.substr(run, at_ - run));
    ++at_;
    return true;
  }

  std::string_view s_;
  std::size_t at_ = 0;
};

// canonical_entry() without building a JSON document: the members written in sorted order,
// each as dump() writes it. A detail already in canonical form is copied; any other goes
// through nlohmann (parsed, so its spelling does not matter). Empty if a string is not valid
// UTF-8.
std::string canonical_entry_direct(const storage::Event& e, std::int64_t seq) {
  std::string out;
  out.reserve(160 + e.action.size() + e.actor.size() + e.client_id.size() + e.detail.size() +
              e.outcome.size() + e.purpose.size() + e.request_id.size() + e.resident.size());
  const auto member = [&](std::string_view name_and_colon, std::string_view value) {
    out += name_and_colon;
    return append_json_string(out, value);
  };
  if (!member("{\"action\":", e.action) || !member(",\"actor\":", e.actor) ||
      !member(",\"client_id\":", e.client_id))
    return {};
  out += ",\"datasets\":[";
  for (std::size_t i = 0; i < e.datasets.size(); ++i) {
    if (i > 0) out.push_back(',');
    if (!append_json_string(out, e.datasets[i])) return {};
  }
  out += "],\"detail\":";
  if (e.detail.empty()) {
    out += "{}";
  } else if (CanonicalJson::is(e.detail)) {
    out += e.detail;
  } else {
    auto detail = nlohmann::json::parse(e.detail, nullptr, false);
    if (detail.is_discarded()) {
      if (!append_json_string(out, e.detail)) return {};
    } else {
      out += detail.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
  }
  if (!member(",\"outcome\":", e.outcome) || !member(",\"purpose\":", e.purpose) ||
      !member(",\"request_id\":", e.request_id) || !member(",\"resident\":", e.resident))
    return {};
  out += ",\"seq\":";
  out += std::to_string(seq);
  out += ",\"time\":";
  out += std::to_string(e.time);
  out.push_back('}');
  return out;
}

std::string head_payload(std::int64_t size, std::int64_t timestamp, const std::string& root) {
  // nlohmann::json sorts members: the payload is canonical.
  return nlohmann::json{{"tree_size", size}, {"timestamp", timestamp}, {"root_hash", root}}.dump();
}

}  // namespace

std::string canonical_entry(const storage::Event& entry) {
  return canonical_entry(entry, entry.seq);
}

std::string canonical_entry(const storage::Event& entry, std::int64_t seq) {
  // The direct form is never empty ("{...}"); empty means a string was not valid UTF-8.
  if (auto direct = canonical_entry_direct(entry, seq); !direct.empty()) return direct;
  return entry_json(entry, seq).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string export_line(const storage::Event& entry) {
  auto j = entry_json(entry, entry.seq);
  if (entry.leaf_hash.size() == 32) j["leaf_hash"] = merkle::to_base64(to_hash(entry.leaf_hash));
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string export_header(const TreeHead& head, std::string_view log_key_jwk) {
  return nlohmann::json{{"tree_head", nlohmann::json::parse(head.json())},
                        {"log_key", nlohmann::json::parse(log_key_jwk)}}
      .dump();
}

std::shared_ptr<const storage::LogHasher> make_log_hasher() {
  return std::make_shared<Sha256LogHasher>();
}

std::string TreeHead::json() const {
  return nlohmann::json{{"tree_size", tree_size},
                        {"timestamp", timestamp},
                        {"root_hash", root_hash},
                        {"kid", kid},
                        {"signature", signature}}
      .dump();
}

Expected<TreeHead> parse_tree_head(std::string_view json, const PublicKey& key) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (!j.is_object() || !j.contains("tree_size") || !j["tree_size"].is_number_integer() ||
      !j.contains("timestamp") || !j["timestamp"].is_number_integer() || !j.contains("root_hash") ||
      !j["root_hash"].is_string() || !j.contains("signature") || !j["signature"].is_string())
    return make_error("invalid_request", "not a tree head");
  TreeHead head;
  head.tree_size = j["tree_size"].get<std::int64_t>();
  head.timestamp = j["timestamp"].get<std::int64_t>();
  head.root_hash = j["root_hash"].get<std::string>();
  head.signature = j["signature"].get<std::string>();
  head.kid = j.value("kid", "");
  auto jws = jws_parse(head.signature);
  if (!jws || !jws_verify(*jws, key))
    return make_error("invalid_signature", "the tree head's signature does not verify");
  if (jws->payload != head_payload(head.tree_size, head.timestamp, head.root_hash))
    return make_error("invalid_signature", "the tree head's fields differ from what was signed");
  if (!merkle::from_base64(head.root_hash))
    return make_error("invalid_request", "root_hash is not base64 of 32 bytes");
  return head;
}

AuditLog::AuditLog(storage::Store& store, const Clock& clock, const Sealer& sealer)
    : store_(store), clock_(clock), sealer_(sealer) {}

std::string named_secret(storage::Store& store, const Sealer& sealer, std::string_view name,
                         const std::string& candidate) {
  // get_or_create_secret is "insert if absent, then read" in one transaction, so every process
  // and node ends up with the first value stored: the candidate is sealed before, the stored
  // value opened after. The associated data names the secret and not the candidate, so it
  // opens whichever process's candidate won.
  const std::string aad = "secret:" + std::string(name);
  auto value = sealer.open(store.get_or_create_secret(name, sealer.seal(candidate, aad)), aad);
  if (!value) {
    throw std::runtime_error("the stored secret " + std::string(name) + " does not open (" +
                             value.error().description + "): is this the master key it was sealed with?");
  }
  return std::move(value).value();
}

std::string AuditLog::secret(std::string_view name, const std::string& candidate) {
  return named_secret(store_, sealer_, name, candidate);
}

const AuditLog::Keys& AuditLog::keys() {
  // Callers hold mutex_.
  if (!keys_) {
    OsRandom random;
    auto pem = secret(kLogKey, SigningKey::generate_es256().to_pem());
    // Not a secret (tree heads name it), sealed anyway: everything in `secrets` is.
    auto kid = secret(kLogKid, "log-" + random.token(9));
    auto key = SigningKey::from_pem(pem);
    OPENSSL_cleanse(pem.data(), pem.size());
    if (!key) throw std::runtime_error("audit log: the stored log key is unreadable");
    keys_ = Keys{std::move(*key), std::move(kid)};
  }
  return *keys_;
}

std::string AuditLog::pseudonym(std::string_view resident_id) {
  if (resident_id.empty()) return {};
  std::string id(resident_id);
  {
    std::lock_guard lock(mutex_);
    if (auto it = pseudonyms_.find(id); it != pseudonyms_.end()) return it->second;
  }
  OsRandom random;
  auto name = store_.get_or_create_pseudonym(id, random.token(16));
  std::lock_guard lock(mutex_);
  if (pseudonyms_.size() > 100'000) pseudonyms_.clear();  // a cache, bounded
  pseudonyms_[id] = name;
  return name;
}

std::optional<std::string> AuditLog::find_pseudonym(std::string_view resident_id) {
  // Always storage, never the cache: after erasure the answer must be "none".
  return store_.find_pseudonym(resident_id);
}

merkle::PerfectNode AuditLog::nodes() {
  return [this](unsigned level, std::uint64_t index) {
    if (level < kCachedLevel) return stored_node(store_, level, index);
    const std::uint64_t key = (std::uint64_t{level} << 58) | index;
    {
      std::lock_guard lock(nodes_mutex_);
      if (auto it = node_cache_.find(key); it != node_cache_.end()) return it->second;
    }
    auto hash = stored_node(store_, level, index);
    std::lock_guard lock(nodes_mutex_);
    node_cache_.emplace(key, hash);
    return hash;
  };
}

TreeHead AuditLog::tree_head() {
  const auto size = store_.audit_size();
  const auto root =
      size == 0 ? merkle::empty_root() : merkle::root(nodes(), static_cast<std::uint64_t>(size));
  std::lock_guard lock(mutex_);
  const auto& k = keys();
  TreeHead head;
  head.tree_size = size;
  head.timestamp = clock_.now();
  head.root_hash = merkle::to_base64(root);
  head.kid = k.kid;
  head.signature = jws_sign(k.signing_key, k.kid, "sth+jwt",
                            head_payload(head.tree_size, head.timestamp, head.root_hash));
  return head;
}

Expected<std::vector<std::string>> AuditLog::inclusion_proof(std::int64_t seq, std::int64_t tree_size) {
  const auto size = store_.audit_size();
  if (tree_size == 0) tree_size = size;
  if (tree_size < 1 || tree_size > size) return make_error("invalid_request", "tree_size is out of range");
  if (seq < 1 || seq > tree_size) return make_error("invalid_request", "seq is not in that tree");
  std::vector<std::string> out;
  for (const auto& h : merkle::inclusion_proof(nodes(), static_cast<std::uint64_t>(seq - 1),
                                               static_cast<std::uint64_t>(tree_size)))
    out.push_back(merkle::to_base64(h));
  return out;
}

Expected<std::vector<std::string>> AuditLog::consistency_proof(std::int64_t first, std::int64_t second) {
  const auto size = store_.audit_size();
  if (second == 0) second = size;
  if (first < 1 || first > second || second > size)
    return make_error("invalid_request", "need 1 <= first <= second <= tree size");
  std::vector<std::string> out;
  for (const auto& h : merkle::consistency_proof(nodes(), static_cast<std::uint64_t>(first),
                                                 static_cast<std::uint64_t>(second)))
    out.push_back(merkle::to_base64(h));
  return out;
}

void AuditLog::write_export(std::ostream& out) {
  constexpr int kPage = 1000;
  const auto head = tree_head();
  out << export_header(head, public_jwk()) << '\n';
  // Streams page by page. Entries past the head are either appended since (they have their
  // leaf in the tree: a later head covers them) or were put in the table behind the log's
  // back (no leaf): only those are written, for `verify` to name.
  std::int64_t after = 0;
  for (;;) {
    auto page = store_.list_events(after, kPage);
    for (const auto& e : page) {
      if (e.seq <= head.tree_size || !store_.audit_node(0, e.seq - 1)) out << export_line(e) << '\n';
    }
    if (static_cast<int>(page.size()) < kPage) break;
    after = page.back().seq;
  }
}

PublicKey AuditLog::public_key() {
  std::lock_guard lock(mutex_);
  auto key = keys().signing_key.public_key();
  key.set_kid(keys().kid);
  return key;
}

std::string AuditLog::public_jwk() {
  auto key = public_key();
  auto jwk = nlohmann::json::parse(key.to_jwk_json());
  jwk["kid"] = key.kid();
  jwk["alg"] = "ES256";
  jwk["use"] = "sig";
  return jwk.dump();
}

VerifyReport verify_export(std::string_view export_jsonl,
                           std::optional<std::string_view> previous_tree_head,
                           std::optional<std::string_view> pinned_key_jwk) {
  VerifyReport report;
  auto fail = [&report](std::string problem, std::int64_t seq = 0) {
    report.ok = false;
    report.problem = std::move(problem);
    report.first_bad_seq = seq;
    return report;
  };
  std::vector<std::string_view> lines;
  for (std::size_t start = 0; start < export_jsonl.size();) {
    auto end = export_jsonl.find('\n', start);
    if (end == std::string_view::npos) end = export_jsonl.size();
    if (end > start) lines.push_back(export_jsonl.substr(start, end - start));
    start = end + 1;
  }
  if (lines.empty()) return fail("the export is empty");
  auto header = nlohmann::json::parse(lines.front(), nullptr, false);
  if (!header.is_object() || !header.contains("tree_head") || !header.contains("log_key"))
    return fail("the first line is not an export header");
  auto key = PublicKey::from_jwk(pinned_key_jwk ? *pinned_key_jwk : header["log_key"].dump());
  if (!key) return fail("the log key is not a usable public key");
  auto head = parse_tree_head(header["tree_head"].dump(), *key);
  if (!head) return fail("tree head: " + head.error().description);

  merkle::MemoryTree tree;
  std::int64_t expected = 1;
  for (std::size_t i = 1; i < lines.size(); ++i, ++expected) {
    auto j = nlohmann::json::parse(lines[i], nullptr, false);
    if (!j.is_object() || !j.contains("seq") || !j["seq"].is_number_integer() ||
        (j.contains("leaf_hash") && !j["leaf_hash"].is_string()))
      return fail("line " + std::to_string(i + 1) + " is not an entry", expected);
    const auto seq = j["seq"].get<std::int64_t>();
    if (seq > expected) return fail("entry " + std::to_string(expected) + " is missing (deleted)", expected);
    if (seq < expected)
      return fail("entry " + std::to_string(seq) + " appears out of order or twice", seq);
    storage::Event e;
    e.seq = seq;
    e.time = j.value("time", std::int64_t{0});
    e.actor = j.value("actor", "");
    e.action = j.value("action", "");
    e.resident = j.value("resident", "");
    e.client_id = j.value("client_id", "");
    e.purpose = j.value("purpose", "");
    if (j.contains("datasets") && j["datasets"].is_array())
      for (const auto& d : j["datasets"]) e.datasets.push_back(d.is_string() ? d.get<std::string>() : d.dump());
    e.outcome = j.value("outcome", "");
    e.detail = j.contains("detail") ? (j["detail"].is_string() ? j["detail"].get<std::string>() : j["detail"].dump()) : "";
    e.request_id = j.value("request_id", "");
    // The log writes an entry without a leaf hash when the entry is no leaf of its tree.
    if (!j.contains("leaf_hash"))
      return fail("entry " + std::to_string(seq) +
                      " is not covered by the log's tree (it has no leaf: added outside the log)",
                  seq);
    auto stated = merkle::from_base64(j["leaf_hash"].get<std::string>());
    const auto computed = merkle::leaf_hash(canonical_entry(e));
    if (!stated || *stated != computed)
      return fail("entry " + std::to_string(seq) + " was altered: its content does not match its leaf hash", seq);
    tree.append(computed);
  }
  report.entries = static_cast<std::int64_t>(tree.size());
  if (report.entries < head->tree_size)
    return fail("the log is truncated: the tree head covers " + std::to_string(head->tree_size) +
                    " entries, the export has " + std::to_string(report.entries),
                report.entries + 1);
  if (report.entries > head->tree_size)
    return fail("entry " + std::to_string(head->tree_size + 1) +
                    " is not covered by the tree head (added outside the log)",
                head->tree_size + 1);
  const auto root = report.entries == 0 ? merkle::empty_root() : tree.root();
  if (merkle::to_base64(root) != head->root_hash)
    return fail("the entries' root differs from the signed tree head");
  if (previous_tree_head) {
    auto previous = parse_tree_head(*previous_tree_head, *key);
    if (!previous) return fail("earlier tree head: " + previous.error().description);
    if (previous->tree_size > head->tree_size)
      return fail("the log shrank: the earlier tree head covers " + std::to_string(previous->tree_size) +
                      " entries, the log now " + std::to_string(head->tree_size),
                  head->tree_size + 1);
    if (previous->tree_size > 0) {
      auto old_root = merkle::from_base64(previous->root_hash);
      auto proof = merkle::consistency_proof(tree.nodes(), static_cast<std::uint64_t>(previous->tree_size),
                                             static_cast<std::uint64_t>(head->tree_size));
      if (!old_root || !merkle::verify_consistency(static_cast<std::uint64_t>(previous->tree_size),
                                                   static_cast<std::uint64_t>(head->tree_size), *old_root,
                                                   root, proof))
        return fail("the log is not consistent with the earlier tree head of " +
                        std::to_string(previous->tree_size) + " entries: entries up to " +
                        std::to_string(previous->tree_size) + " were rewritten");
    }
  }
  report.ok = true;
  return report;
}

}  // namespace authz
