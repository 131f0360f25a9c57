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

namespace storage::sqlite {

/// The VFS's name, registered (once, not as the default) on first use.
const char* coalescing_wal_vfs();

/// Writes asked for by SQLite on WAL files and writes made to them, since the process started.
struct WalWriteCounts {
  std::uint64_t asked = 0;
  std::uint64_t made = 0;
};
WalWriteCounts wal_write_counts();

}  // namespace storage::sqlite
