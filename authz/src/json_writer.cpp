#include "json_writer.hpp"

#include <stdexcept>

#include "internal.hpp"

namespace authz {

bool append_json_string(std::string& out, std::string_view s) {
  if (!valid_utf8(s)) return false;
  out.push_back('"');
  std::size_t run = 0;  // start of the bytes not yet copied
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    out.append(s.data() + run, i - run);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: {
        constexpr char kHex[] = "0123456789abcdef";
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
      }
    }
    run = ++i;
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
  return true;
}

void JsonObject::name(std::string_view name) {
  if (out_.size() > 1) out_.push_back(',');
  out_.push_back('"');
  out_ += name;
  out_ += "\":";
}

JsonObject& JsonObject::add(std::string_view name, std::string_view value) {
  this->name(name);
  if (!append_json_string(out_, value)) throw std::invalid_argument("JSON text must be UTF-8");
  return *this;
}

JsonObject& JsonObject::add(std::string_view name, std::int64_t value) {
  this->name(name);
  out_ += std::to_string(value);
  return *this;
}

JsonObject& JsonObject::add_json(std::string_view name, std::string_view json) {
  this->name(name);
  out_ += json;
  return *this;
}

std::string JsonObject::str() {
  out_.push_back('}');
  return std::move(out_);
}

}  // namespace authz
