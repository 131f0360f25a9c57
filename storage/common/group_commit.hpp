#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <pthread.h>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include "storage/store.hpp"

namespace storage {

/// Group commit, independent of the back end: concurrent writes share one transaction.
///
/// Two ways in:
///  - run(write) blocks until its write has committed. The first caller to find no batch in
///    flight becomes the leader: it takes every write queued so far and hands them to the back
///    end's CommitBatch, which runs each inside its own savepoint (so one failing write does
///    not undo the others) and commits once; the others wait for that commit. A lone caller
///    pays one transaction, as without batching.
///  - submit(write, done) queues the write and returns at once; `done` runs when the
///    transaction holding it has committed (or failed). A committer thread of its own leads
///    the batches no blocked caller is there to lead, so a caller's thread is never held while
///    it waits: a server thread can go on with other requests and answer when `done` runs.
///
/// Either way each write is durable (as the back end makes it) before it is reported done, and
/// under load one commit serves many requests.
template <typename Session>
class GroupCommit {
 public:
  using Write = std::function<void(Session&)>;
  /// Runs once the write has committed (null) or failed (its exception); on the thread that
  /// committed the batch, so it must be quick (post elsewhere) and must not throw.
  using Done = std::function<void(std::exception_ptr)>;
  /// Runs writes[i] for every i in one transaction and commits. A write that throws stores
  /// its exception in errors[i] (and is rolled back to its savepoint); if CommitBatch itself
  /// throws, every write without an error of its own fails with that exception. `adding_only`
  /// when every write in the batch was queued as Effect::adds (see Store::token_state_stamp).
  using CommitBatch = std::function<void(std::span<const Write* const> writes,
                                         std::span<std::exception_ptr> errors, bool adding_only)>;
  /// What a write does to rows already stored: changes (or removes) some, or only adds rows.
  enum class Effect { changes, adds };

  explicit GroupCommit(CommitBatch commit_batch) : commit_batch_(std::move(commit_batch)) {}

  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  /// Commits what was submitted and not yet committed, then stops the committer thread.
  ~GroupCommit() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    work_.notify_all();
    if (committer_.joinable()) committer_.join();
  }

  /// Runs `write` in a shared write transaction; rethrows what it threw.
  void run(const Write& write, Effect effect = Effect::changes) {
    if (StorageForbidden::active()) throw StorageNotAllowed();
    Ticket ticket;
    ticket.write = &write;
    ticket.effect = effect;
    std::unique_lock lock(mutex_);
    enqueue(&ticket);
    while (!ticket.done) {
      if (!leader_active_) {
        // No batch in flight: lead the next one, which takes this caller's write with it.
        lead(lock);
      } else {
        batch_ended_.wait(lock);
      }
    }
    lock.unlock();
    if (ticket.error) std::rethrow_exception(ticket.error);
  }

  /// Queues `write` and returns; `done` reports its outcome once its transaction has ended.
  /// Writes submitted before the store is destroyed are committed before it goes.
  void submit(Write write, Done done, Effect effect = Effect::changes) {
    auto ticket = std::make_unique<Ticket>();
    ticket->effect = effect;
    ticket->owned = std::move(write);
    ticket->write = &ticket->owned;
    ticket->on_done = std::move(done);
    std::unique_lock lock(mutex_);
    if (!committer_.joinable()) {
      committer_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "commit");  // for top -H, perf and gdb
        commit_loop();
      });
    }
    enqueue(ticket.release());
    if (!leader_active_) work_.notify_one();
  }

 private:
  struct Ticket {
    const Write* write = nullptr;
    std::exception_ptr error;  ///< written by the leader before `done`
    bool done = false;         ///< under the mutex
    Write owned;               ///< submit(): the write, kept until committed
    Done on_done;              ///< submit(): non-null; the ticket is then owned by the queue
    Effect effect = Effect::changes;
  };

  // With the mutex held.
  void enqueue(Ticket* ticket) {
    queue_.push_back(ticket);
    if (queue_.size() >= fill_target_) filled_.notify_one();
  }

  // The committer thread: leads whenever writes are queued and nobody else leads.
  void commit_loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
      if (!queue_.empty() && !leader_active_) {
        lead(lock);
        continue;
      }
      if (stopping_ && queue_.empty()) return;
      work_.wait(lock);
    }
  }

  // Called with `lock` held and no leader active; returns with it held, once the batch (all
  // that was queued when it started, after the fill wait) has committed or failed.
  void lead(std::unique_lock<std::mutex>& lock) {
    leader_active_ = true;
    fill(lock);
    std::vector<Ticket*> batch;
    batch.swap(queue_);
    lock.unlock();

    const auto started = std::chrono::steady_clock::now();
    commit(batch);
    const auto took = std::chrono::steady_clock::now() - started;

    // The submitted writes' callbacks run outside the mutex; their tickets are ours to free.
    std::vector<std::unique_ptr<Ticket>> submitted;
    lock.lock();
    last_batch_ = batch.size();
    last_commit_ = std::min<std::chrono::steady_clock::duration>(took, kMaxFillWait);
    leader_active_ = false;
    // A blocked caller may return and free its ticket once `done` is set: touch none after.
    for (Ticket* t : batch) {
      if (t->on_done) submitted.emplace_back(t);
      t->done = true;
    }
    const bool more = !queue_.empty();
    lock.unlock();
    // One wake-up for the blocked callers of the whole batch, and for those queued behind it:
    // one of them, or the committer, leads the next batch.
    batch_ended_.notify_all();
    if (more) work_.notify_one();
    for (auto& t : submitted) {
      try {
        t->on_done(t->error);
      } catch (...) {
        // Done must not throw; nothing sensible is left to do with the exception here.
      }
    }
    lock.lock();
  }

  // Before taking the queue, a leader waits for the writers the last batch served to queue
  // again, for at most as long as that batch's commit took: each write then waits at most one
  // more commit time, and the batch pays one commit (its WAL pages, its locks, its fsync) for
  // all of them. Without this the leader's own thread, already running, comes back first and
  // commits alone while the callers it just woke are still being scheduled, and under load
  // batches stay at one or two writes. A lone caller (last batch of one) never waits, and a
  // smaller load lowers the target after one wait that timed out. The wait is at least
  // kMinFillWait: bounded by the last commit's time alone (~0.3 ms under load), a leader often
  // gave up while the writers it had woken were still on their way, committed a part of them,
  // and the rest made a batch of their own; batches stayed small and commits many. With the
  // floor, the token endpoint's p99 went from 9.6-11.3 ms to 6.4-6.6 ms, and its throughput
  // up by ~8% (alternating runs, `tests/bench/token_bench.sh`'s load).
  void fill(std::unique_lock<std::mutex>& lock) {
    if (queue_.size() >= last_batch_ || last_commit_.count() <= 0 || stopping_) return;
    fill_target_ = last_batch_;
    filled_.wait_for(lock, std::max(last_commit_, kMinFillWait),
                     [&] { return queue_.size() >= fill_target_; });
    fill_target_ = kNoFill;
  }

  void commit(const std::vector<Ticket*>& batch) {
    std::vector<const Write*> writes;
    writes.reserve(batch.size());
    bool adding_only = true;
    for (const Ticket* t : batch) {
      writes.push_back(t->write);
      adding_only = adding_only && t->effect == Effect::adds;
    }
    std::vector<std::exception_ptr> errors(batch.size());
    try {
      commit_batch_(writes, errors, adding_only);
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
  // The least a leader waits for the last batch's writers to queue again (see fill()).
  static constexpr std::chrono::steady_clock::duration kMinFillWait = std::chrono::milliseconds(1);

  CommitBatch commit_batch_;
  std::mutex mutex_;
  std::vector<Ticket*> queue_;
  bool leader_active_ = false;
  bool stopping_ = false;
  std::size_t last_batch_ = 0;                         ///< writes in the last batch
  std::chrono::steady_clock::duration last_commit_{};  ///< how long its commit took
  std::size_t fill_target_ = kNoFill;                  ///< queue size that wakes a filling leader
  std::condition_variable filled_;
  std::condition_variable batch_ended_;  ///< blocked callers wait for their batch on it
  std::condition_variable work_;         ///< the committer waits for submitted writes on it
  std::thread committer_;                ///< started by the first submit()
};

}  // namespace storage
