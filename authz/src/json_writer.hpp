#pragma once

// Private to authz: JSON text written directly, for the documents made on every request.

#include <cstdint>
#include <string>
#include <string_view>

namespace authz {

/// Appends `s` as a JSON string exactly as nlohmann::json::dump writes it without ensure_ascii
/// (the short escapes, \u00XX in lower-case hex for other control characters, everything else
/// as is). False, with nothing appended, if `s` is not valid UTF-8.
bool append_json_string(std::string& out, std::string_view s);

/// A JSON object written member by member, in the order added: what building an
/// nlohmann::json and dumping it gives, without the tree (token claims, token responses, JWS
/// headers; on the token endpoint that tree cost as much as everything but the signature).
/// Names are written as given, so they must need no escaping (the constants of a protocol).
/// A value that is not valid UTF-8 throws std::invalid_argument, as dump() throws.
class JsonObject {
 public:
  JsonObject() : out_("{") {}

  JsonObject& add(std::string_view name, std::string_view value);
  JsonObject& add(std::string_view name, std::int64_t value);
  /// `json` is one JSON value already serialised (by nlohmann or by another JsonObject).
  JsonObject& add_json(std::string_view name, std::string_view json);

  /// Closes the object and hands out its text; the writer is spent.
  std::string str();

 private:
  void name(std::string_view name);

  std::string out_;
};

}  // namespace authz
