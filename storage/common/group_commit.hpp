#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
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
    if (queue_.size() >= fill_target_) filled_.notify_one();
    // `done` is set under the mutex, so read here (with it held) it is exact.
    while (!ticket.done.load(std::memory_order_relaxed)) {
      if (!leader_active_) {
        // No batch in flight: lead the next one, which takes this caller's write with it.
        lead(lock);
        break;
      }
      // Sleep until a batch ends: ours (done), or another one, after which the queue needs
      // a leader. Read under the mutex, so the end of the batch in flight changes it.
      const std::uint32_t seen = batches_ended_.load(std::memory_order_relaxed);
      lock.unlock();
      batches_ended_.wait(seen, std::memory_order_acquire);
      // A served caller returns without taking the mutex back (the next leader may be
      // holding it to fill its batch).
      if (ticket.done.load(std::memory_order_acquire)) break;
      lock.lock();
    }
    if (ticket.error) std::rethrow_exception(ticket.error);
  }

 private:
  struct Ticket {
    const Write* write = nullptr;
    std::exception_ptr error;  ///< written by the leader before `done`
    std::atomic<bool> done{false};
  };

  // Called with `lock` held and no leader active; returns with it released, once the batch
  // (which includes the caller's own ticket) has committed or failed.
  void lead(std::unique_lock<std::mutex>& lock) {
    leader_active_ = true;
    fill(lock);
    std::vector<Ticket*> batch;
    batch.swap(queue_);
    lock.unlock();

    const auto started = std::chrono::steady_clock::now();
    commit(batch);
    const auto took = std::chrono::steady_clock::now() - started;

    lock.lock();
    last_batch_ = batch.size();
    last_commit_ = std::min<std::chrono::steady_clock::duration>(took, kMaxFillWait);
    leader_active_ = false;
    // After its `done` is set a follower may return and free its ticket: touch none after.
    for (Ticket* t : batch) t->done.store(true, std::memory_order_release);
    batches_ended_.fetch_add(1, std::memory_order_release);
    lock.unlock();
    // One wake-up for the whole batch, and for the callers queued behind it: one of them
    // leads the next batch.
    batches_ended_.notify_all();
  }

  // Before taking the queue, a leader waits for the callers the last batch served to queue
  // again, for at most as long as that batch's commit took: each write then waits at most one
  // more commit time, and the batch pays one commit (its WAL pages, its locks, its fsync) for
  // all of them. Without this the leader's own thread, already running, comes back first and
  // commits alone while the callers it just woke are still being scheduled, and under load
  // batches stay at one or two writes. A lone caller (last batch of one) never waits, and a
  // smaller load lowers the target after one wait that timed out.
  void fill(std::unique_lock<std::mutex>& lock) {
    if (queue_.size() >= last_batch_ || last_commit_.count() <= 0) return;
    fill_target_ = last_batch_;
    filled_.wait_for(lock, last_commit_, [&] { return queue_.size() >= fill_target_; });
    fill_target_ = kNoFill;
  }

  void commit(const std::vector<Ticket*>& batch) {
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

  static constexpr std::size_t kNoFill = static_cast<std::size_t>(-1);
  // Caps the wait for a batch to fill, whatever the last commit took (a checkpoint, a slow
  // fsync).
  static constexpr std::chrono::steady_clock::duration kMaxFillWait = std::chrono::milliseconds(2);

  CommitBatch commit_batch_;
  std::mutex mutex_;
  std::vector<Ticket*> queue_;
  bool leader_active_ = false;
  std::size_t last_batch_ = 0;                         ///< writes in the last batch
  std::chrono::steady_clock::duration last_commit_{};  ///< how long its commit took
  std::size_t fill_target_ = kNoFill;                  ///< queue size that wakes a filling leader
  std::condition_variable filled_;
  /// Batches ended so far (wraps): callers sleep on it, so a batch wakes them all at once.
  std::atomic<std::uint32_t> batches_ended_{0};
};

}  // namespace storage
