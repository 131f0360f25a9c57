#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <vector>

#include "connection.hpp"

namespace storage::sqlite {

/// Group commit (leader/follower): concurrent callers' writes share one BEGIN IMMEDIATE ...
/// COMMIT. The first caller to find no batch in flight becomes the leader, takes every write
/// queued so far, runs each inside its own SAVEPOINT (so one failing write does not undo the
/// others) and commits once; the others wait and return when the transaction holding their
/// write has committed. Each write is durable (as the pragmas make it) before run() returns,
/// and a lone caller pays one transaction, as without batching. Under load, one commit (a WAL
/// append and its locks) serves many requests instead of one each.
class GroupCommit {
 public:
  using Write = std::function<void(Connection&)>;

  explicit GroupCommit(ConnectionPool& pool) : pool_(pool) {}

  /// Runs `write` in a shared write transaction; rethrows what it threw.
  void run(const Write& write);

 private:
  struct Ticket {
    const Write* write = nullptr;
    std::exception_ptr error;
    bool done = false;
    std::condition_variable wake;  ///< each waiter sleeps on its own: no thundering herd
  };
  void lead(std::vector<Ticket*>& batch);

  ConnectionPool& pool_;
  std::mutex mutex_;
  std::vector<Ticket*> queue_;
  bool leader_active_ = false;
};

}  // namespace storage::sqlite
