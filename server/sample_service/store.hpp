#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "portability/formats.hpp"

struct sqlite3;

namespace sample_service {

/// One stored item: its row id (the stable export order) and its native form.
struct StoredItem {
  std::int64_t row = 0;
  portability::NativeItem native;
};

/// A page of a resident's items in stored order.
struct Page {
  std::vector<StoredItem> items;
  /// Row id of the last item when more items follow, else nullopt.
  std::optional<std::int64_t> next_after;
};

struct DatasetStats {
  std::int64_t count = 0;
  std::int64_t bytes = 0;  ///< sum of the native texts' sizes
};

/// What an import stored, or the answer stored for its idempotency key.
struct ImportOutcome {
  enum class Kind { stored, replayed, key_reused };
  Kind kind = Kind::stored;
  int status = 0;        ///< replayed: the first answer's status
  std::string response;  ///< stored / replayed: the response body
};

struct DeleteOutcome {
  std::int64_t deleted = 0;    ///< items exported under the transfer that are gone
  std::int64_t remaining = 0;  ///< items exported under the transfer still present
};

/// The sample service's SQLite file (WAL): one service, one format, residents' items in
/// native form. Every method is synchronous and serialised on one connection: call it from the
/// worker pool, never from an I/O thread.
///
///   meta(key, value)                 format name
///   items(id, resident, native_id, native, model_hash)   id order = stable export order
///   exported(transfer, item, resident)
///   imports(transfer, item, resident)
///   idempotency(resident, key, request_hash, status, response)
class Store {
 public:
  /// Opens (creating when missing) the file. `format` is recorded in a new file and must match
  /// an existing one; empty = use whatever the file records (for `dump`). Throws
  /// std::runtime_error.
  Store(const std::string& path, std::string_view format);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// The format the file holds.
  [[nodiscard]] const std::string& format() const { return format_; }

  [[nodiscard]] DatasetStats stats(std::string_view resident);
  [[nodiscard]] bool has_items(std::string_view resident);

  /// Appends items (with their model hashes, same length) for `resident` in one transaction.
  void append(std::string_view resident, const std::vector<portability::NativeItem>& items,
              const std::vector<std::string>& model_hashes);

  /// Up to `limit` items with row id > `after`, recorded as exported under `transfer`.
  Page export_page(std::string_view resident, std::string_view transfer, std::int64_t after,
                   int limit);

  /// Items imported under `transfer` that are still present, in stored order.
  std::vector<StoredItem> imported(std::string_view resident, std::string_view transfer);

  /// Every item of `resident` in stored order, passed to `fn` one at a time.
  template <class Fn>
  void for_each(std::string_view resident, Fn&& fn) {
    std::int64_t after = 0;
    for (;;) {
      auto page = read_page(resident, after, 1000);
      for (auto& item : page.items) fn(item);
      if (!page.next_after) return;
      after = *page.next_after;
    }
  }

  /// One transaction: looks up (resident, key); a stored answer with the same request hash is
  /// replayed, a different hash is key_reused; otherwise stores `items` under `transfer` and
  /// the answer that `respond(native ids)` builds (status 201), atomically.
  ImportOutcome import(std::string_view resident, std::string_view transfer, std::string_view key,
                       std::string_view request_hash,
                       const std::vector<portability::NativeItem>& items,
                       const std::vector<std::string>& model_hashes,
                       const std::function<std::string(const std::vector<std::string>&)>& respond);

  /// Deletes the items exported under `transfer` by `resident` (one transaction).
  DeleteOutcome delete_exported(std::string_view resident, std::string_view transfer);

 private:
  Page read_page(std::string_view resident, std::int64_t after, int limit);
  void exec(const char* sql);

  sqlite3* db_ = nullptr;
  std::string format_;
  std::mutex mutex_;  // one connection shared by the worker threads: one caller at a time
};

}  // namespace sample_service
