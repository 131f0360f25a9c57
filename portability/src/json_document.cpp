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

std::string join_items(std::string_view head, const std::vector<NativeItem>& items,
                       std::string_view tail) {
  std::size_t size = head.size() + tail.size() + items.size();
  for (const NativeItem& item : items) size += item.text.size();
  std::string out;
  out.reserve(size);
  out.append(head);
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string& text = items[i].text;
    if (text.size() < 2 || text.front() != '{' || text.back() != '}')
      throw FormatError(items[i].id.empty() ? "item " + std::to_string(i + 1) : items[i].id,
                        "not a JSON object");
    if (i != 0) out.push_back(',');
    out.append(text);
  }
  out.append(tail);
  return out;
}

json parse_item(const NativeItem& item) {
  const std::string what = item.id.empty() ? "item" : item.id;
  json j = parse_json(item.text, what);
  if (!j.is_object()) throw FormatError(what, "not a JSON object");
  return j;
}

}  // namespace portability::detail
