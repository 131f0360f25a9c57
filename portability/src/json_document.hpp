#pragma once

// Private: split/join for formats whose document is a JSON array of item objects.

#include <functional>
#include <string>
#include <vector>

#include "json_exact.hpp"

namespace portability::detail {

/// Each element of `items` as a NativeItem: its id from `id_of` (empty -> "item N"),
/// its text the compact serialization. `id_of` may throw FormatError.
std::vector<NativeItem> split_items(const json& items,
                                    const std::function<std::string(const json&)>& id_of);
/// Parses every item text as a JSON object (FormatError naming it) and returns them.
std::vector<json> parse_items(const std::vector<NativeItem>& items);
/// The item's JSON object (FormatError naming the item if it is not one).
json parse_item(const NativeItem& item);

}  // namespace portability::detail
