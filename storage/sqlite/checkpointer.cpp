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

enum class WriteOut {
  start,  ///< hand the file's dirty pages to the kernel to write, and return
  wait,   ///< and wait until they are on the disk (fdatasync)
};

// Through a descriptor of its own: the page cache belongs to the file, not to a descriptor, so
// this covers what SQLite's descriptors wrote. Best effort: a file not there (no WAL yet) or
// a failure changes nothing SQLite relies on, since it syncs for itself where durability
// needs it; this only leaves its syncs less to do.
void write_out(const std::string& path, WriteOut how) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  if (how == WriteOut::start) {
    ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
  } else {
    ::fdatasync(fd);
  }
  ::close(fd);
}

}  // namespace

Checkpointer::Checkpointer(std::string path, ConnectionPool& pool, CheckpointPacing pacing)
    : path_(std::move(path)),
      wal_path_(path_ + "-wal"),
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
    write_out(wal_path_, WriteOut::start);
    write_out(path_, WriteOut::start);
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
    write_out(path_, WriteOut::start);  // what the last round copied
    const int before = log_frames;
    sqlite3_wal_checkpoint_v2(db->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log_frames,
                              &checkpointed);
    behind = log_frames - before;  // frames written while the last round ran
  }
  // The RESTART's two syncs then find a few pages each, not everything the rounds copied
  // (which had made the RESTART hold writers off for up to ~50 ms).
  write_out(path_, WriteOut::wait);
  write_out(wal_path_, WriteOut::wait);
  sqlite3_wal_checkpoint_v2(db->handle(), nullptr, SQLITE_CHECKPOINT_RESTART, nullptr, nullptr);
}

}  // namespace storage::sqlite
