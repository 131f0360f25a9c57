#include "json_exact.hpp"

#include <array>
#include <charconv>
#include <vector>

#include "util.hpp"

namespace portability::detail {
namespace {

constexpr std::size_t kMaxDepth = 64;

// A strict RFC 8259 reader that builds the DOM directly (nlohmann's lexer copies every
// character into a token buffer one push_back at a time; pages of JSON are the broker's and
// the services' hot path). Values are what nlohmann's parser would give: non-negative
// integers as number_unsigned, negative ones as number_integer, and numbers with a fraction,
// an exponent or out of 64-bit range as their exact text (raw_number).
class Reader {
 public:
  explicit Reader(std::string_view text) : s_(text) {}

  json document() {
    skip_space();
    json root = value(0);
    skip_space();
    if (i_ != s_.size()) fail("unexpected data after the JSON value");
    return root;
  }

  struct Error {
    std::string message;
  };

 private:
  [[noreturn]] void fail(const std::string& message) const {
    throw Error{message + " at byte " + std::to_string(i_)};
  }

  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t'))
      ++i_;
  }

  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }

  void expect_word(std::string_view word) {
    if (s_.compare(i_, word.size(), word) != 0) fail("invalid literal");
    i_ += word.size();
  }

  json value(std::size_t depth) {
    if (i_ >= s_.size()) fail("unexpected end of input");
    switch (s_[i_]) {
      case '{': return object(depth);
      case '[': return array(depth);
      case '"': return json(string());
      case 't': expect_word("true"); return json(true);
      case 'f': expect_word("false"); return json(false);
      case 'n': expect_word("null"); return json(nullptr);
      default: return number();
    }
  }

  json object(std::size_t depth) {
    if (depth >= kMaxDepth) fail("nesting too deep");
    ++i_;
    json out = json::object();
    auto& members = out.get_ref<json::object_t&>();
    skip_space();
    if (peek() == '}') {
      ++i_;
      return out;
    }
    for (;;) {
      skip_space();
      if (peek() != '"') fail("expected a member name");
      std::string key = string();
      skip_space();
      if (peek() != ':') fail("expected ':'");
      ++i_;
      skip_space();
      const auto at = i_;
      auto [it, inserted] = members.emplace(std::move(key), json());
      if (!inserted) {
        i_ = at;
        fail("duplicate member name \"" + it->first + "\"");
      }
      it->second = value(depth + 1);
      skip_space();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() == '}') {
        ++i_;
        return out;
      }
      fail("expected ',' or '}'");
    }
  }

  json array(std::size_t depth) {
    if (depth >= kMaxDepth) fail("nesting too deep");
    ++i_;
    json out = json::array();
    auto& elements = out.get_ref<json::array_t&>();
    skip_space();
    if (peek() == ']') {
      ++i_;
      return out;
    }
    for (;;) {
      skip_space();
      elements.push_back(value(depth + 1));
      skip_space();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() == ']') {
        ++i_;
        return out;
      }
      fail("expected ',' or ']'");
    }
  }

  unsigned hex4() {
    if (i_ + 4 > s_.size()) fail("truncated \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<unsigned>(c - 'A' + 10);
      else fail("invalid \\u escape");
    }
    return v;
  }

  static void put_utf8(std::uint32_t cp, std::string& out) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // At the opening quote; leaves i_ after the closing one.
  std::string string() {
    ++i_;
    std::string out;
    for (;;) {
      // A run without quote, backslash or control character is copied whole (after its
      // UTF-8 is checked).
      const std::size_t run = i_;
      while (i_ < s_.size()) {
        const auto c = static_cast<unsigned char>(s_[i_]);
        if (c == '"' || c == '\\' || c < 0x20) break;
        ++i_;
      }
      const std::string_view chunk = s_.substr(run, i_ - run);
      if (!valid_utf8(chunk)) {
        i_ = run;
        fail("invalid UTF-8 in a string");
      }
      out.append(chunk);
      if (i_ >= s_.size()) fail("unterminated string");
      const char c = s_[i_];
      if (c == '"') {
        ++i_;
        return out;
      }
      if (c != '\\') fail("control character in a string");
      ++i_;
      if (i_ >= s_.size()) fail("unterminated string");
      switch (s_[i_++]) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          std::uint32_t cp = hex4();
          if (cp >= 0xDC00 && cp <= 0xDFFF) fail("lone low surrogate");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (s_.compare(i_, 2, "\\u") != 0) fail("high surrogate without a low one");
            i_ += 2;
            const std::uint32_t low = hex4();
            if (low < 0xDC00 || low > 0xDFFF) fail("high surrogate without a low one");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          put_utf8(cp, out);
          break;
        }
        default:
          --i_;
          fail("invalid escape");
      }
    }
  }

  static bool digit(char c) { return c >= '0' && c <= '9'; }

  json number() {
    const std::size_t start = i_;
    const bool negative = peek() == '-';
    if (negative) ++i_;
    if (peek() == '0') {
      ++i_;
    } else if (digit(peek())) {
      while (digit(peek())) ++i_;
    } else {
      fail("invalid value");
    }
    bool integer = true;
    if (peek() == '.') {
      integer = false;
      ++i_;
      if (!digit(peek())) fail("invalid number");
      while (digit(peek())) ++i_;
    }
    if (peek() == 'e' || peek() == 'E') {
      integer = false;
      ++i_;
      if (peek() == '+' || peek() == '-') ++i_;
      if (!digit(peek())) fail("invalid number");
      while (digit(peek())) ++i_;
    }
    const std::string_view text = s_.substr(start, i_ - start);
    if (integer) {
      const char* first = text.data();
      const char* last = text.data() + text.size();
      if (negative) {
        json::number_integer_t v = 0;
        if (std::from_chars(first, last, v).ec == std::errc()) return json(v);
      } else {
        json::number_unsigned_t v = 0;
        if (std::from_chars(first, last, v).ec == std::errc()) return json(v);
      }
    }
    // A fraction, an exponent, or beyond 64 bits: kept as its exact text, whatever its
    // magnitude (RFC 8259 §6 sets no range; nothing here converts it to a double).
    return raw_number(text);
  }

  std::string_view s_;
  std::size_t i_ = 0;
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
  try {
    return Reader(strip_bom(text)).document();
  } catch (const Reader::Error& error) {
    throw FormatError(what, "malformed JSON: " + error.message);
  }
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
