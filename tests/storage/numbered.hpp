#pragma once

// Numbered names for test and benchmark rows ("client-7", "t-3-120").

#include <array>
#include <charconv>
#include <string>
#include <string_view>

namespace storage::testing {

/// prefix + a [+ "-" + b]. Built with to_chars: GCC 12 at -O3 warns falsely (-Wrestrict,
/// bug 105329) on `"literal" + std::to_string(n)`, and warnings are errors.
inline std::string numbered(std::string_view prefix, int a, int b = -1) {
  std::array<char, 32> buffer{};
  std::string out(prefix);
  auto end = std::to_chars(buffer.data(), buffer.data() + buffer.size(), a).ptr;
  out.append(buffer.data(), end);
  if (b >= 0) {
    out += '-';
    end = std::to_chars(buffer.data(), buffer.data() + buffer.size(), b).ptr;
    out.append(buffer.data(), end);
  }
  return out;
}

}  // namespace storage::testing
