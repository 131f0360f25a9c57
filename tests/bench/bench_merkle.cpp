// Cost of the audit log's Merkle proofs (RFC 9162 §2.1) at a realistic size: builds an
// in-memory tree, then times inclusion and consistency proofs for random positions, each
// followed by its verification, as a log server plus a client would do.
//
//   bench_merkle [leaves=1000000] [samples=10000]
//
// The PerfectNode here is a vector lookup; with storage behind it each proof adds its
// O(log^2 n) node reads (at most ~400 at 10^6 leaves, typically ~40), which dominate.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <random>
#include <string_view>
#include <vector>

#include "authz/merkle.hpp"

namespace {

using Clock = std::chrono::steady_clock;
namespace merkle = authz::merkle;

struct Summary {
  double mean_us;
  double p50_us;
  double p99_us;
  double max_us;
};

Summary summarise(std::vector<double> us) {
  std::sort(us.begin(), us.end());
  double total = 0;
  for (const double v : us) total += v;
  const auto at = [&](double q) {
    return us[std::min(us.size() - 1,
                       static_cast<std::size_t>(q * static_cast<double>(us.size())))];
  };
  return {total / static_cast<double>(us.size()), at(0.50), at(0.99), us.back()};
}

void print(std::string_view name, const Summary& s) {
  std::printf("%-34.*s mean %8.2f us   p50 %8.2f us   p99 %8.2f us   max %8.2f us\n",
              static_cast<int>(name.size()), name.data(), s.mean_us, s.p50_us, s.p99_us, s.max_us);
}

double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

// Leaf i is the leaf hash of its 8-byte little-endian index: cheap, distinct, deterministic.
merkle::Hash leaf_for(std::uint64_t i) {
  std::array<char, 8> bytes{};
  for (std::size_t b = 0; b < bytes.size(); ++b) bytes[b] = static_cast<char>(i >> (8 * b));
  return merkle::leaf_hash(std::string_view(bytes.data(), bytes.size()));
}

}  // namespace

int main(int argc, char** argv) {
  const long long leaves_arg = argc > 1 ? std::atoll(argv[1]) : 1'000'000;
  const long long samples_arg = argc > 2 ? std::atoll(argv[2]) : 10'000;
  if (leaves_arg < 2 || samples_arg < 1) {
    std::fprintf(stderr, "usage: bench_merkle [leaves>=2] [samples>=1]\n");
    return 2;
  }
  const auto leaves = static_cast<std::uint64_t>(leaves_arg);
  const auto samples = static_cast<std::size_t>(samples_arg);

  try {
    merkle::MemoryTree tree;
    const auto build_start = Clock::now();
    for (std::uint64_t i = 0; i < leaves; ++i) tree.append(leaf_for(i));
    const double build_us = micros(Clock::now() - build_start);
    std::printf("leaves=%llu samples=%zu\n", static_cast<unsigned long long>(leaves), samples);
    std::printf("%-34s %8.0f ms   (%.2f us per append, leaf hash included)\n", "build MemoryTree",
                build_us / 1000, build_us / static_cast<double>(leaves));

    const merkle::PerfectNode nodes = tree.nodes();
    auto start = Clock::now();
    const merkle::Hash root = merkle::root(nodes, leaves);
    std::printf("%-34s %8.2f us   %s\n", "root", micros(Clock::now() - start),
                merkle::to_hex(root).c_str());

    std::mt19937_64 random(20240611);  // fixed seed: the same positions on every run
    std::uniform_int_distribution<std::uint64_t> any_index(0, leaves - 1);
    std::uniform_int_distribution<std::uint64_t> any_old_size(1, leaves - 1);

    std::vector<double> prove_us;
    std::vector<double> verify_us;
    std::vector<double> both_us;
    std::size_t proof_nodes = 0;
    for (std::size_t s = 0; s < samples; ++s) {
      const std::uint64_t index = any_index(random);
      const merkle::Hash leaf = leaf_for(index);
      const auto t0 = Clock::now();
      const auto proof = merkle::inclusion_proof(nodes, index, leaves);
      const auto t1 = Clock::now();
      const bool ok = merkle::verify_inclusion(leaf, index, leaves, proof, root);
      const auto t2 = Clock::now();
      if (!ok) {
        std::fprintf(stderr, "bench_merkle: inclusion proof for %llu did not verify\n",
                     static_cast<unsigned long long>(index));
        return 1;
      }
      proof_nodes += proof.size();
      prove_us.push_back(micros(t1 - t0));
      verify_us.push_back(micros(t2 - t1));
      both_us.push_back(micros(t2 - t0));
    }
    print("inclusion_proof", summarise(prove_us));
    print("verify_inclusion", summarise(verify_us));
    print("inclusion proof + verify", summarise(both_us));
    std::printf("%-34s %8.1f nodes\n", "  mean inclusion proof length",
                static_cast<double>(proof_nodes) / static_cast<double>(samples));

    prove_us.clear();
    verify_us.clear();
    both_us.clear();
    proof_nodes = 0;
    for (std::size_t s = 0; s < samples; ++s) {
      const std::uint64_t old_size = any_old_size(random);
      const merkle::Hash old_root = merkle::root(nodes, old_size);
      const auto t0 = Clock::now();
      const auto proof = merkle::consistency_proof(nodes, old_size, leaves);
      const auto t1 = Clock::now();
      const bool ok = merkle::verify_consistency(old_size, leaves, old_root, root, proof);
      const auto t2 = Clock::now();
      if (!ok) {
        std::fprintf(stderr, "bench_merkle: consistency proof from %llu did not verify\n",
                     static_cast<unsigned long long>(old_size));
        return 1;
      }
      proof_nodes += proof.size();
      prove_us.push_back(micros(t1 - t0));
      verify_us.push_back(micros(t2 - t1));
      both_us.push_back(micros(t2 - t0));
    }
    print("consistency_proof", summarise(prove_us));
    print("verify_consistency", summarise(verify_us));
    print("consistency proof + verify", summarise(both_us));
    std::printf("%-34s %8.1f nodes\n", "  mean consistency proof length",
                static_cast<double>(proof_nodes) / static_cast<double>(samples));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_merkle: %s\n", e.what());
    return 1;
  }
  return 0;
}
