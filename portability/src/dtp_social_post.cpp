// Data Transfer Project generic social-post payload (GenericPayload wrapping SocialActivity).

#include <algorithm>
#include <span>
#include <string_view>

#include "blog_model.hpp"
#include "json_document.hpp"
#include "not_read.hpp"
#include "registry.hpp"
#include "util.hpp"

namespace portability::detail {
namespace {

// 10^n - digits, as n digits: the fraction complement for negative epochs.
std::string complement(const std::string& fraction) {
  std::string out = fraction;
  int borrow = 0;
  for (std::size_t i = out.size(); i-- > 0;) {
    int d = 0 - (out[i] - '0') - borrow;
    borrow = d < 0 ? 1 : 0;
    out[i] = static_cast<char>('0' + (d < 0 ? d + 10 : d));
  }
  return out;
}

bool zero(const std::string& digits) {
  return std::all_of(digits.begin(), digits.end(), [](char c) { return c == '0'; });
}

// DTP "published": epoch seconds as decimal text -> RFC 3339 in UTC, fraction digits kept.
std::string epoch_to_rfc3339(const std::string& text, const std::string& what) {
  if (!is_json_number(text) || text.find_first_of("eE") != std::string::npos)
    throw FormatError(what, "published is neither an RFC 3339 time nor epoch seconds: " + text);
  const bool negative = text[0] == '-';
  const std::size_t dot = text.find('.');
  auto whole = parse_int(text.substr(negative ? 1 : 0, dot == std::string::npos
                                                           ? std::string::npos
                                                           : dot - (negative ? 1 : 0)));
  if (!whole || *whole > 253402300799) throw FormatError(what, "published out of range: " + text);
  std::string fraction = dot == std::string::npos ? "" : text.substr(dot + 1);
  std::int64_t seconds = negative ? -*whole : *whole;
  if (negative && !fraction.empty() && !zero(fraction)) {
    seconds -= 1;
    fraction = complement(fraction);
  }
  return format_rfc3339(from_epoch(seconds, fraction));
}

std::string activity_id(const json& payload, const std::string& what) {
  const json& activity = req_object(req_object(payload, "payload", what), "activity", what);
  const json* id = member(activity, "id");
  if (id != nullptr && id->is_number_integer()) return id->dump();
  return req_string(activity, "id", what);
}

json e7(const json& location, const char* key, bool latitude, const std::string& what) {
  const auto text = opt_number(location, key, what);
  if (!text) throw FormatError(what, std::string("location needs ") + key);
  const auto v = decimal_to_e7(*text);
  const std::int64_t limit = latitude ? 900000000 : 1800000000;
  if (!v || *v < -limit || *v > limit) throw FormatError(what, std::string("bad ") + key);
  return *v;
}

// The members to_model reads, per object of a GenericPayload (DTP's SocialActivity classes),
// for not_read: any other member is named by its path. "@type" is read when it names the class
// expected there. The envelope's apiVersion and schemaSource describe DTP's serializer, not the
// resident's data, and from_model writes its own: they are read.
struct Shape;
struct Member {
  std::string_view name;
  const Shape* shape = nullptr;  // an object (or, with `many`, an array of them) read inside
  bool many = false;
};
struct Shape {
  std::string_view type;
  std::span<const Member> members;
  std::string_view former_type = {};  // the name an earlier DTP release gave the class
};

bool is_type_of(const Shape& shape, std::string_view type) {
  return type == shape.type || (!shape.former_type.empty() && type == shape.former_type);
}

constexpr Member kActorMembers[] = {{"@type"}, {"id"}, {"name"}, {"url"}};
constexpr Shape kActor{"SocialActivityActor", kActorMembers};
constexpr Member kMetadataMembers[] = {{"@type"}, {"actor", &kActor}};
constexpr Shape kMetadata{"SocialActivityMetadata", kMetadataMembers};
constexpr Member kAttachmentMembers[] = {{"@type"}, {"content"}, {"name"}, {"type"}, {"url"}};
constexpr Shape kAttachment{"SocialActivityAttachment", kAttachmentMembers};
constexpr Member kLocationMembers[] = {{"@type"}, {"latitude"}, {"longitude"}, {"name"}};
constexpr Shape kLocation{"SocialActivityLocation", kLocationMembers};
constexpr Member kActivityMembers[] = {{"@type"},
                                       {"attachments", &kAttachment, true},
                                       {"content"},
                                       {"id"},
                                       {"location", &kLocation},
                                       {"published"},
                                       {"title"},
                                       {"type"},
                                       {"url"}};
constexpr Shape kActivity{"SocialActivityModel", kActivityMembers};
constexpr Member kPayloadMembers[] = {
    {"@type"}, {"activity", &kActivity}, {"metadata", &kMetadata}};
// DTP's first generic importer named the payload class SocialActivityData.
constexpr Shape kPayload{"SocialActivity", kPayloadMembers, "SocialActivityData"};
constexpr Member kRootMembers[] = {
    {"@type"}, {"apiVersion"}, {"payload", &kPayload}, {"schemaSource"}};
constexpr Shape kRoot{"GenericPayload", kRootMembers};

// Names the path of each member of `object` that `shape` does not read, depth first in the
// object's (sorted) member order (attachments repeat their members: each path comes once).
// `path` is the object's path with a trailing "." (restored on return).
void list_not_read(const json& object, const Shape& shape, std::string& path, NotRead& out) {
  const std::size_t length = path.size();
  for (const auto& [key, value] : object.get_ref<const json::object_t&>()) {
    if (!holds_data(value)) continue;
    // A linear scan compares lengths first: cheaper than ordered compares for so few names.
    const auto m = std::ranges::find(shape.members, std::string_view(key), &Member::name);
    const bool known =
        m != shape.members.end() &&
        (key != "@type" ||
         (value.is_string() && is_type_of(shape, value.get_ref<const std::string&>())));
    path += key;
    if (known && m->shape != nullptr && m->many) {
      // to_model refused an attachments member that is not an array of objects.
      path += '.';
      for (const json& e : value) list_not_read(e, *m->shape, path, out);
    } else if (known && m->shape != nullptr && value.is_object()) {
      path += '.';
      list_not_read(value, *m->shape, path, out);
    } else if (!known || m->shape != nullptr) {
      // Unknown, or (metadata or actor) not an object, which to_model passes over.
      out.add(path);
    }
    path.resize(length);
  }
}

class DtpSocialPost final : public Format {
 public:
  std::string_view name() const override { return "dtp-social-post"; }
  Dataset dataset() const override { return Dataset::blog_posts; }
  std::string_view media_type() const override { return "application/json"; }

  // Every element of the array is an item (or the document is refused): split skips nothing,
  // so it has nothing to add to a not_read list.
  std::vector<NativeItem> split(std::string_view document,
                                std::vector<std::string>* /*not_read*/) const override {
    json doc = parse_json(document, "document");
    if (doc.is_object()) doc = json::array({doc});  // one GenericPayload is a one-item page
    if (!doc.is_array()) throw FormatError("document", "expected an array of GenericPayload");
    return split_items(doc, [](const json& p) { return activity_id(p, ""); });
  }

  std::string join(const std::vector<NativeItem>& items) const override {
    return join_items("[", items, "]");
  }

  Item to_model(const NativeItem& item, std::vector<std::string>* not_read) const override {
    const std::string what = item.id.empty() ? "item" : item.id;
    const json root = parse_item(item);
    const json& payload = req_object(root, "payload", what);
    if (auto t = opt_string(payload, "@type", what); t && !is_type_of(kPayload, *t))
      throw FormatError(what, "payload is not a SocialActivity");
    const json& activity = req_object(payload, "activity", what);
    json m = empty_blog_post();
    m["id"] = activity_id(root, what);
    // DTP's SocialActivityModel carries published activity only, as HTML-capable content.
    m["kind"] = opt_string(activity, "type", what).value_or("POST");
    m["title"] = opt_string(activity, "title", what).value_or("");
    m["content"] = opt_string(activity, "content", what).value_or("");
    if (const json* p = member(activity, "published"); p != nullptr && !p->is_null()) {
      auto text = p->is_string() ? std::optional<std::string>(p->get<std::string>())
                                 : number_text(*p);
      if (!text) throw FormatError(what, "published must be an RFC 3339 time or epoch seconds");
      // DTP's generic importer writes an Instant as ISO 8601 (its schema: format date-time);
      // its README's example, epoch seconds as a decimal string.
      m["published"] = parse_rfc3339(*text) ? *text : epoch_to_rfc3339(*text, what);
    }
    m["url"] = str_or_null(opt_string(activity, "url", what));
    if (const json* as = member(activity, "attachments"); as != nullptr && !as->is_null()) {
      if (!as->is_array()) throw FormatError(what, "attachments must be an array");
      for (const json& a : *as) {
        if (!a.is_object()) throw FormatError(what, "attachment must be an object");
        m["attachments"].push_back({{"kind", str_or_null(opt_string(a, "type", what))},
                                    {"media_type", nullptr},
                                    {"url", str_or_null(opt_string(a, "url", what))},
                                    {"name", str_or_null(opt_string(a, "name", what))},
                                    {"content", str_or_null(opt_string(a, "content", what))}});
      }
    }
    if (const json* loc = member(activity, "location"); loc != nullptr && !loc->is_null()) {
      if (!loc->is_object()) throw FormatError(what, "location must be an object");
      m["location"] = {{"name", str_or_null(opt_string(*loc, "name", what))},
                       {"latitude_e7", e7(*loc, "latitude", true, what)},
                       {"longitude_e7", e7(*loc, "longitude", false, what)}};
    }
    if (const json* meta = member(payload, "metadata"); meta != nullptr && meta->is_object()) {
      if (const json* actor = member(*meta, "actor"); actor != nullptr && actor->is_object()) {
        m["author"] = {{"name", str_or_null(opt_string(*actor, "name", what))},
                       {"url", str_or_null(opt_string(*actor, "url", what))},
                       {"email", nullptr},
                       {"id", str_or_null(opt_string(*actor, "id", what))}};
      }
    }
    if (not_read != nullptr) {
      std::string path;
      NotRead out(*not_read);
      list_not_read(root, kRoot, path, out);
    }
    return m;
  }

  Converted from_model(const Item& item) const override {
    const std::string id = check_blog_post(item);
    Converted out;
    auto& lost = out.not_carried;
    json activity{{"@type", "SocialActivityModel"},
                  {"id", id},
                  {"type", item["kind"]},
                  {"title", item["title"]},
                  {"content", item["content"]}};
    if (item["content_type"] != "html") lost.push_back("content_type");
    if (auto p = model_string(item, "published")) {
      // The schema's date-time, as Jackson writes an Instant: in UTC, fraction digits kept.
      const auto dt = parse_rfc3339(*p);
      activity["published"] = format_rfc3339(from_epoch(epoch_seconds(*dt), dt->fraction));
      // An Instant carries the instant, not the writer's UTC offset (RFC 3339 §4.2).
      if (!dt->utc) lost.push_back("published.offset");
    }
    if (auto u = model_string(item, "url")) activity["url"] = *u;
    if (model_string(item, "updated")) lost.push_back("updated");
    if (!item["labels"].empty()) lost.push_back("labels");
    if (item["status"] != "live") lost.push_back("status");
    if (!item["attachments"].empty()) {
      json as = json::array();
      for (const json& a : item["attachments"]) {
        json x{{"@type", "SocialActivityAttachment"}};
        for (const auto& [from, to] : {std::pair{"kind", "type"}, std::pair{"url", "url"},
                                       std::pair{"name", "name"}, std::pair{"content", "content"}}) {
          if (auto v = model_string(a, from)) x[to] = *v;
        }
        if (model_string(a, "media_type")) lost.push_back("attachments.media_type");
        as.push_back(x);
      }
      activity["attachments"] = std::move(as);
    }
    if (const json& loc = item["location"]; loc.is_object()) {
      json l{{"@type", "SocialActivityLocation"},
             {"latitude", raw_number(e7_to_decimal(loc["latitude_e7"].get<std::int64_t>()))},
             {"longitude", raw_number(e7_to_decimal(loc["longitude_e7"].get<std::int64_t>()))}};
      if (auto n = model_string(loc, "name")) l["name"] = *n;
      activity["location"] = std::move(l);
    }
    json payload{{"@type", "SocialActivity"}, {"activity", std::move(activity)}};
    if (const json& a = item["author"]; a.is_object()) {
      json actor{{"@type", "SocialActivityActor"}};
      for (const char* key : {"id", "name", "url"}) {
        if (auto v = model_string(a, key)) actor[key] = *v;
      }
      if (model_string(a, "email")) lost.push_back("author.email");
      payload["metadata"] = {{"@type", "SocialActivityMetadata"}, {"actor", std::move(actor)}};
    }
    json root{{"@type", "GenericPayload"},
              {"apiVersion", "0.1.0"},
              {"schemaSource", "SocialPostsSerializer"},
              {"payload", std::move(payload)}};
    std::sort(lost.begin(), lost.end());
    lost.erase(std::unique(lost.begin(), lost.end()), lost.end());
    out.native = {id, dump(root)};
    return out;
  }
};

}  // namespace

const Format& dtp_social_post_format() {
  static const DtpSocialPost format;
  return format;
}

}  // namespace portability::detail
