// The tamper-evident audit log: entries and Merkle nodes in a real SQLite file, exports,
// and `verify` against edits, deletions, reordering, appends and truncation made directly in
// the file (as an intruder with the database would).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <nlohmann/json.hpp>
#include <functional>
#include <random>
#include <sstream>

#include "../storage/temp_dir.hpp"
#include "authz/audit.hpp"
#include "authz/merkle.hpp"
#include "authz/oauth.hpp"

namespace authz {
namespace {

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("audit.db");
    store_ = storage::open_sqlite(path_, make_log_hasher());
    store_->migrate();
    audit_ = std::make_unique<AuditLog>(*store_, clock_, sealer_);
    for (int i = 1; i <= 10; ++i) append(i);
  }

  void append(int i) {
    storage::Event e;
    e.time = clock_.now() + i;
    e.actor = "client";
    e.action = i % 2 ? "token.issued" : "data.provided";
    e.resident = audit_->pseudonym("resident-" + std::to_string(i % 3));
    e.client_id = "city";
    e.purpose = "child-care support";
    e.datasets = {"address", "children"};
    e.outcome = "success";
    e.detail = R"({"n":)" + std::to_string(i) + "}";
    const auto seq = store_->append_event(e);
    EXPECT_EQ(seq, store_->audit_size());
  }

  std::string export_now() {
    std::ostringstream out;
    audit_->write_export(out);
    return out.str();
  }

  void sql(const std::string& statement) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    const int rc = sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &error);
    std::string message = error ? error : "";
    sqlite3_free(error);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << message;
  }

  // An intruder first removes the append-only triggers.
  void untrigger() {
    sql("DROP TRIGGER audit_entries_no_update; DROP TRIGGER audit_entries_no_delete;"
        "DROP TRIGGER audit_tree_no_update; DROP TRIGGER audit_tree_no_delete;");
  }

  storage::testing::TempDir dir_;
  Sealer sealer_ = Sealer::load_or_create(dir_.file("master.key"));
  std::string path_;
  ManualClock clock_{1'800'000'000};
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<AuditLog> audit_;
};

// The store hashes an entry in two steps (its form prepared before the seq is known, then
// hashed with it): the result is the leaf hash of the whole canonical form, whatever the
// strings hold, including the text of the seq member itself, escapes and invalid UTF-8.
TEST(LogHasher, PreparedLeafHashesAsTheWholeEntry) {
  const auto hasher = make_log_hasher();
  storage::Event e;
  e.time = -5;
  e.actor = R"("seq":0,)";
  e.action = "a\"seq\":0,\\";
  e.resident = "\"seq\":0,\"time\":1}";
  e.client_id = "\x01\t\u00e9\u6f22";
  e.purpose = "\xff\xfe broken";
  e.datasets = {"\"seq\":0,", ""};
  e.detail = R"({"seq":0,"z":[1,2.5,"\u0000"],"a":null})";
  e.outcome = "success";
  e.request_id = "req";
  for (const std::int64_t seq : {std::int64_t{0}, std::int64_t{1}, std::int64_t{42},
                                 std::int64_t{1} << 40, std::int64_t{-1}}) {
    e.seq = seq;
    const std::string whole = hasher->leaf_hash(e);
    EXPECT_EQ(whole, std::string(reinterpret_cast<const char*>(merkle::leaf_hash(canonical_entry(e)).data()), 32));
    e.seq = 7;  // prepare() ignores the seq it is given
    EXPECT_EQ(hasher->leaf_hash(hasher->prepare(e), seq), whole) << seq;
  }
  e.detail = "not json, kept as a string";
  e.seq = 3;
  EXPECT_EQ(hasher->leaf_hash(hasher->prepare(e), 3), hasher->leaf_hash(e));
}

// canonical_entry() writes the members itself; its reference is what the audit issue's format
// says: the entry as a JSON object (members sorted, no whitespace) dumped by nlohmann, with
// invalid UTF-8 replaced. Random entries whose strings mix escapes, control characters, valid
// and broken UTF-8, and details that are JSON or not, must come out byte for byte the same.
TEST(CanonicalEntry, EqualsTheJsonDocumentDumped) {
  const std::vector<std::string> pieces = {
      "a", "Z", " ", "/", "\"", "\\", "\b", "\f", "\n", "\r", "\t", std::string(1, '\0'),
      "\x01", "\x1f", "\x7f", "\u00e9", "\u6f22", "\U0001F600", "\u2028", "\xef\xbf\xbd",
      "\xff", "\xc0\x80", "\xc2", "\xed\xa0\x80", "\xe6\xbc", "\xf4\x90\x80\x80",
      "\xf0\x8f\xbf\xbf", "\x80", "\"seq\":0,"};
  std::mt19937 random(20261205);
  const auto text = [&](std::size_t max) {
    std::string out;
    for (std::size_t n = random() % (max + 1); n > 0; --n) out += pieces[random() % pieces.size()];
    return out;
  };
  const auto detail = [&]() -> std::string {
    switch (random() % 6) {
      case 0: return "";
      case 1: return "{}";
      case 2: return nlohmann::json{{text(3), text(3)}, {"n", static_cast<int>(random() % 1000) - 500}}
                         .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      case 3: return R"({ "b" : [1, 2.5e3, true, null, {"y":"\u00e9"}], "a":"x" })";
      case 4: return "{\"k\":\"" + text(3) + "\"}";  // broken when the text needs escapes
      default: return text(6);
    }
  };
  int escaped = 0;
  int broken = 0;
  for (int i = 0; i < 5000; ++i) {
    storage::Event e;
    e.seq = static_cast<std::int64_t>(random()) - 100;
    e.time = static_cast<std::int64_t>(random()) * 1000 - 7;
    e.actor = text(2);
    e.action = text(4);
    e.resident = text(2);
    e.client_id = text(3);
    e.purpose = text(3);
    for (std::size_t n = random() % 3; n > 0; --n) e.datasets.push_back(text(2));
    e.outcome = text(1);
    e.detail = detail();
    e.request_id = text(2);
    nlohmann::json d = nlohmann::json::parse(e.detail.empty() ? "{}" : e.detail, nullptr, false);
    if (d.is_discarded()) d = e.detail;
    const nlohmann::json reference = {
        {"seq", e.seq},         {"time", e.time},         {"actor", e.actor},
        {"action", e.action},   {"resident", e.resident}, {"client_id", e.client_id},
        {"purpose", e.purpose}, {"datasets", e.datasets}, {"outcome", e.outcome},
        {"detail", d},          {"request_id", e.request_id}};
    const std::string expected = reference.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    ASSERT_EQ(canonical_entry(e), expected) << "entry " << i;
    if (expected.find("\\u00") != std::string::npos) ++escaped;
    if (expected.find("\xef\xbf\xbd") != std::string::npos) ++broken;
  }
  EXPECT_GT(escaped, 1000) << "control characters were exercised";
  EXPECT_GT(broken, 1000) << "replaced UTF-8 was exercised";
}

// A detail already in canonical form is copied into the entry instead of being parsed and
// dumped again. Whatever the detail, the entry must equal the one with the detail parsed and
// dumped by nlohmann: random documents as dump() writes them (copied), the same with one byte
// changed or inserted (mostly not canonical any more, or not JSON), and the spellings that
// are valid JSON but not dump()'s.
TEST(CanonicalEntry, DetailsAreTheirParsedAndDumpedForm) {
  const std::vector<std::string> names = {"a", "b", "B", "ab", "", "\t", std::string(1, '\x01'),
                                          "\u00e9", "\"", "\\", "/", "\x7f"};
  const std::vector<std::int64_t> integers = {0, 1, -1, 42, -500, 999999999999999999,
                                              -999999999999999999, INT64_MAX, INT64_MIN};
  std::mt19937 random(20261206);
  std::function<nlohmann::json(int)> document = [&](int depth) -> nlohmann::json {
    switch (random() % (depth > 3 ? 5 : 7)) {
      case 0: return integers[random() % integers.size()];
      case 1: return names[random() % names.size()] + names[random() % names.size()];
      case 2: return random() % 2 == 0;
      case 3: return nullptr;
      case 4: return random() % 4 == 0 ? nlohmann::json(2.5) : nlohmann::json(random() % 100000);
      case 5: {
        auto a = nlohmann::json::array();
        for (auto n = random() % 4; n > 0; --n) a.push_back(document(depth + 1));
        return a;
      }
      default: {
        auto o = nlohmann::json::object();
        for (auto n = random() % 5; n > 0; --n)
          o[names[random() % names.size()] + names[random() % names.size()]] = document(depth + 1);
        return o;
      }
    }
  };
  const std::string bytes = " \"\\,:{}[]0-.eE+uU/atn\x01\x1f\xff\xc3\xa9";
  std::vector<std::string> details = {
      "-0", "01", "1.0", "1e2", "-", "+1", "123456789012345678", "1234567890123456789",
      "-9223372036854775808", "18446744073709551615", "18446744073709551616", R"("\u0041")",
      R"("\/")", R"("\u001F")", R"("\u001f")", R"("\u0008")", R"("\u0000")", R"("\ud83d\ude00")",
      R"("\x")", R"({"b":1,"a":2})", R"({"a":1,"a":2})", R"({"\u0001":1,"\t":2})",
      R"({"\t":1,"\u0001":2})", R"({"a":1,})", R"([1,])", "[]", "{}", " {}", "{} ", "tru", "nul",
      "\"\xc3\xa9\"", "\"\xc3\"", "\"\xed\xa0\x80\"", "\"a\x01\"", std::string(40, '[') + std::string(40, ']'),
      std::string(31, '[') + std::string(31, ']'), std::string(33, '[') + std::string(33, ']')};
  for (int i = 0; i < 3000; ++i) {
    std::string text = document(0).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    details.push_back(text);
    const auto at = random() % (text.size() + 1);
    const char byte = bytes[random() % bytes.size()];
    if (random() % 2 == 0 && at < text.size()) {
      text[at] = byte;
    } else {
      text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), byte);
    }
    details.push_back(text);
  }
  int kept = 0;
  for (const auto& detail : details) {
    storage::Event e;
    e.seq = 9;
    e.time = 1'800'000'000;
    e.actor = "system";
    e.action = "test";
    e.detail = detail;
    nlohmann::json d = nlohmann::json::parse(detail, nullptr, false);
    if (d.is_discarded()) d = detail;
    const nlohmann::json reference = {
        {"seq", e.seq},         {"time", e.time},         {"actor", e.actor},
        {"action", e.action},   {"resident", e.resident}, {"client_id", e.client_id},
        {"purpose", e.purpose}, {"datasets", e.datasets}, {"outcome", e.outcome},
        {"detail", d},          {"request_id", e.request_id}};
    ASSERT_EQ(canonical_entry(e), reference.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
        << "detail " << nlohmann::json(detail).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
    if (d.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) == detail) ++kept;
  }
  EXPECT_GT(kept, 2900) << "documents already in canonical form were exercised";
}

TEST_F(AuditLogTest, StoredNodesGiveTheSameRootAsAReferenceTree) {
  merkle::MemoryTree reference;
  for (const auto& e : store_->list_events(0, 100)) {
    reference.append(merkle::leaf_hash(canonical_entry(e)));
  }
  auto head = audit_->tree_head();
  EXPECT_EQ(head.tree_size, 10);
  EXPECT_EQ(head.root_hash, merkle::to_base64(reference.root()));
  auto parsed = parse_tree_head(head.json(), audit_->public_key());
  ASSERT_TRUE(parsed) << parsed.error().description;
  EXPECT_EQ(parsed->tree_size, 10);
}

TEST_F(AuditLogTest, InclusionAndConsistencyProofsVerify) {
  auto head = audit_->tree_head();
  auto root = *merkle::from_base64(head.root_hash);
  auto entries = store_->list_events(0, 100);
  for (const auto& e : entries) {
    auto proof = audit_->inclusion_proof(e.seq, 0);
    ASSERT_TRUE(proof);
    std::vector<merkle::Hash> path;
    for (const auto& p : *proof) path.push_back(*merkle::from_base64(p));
    EXPECT_TRUE(merkle::verify_inclusion(merkle::leaf_hash(canonical_entry(e)),
                                         static_cast<std::uint64_t>(e.seq - 1), 10, path, root));
  }
  auto old_head = audit_->tree_head();
  append(11);
  append(12);
  auto new_head = audit_->tree_head();
  auto proof = audit_->consistency_proof(10, 12);
  ASSERT_TRUE(proof);
  std::vector<merkle::Hash> path;
  for (const auto& p : *proof) path.push_back(*merkle::from_base64(p));
  EXPECT_TRUE(merkle::verify_consistency(10, 12, *merkle::from_base64(old_head.root_hash),
                                         *merkle::from_base64(new_head.root_hash), path));
  EXPECT_FALSE(audit_->inclusion_proof(13, 0));
  EXPECT_FALSE(audit_->consistency_proof(0, 12));
}

TEST_F(AuditLogTest, AnUntouchedExportVerifiesAndIsConsistentWithAnEarlierHead) {
  auto earlier = audit_->tree_head().json();
  append(11);
  auto report = verify_export(export_now(), earlier, audit_->public_jwk());
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.entries, 11);
}

TEST_F(AuditLogTest, AppendOnlyTriggersRefuseChanges) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  EXPECT_NE(sqlite3_exec(db, "UPDATE audit_entries SET actor = 'x'", nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_NE(sqlite3_exec(db, "DELETE FROM audit_tree", nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_NE(sqlite3_exec(db, "UPDATE audit_tree SET hashes = hashes", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  EXPECT_TRUE(verify_export(export_now(), std::nullopt, std::nullopt).ok);
}

TEST_F(AuditLogTest, AnEditedEntryIsNamed) {
  untrigger();
  sql("UPDATE audit_entries SET client_id = 'someone-else' WHERE seq = 4");
  auto report = verify_export(export_now(), std::nullopt, audit_->public_jwk());
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad_seq, 4);
  EXPECT_NE(report.problem.find("altered"), std::string::npos) << report.problem;
}

TEST_F(AuditLogTest, ADeletedEntryIsNamed) {
  untrigger();
  sql("DELETE FROM audit_entries WHERE seq = 5");
  auto report = verify_export(export_now(), std::nullopt, audit_->public_jwk());
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad_seq, 5);
  EXPECT_NE(report.problem.find("missing"), std::string::npos) << report.problem;
}

TEST_F(AuditLogTest, ReorderedEntriesAreNamed) {
  untrigger();
  // Swap the contents of entries 2 and 3, keeping each row's seq and leaf hash.
  sql("UPDATE audit_entries SET seq = -2 WHERE seq = 2; UPDATE audit_entries SET seq = 2 WHERE seq = 3;"
      "UPDATE audit_entries SET seq = 3 WHERE seq = -2;");
  auto report = verify_export(export_now(), std::nullopt, audit_->public_jwk());
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad_seq, 2) << report.problem;
}

TEST_F(AuditLogTest, ARowAppendedBehindTheLogsBackIsNamed) {
  sql("INSERT INTO audit_entries (seq, time, actor, action, resident, client_id, purpose, datasets,"
      " outcome, detail, request_id) VALUES (11, 1800000100, 'client', 'data.provided',"
      " '', 'city', 'marketing', '', 'success', '{}', '')");
  const auto exported = export_now();
  auto report = verify_export(exported, std::nullopt, audit_->public_jwk());
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad_seq, 11) << report.problem;
  EXPECT_NE(report.problem.find("not covered"), std::string::npos) << report.problem;
  // With a leaf hash made up for it, it is still named: as altered or as not covered.
  auto forged = exported;
  const auto at = forged.rfind("\"seq\":11");
  ASSERT_NE(at, std::string::npos);
  forged.insert(at, "\"leaf_hash\":\"" + std::string(43, 'A') + "=\",");
  report = verify_export(forged, std::nullopt, audit_->public_jwk());
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad_seq, 11) << report.problem;
}

TEST_F(AuditLogTest, TruncationIsNamed) {
  untrigger();
  sql("DELETE FROM audit_entries WHERE seq > 7");
  auto report = verify_export(export_now(), std::nullopt, audit_->public_jwk());
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad_seq, 8);
  EXPECT_NE(report.problem.find("truncated"), std::string::npos) << report.problem;
}

TEST_F(AuditLogTest, TruncatingEntriesAndTreeTogetherIsCaughtByAnEarlierHead) {
  auto earlier = audit_->tree_head().json();
  untrigger();
  // Each leaf's row of the tree holds only the nodes that leaf made: rows from leaf 6 on go.
  sql("DELETE FROM audit_entries WHERE seq > 6; DELETE FROM audit_tree WHERE leaf >= 6;");
  auto alone = verify_export(export_now(), std::nullopt, audit_->public_jwk());
  EXPECT_TRUE(alone.ok) << "a consistent shorter log looks fine without history: " << alone.problem;
  auto report = verify_export(export_now(), earlier, audit_->public_jwk());
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.first_bad_seq, 7) << report.problem;
}

TEST_F(AuditLogTest, ATreeHeadSignedByAnotherKeyIsRefused) {
  auto other = SigningKey::generate_es256().public_key();
  auto report = verify_export(export_now(), std::nullopt, other.to_jwk_json());
  EXPECT_FALSE(report.ok);
  EXPECT_NE(report.problem.find("signature"), std::string::npos) << report.problem;
}

TEST_F(AuditLogTest, PseudonymsAreRandomAndErasingTheResidentUnlinksThem) {
  auto a = audit_->pseudonym("resident-1");
  EXPECT_EQ(a, audit_->pseudonym("resident-1"));
  EXPECT_NE(a, audit_->pseudonym("resident-2"));
  EXPECT_EQ(a.find("resident"), std::string::npos);
  EXPECT_EQ(audit_->find_pseudonym("resident-1"), a);
  EXPECT_FALSE(audit_->find_pseudonym("nobody"));
  EXPECT_FALSE(store_->find_pseudonym("nobody")) << "a lookup creates nothing";
  storage::EventQuery q;
  q.resident = a;
  EXPECT_EQ(store_->query_events(q).size(), 4u);  // i = 1, 4, 7, 10: i % 3 == 1

  storage::ResidentRecord r;
  r.id = "resident-1";
  r.username = "hanako";
  r.password_hash = "x";
  ASSERT_TRUE(store_->insert_resident(r));
  ASSERT_TRUE(store_->remove_resident_by_username("hanako"));
  EXPECT_FALSE(audit_->find_pseudonym("resident-1"));
  EXPECT_EQ(store_->query_events(q).size(), 4u) << "the log itself is untouched";
  EXPECT_TRUE(verify_export(export_now(), std::nullopt, audit_->public_jwk()).ok);
}

TEST_F(AuditLogTest, TheLogsSecretsAreSealedAtRest) {
  const auto jwk = audit_->public_jwk();
  std::vector<std::string> values;
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  const int rc = sqlite3_exec(
      db, "SELECT value FROM secrets",
      [](void* out, int, char** row, char**) {
        static_cast<std::vector<std::string>*>(out)->emplace_back(row[0] ? row[0] : "");
        return 0;
      },
      &values, nullptr);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK);
  ASSERT_FALSE(values.empty());
  for (const auto& v : values) {
    EXPECT_EQ(v.rfind("v1." + sealer_.key_id() + ".", 0), 0u) << v;
    EXPECT_EQ(v.find("PRIVATE KEY"), std::string::npos);
  }
  // Another process with the same key file finds the same log key; with another key it stops.
  AuditLog same(*store_, clock_, sealer_);
  EXPECT_EQ(same.public_jwk(), jwk);
  const auto other_key = Sealer::from_key(std::string(32, 'x'));
  AuditLog other(*store_, clock_, *other_key);
  EXPECT_THROW((void)other.public_jwk(), std::runtime_error);
}

}  // namespace
}  // namespace authz
