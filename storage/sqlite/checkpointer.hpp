#pragma once

// The thread that copies a database's WAL back into the database file, so that no commit
// waits for a checkpoint, and that keeps the kernel's backlog of unwritten pages small, so
// that no checkpoint's sync holds a core for long.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

namespace storage::sqlite {

class ConnectionPool;

/// How often the checkpointer works and when it makes the WAL start over. The defaults are
/// the server's; tests shorten them.
struct CheckpointPacing {
  /// How often the pages written to the WAL since the last time are handed to the kernel to
  /// write out.
  std::chrono::milliseconds writeback_interval{25};
  /// A PASSIVE checkpoint every this many write-outs (500 ms with the defaults).
  int writebacks_per_checkpoint = 20;
  /// WAL frames (pages) past which, once all are copied back, the WAL starts over: 8192 pages
  /// of 4 KiB is 32 MiB.
  int restart_frames = 8192;
  /// Before that RESTART: at most this many more PASSIVE rounds, until fewer than
  /// `restart_backlog` frames were written during the last one. At 16,000 tokens/s, 4 rounds
  /// down to 64 frames left the token endpoint's p99 at 6-11 ms; 16 rounds down to 16
  /// frames, 5-6 ms (three runs each, `tests/bench/token_bench.sh`).
  int catch_up_rounds = 16;
  int restart_backlog = 16;
};

/// Connections never checkpoint on commit (wal_autocheckpoint=0): a checkpoint syncs, and the
/// commit that triggered it would wait, with every request batched behind it. This thread
/// copies the WAL back into the database instead, without blocking anyone (PASSIVE).
///
/// A PASSIVE checkpoint never makes the WAL start over while anyone reads or writes, so under
/// steady load the WAL would grow without bound, and every page lookup search a larger WAL
/// index ("checkpoint starvation"). Once everything in it has been copied back and it has
/// grown past `restart_frames`, a RESTART checkpoint waits (up to the busy timeout) for
/// readers to move on so the next writer starts it from the beginning. The RESTART holds
/// writers off while it syncs the WAL, copies the frames written since the last round and
/// syncs the database, so what it has left to do is made small first: more PASSIVE rounds
/// while they still shrink the backlog, then both files synced from here, holding no lock.
///
/// And the pages that SQLite writes to the WAL are handed to the kernel to write out every
/// `writeback_interval`, from this thread. Left to the checkpoint's sync, 500 ms of WAL
/// (several MB under load) went out in one fdatasync, whose page-by-page work in the kernel
/// held a core for ~20 ms, and the commit thread, every request waiting on it, queued behind
/// it: that made the token endpoint's p99 15-26 ms where it was 4-6 ms without checkpoints;
/// 8-10 ms with this change alone. (The database file gets no such write-outs: they would
/// need a descriptor of its own, and closing one would drop SQLite's locks, see
/// checkpointer.cpp; in alternating runs they made no difference that the machine's noise did
/// not swamp.)
class Checkpointer {
 public:
  /// `path` is the database file (its WAL is `path` + "-wal"); `pool` gives the connection
  /// each checkpoint runs on, and must outlive the checkpointer.
  Checkpointer(std::string path, ConnectionPool& pool, CheckpointPacing pacing = {});

  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  /// Stops the thread (at once, mid-wait) and joins it.
  ~Checkpointer() = default;

  /// Write-outs done so far (each `writeback_interval`).
  std::uint64_t ticks() const { return ticks_.load(std::memory_order_acquire); }

 private:
  void run(std::stop_token stop);
  void checkpoint();

  std::string wal_path_;
  std::atomic<std::uint64_t> ticks_{0};
  ConnectionPool& pool_;
  CheckpointPacing pacing_;
  std::jthread thread_;  // last: started once everything it uses is set
};

}  // namespace storage::sqlite
