#include "storage/wal_vfs.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

namespace storage::sqlite {
namespace {

constexpr const char* kName = "infobank-wal";
constexpr std::size_t kMaxWaiting = std::size_t{1} << 20;  // 1 MiB
// The most the unix VFS writes in one call: it keeps the low 17 bits of a write's length (it
// never writes more than a page of at most 64 KiB), so a longer write would come up short.
constexpr std::size_t kMaxWrite = std::size_t{64} << 10;
constexpr int kFrameHeaderSize = 24;
constexpr int kWalHeaderSize = 32;

std::atomic<std::uint64_t> g_asked{0};
std::atomic<std::uint64_t> g_made{0};

sqlite3_vfs* g_real = nullptr;  // the default VFS this one wraps; set once
sqlite3_vfs g_vfs{};

// The frames of a WAL file not written yet: bytes for the file from offset `at` on.
struct Waiting {
  std::vector<char> bytes;
  sqlite3_int64 at = 0;
  bool flush_after_next_write = false;  ///< the last write was a commit frame's header
};

}  // namespace

// See CommitWatch. One per database file and process, shared by its connections.
struct CommitWatch::State {
  std::atomic<const std::uint32_t*> header{nullptr};  ///< the WAL index, while mapped
  std::atomic<int> mappings{0};                       ///< connections that mapped it
  std::atomic<std::uint64_t> left{0};  ///< the header as this process left it, once it has
  std::atomic<std::uint64_t> epoch{0};
  std::uint64_t at_lock = 0;  ///< the header when the write lock was taken (under it)
};

namespace {

thread_local bool t_adding_only = false;

// A database file's share of its CommitWatch.
struct Watched {
  std::shared_ptr<CommitWatch::State> state;
  bool mapped = false;  ///< this connection has mapped the WAL index
};

std::mutex g_watches_mutex;
std::unordered_map<std::string, std::weak_ptr<CommitWatch::State>> g_watches;

std::shared_ptr<CommitWatch::State> watch_of(const std::string& path) {
  std::lock_guard lock(g_watches_mutex);
  auto& slot = g_watches[path];
  auto state = slot.lock();
  if (!state) {
    state = std::make_shared<CommitWatch::State>();
    slot = state;
  }
  return state;
}

// The wal-index header (SQLite's file format, "WAL-Index Format"): 48 bytes, of which the
// 32-bit words 2 (iChange) and 10 (the first half of the header's checksum, which covers the
// frame count, the salts and the rest) differ after every commit. A commit writes the header
// under the write lock; a read here without it may be torn, which only ever makes it differ.
// Zero is kept for "no header": a real one has a checksum seeded with its own bytes.
std::uint64_t fingerprint(const std::uint32_t* header) {
  if (header == nullptr) return 0;
  const std::uint64_t change = __atomic_load_n(header + 2, __ATOMIC_ACQUIRE);
  const std::uint64_t checksum = __atomic_load_n(header + 10, __ATOMIC_ACQUIRE);
  return (change << 32 | checksum) | (std::uint64_t{1} << 63);
}

// The write lock (WAL_WRITE_LOCK, the first of the shared-memory locks) was just taken.
void write_lock_taken(CommitWatch::State& s) {
  s.at_lock = fingerprint(s.header.load(std::memory_order_acquire));
  if (s.at_lock != s.left.load(std::memory_order_acquire))
    s.epoch.fetch_add(1, std::memory_order_acq_rel);  // another process committed meanwhile
}

// The write lock is about to be released: its transaction's commit, if any, is published. A
// transaction that committed nothing (a rollback, an update of no row) leaves the header as it
// was, and the epoch too.
void write_lock_releasing(CommitWatch::State& s) {
  const auto now = fingerprint(s.header.load(std::memory_order_acquire));
  if (!t_adding_only && now != s.at_lock) s.epoch.fetch_add(1, std::memory_order_acq_rel);
  // After the epoch: a reader that finds the header it left finds the epoch moved on.
  s.left.store(now, std::memory_order_release);
}

// Our file object; the wrapped VFS's own file object follows it in the same allocation
// (szOsFile is the sum of both).
struct File {
  sqlite3_file base;    ///< pMethods: one of kMethods
  sqlite3_file* real;   ///< the wrapped file
  Waiting* waiting;     ///< WAL files only
  File* wal;            ///< a database file: its WAL file, while both are open
  File* database;       ///< a WAL file: its database file, while both are open
  Watched* watched;     ///< main database files only
};
static_assert(sizeof(File) % 8 == 0, "the wrapped file object that follows needs 8-byte alignment");

File* self(sqlite3_file* f) { return reinterpret_cast<File*>(f); }
const sqlite3_io_methods* real_methods(File* f) { return f->real->pMethods; }

// Writes what waits, in pieces of at most kMaxWrite bytes.
int flush(File* f) {
  Waiting* w = f->waiting;
  if (w == nullptr || w->bytes.empty()) return SQLITE_OK;
  int rc = SQLITE_OK;
  for (std::size_t done = 0; done < w->bytes.size() && rc == SQLITE_OK;) {
    const std::size_t piece = std::min(w->bytes.size() - done, kMaxWrite);
    rc = real_methods(f)->xWrite(f->real, w->bytes.data() + done, static_cast<int>(piece),
                                 w->at + static_cast<sqlite3_int64>(done));
    g_made.fetch_add(1, std::memory_order_relaxed);
    done += piece;
  }
  w->bytes.clear();
  w->flush_after_next_write = false;
  return rc;
}

// A database file's WAL frames still waiting, written out before its shared memory changes.
int flush_wal_of(File* database) {
  return database->wal == nullptr ? SQLITE_OK : flush(database->wal);
}

// Forgets the index before the last of this process's connections unmaps it. (A reader of
// the watch must not outlive the store's connections: the store keeps one open for that.)
void unmapping(File* f) {
  if (f->watched == nullptr || !f->watched->mapped) return;
  f->watched->mapped = false;
  auto& s = *f->watched->state;
  if (s.mappings.fetch_sub(1, std::memory_order_acq_rel) == 1)
    s.header.store(nullptr, std::memory_order_release);
}

int x_close(sqlite3_file* file) {
  File* f = self(file);
  int rc = flush(f);
  if (f->database != nullptr) f->database->wal = nullptr;
  if (f->wal != nullptr) f->wal->database = nullptr;
  delete f->waiting;
  f->waiting = nullptr;
  unmapping(f);
  delete f->watched;
  f->watched = nullptr;
  const int closed = real_methods(f)->xClose(f->real);
  return rc != SQLITE_OK ? rc : closed;
}

int x_read(sqlite3_file* file, void* buffer, int amount, sqlite3_int64 offset) {
  File* f = self(file);
  if (const int rc = flush(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xRead(f->real, buffer, amount, offset);
}

int x_write(sqlite3_file* file, const void* buffer, int amount, sqlite3_int64 offset) {
  File* f = self(file);
  Waiting* w = f->waiting;
  if (w == nullptr) return real_methods(f)->xWrite(f->real, buffer, amount, offset);
  g_asked.fetch_add(1, std::memory_order_relaxed);
  if (!w->bytes.empty() &&
      (offset != w->at + static_cast<sqlite3_int64>(w->bytes.size()) ||
       w->bytes.size() + static_cast<std::size_t>(amount) > kMaxWaiting)) {
    if (const int rc = flush(f); rc != SQLITE_OK) return rc;
  }
  if (w->bytes.empty()) w->at = offset;
  const auto* bytes = static_cast<const char*>(buffer);
  try {
    w->bytes.insert(w->bytes.end(), bytes, bytes + amount);
  } catch (const std::bad_alloc&) {
    // Out of memory: what waits goes out first, then this write, unbuffered.
    if (const int rc = flush(f); rc != SQLITE_OK) return rc;
    g_made.fetch_add(1, std::memory_order_relaxed);
    return real_methods(f)->xWrite(f->real, buffer, amount, offset);
  }
  if (w->flush_after_next_write) return flush(f);  // the commit frame's page
  // A frame header (24 bytes, past the WAL's own 32-byte header) whose bytes 4..7, the
  // database size after the commit, are not zero is a commit frame's.
  if (amount == kFrameHeaderSize && offset >= kWalHeaderSize) {
    static constexpr std::array<char, 4> kZero{};
    w->flush_after_next_write = std::memcmp(bytes + 4, kZero.data(), kZero.size()) != 0;
  }
  return SQLITE_OK;
}

int x_truncate(sqlite3_file* file, sqlite3_int64 size) {
  File* f = self(file);
  if (const int rc = flush(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xTruncate(f->real, size);
}

int x_sync(sqlite3_file* file, int flags) {
  File* f = self(file);
  if (const int rc = flush(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xSync(f->real, flags);
}

int x_file_size(sqlite3_file* file, sqlite3_int64* size) {
  File* f = self(file);
  if (const int rc = flush(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xFileSize(f->real, size);
}

int x_lock(sqlite3_file* file, int lock) { return real_methods(self(file))->xLock(self(file)->real, lock); }
int x_unlock(sqlite3_file* file, int lock) {
  return real_methods(self(file))->xUnlock(self(file)->real, lock);
}
int x_check_reserved_lock(sqlite3_file* file, int* out) {
  return real_methods(self(file))->xCheckReservedLock(self(file)->real, out);
}
int x_file_control(sqlite3_file* file, int op, void* arg) {
  return real_methods(self(file))->xFileControl(self(file)->real, op, arg);
}
int x_sector_size(sqlite3_file* file) {
  return real_methods(self(file))->xSectorSize(self(file)->real);
}
int x_device_characteristics(sqlite3_file* file) {
  return real_methods(self(file))->xDeviceCharacteristics(self(file)->real);
}
int x_shm_map(sqlite3_file* file, int page, int size, int extend, void volatile** out) {
  File* f = self(file);
  if (const int rc = flush_wal_of(f); rc != SQLITE_OK) return rc;
  const int rc = real_methods(f)->xShmMap(f->real, page, size, extend, out);
  if (rc == SQLITE_OK && page == 0 && *out != nullptr && f->watched != nullptr) {
    // The unix VFS maps a file's index once per process, for all its connections.
    auto& s = *f->watched->state;
    s.header.store(const_cast<const std::uint32_t*>(static_cast<volatile std::uint32_t*>(*out)),
                   std::memory_order_release);
    if (!f->watched->mapped) {
      f->watched->mapped = true;
      s.mappings.fetch_add(1, std::memory_order_acq_rel);
    }
  }
  return rc;
}
int x_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
  File* f = self(file);
  if (const int rc = flush_wal_of(f); rc != SQLITE_OK) return rc;
  const bool write_lock = f->watched != nullptr && offset == 0 && n == 1 &&
                          (flags & SQLITE_SHM_EXCLUSIVE) != 0;
  if (write_lock && (flags & SQLITE_SHM_UNLOCK) != 0) write_lock_releasing(*f->watched->state);
  const int rc = real_methods(f)->xShmLock(f->real, offset, n, flags);
  if (write_lock && rc == SQLITE_OK && (flags & SQLITE_SHM_LOCK) != 0)
    write_lock_taken(*f->watched->state);
  return rc;
}
void x_shm_barrier(sqlite3_file* file) {
  File* f = self(file);
  // A barrier cannot report an error, and publishing a commit whose frames are not in the
  // file would hand other connections pages that are not there: a failed write here ends the
  // process instead (it restarts into the last commit that was written whole).
  if (flush_wal_of(f) != SQLITE_OK) std::abort();
  real_methods(f)->xShmBarrier(f->real);
}
int x_shm_unmap(sqlite3_file* file, int delete_flag) {
  unmapping(self(file));
  return real_methods(self(file))->xShmUnmap(self(file)->real, delete_flag);
}
int x_fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  return real_methods(self(file))->xFetch(self(file)->real, offset, amount, out);
}
int x_unfetch(sqlite3_file* file, sqlite3_int64 offset, void* page) {
  return real_methods(self(file))->xUnfetch(self(file)->real, offset, page);
}

// One table per iVersion the wrapped file may have (1 to 3): the later members exist only
// where the wrapped file has them.
constexpr sqlite3_io_methods methods(int version) {
  return {version,       x_close,      x_read,
          x_write,       x_truncate,   x_sync,
          x_file_size,   x_lock,       x_unlock,
          x_check_reserved_lock, x_file_control, x_sector_size,
          x_device_characteristics,
          version >= 2 ? x_shm_map : nullptr,
          version >= 2 ? x_shm_lock : nullptr,
          version >= 2 ? x_shm_barrier : nullptr,
          version >= 2 ? x_shm_unmap : nullptr,
          version >= 3 ? x_fetch : nullptr,
          version >= 3 ? x_unfetch : nullptr};
}
const std::array<sqlite3_io_methods, 3> kMethods = {methods(1), methods(2), methods(3)};

bool ours(const sqlite3_file* f) {
  if (f == nullptr) return false;
  for (const auto& m : kMethods) {
    if (f->pMethods == &m) return true;
  }
  return false;
}

int x_open(sqlite3_vfs* /*vfs*/, const char* name, sqlite3_file* file, int flags,
           int* out_flags) {
  File* f = self(file);
  f->base.pMethods = nullptr;
  f->real = reinterpret_cast<sqlite3_file*>(f + 1);
  f->waiting = nullptr;
  f->wal = nullptr;
  f->database = nullptr;
  f->watched = nullptr;
  const int rc = g_real->xOpen(g_real, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK) return rc;
  if (f->real->pMethods == nullptr) return SQLITE_OK;  // nothing to close: nor do we
  const int version = f->real->pMethods->iVersion;
  if (version < 1 || version > 3) {
    f->real->pMethods->xClose(f->real);
    return SQLITE_CANTOPEN;
  }
  if ((flags & SQLITE_OPEN_WAL) != 0) {
    f->waiting = new (std::nothrow) Waiting;
    if (f->waiting == nullptr) {
      f->real->pMethods->xClose(f->real);
      return SQLITE_NOMEM;
    }
    sqlite3_file* database = sqlite3_database_file_object(name);
    if (ours(database)) {
      f->database = self(database);
      f->database->wal = f;
    }
  }
  if ((flags & SQLITE_OPEN_MAIN_DB) != 0 && name != nullptr) {
    f->watched = new (std::nothrow) Watched;
    if (f->watched == nullptr) {
      f->real->pMethods->xClose(f->real);
      return SQLITE_NOMEM;
    }
    try {
      f->watched->state = watch_of(name);
    } catch (const std::bad_alloc&) {
      delete f->watched;
      f->real->pMethods->xClose(f->real);
      return SQLITE_NOMEM;
    }
  }
  f->base.pMethods = &kMethods[static_cast<std::size_t>(version - 1)];
  return SQLITE_OK;
}

int x_delete(sqlite3_vfs*, const char* name, int sync) { return g_real->xDelete(g_real, name, sync); }
int x_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_real->xAccess(g_real, name, flags, out);
}
int x_full_pathname(sqlite3_vfs*, const char* name, int size, char* out) {
  return g_real->xFullPathname(g_real, name, size, out);
}
void* x_dl_open(sqlite3_vfs*, const char* name) { return g_real->xDlOpen(g_real, name); }
void x_dl_error(sqlite3_vfs*, int size, char* out) { g_real->xDlError(g_real, size, out); }
void (*x_dl_sym(sqlite3_vfs*, void* handle, const char* symbol))(void) {
  return g_real->xDlSym(g_real, handle, symbol);
}
void x_dl_close(sqlite3_vfs*, void* handle) { g_real->xDlClose(g_real, handle); }
int x_randomness(sqlite3_vfs*, int size, char* out) { return g_real->xRandomness(g_real, size, out); }
int x_sleep(sqlite3_vfs*, int micros) { return g_real->xSleep(g_real, micros); }
int x_current_time(sqlite3_vfs*, double* out) { return g_real->xCurrentTime(g_real, out); }
int x_get_last_error(sqlite3_vfs*, int size, char* out) {
  return g_real->xGetLastError(g_real, size, out);
}
int x_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
  return g_real->xCurrentTimeInt64(g_real, out);
}

}  // namespace

const char* coalescing_wal_vfs() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_real = sqlite3_vfs_find(nullptr);
    if (g_real == nullptr) std::abort();  // SQLite without an OS layer: nothing works anyway
    g_vfs.iVersion = 2;  // through xCurrentTimeInt64; the system-call hooks are not wrapped
    g_vfs.szOsFile = static_cast<int>(sizeof(File)) + g_real->szOsFile;
    g_vfs.mxPathname = g_real->mxPathname;
    g_vfs.zName = kName;
    g_vfs.xOpen = x_open;
    g_vfs.xDelete = x_delete;
    g_vfs.xAccess = x_access;
    g_vfs.xFullPathname = x_full_pathname;
    g_vfs.xDlOpen = x_dl_open;
    g_vfs.xDlError = x_dl_error;
    g_vfs.xDlSym = x_dl_sym;
    g_vfs.xDlClose = x_dl_close;
    g_vfs.xRandomness = x_randomness;
    g_vfs.xSleep = x_sleep;
    g_vfs.xCurrentTime = x_current_time;
    g_vfs.xGetLastError = x_get_last_error;
    g_vfs.xCurrentTimeInt64 = g_real->iVersion >= 2 ? x_current_time_int64 : nullptr;
    if (g_vfs.xCurrentTimeInt64 == nullptr) g_vfs.iVersion = 1;
    if (sqlite3_vfs_register(&g_vfs, 0) != SQLITE_OK) std::abort();
  });
  return kName;
}

WalWriteCounts wal_write_counts() {
  return {g_asked.load(std::memory_order_relaxed), g_made.load(std::memory_order_relaxed)};
}

std::optional<std::uint64_t> CommitWatch::stamp() const {
  const auto now = fingerprint(state_->header.load(std::memory_order_acquire));
  if (now == 0 || now != state_->left.load(std::memory_order_acquire)) return std::nullopt;
  return state_->epoch.load(std::memory_order_acquire);
}

bool CommitWatch::behind() const {
  const auto now = fingerprint(state_->header.load(std::memory_order_acquire));
  return now != 0 && now != state_->left.load(std::memory_order_acquire);
}

std::optional<CommitWatch> commit_watch(sqlite3* db) {
  sqlite3_file* file = nullptr;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &file) != SQLITE_OK ||
      !ours(file) || self(file)->watched == nullptr)
    return std::nullopt;
  return CommitWatch(self(file)->watched->state);
}

AddingOnly::AddingOnly() : outer_(t_adding_only) { t_adding_only = true; }
AddingOnly::~AddingOnly() { t_adding_only = outer_; }

}  // namespace storage::sqlite
