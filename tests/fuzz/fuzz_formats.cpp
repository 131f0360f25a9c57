// Fuzz target: every native format's reader (XML, iCalendar, JSON documents and items). Any
// input either splits into items or is refused with a FormatError; items that read into the
// common model convert back to the format, and that native item reads again; the lists of
// what split skipped and what the model could not read are consistent.

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
      // Asking what split skipped never changes the items, and names each part once.
      std::vector<std::string> skipped;
      const auto same = format->split(input, &skipped);
      FUZZ_CHECK(same.size() == items.size());
      for (std::size_t i = 0; i < items.size() && i < same.size(); ++i) {
        FUZZ_CHECK(same[i].id == items[i].id && same[i].text == items[i].text);
      }
      FUZZ_CHECK(std::set<std::string>(skipped.begin(), skipped.end()).size() == skipped.size());
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
