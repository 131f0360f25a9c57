#include "xml_util.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>

#include "portability/formats.hpp"
#include "util.hpp"

namespace portability::detail {
namespace {

// The next '<' or '&' at or after i, or npos. (string_view::find_first_of calls memchr on
// its set once per byte of the text: this loop is several times faster on large pages.)
std::size_t next_markup(std::string_view s, std::size_t i) {
  for (; i < s.size(); ++i) {
    if (s[i] == '<' || s[i] == '&') return i;
  }
  return std::string_view::npos;
}

// Appends what pugixml writes to a string (no stream, no second copy).
class StringWriter final : public pugi::xml_writer {
 public:
  explicit StringWriter(std::string& out) : out_(out) {}
  void write(const void* data, std::size_t size) override {
    out_.append(static_cast<const char*>(data), size);
  }

 private:
  std::string& out_;
};

// Skips markup where '&' is not a reference, then checks every remaining '&'.
void check_references(std::string_view s, const std::string& what) {
  std::size_t i = 0;
  auto skip_to = [&](std::string_view end) {
    const std::size_t p = s.find(end, i);
    i = p == std::string_view::npos ? s.size() : p + end.size();
  };
  while (i < s.size()) {
    // Only '<' (markup that may hide a '&') and '&' matter: jump to the next of them.
    i = next_markup(s, i);
    if (i == std::string_view::npos) return;
    if (s[i] == '<' && (i + 1 >= s.size() || (s[i + 1] != '!' && s[i + 1] != '?'))) {
      ++i;
    } else if (s.compare(i, 4, "<!--") == 0) {
      skip_to("-->");
    } else if (s.compare(i, 9, "<![CDATA[") == 0) {
      skip_to("]]>");
    } else if (s.compare(i, 2, "<?") == 0) {
      skip_to("?>");
    } else if (s.compare(i, 9, "<!DOCTYPE") == 0) {
      int depth = 0;
      for (; i < s.size(); ++i) {
        if (s[i] == '[') ++depth;
        if (s[i] == ']') --depth;
        if (s[i] == '>' && depth <= 0) break;
      }
      ++i;
    } else if (s[i] == '&') {
      const std::size_t semi = s.find(';', i);
      if (semi == std::string_view::npos || semi - i > 12) {
        throw FormatError(what, "malformed XML: bare '&' at offset " + std::to_string(i));
      }
      const std::string_view name = s.substr(i + 1, semi - i - 1);
      bool ok = name == "amp" || name == "lt" || name == "gt" || name == "quot" || name == "apos";
      if (!ok && name.size() >= 2 && name[0] == '#') {
        const bool hex = name[1] == 'x';
        const std::string_view num = name.substr(hex ? 2 : 1);
        ok = !num.empty();
        std::uint64_t code = 0;  // at most 10 digits: no overflow
        for (char c : num) {
          const bool d = c >= '0' && c <= '9';
          const bool h = (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
          ok = ok && (d || (hex && h));
          const int digit = d ? c - '0' : (c | 0x20) - 'a' + 10;
          code = code * (hex ? 16 : 10) + static_cast<std::uint64_t>(digit);
        }
        // XML 1.0 §4.1, WFC Legal Character: a reference names a Char (§2.2).
        const bool legal = code == 0x9 || code == 0xA || code == 0xD ||
                           (code >= 0x20 && code <= 0xD7FF) ||
                           (code >= 0xE000 && code <= 0xFFFD) ||
                           (code >= 0x10000 && code <= 0x10FFFF);
        if (ok && !legal) {
          throw FormatError(what, "malformed XML: &" + std::string(name) +
                                      "; names a character XML cannot hold (XML 1.0 §4.1)");
        }
      }
      if (!ok) {
        throw FormatError(what, "malformed XML: undeclared entity reference &" +
                                    std::string(name) + ";");
      }
      i = semi + 1;
    } else {
      ++i;
    }
  }
}

// 1-based line of a byte offset.
std::size_t line_of(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  return 1 + static_cast<std::size_t>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(offset), '\n'));
}

// Names the item a parse error falls in, so the transfer report can say which one broke: the
// <id> of the enclosing Atom <entry>, or the element and line of a HealthKit record (which has
// no id). Falls back to `what` (e.g. "document") when the error is outside any item.
std::string item_near(std::string_view text, std::size_t offset, const std::string& what) {
  offset = std::min(offset, text.size());
  const std::string_view before = text.substr(0, offset);
  const auto entry = before.rfind("<entry");
  const auto entry_end = entry == std::string_view::npos ? std::string_view::npos
                                                          : text.find("</entry>", entry);
  // Only when the error falls inside that entry (not after it closed).
  if (entry != std::string_view::npos &&
      (entry_end == std::string_view::npos || entry_end + 8 > offset)) {
    const auto end = entry_end;
    const std::string_view element =
        text.substr(entry, end == std::string_view::npos ? std::string_view::npos : end - entry);
    const auto open = element.find("<id>");
    if (open != std::string_view::npos) {
      const auto close = element.find("</id>", open);
      if (close != std::string_view::npos && close - open < 512) {
        return "entry " + std::string(element.substr(open + 4, close - open - 4));
      }
    }
    return "entry at line " + std::to_string(line_of(text, entry));
  }
  for (std::string_view tag : {"<Record", "<Workout", "<ActivitySummary"}) {
    const auto at = before.rfind(tag);
    if (at != std::string_view::npos &&
        before.find("/>", at) == std::string_view::npos &&
        before.find("</" + std::string(tag.substr(1)) + ">", at) == std::string_view::npos) {
      return std::string(tag.substr(1)) + " at line " + std::to_string(line_of(text, at));
    }
  }
  return what;
}

}  // namespace

std::unique_ptr<pugi::xml_document> parse_xml(std::string_view text, const std::string& what) {
  text = strip_bom(text);
  if (!valid_utf8(text)) throw FormatError(what, "malformed XML: not valid UTF-8");
  check_references(text, what);
  auto doc = std::make_unique<pugi::xml_document>();
  const pugi::xml_parse_result r = doc->load_buffer(
      text.data(), text.size(), pugi::parse_default | pugi::parse_declaration, pugi::encoding_utf8);
  if (!r) {
    const auto offset = static_cast<std::size_t>(std::max<std::ptrdiff_t>(r.offset, 0));
    throw FormatError(item_near(text, offset, what), std::string("malformed XML: ") +
                                                         r.description() + " at line " +
                                                         std::to_string(line_of(text, offset)));
  }
  if (!doc->document_element()) throw FormatError(what, "malformed XML: no root element");
  return doc;
}

std::string_view bound_uri(pugi::xml_node node, std::string_view prefix) {
  if (prefix == "xml") return "http://www.w3.org/XML/1998/namespace";
  for (pugi::xml_node n = node; n.type() == pugi::node_element; n = n.parent()) {
    for (pugi::xml_attribute a = n.first_attribute(); a; a = a.next_attribute()) {
      const char* name = a.name();
      // Most attributes are not declarations: strncmp drops them without measuring them.
      if (std::strncmp(name, "xmlns", 5) != 0) continue;
      const std::string_view rest = name + 5;
      if (prefix.empty() ? rest.empty()
                         : rest.size() == prefix.size() + 1 && rest[0] == ':' &&
                               rest.substr(1) == prefix) {
        return a.value();
      }
    }
  }
  return {};
}

std::string_view element_uri(pugi::xml_node element) {
  const std::string_view name = element.name();
  const std::size_t colon = name.find(':');
  return bound_uri(element, colon == std::string_view::npos ? "" : name.substr(0, colon));
}

std::string_view local_name(pugi::xml_node node) {
  const std::string_view name = node.name();
  const std::size_t colon = name.find(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

bool is_element(pugi::xml_node node, std::string_view ns, std::string_view local) {
  return node.type() == pugi::node_element && local_name(node) == local &&
         element_uri(node) == ns;
}

pugi::xml_node first_child(pugi::xml_node node, std::string_view ns, std::string_view local) {
  for (pugi::xml_node c : node.children()) {
    if (is_element(c, ns, local)) return c;
  }
  return {};
}

bool has_content(pugi::xml_node element, std::initializer_list<std::string_view> markup) {
  if (element.first_child()) return true;
  for (pugi::xml_attribute a = element.first_attribute(); a; a = a.next_attribute()) {
    const std::string_view name = a.name();
    if (*a.value() == '\0' || name == "xmlns" || name.rfind("xmlns:", 0) == 0) continue;
    if (std::find(markup.begin(), markup.end(), name) == markup.end()) return true;
  }
  return false;
}

std::string text_of(pugi::xml_node node) {
  std::string out;
  for (pugi::xml_node c : node.children()) {
    if (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) out += c.value();
  }
  return out;
}

std::string serialize_standalone(pugi::xml_node node) {
  pugi::xml_document doc;
  pugi::xml_node copy = doc.append_copy(node);
  // Nearest declaration wins, as in Namespaces in XML §6.1.
  std::map<std::string, std::string> in_scope;
  for (pugi::xml_node n = node.parent(); n && n.type() == pugi::node_element; n = n.parent()) {
    for (pugi::xml_attribute a : n.attributes()) {
      const std::string_view an = a.name();
      if (an == "xmlns" || an.rfind("xmlns:", 0) == 0) in_scope.emplace(an, a.value());
    }
  }
  for (const auto& [name, value] : in_scope) {
    if (!copy.attribute(name.c_str())) copy.append_attribute(name.c_str()) = value.c_str();
  }
  std::string out;
  StringWriter writer(out);
  doc.save(writer, "", pugi::format_raw | pugi::format_no_declaration, pugi::encoding_utf8);
  return out;
}

bool drop_forbidden_controls(pugi::xml_node node) {
  bool dropped = false;
  const auto clean = [&dropped](auto&& item) {
    std::string value = item.value();
    if (drop_forbidden_controls(value)) {
      dropped = true;
      item.set_value(value.c_str());
    }
  };
  for (pugi::xml_attribute a : node.attributes()) clean(a);
  if (node.type() == pugi::node_pcdata || node.type() == pugi::node_cdata) clean(node);
  for (pugi::xml_node child : node.children()) dropped = drop_forbidden_controls(child) || dropped;
  return dropped;
}

std::string inner_xml(pugi::xml_node node) {
  std::string out;
  StringWriter writer(out);
  for (pugi::xml_node c : node.children()) {
    c.print(writer, "", pugi::format_raw, pugi::encoding_utf8);
  }
  return out;
}

}  // namespace portability::detail
