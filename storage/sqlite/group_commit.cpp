#include "group_commit.hpp"

namespace storage::sqlite {

void GroupCommit::run(const Write& write) {
  Ticket ticket;
  ticket.write = &write;
  std::unique_lock lock(mutex_);
  queue_.push_back(&ticket);
  while (!ticket.done) {
    if (leader_active_) {
      ticket.wake.wait(lock);
      continue;
    }
    leader_active_ = true;
    std::vector<Ticket*> batch;
    batch.swap(queue_);
    lock.unlock();
    lead(batch);
    lock.lock();
    for (Ticket* t : batch) {
      t->done = true;
      if (t != &ticket) t->wake.notify_one();
    }
    leader_active_ = false;
    // Whoever queued while this batch ran leads the next one.
    if (!queue_.empty()) queue_.front()->wake.notify_one();
  }
  if (ticket.error) std::rethrow_exception(ticket.error);
}

void GroupCommit::lead(std::vector<Ticket*>& batch) {
  try {
    auto db = pool_.acquire();
    WriteTransaction transaction(*db, pool_.write_mutex());
    for (Ticket* t : batch) {
      db->prepare("SAVEPOINT group_write").run();
      try {
        (*t->write)(*db);
        db->prepare("RELEASE group_write").run();
      } catch (...) {
        t->error = std::current_exception();
        db->prepare("ROLLBACK TO group_write").run();
        db->prepare("RELEASE group_write").run();
      }
    }
    transaction.commit();
  } catch (...) {
    // The transaction itself failed (disk full, I/O error): nothing in it was committed.
    auto error = std::current_exception();
    for (Ticket* t : batch) {
      if (!t->error) t->error = error;
    }
  }
}

}  // namespace storage::sqlite
