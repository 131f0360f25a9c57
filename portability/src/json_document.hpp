#pragma once

// Private: split/join for formats whose document is a JSON array of item objects.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "json_exact.hpp"

namespace portability::detail {

/// Each element of `items` as a NativeItem: its id from `id_of` (empty -> "item N"),
/// its text the compact serialization. `id_of` may throw FormatError.
std::vector<NativeItem> split_items(const json& items,
                                    const std::function<std::string(const json&)>& id_of);
/// head + the items' texts separated by commas + tail: a page of items as split or from_model
/// wrote them (each one compact JSON object), without parsing them again. Throws FormatError
/// naming an item whose text is not an object's.
std::string join_items(std::string_view head, const std::vector<NativeItem>& items,
                       std::string_view tail);
/// The item's JSON object (FormatError naming the item if it is not one).
json parse_item(const NativeItem& item);

}  // namespace portability::detail
