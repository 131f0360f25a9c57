#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace storage {

/// Lists of strings in one TEXT column as netstrings: each element is `<length>:<bytes>,`
/// with the length in decimal bytes. Round-trips every list exactly, including empty lists,
/// empty elements and elements holding separators or newlines, and needs no escaping.
std::string encode_list(const std::vector<std::string>& items);

/// Strict inverse of encode_list: throws StorageError on anything encode_list cannot produce
/// (the file was edited or is corrupt), never guesses.
std::vector<std::string> decode_list(std::string_view encoded);

}  // namespace storage
