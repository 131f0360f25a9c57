#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

namespace storage::testing {

/// A fresh directory per test under $INFOBANK_TEST_TMP (set by ctest) or the system temporary
/// directory, removed with everything in it when the test ends.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("INFOBANK_TEST_TMP");
    const std::filesystem::path root = base != nullptr && *base != '\0'
                                           ? std::filesystem::path(base)
                                           : std::filesystem::temp_directory_path();
    static std::atomic<int> counter{0};
    std::random_device random;
    path_ = root / ("infobank-storage-" + std::to_string(::getpid()) + "-" +
                    std::to_string(counter++) + "-" + std::to_string(random()));
    std::filesystem::create_directories(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace storage::testing
