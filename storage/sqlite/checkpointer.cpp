#include "checkpointer.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <unistd.h>

#include <condition_variable>
#include <exception>
#include <mutex>
#include <stop_token>
#include <utility>

#include "connection.hpp"

namespace storage::sqlite {
namespace {

// Hands the WAL's dirty pages to the kernel to write, and returns: sync_file_range starts the
// writing, it does not wait for it. Through a descriptor of its own, since the page cache
// belongs to the file, not to a descriptor. Only for the WAL: closing any descriptor of a file
// drops every POSIX lock the process holds on it, and SQLite keeps its connections' locks on
// the database file (a SHARED lock, for as long as each is open) and on the -shm file, never
// on the WAL. A descriptor opened and closed on the database file would release them, and
// another process closing its last connection would then take itself for the last one and
// delete the WAL and the shared memory under this one's connections. Best effort: no WAL yet,
// or a failure, changes nothing SQLite relies on.
void start_wal_writeback(const std::string& wal_path) {
  const int fd = ::open(wal_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
  ::close(fd);
}

// Syncs the connection's database file (SQLITE_FCNTL_FILE_POINTER) or its WAL
// (SQLITE_FCNTL_JOURNAL_POINTER) through SQLite's own file object, so no descriptor is closed
// (see above). The connection is this thread's while it does.
void sync_through(Connection& db, int file_pointer_op) {
  sqlite3_file* file = nullptr;
  if (sqlite3_file_control(db.handle(), "main", file_pointer_op, &file) != SQLITE_OK ||
      file == nullptr || file->pMethods == nullptr) {
    return;
  }
  file->pMethods->xSync(file, SQLITE_SYNC_NORMAL);
}

}  // namespace

Checkpointer::Checkpointer(std::string path, ConnectionPool& pool, CheckpointPacing pacing)
    : wal_path_(std::move(path) + "-wal"),
      pool_(pool),
      pacing_(pacing),
      thread_([this](std::stop_token stop) { run(std::move(stop)); }) {}

void Checkpointer::run(std::stop_token stop) {
  pthread_setname_np(pthread_self(), "checkpoint");  // for top -H, perf and gdb
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  for (int tick = 1; !stop.stop_requested(); ++tick) {
    // Returns early (and the loop ends) when stop is requested.
    cv.wait_for(lock, stop, pacing_.writeback_interval, [] { return false; });
    if (stop.stop_requested()) break;
    start_wal_writeback(wal_path_);
    ticks_.fetch_add(1, std::memory_order_release);
    if (tick % pacing_.writebacks_per_checkpoint != 0) continue;
    try {
      checkpoint();
    } catch (const std::exception&) {
      // The next round tries again; a failing disk shows up in the writes themselves.
    }
  }
}

void Checkpointer::checkpoint() {
  auto db = pool_.acquire();
  int log_frames = 0;
  int checkpointed = 0;
  sqlite3_wal_checkpoint_v2(db->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log_frames,
                            &checkpointed);
  if (log_frames <= pacing_.restart_frames || checkpointed != log_frames) return;
  // Each round copies what the last one's time let writers add.
  int behind = log_frames;
  for (int round = 0; round < pacing_.catch_up_rounds && behind > pacing_.restart_backlog;
       ++round) {
    const int before = log_frames;
    sqlite3_wal_checkpoint_v2(db->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log_frames,
                              &checkpointed);
    behind = log_frames - before;  // frames written while the last round ran
  }
  // The RESTART's two syncs then find a few pages each, not everything the rounds copied
  // (which had made the RESTART hold writers off for up to ~50 ms).
  sync_through(*db, SQLITE_FCNTL_FILE_POINTER);
  sync_through(*db, SQLITE_FCNTL_JOURNAL_POINTER);
  sqlite3_wal_checkpoint_v2(db->handle(), nullptr, SQLITE_CHECKPOINT_RESTART, nullptr, nullptr);
}

}  // namespace storage::sqlite
