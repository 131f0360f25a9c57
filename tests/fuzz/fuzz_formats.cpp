// Fuzz target: every native format's reader (XML, iCalendar, JSON documents and items). Any
// input either splits into items or is refused with a FormatError; items that read into the
// common model convert back to the format, and that native item reads again; the list of
// what the model could not read is consistent.

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "portability/formats.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  for (const auto* format : portability::all_formats()) {
    try {
      const auto items = format->split(input);
      for (const auto& item : items) {
        // Asking what the model could not read never changes what it read, and names each
        // part once.
        std::vector<std::string> not_read;
        const auto model = format->to_model(item, &not_read);
        FUZZ_CHECK(model == format->to_model(item));
        FUZZ_CHECK(std::set<std::string>(not_read.begin(), not_read.end()).size() ==
                   not_read.size());
        FUZZ_CHECK(model.is_object());
        const auto back = format->from_model(model);
        // What we write ourselves must read again.
        (void)format->to_model(back.native);
        (void)portability::canonical(model);
      }
    } catch (const portability::FormatError&) {
      // Refused with a clear error: what a broken export must get.
    }
  }
  return 0;
}
