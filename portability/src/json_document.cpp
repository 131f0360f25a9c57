#include "json_document.hpp"

namespace portability::detail {

std::vector<NativeItem> split_items(const json& items,
                                    const std::function<std::string(const json&)>& id_of) {
  std::vector<NativeItem> out;
  std::size_t position = 0;
  for (const json& element : items) {
    ++position;
    const std::string where = "item " + std::to_string(position);
    if (!element.is_object()) throw FormatError(where, "not a JSON object");
    std::string id;
    try {
      id = id_of(element);
    } catch (const FormatError& e) {
      throw FormatError(e.item().empty() ? where : e.item(), e.what());
    }
    out.push_back({id.empty() ? where : id, dump(element)});
  }
  return out;
}

json parse_item(const NativeItem& item) {
  const std::string what = item.id.empty() ? "item" : item.id;
  json j = parse_json(item.text, what);
  if (!j.is_object()) throw FormatError(what, "not a JSON object");
  return j;
}

std::vector<json> parse_items(const std::vector<NativeItem>& items) {
  std::vector<json> out;
  out.reserve(items.size());
  for (const NativeItem& item : items) out.push_back(parse_item(item));
  return out;
}

}  // namespace portability::detail
