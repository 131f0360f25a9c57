// Throughput of the hot storage calls of the token endpoint and introspection:
// insert_access_token and find_access_token, from several threads at once.
//
//   bench_storage [threads=2] [tokens-per-thread=5000] [directory=$TMPDIR]
//
// Numbers depend on the disk: every insert is one transaction with synchronous=FULL, so it
// costs one fsync of the WAL; run it on the file system the server will use.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "storage/store.hpp"

namespace {

using Clock = std::chrono::steady_clock;

storage::AccessTokenRecord token(int thread, int n) {
  storage::AccessTokenRecord t;
  t.jti = "t" + std::to_string(thread) + "-" + std::to_string(n);
  t.token_hash = "Qm9ndXMgdG9rZW4gaGFzaCBmb3IgYmVuY2htYXJrIG9ubHk";
  t.client_id = "bench-client";
  t.resident_id = "resident-" + std::to_string(n % 100);
  t.scope = "openid profile health.read";
  t.audience = "https://api.example";
  t.cnf_jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
  t.issued_at = 1'700'000'000;
  t.expires_at = 1'700'000'300;
  return t;
}

template <typename Body>
double per_second(int threads, int per_thread, Body body) {
  std::vector<std::thread> pool;
  const auto start = Clock::now();
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      for (int n = 0; n < per_thread; ++n) body(i, n);
    });
  }
  for (auto& thread : pool) thread.join();
  const std::chrono::duration<double> elapsed = Clock::now() - start;
  return threads * per_thread / elapsed.count();
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int per_thread = argc > 2 ? std::atoi(argv[2]) : 5000;
  const std::filesystem::path base =
      argc > 3 ? std::filesystem::path(argv[3]) : std::filesystem::temp_directory_path();
  if (threads <= 0 || per_thread <= 0) {
    std::fprintf(stderr, "usage: bench_storage [threads] [tokens-per-thread] [directory]\n");
    return 2;
  }
  const auto dir = base / ("infobank-bench-" + std::to_string(::getpid()));

  try {
    auto store = storage::open_sqlite((dir / "bench.sqlite").string());
    store->migrate();

    const double inserts = per_second(threads, per_thread, [&](int i, int n) {
      store->insert_access_token(token(i, n));
    });
    std::atomic<int> missing{0};
    const double finds = per_second(threads, per_thread, [&](int i, int n) {
      // Look up tokens in a scattered order so the B-tree pages are not visited in sequence.
      const int k = static_cast<int>((static_cast<long long>(n) * 7919) % per_thread);
      if (!store->find_access_token(token(i, k).jti)) ++missing;
    });

    std::printf("threads=%d tokens=%d\n", threads, threads * per_thread);
    std::printf("insert_access_token: %10.0f /s\n", inserts);
    std::printf("find_access_token:   %10.0f /s\n", finds);
    if (missing != 0) std::printf("warning: %d lookups found nothing\n", missing.load());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_storage: %s\n", e.what());
    std::filesystem::remove_all(dir);
    return 1;
  }
  std::filesystem::remove_all(dir);
  return 0;
}
