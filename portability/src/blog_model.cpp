#include "blog_model.hpp"

#include "util.hpp"

namespace portability::detail {

json empty_blog_post() {
  // Built once: copying a finished object is much cheaper than building it from an
  // initializer list each time (one per item converted).
  static const json kEmpty = json{{"id", ""},
                                  {"kind", "POST"},
                                  {"title", ""},
                                  {"content", ""},
                                  {"content_type", "html"},
                                  {"published", nullptr},
                                  {"updated", nullptr},
                                  {"labels", json::array()},
                                  {"url", nullptr},
                                  {"author", nullptr},
                                  {"status", "live"},
                                  {"attachments", json::array()},
                                  {"location", nullptr}};
  return kEmpty;
}

std::string check_blog_post(const json& item) {
  if (!item.is_object()) throw FormatError("", "blog post model must be an object");
  const json* id = member(item, "id");
  if (id == nullptr || !id->is_string() || id->get<std::string>().empty())
    throw FormatError("", "blog post model needs a non-empty \"id\"");
  const std::string name = id->get<std::string>();
  for (const char* key : {"title", "content", "content_type", "status", "kind"}) {
    const json* m = member(item, key);
    if (m == nullptr || !m->is_string())
      throw FormatError(name, std::string("model field \"") + key + "\" must be a string");
  }
  for (const char* key : {"published", "updated"}) {
    const json* m = member(item, key);
    if (m != nullptr && !m->is_null() &&
        (!m->is_string() || !parse_rfc3339(m->get<std::string>())))
      throw FormatError(name, std::string("model field \"") + key + "\" must be RFC 3339");
  }
  for (const char* key : {"labels", "attachments"}) {
    const json* m = member(item, key);
    if (m == nullptr || !m->is_array())
      throw FormatError(name, std::string("model field \"") + key + "\" must be an array");
  }
  return name;
}

}  // namespace portability::detail
