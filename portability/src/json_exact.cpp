#include "json_exact.hpp"

#include <array>
#include <charconv>
#include <vector>

#include "util.hpp"

namespace portability::detail {
namespace {

constexpr std::size_t kMaxDepth = 64;

// Builds the DOM from nlohmann's SAX events so that float text and duplicate names are seen.
class StrictSax {
 public:
  explicit StrictSax(json& root) : root_(root) {}

  bool null() { return put(json(nullptr)); }
  bool boolean(bool v) { return put(json(v)); }
  bool number_integer(json::number_integer_t v) { return put(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return put(json(v)); }
  bool number_float(json::number_float_t, const json::string_t& text) {
    return put(raw_number(text));
  }
  bool string(json::string_t& v) { return put(json(std::move(v))); }
  bool binary(json::binary_t&) { return fail("unexpected binary value"); }
  bool start_object(std::size_t) {
    if (stack_.size() >= kMaxDepth) return fail("nesting too deep");
    json* slot = place(json::object());
    if (slot == nullptr) return false;
    stack_.push_back(slot);
    return true;
  }
  bool key(json::string_t& k) {
    if (stack_.back()->contains(k)) return fail("duplicate member name \"" + k + "\"");
    key_ = std::move(k);
    return true;
  }
  bool end_object() {
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) {
    if (stack_.size() >= kMaxDepth) return fail("nesting too deep");
    json* slot = place(json::array());
    if (slot == nullptr) return false;
    stack_.push_back(slot);
    return true;
  }
  bool end_array() {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) {
    return fail(ex.what());
  }

  const std::string& error() const { return error_; }

 private:
  bool fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }
  json* place(json value) {
    if (stack_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    json& top = *stack_.back();
    if (top.is_array()) {
      top.push_back(std::move(value));
      return &top.back();
    }
    auto [it, inserted] = top.emplace(key_, std::move(value));
    return &it.value();
  }
  bool put(json value) { return place(std::move(value)) != nullptr; }

  json& root_;
  std::vector<json*> stack_;
  std::string key_;
  std::string error_;
};

// A JSON string as nlohmann's dump(-1, ' ', false, strict) writes it (so digests computed
// either way agree): UTF-8 kept, only '"', '\\' and control characters escaped, control
// characters other than \b \f \n \r \t as lowercase \u00xx. Invalid UTF-8 throws
// nlohmann's type_error 316, as strict dumping does. Runs that need no escape are copied
// whole: this is the hot loop of every JSON page a transfer writes.
void append_string(std::string_view s, std::string& out) {
  if (!valid_utf8(s)) (void)json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::strict);
  static constexpr char kHex[] = "0123456789abcdef";
  out.reserve(out.size() + s.size() + 2);
  out.push_back('"');
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    out.push_back('\\');
    switch (c) {
      case '"': out.push_back('"'); break;
      case '\\': out.push_back('\\'); break;
      case '\b': out.push_back('b'); break;
      case '\f': out.push_back('f'); break;
      case '\n': out.push_back('n'); break;
      case '\r': out.push_back('r'); break;
      case '\t': out.push_back('t'); break;
      default:
        out.append("u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0x0F]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

void dump_to(const json& j, std::string& out) {
  switch (j.type()) {
    case json::value_t::object: {
      out.push_back('{');
      bool first = true;
      for (const auto& [k, v] : j.items()) {
        if (!first) out.push_back(',');
        first = false;
        append_string(k, out);
        out.push_back(':');
        dump_to(v, out);
      }
      out.push_back('}');
      return;
    }
    case json::value_t::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& v : j) {
        if (!first) out.push_back(',');
        first = false;
        dump_to(v, out);
      }
      out.push_back(']');
      return;
    }
    case json::value_t::string:
      append_string(j.get_ref<const std::string&>(), out);
      return;
    case json::value_t::binary: {
      const auto& bytes = j.get_binary();
      out.append(bytes.begin(), bytes.end());
      return;
    }
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: {
      std::array<char, 24> buffer{};
      const auto end = j.is_number_unsigned()
                           ? std::to_chars(buffer.data(), buffer.data() + buffer.size(),
                                           j.get<json::number_unsigned_t>())
                           : std::to_chars(buffer.data(), buffer.data() + buffer.size(),
                                           j.get<json::number_integer_t>());
      out.append(buffer.data(), end.ptr);
      return;
    }
    case json::value_t::boolean:
      out.append(j.get<bool>() ? "true" : "false");
      return;
    case json::value_t::null:
      out.append("null");
      return;
    default:
      out += j.dump(-1, ' ', false, json::error_handler_t::strict);
  }
}

}  // namespace

json parse_json(std::string_view text, const std::string& what) {
  text = strip_bom(text);
  json root;
  StrictSax sax(root);
  bool ok = false;
  try {
    ok = json::sax_parse(text.begin(), text.end(), &sax, json::input_format_t::json, true, false);
  } catch (const nlohmann::json::exception& ex) {
    throw FormatError(what, std::string("malformed JSON: ") + ex.what());
  }
  if (!ok) {
    throw FormatError(what, "malformed JSON: " + (sax.error().empty() ? "parse failed" : sax.error()));
  }
  return root;
}

json raw_number(std::string_view text) {
  return json::binary(std::vector<std::uint8_t>(text.begin(), text.end()));
}

bool is_raw_number(const json& j) { return j.is_binary(); }

std::optional<std::string> number_text(const json& j) {
  if (j.is_number_integer()) return j.dump();
  if (j.is_binary()) {
    const auto& b = j.get_binary();
    return std::string(b.begin(), b.end());
  }
  return std::nullopt;
}

std::string dump(const json& j) {
  std::string out;
  dump_to(j, out);
  return out;
}

const json* member(const json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(std::string(key));
  return it == object.end() ? nullptr : &*it;
}

std::optional<std::string> opt_string(const json& object, std::string_view key,
                                      const std::string& what) {
  const json* m = member(object, key);
  if (m == nullptr || m->is_null()) return std::nullopt;
  if (!m->is_string()) throw FormatError(what, "\"" + std::string(key) + "\" must be a string");
  return m->get<std::string>();
}

std::string req_string(const json& object, std::string_view key, const std::string& what) {
  auto s = opt_string(object, key, what);
  if (!s) throw FormatError(what, "\"" + std::string(key) + "\" is missing");
  return *s;
}

std::optional<std::int64_t> opt_int(const json& object, std::string_view key,
                                    const std::string& what) {
  const json* m = member(object, key);
  if (m == nullptr || m->is_null()) return std::nullopt;
  if (m->is_number_unsigned() && m->get<std::uint64_t>() > INT64_MAX)
    throw FormatError(what, "\"" + std::string(key) + "\" is out of range");
  if (!m->is_number_integer())
    throw FormatError(what, "\"" + std::string(key) + "\" must be an integer");
  return m->get<std::int64_t>();
}

std::optional<std::string> opt_number(const json& object, std::string_view key,
                                      const std::string& what) {
  const json* m = member(object, key);
  if (m == nullptr || m->is_null()) return std::nullopt;
  auto t = number_text(*m);
  if (!t) throw FormatError(what, "\"" + std::string(key) + "\" must be a number");
  return t;
}

const json& req_object(const json& object, std::string_view key, const std::string& what) {
  const json* m = member(object, key);
  if (m == nullptr || !m->is_object())
    throw FormatError(what, "\"" + std::string(key) + "\" must be an object");
  return *m;
}

json str_or_null(const std::optional<std::string>& s) { return s ? json(*s) : json(nullptr); }

std::optional<std::string> model_string(const json& item, std::string_view key) {
  const json* m = member(item, key);
  if (m == nullptr || !m->is_string()) return std::nullopt;
  return m->get<std::string>();
}

}  // namespace portability::detail
