#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <span>
#include <utility>
#include <vector>

namespace storage {

/// Group commit (leader/follower), independent of the back end: concurrent callers' writes
/// share one transaction. The first caller to find no batch in flight becomes the leader,
/// takes every write queued so far and hands them to the back end's CommitBatch, which runs
/// each inside its own savepoint (so one failing write does not undo the others) and commits
/// once; the others wait and return when the transaction holding their write has committed.
/// Each write is durable (as the back end makes it) before run() returns, and a lone caller
/// pays one transaction, as without batching. Under load, one commit serves many requests.
template <typename Session>
class GroupCommit {
 public:
  using Write = std::function<void(Session&)>;
  /// Runs writes[i] for every i in one transaction and commits. A write that throws stores
  /// its exception in errors[i] (and is rolled back to its savepoint); if CommitBatch itself
  /// throws, every write without an error of its own fails with that exception.
  using CommitBatch =
      std::function<void(std::span<const Write* const> writes, std::span<std::exception_ptr> errors)>;

  explicit GroupCommit(CommitBatch commit_batch) : commit_batch_(std::move(commit_batch)) {}

  /// Runs `write` in a shared write transaction; rethrows what it threw.
  void run(const Write& write) {
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

 private:
  struct Ticket {
    const Write* write = nullptr;
    std::exception_ptr error;
    bool done = false;
    std::condition_variable wake;  ///< each waiter sleeps on its own: no thundering herd
  };

  void lead(const std::vector<Ticket*>& batch) {
    std::vector<const Write*> writes;
    writes.reserve(batch.size());
    for (const Ticket* t : batch) writes.push_back(t->write);
    std::vector<std::exception_ptr> errors(batch.size());
    try {
      commit_batch_(writes, errors);
    } catch (...) {
      // The transaction itself failed: nothing in it was committed.
      auto error = std::current_exception();
      for (auto& e : errors) {
        if (!e) e = error;
      }
    }
    for (std::size_t i = 0; i < batch.size(); ++i) batch[i]->error = errors[i];
  }

  CommitBatch commit_batch_;
  std::mutex mutex_;
  std::vector<Ticket*> queue_;
  bool leader_active_ = false;
};

}  // namespace storage
