#include "list_codec.hpp"

#include <charconv>
#include <system_error>

#include "storage/store.hpp"

namespace storage {

std::string encode_list(const std::vector<std::string>& items) {
  std::string encoded;
  for (const auto& item : items) {
    encoded += std::to_string(item.size());
    encoded += ':';
    encoded += item;
    encoded += ',';
  }
  return encoded;
}

std::vector<std::string> decode_list(std::string_view encoded) {
  std::vector<std::string> items;
  while (!encoded.empty()) {
    const auto colon = encoded.find(':');
    if (colon == std::string_view::npos || colon == 0 ||
        (colon > 1 && encoded.front() == '0')) {  // no leading zeros: one encoding per list
      throw StorageError("decode_list: malformed length");
    }
    std::size_t size = 0;
    const auto [end, ec] = std::from_chars(encoded.data(), encoded.data() + colon, size);
    if (ec != std::errc{} || end != encoded.data() + colon) {
      throw StorageError("decode_list: malformed length");
    }
    encoded.remove_prefix(colon + 1);
    if (size >= encoded.size() || encoded[size] != ',') {
      throw StorageError("decode_list: truncated element");
    }
    items.emplace_back(encoded.substr(0, size));
    encoded.remove_prefix(size + 1);
  }
  return items;
}

}  // namespace storage
