// Encryption at rest: AES-256-GCM values bound to their place, and the master key file.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "../storage/temp_dir.hpp"
#include "authz/base64url.hpp"
#include "authz/sealer.hpp"

namespace authz {
namespace {

namespace fs = std::filesystem;

Sealer sealer_with(char fill) { return std::move(Sealer::from_key(std::string(32, fill))).value(); }

// The payload of a sealed value (nonce || ciphertext || tag) and the text before it.
struct Parts {
  std::string prefix;  // "v1.<key id>."
  std::string raw;
};

Parts split(const std::string& sealed) {
  const auto dot = sealed.rfind('.');
  return {sealed.substr(0, dot + 1), *base64url_decode(sealed.substr(dot + 1))};
}

std::string join(const Parts& p) { return p.prefix + base64url_encode(p.raw); }

// The same sealed value with one bit of byte `index` of its payload flipped.
std::string flip(const std::string& sealed, std::size_t index) {
  auto parts = split(sealed);
  parts.raw[index] = static_cast<char>(parts.raw[index] ^ 0x01);
  return join(parts);
}

void write_file(const fs::path& path, const std::string& bytes, fs::perms perms) {
  std::ofstream(path, std::ios::binary) << bytes;
  fs::permissions(path, perms);
}

void expect_refused(const std::string& path, const std::string& needle) {
  try {
    (void)Sealer::load_or_create(path);
    FAIL() << "expected the key file to be refused (" << needle << ")";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(SealerTest, RoundTrip) {
  const auto sealer = sealer_with('k');
  const std::vector<std::string> plains = {"Hanako Yamada", "", "山田 花子 <hanako@example.jp>",
                                           std::string(5000, 'x')};
  for (const auto& plain : plains) {
    const auto sealed = sealer.seal(plain, "resident.name:r1");
    EXPECT_EQ(sealed.rfind("v1." + sealer.key_id() + ".", 0), 0u) << sealed;
    if (!plain.empty()) {
      EXPECT_EQ(sealed.find(plain), std::string::npos);
    }
    auto opened = sealer.open(sealed, "resident.name:r1");
    ASSERT_TRUE(opened) << opened.error().description;
    EXPECT_EQ(*opened, plain);
  }
  EXPECT_EQ(sealer.key_id().size(), 8u);
}

TEST(SealerTest, EverySealUsesAFreshNonce) {
  const auto sealer = sealer_with('k');
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) seen.insert(sealer.seal("same", "aad"));
  EXPECT_EQ(seen.size(), 100u);
}

TEST(SealerTest, TamperedNonceCiphertextOrTagDoesNotOpen) {
  const auto sealer = sealer_with('k');
  const auto sealed = sealer.seal("hanako@example.jp", "resident.email:r1");
  const auto size = split(sealed).raw.size();
  ASSERT_EQ(size, 12u + 17u + 16u);
  for (std::size_t index : {std::size_t{0}, std::size_t{11}, std::size_t{12}, std::size_t{20},
                            size - 16, size - 1}) {
    auto opened = sealer.open(flip(sealed, index), "resident.email:r1");
    ASSERT_FALSE(opened) << "byte " << index;
    EXPECT_EQ(opened.error().error, "invalid_sealed_value");
  }
  // Truncated (tag cut short) and extended payloads.
  auto parts = split(sealed);
  parts.raw.pop_back();
  EXPECT_FALSE(sealer.open(join(parts), "resident.email:r1"));
  parts = split(sealed);
  parts.raw.push_back('\0');
  EXPECT_FALSE(sealer.open(join(parts), "resident.email:r1"));
}

TEST(SealerTest, WrongAssociatedDataDoesNotOpen) {
  const auto sealer = sealer_with('k');
  const auto sealed = sealer.seal("Hanako", "resident.name:r1");
  EXPECT_FALSE(sealer.open(sealed, "resident.name:r2"));     // another resident's row
  EXPECT_FALSE(sealer.open(sealed, "resident.email:r1"));    // another column
  EXPECT_FALSE(sealer.open(sealed, ""));
  EXPECT_TRUE(sealer.open(sealed, "resident.name:r1"));
}

TEST(SealerTest, WrongKeyDoesNotOpen) {
  const auto a = sealer_with('a');
  const auto b = sealer_with('b');
  EXPECT_NE(a.key_id(), b.key_id());
  const auto sealed = a.seal("secret", "secret:x");
  auto opened = b.open(sealed, "secret:x");
  ASSERT_FALSE(opened);
  EXPECT_NE(opened.error().description.find("another master key"), std::string::npos);
  // Relabelled with b's key id, the tag still fails.
  auto parts = split(sealed);
  parts.prefix = "v1." + b.key_id() + ".";
  EXPECT_FALSE(b.open(join(parts), "secret:x"));
}

TEST(SealerTest, MalformedOrUnknownVersionIsRefused) {
  const auto sealer = sealer_with('k');
  const auto sealed = sealer.seal("value", "aad");
  const auto payload = sealed.substr(sealed.rfind('.') + 1);
  const std::string id = sealer.key_id();
  const std::vector<std::string> bads = {std::string("value"), std::string(), std::string("v1"), "v1." + id, "v2." + id + "." + payload,
        "V1." + id + "." + payload, "v1." + id + "." + payload + "=", "v1." + id + "." + payload + "!",
        "v1." + id + "..", "v1." + id + "." + payload.substr(0, 36), "v1.." + payload,
        " " + sealed, sealed + "\n"};
  for (const auto& bad : bads) {
    auto opened = sealer.open(bad, "aad");
    EXPECT_FALSE(opened) << bad;
  }
  EXPECT_FALSE(Sealer::from_key(std::string(31, 'k')));
  EXPECT_FALSE(Sealer::from_key(std::string(33, 'k')));
}

TEST(SealerTest, KeyFileIsCreatedPrivateAndReused) {
  storage::testing::TempDir dir;
  const auto path = dir.file("sub/dir/master.key");  // missing directories are created
  const auto first = Sealer::load_or_create(path);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  // No temporary file is left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path() / "sub/dir"), fs::directory_iterator()), 1);

  const auto second = Sealer::load_or_create(path);
  EXPECT_EQ(first.key_id(), second.key_id());
  auto opened = second.open(first.seal("kept across restarts", "aad"), "aad");
  ASSERT_TRUE(opened);
  EXPECT_EQ(*opened, "kept across restarts");

  // A key provided by the operator (`openssl rand -out master.key 32`) is used as is.
  const auto own = dir.file("own.key");
  write_file(own, std::string(32, 'k'), fs::perms::owner_read);
  EXPECT_EQ(Sealer::load_or_create(own).key_id(), sealer_with('k').key_id());
}

TEST(SealerTest, ProcessesStartingTogetherShareOneKey) {
  storage::testing::TempDir dir;
  const auto path = dir.file("master.key");
  std::vector<std::string> ids(8);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < ids.size(); ++i)
    threads.emplace_back([&, i] { ids[i] = Sealer::load_or_create(path).key_id(); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 1u);
}

TEST(SealerTest, KeyFileReadableByOthersOrOfTheWrongSizeIsRefused) {
  storage::testing::TempDir dir;
  const auto path = dir.file("master.key");
  (void)Sealer::load_or_create(path);
  const auto owner_rw = fs::perms::owner_read | fs::perms::owner_write;

  fs::permissions(path, owner_rw | fs::perms::group_read | fs::perms::others_read);  // 0644
  expect_refused(path, "mode 0644");
  fs::permissions(path, owner_rw | fs::perms::group_read);  // 0640
  expect_refused(path, "group or others");
  fs::permissions(path, owner_rw);
  EXPECT_NO_THROW((void)Sealer::load_or_create(path));

  write_file(dir.file("short.key"), std::string(31, 'k'), owner_rw);
  expect_refused(dir.file("short.key"), "exactly 32 bytes");
  write_file(dir.file("long.key"), std::string(33, 'k'), owner_rw);
  expect_refused(dir.file("long.key"), "exactly 32 bytes");
  write_file(dir.file("empty.key"), "", owner_rw);
  expect_refused(dir.file("empty.key"), "exactly 32 bytes");
  // A directory where the key should be.
  fs::create_directory(dir.path() / "dir.key");
  expect_refused(dir.file("dir.key"), "not a regular file");
  expect_refused("", "no path");
}

}  // namespace
}  // namespace authz
