#pragma once

// A SQLite VFS that writes each commit's WAL frames to the file in one write.
//
// SQLite writes a WAL frame as two writes, its 24-byte header and then its page, so a commit
// of n pages costs 2n write() calls; on the token endpoint's commits (five to seven pages)
// those calls were a quarter of the commit thread's time. This VFS wraps the default one and,
// for WAL files only, keeps consecutive writes in memory and writes them out in one call:
//  - when the commit frame's page has been written (a frame header whose "database size
//    after commit" field is not zero marks the commit frame, as the WAL format defines it);
//  - before anything else touches the WAL file (a read, a sync, its size, a truncation, a
//    write elsewhere in it, closing it), and when 1 MiB is waiting;
//  - and, as a safety net, before the commit is published to other connections: SQLite
//    orders that with a shared-memory barrier on the database file, which writes out whatever
//    of its WAL is still waiting.
// So no other connection or process can see a frame that is not in the file, and a process
// that dies with frames in memory dies before the commit that needed them was published, as if
// it had died before writing them. Durability is the same as SQLite's own: with
// synchronous=NORMAL the WAL is not synced at commit either way; a sync writes out first.

#include <cstdint>
#include <memory>
#include <optional>

struct sqlite3;

namespace storage::sqlite {

/// The VFS's name, registered (once, not as the default) on first use.
const char* coalescing_wal_vfs();

/// Writes asked for by SQLite on WAL files and writes made to them, since the process started.
struct WalWriteCounts {
  std::uint64_t asked = 0;
  std::uint64_t made = 0;
};
WalWriteCounts wal_write_counts();

/// What this process can tell, without calling SQLite, of the commits to one database (in any
/// process) since a moment: the basis for answers kept in memory that a write may make wrong.
///
/// It reads the WAL index header in shared memory (the file format's wal-index header, whose
/// checksum changes with every commit, in any process) and hooks the taking and releasing of
/// the WAL's write lock, which every write transaction holds until its commit is published:
///  - on taking it, a header other than the one this process left at its last release means
///    another process has committed meanwhile, and the epoch moves on;
///  - on releasing it, the epoch moves on too if the transaction committed anything (the
///    header changed) and was not marked as only adding rows (AddingOnly), and the header it
///    leaves is remembered (while still locked, so no other process's commit slips in between).
/// stamp() is the epoch while the live header is the one this process left, and nothing
/// otherwise (another process has committed since, or this process is between its commit
/// and its release): equal stamps at two moments mean that no transaction committed between
/// them, anywhere, other than those marked as only adding rows.
class CommitWatch {
 public:
  struct State;
  explicit CommitWatch(std::shared_ptr<State> state) : state_(std::move(state)) {}

  std::optional<std::uint64_t> stamp() const;

  /// Whether another process has committed since this process last held the write lock (it
  /// then takes the lock once, with an empty transaction, to make stamp() answer again).
  bool behind() const;

 private:
  std::shared_ptr<State> state_;
};

/// The watch of `db`'s main database, opened through coalescing_wal_vfs(); every connection
/// of this process to the same file shares it. nullopt when `db` was opened otherwise.
std::optional<CommitWatch> commit_watch(sqlite3* db);

/// While one is alive on a thread, the write transactions that thread ends count as only
/// adding rows: they leave the stamp as it was.
class AddingOnly {
 public:
  AddingOnly();
  ~AddingOnly();
  AddingOnly(const AddingOnly&) = delete;
  AddingOnly& operator=(const AddingOnly&) = delete;

 private:
  bool outer_;
};

}  // namespace storage::sqlite
