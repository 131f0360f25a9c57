// The broker's conversion of one page, stage by stage, in memory (not part of ctest):
//
//   build/tests/bench/bench_formats FROM TO FILE [page-size]
//   e.g. bench_formats blogger-atom dtp-social-post export.xml 100
//
// FILE is a native export in format FROM (tests/bench/transfer_bench.mjs writes a Blogger one;
// any file of ../shared/samples works too). It is split once; then its items are moved page by
// page as Broker::next_page moves them: join (the source's page), split, to_model, from_model,
// to_model of the result (the digest's view) and Digest::add, join (the import body); then
// the destination's split and to_model. Prints µs per item and MB/s (of FROM's item bytes)
// per stage and for the whole.

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "portability/formats.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Stage {
  const char* name;
  double seconds = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: bench_formats FROM TO FILE [page-size]\n");
    return 2;
  }
  const portability::Format* from = portability::find_format(argv[1]);
  const portability::Format* to = portability::find_format(argv[2]);
  if (from == nullptr || to == nullptr) {
    std::fprintf(stderr, "unknown format\n");
    return 2;
  }
  std::ifstream in(argv[3], std::ios::binary);
  const std::string document((std::istreambuf_iterator<char>(in)), {});
  const std::size_t page_size = argc > 4 ? std::stoul(argv[4]) : 100;

  const auto items = from->split(document);
  std::size_t item_bytes = 0;
  for (const auto& item : items) item_bytes += item.text.size();

  std::vector<Stage> stages = {{"source join"}, {"split"},       {"to_model"},
                               {"from_model"},  {"digest view"}, {"digest"},
                               {"import join"}, {"dest split"},  {"dest to_model"}};
  auto timed = [&stages](std::size_t stage, auto&& work) {
    const auto start = Clock::now();
    work();
    stages[stage].seconds += std::chrono::duration<double>(Clock::now() - start).count();
  };
  portability::Digest digest;
  for (std::size_t first = 0; first < items.size(); first += page_size) {
    const std::vector<portability::NativeItem> page(
        items.begin() + static_cast<std::ptrdiff_t>(first),
        items.begin() + static_cast<std::ptrdiff_t>(std::min(items.size(), first + page_size)));
    std::string body;
    timed(0, [&] { body = from->join(page); });
    std::vector<portability::NativeItem> split;
    timed(1, [&] { split = from->split(body); });
    std::vector<portability::NativeItem> out;
    for (const auto& native : split) {
      portability::Item model;
      timed(2, [&] { model = from->to_model(native); });
      portability::Converted converted;
      timed(3, [&] { converted = to->from_model(model); });
      portability::Item view;
      timed(4, [&] { view = to->to_model(converted.native); });
      timed(5, [&] { digest.add(view); });
      out.push_back(std::move(converted.native));
    }
    std::string import;
    timed(6, [&] { import = to->join(out); });
    std::vector<portability::NativeItem> received;
    timed(7, [&] { received = to->split(import); });
    timed(8, [&] {
      for (const auto& native : received) (void)to->to_model(native);
    });
  }

  const double n = static_cast<double>(items.size());
  double total = 0;
  std::printf("%zu items, %.1f MB of %s items, page %zu -> %s\n", items.size(),
              static_cast<double>(item_bytes) / 1e6, argv[1], page_size, argv[2]);
  std::printf("%-14s %10s %10s\n", "stage", "us/item", "MB/s");
  for (const auto& stage : stages) {
    total += stage.seconds;
    std::printf("%-14s %10.2f %10.1f\n", stage.name, stage.seconds / n * 1e6,
                static_cast<double>(item_bytes) / 1e6 / stage.seconds);
  }
  std::printf("%-14s %10.2f %10.1f\n", "all", total / n * 1e6,
              static_cast<double>(item_bytes) / 1e6 / total);
  std::printf("digest %s\n", digest.hex().c_str());
  return 0;
}
