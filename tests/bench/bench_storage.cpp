// Throughput of the hot storage calls of the token endpoint and introspection:
// insert_access_token (alone, and with its audit entry as the token endpoint writes it) and
// find_access_token, from several threads at once; then audit log appends and inclusion
// proofs.
//
//   bench_storage [threads=2] [tokens-per-thread=5000] [directory=$TMPDIR | postgres:CONNINFO]
//
// Numbers depend on the disk: every insert is one transaction with synchronous=FULL, so it
// costs one fsync of the WAL; run it on the file system the server will use.
// With postgres:CONNINFO (e.g. postgres:postgresql://postgres@127.0.0.1:5432/bench) it measures
// the PostgreSQL back end on that database instead, migrating it first; the rows it writes
// stay (token ids carry the process id, so runs do not collide).

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "authz/audit.hpp"
#include "storage/store.hpp"
#include "../storage/numbered.hpp"

namespace {

using Clock = std::chrono::steady_clock;

using storage::testing::numbered;

storage::AccessTokenRecord token(int thread, int n) {
  static const std::string prefix = numbered("t", ::getpid()) + "-";
  storage::AccessTokenRecord t;
  t.jti = numbered(prefix, thread, n);
  t.token_hash = "Qm9ndXMgdG9rZW4gaGFzaCBmb3IgYmVuY2htYXJrIG9ubHk";
  t.client_id = "bench-client";
  t.resident_id = numbered("resident-", n % 100);
  t.scope = "openid profile health.read";
  t.audience = "https://api.example";
  t.cnf_jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
  t.issued_at = 1'700'000'000;
  t.expires_at = 1'700'000'300;
  return t;
}

struct Figures {
  double per_second = 0;
  double p50_us = 0;
  double p99_us = 0;
  double max_us = 0;
};

// Runs body(thread, n) per_thread times on each thread; throughput and call latencies.
template <typename Body>
Figures measure(int threads, int per_thread, Body body) {
  std::vector<std::vector<double>> latencies(static_cast<std::size_t>(threads));
  std::vector<std::thread> pool;
  const auto start = Clock::now();
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      auto& mine = latencies[static_cast<std::size_t>(i)];
      mine.reserve(static_cast<std::size_t>(per_thread));
      for (int n = 0; n < per_thread; ++n) {
        const auto before = Clock::now();
        body(i, n);
        mine.push_back(std::chrono::duration<double, std::micro>(Clock::now() - before).count());
      }
    });
  }
  for (auto& thread : pool) thread.join();
  const std::chrono::duration<double> elapsed = Clock::now() - start;

  std::vector<double> all;
  for (const auto& mine : latencies) all.insert(all.end(), mine.begin(), mine.end());
  std::sort(all.begin(), all.end());
  const auto at = [&](double q) { return all[static_cast<std::size_t>(q * (all.size() - 1))]; };
  return {threads * per_thread / elapsed.count(), at(0.5), at(0.99), all.back()};
}

void print(const char* name, const Figures& f) {
  std::printf("%-20s %10.0f /s   p50 %8.1f us   p99 %8.1f us   max %9.1f us\n", name, f.per_second,
              f.p50_us, f.p99_us, f.max_us);
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int per_thread = argc > 2 ? std::atoi(argv[2]) : 5000;
  const std::string where = argc > 3 ? argv[3] : "";
  constexpr std::string_view kPostgres = "postgres:";
  const bool postgres = where.starts_with(kPostgres);
  const std::filesystem::path base = !where.empty() && !postgres
                                         ? std::filesystem::path(where)
                                         : std::filesystem::temp_directory_path();
  if (threads <= 0 || per_thread <= 0) {
    std::fprintf(stderr,
                 "usage: bench_storage [threads] [tokens-per-thread] [directory | "
                 "postgres:CONNINFO]\n");
    return 2;
  }
  const auto dir = base / numbered("infobank-bench-", ::getpid());

  try {
    std::filesystem::create_directories(dir);  // the master key below lives here
    auto store = postgres ? storage::open_postgres(where.substr(kPostgres.size()),
                                                   authz::make_log_hasher())
                          : storage::open_sqlite((dir / "bench.sqlite").string(),
                                                 authz::make_log_hasher());
    store->migrate();

    const Figures inserts = measure(threads, per_thread,
                                    [&](int i, int n) { store->insert_access_token(token(i, n)); });
    // What the token endpoint writes per token: the row and its audit entry in one durable
    // transaction. Next to the row alone above, this is the log's cost on the token's write.
    const Figures logged = measure(threads, per_thread, [&](int i, int n) {
      auto t = token(i, n);
      t.jti += "-logged";
      storage::Event e;
      e.time = 1'800'000'000 + n;
      e.actor = "client";
      e.action = "token.issued";
      e.client_id = t.client_id;
      e.detail = R"({"grant_type":"client_credentials","jti":")" + t.jti + R"("})";
      e.outcome = "success";
      store->insert_access_token(t, e);
    });
    std::atomic<int> missing{0};
    const Figures finds = measure(threads, per_thread, [&](int i, int n) {
      // Look up tokens in a scattered order so the B-tree pages are not visited in sequence.
      const int k = static_cast<int>((static_cast<long long>(n) * 7919) % per_thread);
      if (!store->find_access_token(token(i, k).jti)) ++missing;
    });

    // Audit log appends: each durable (committed) when append_event returns; concurrent
    // appenders share commits (group commit) and every append also writes its Merkle nodes.
    const Figures appends = measure(threads, per_thread, [&](int i, int n) {
      storage::Event e;
      e.time = 1'800'000'000 + n;
      e.actor = "client";
      e.action = "token.issued";
      e.client_id = "bench-" + std::to_string(i);
      e.detail = R"({"grant_type":"client_credentials"})";
      e.outcome = "success";
      store->append_event(e);
    });

    // Inclusion proofs served from the stored Merkle nodes (what GET /audit/v1/proof/inclusion
    // does), at the log's size now.
    authz::ManualClock clock(1'800'000'000);
    const auto sealer = authz::Sealer::load_or_create((dir / "master.key").string());
    authz::AuditLog audit(*store, clock, sealer);
    const auto size = store->audit_size();
    const Figures proofs = measure(1, 1000, [&](int, int n) {
      const auto seq = 1 + (static_cast<std::int64_t>(n) * 7919) % size;
      if (!audit.inclusion_proof(seq, size)) std::abort();
    });

    std::printf("%s threads=%d tokens=%d\n", postgres ? "postgres" : "sqlite", threads,
                threads * per_thread);
    print("insert_access_token", inserts);
    print("insert + audit entry", logged);
    print("find_access_token", finds);
    print("append_event (audit log)", appends);
    std::printf("audit log size %lld\n", static_cast<long long>(size));
    print("inclusion proof (stored)", proofs);
    if (missing != 0) std::printf("warning: %d lookups found nothing\n", missing.load());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_storage: %s\n", e.what());
    std::filesystem::remove_all(dir);
    return 1;
  }
  std::filesystem::remove_all(dir);
  return 0;
}
