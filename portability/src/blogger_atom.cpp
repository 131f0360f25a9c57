// Blogger export (Atom, RFC 4287), classic and Takeout forms.

#include <algorithm>
#include <array>
#include <cctype>
#include <initializer_list>
#include <optional>
#include <sstream>
#include <utility>

#include "blog_model.hpp"
#include "not_read.hpp"
#include "registry.hpp"
#include "util.hpp"
#include "xml_util.hpp"

namespace portability::detail {
namespace {

constexpr const char* kAtom = "http://www.w3.org/2005/Atom";
constexpr const char* kKindScheme = "http://schemas.google.com/g/2005#kind";
constexpr const char* kKindPost = "http://schemas.google.com/blogger/2008/kind#post";
constexpr const char* kLabelScheme = "http://www.blogger.com/atom/ns#";
constexpr const char* kBlogger2018 = "http://schemas.google.com/blogger/2018";
constexpr const char* kApp = "http://www.w3.org/2007/app";  // RFC 5023 §13.1.1 app:draft
constexpr const char* kAppOld = "http://purl.org/atom/app#";  // pre-RFC, older Blogger exports
constexpr const char* kGeoRss = "http://www.georss.org/georss";

enum class EntryKind { post, other, unknown };

// The classic form's kind: the first category in the kind scheme.
pugi::xml_node kind_category(pugi::xml_node entry) {
  for (pugi::xml_node c : entry.children()) {
    if (is_element(c, kAtom, "category") &&
        std::string_view(c.attribute("scheme").value()) == kKindScheme) {
      return c;
    }
  }
  return {};
}

// Classic form: the kind category; Takeout form: <blogger:type>.
EntryKind kind_of(pugi::xml_node entry) {
  if (pugi::xml_node t = first_child(entry, kBlogger2018, "type")) {
    return text_of(t) == "POST" ? EntryKind::post : EntryKind::other;
  }
  if (pugi::xml_node kind = kind_category(entry)) {
    const std::string_view term = kind.attribute("term").value();
    return term == kKindPost ? EntryKind::post : EntryKind::other;
  }
  return EntryKind::unknown;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

json timestamp(pugi::xml_node entry, const char* local, const std::string& what) {
  pugi::xml_node n = first_child(entry, kAtom, local);
  if (!n) return nullptr;
  std::string t = text_of(n);
  // RFC 4287 §3.3: Date constructs are RFC 3339 date-times.
  if (!parse_rfc3339(t)) throw FormatError(what, std::string(local) + " is not RFC 3339: " + t);
  return t;
}

json coordinate(const std::string& text, bool latitude, const std::string& what) {
  auto e7 = decimal_to_e7(text);
  const std::int64_t limit = latitude ? 900000000 : 1800000000;
  if (!e7 || *e7 < -limit || *e7 > limit)
    throw FormatError(what, std::string("bad ") + (latitude ? "latitude" : "longitude") + ": " +
                                text);
  return *e7;
}

constexpr const char* kXml = "http://www.w3.org/XML/1998/namespace";

// Conventional prefixes of the namespaces Blogger entries use: a part is named the same
// whatever prefix a document happens to declare for its namespace.
constexpr std::pair<std::string_view, std::string_view> kPrefixes[] = {
    {kApp, "app"},
    {kAppOld, "app"},
    {kBlogger2018, "blogger"},
    {"http://schemas.google.com/g/2005", "gd"},
    {kGeoRss, "georss"},
    {"http://search.yahoo.com/mrss/", "media"},
    {"http://purl.org/syndication/thread/1.0", "thr"},
    {kXml, "xml"}};

// An element's name in a not_read list: its local name in Atom, "prefix:local" with the
// conventional prefix otherwise; in an unknown namespace the prefix as written, or the URI in
// braces when it has none ("{urn:x}foo").
std::string part_name(pugi::xml_node element) {
  const std::string_view uri = element_uri(element);
  const std::string_view local = local_name(element);
  if (uri == kAtom) return std::string(local);
  for (const auto& [ns, prefix] : kPrefixes) {
    if (uri == ns) return std::string(prefix) + ":" + std::string(local);
  }
  const std::string_view qname = element.name();
  if (qname.size() != local.size()) return std::string(qname);
  return "{" + std::string(uri) + "}" + std::string(local);
}

// An attribute's name: "@name" when unprefixed (no namespace), "@prefix:local" otherwise,
// with the conventional prefix of the namespace its prefix is bound to at `owner`.
std::string attribute_name(pugi::xml_node owner, std::string_view qname) {
  const std::size_t colon = qname.find(':');
  if (colon == std::string_view::npos) return "@" + std::string(qname);
  const std::string_view uri = bound_uri(owner, qname.substr(0, colon));
  for (const auto& [ns, conventional] : kPrefixes) {
    if (uri == ns) return "@" + std::string(conventional) + std::string(qname.substr(colon));
  }
  return "@" + std::string(qname);
}

// The attributes of `element` other than namespace declarations and `read`, as
// "<where><where_tail>/@name" ("@name" for the entry's own). The name is put together only
// when there is one to add: mostly there is none.
void unread_attributes(NotRead& out, pugi::xml_node element, std::string_view where,
                       std::initializer_list<std::string_view> read = {},
                       std::string_view where_tail = {}) {
  for (pugi::xml_attribute a = element.first_attribute(); a; a = a.next_attribute()) {
    const std::string_view name = a.name();
    if (name == "xmlns" || name.rfind("xmlns:", 0) == 0) continue;
    if (std::find(read.begin(), read.end(), name) != read.end()) continue;
    std::string part(where);
    part += where_tail;
    if (!part.empty()) part += '/';
    out.add(part + attribute_name(element, name));
  }
}

// The child elements of `element` other than those named `read` in namespace `ns`, as
// "<where>/name".
void unread_children(NotRead& out, pugi::xml_node element, std::string_view where,
                     std::string_view ns, std::initializer_list<std::string_view> read) {
  for (pugi::xml_node c : element.children()) {
    if (c.type() != pugi::node_element) continue;
    if (std::find(read.begin(), read.end(), local_name(c)) != read.end() && element_uri(c) == ns)
      continue;
    out.add(std::string(where) + "/" + part_name(c));
  }
}

// What of `entry` to_model left out of the model `m` (docs/portability.md, blogger-atom), in
// document order. It follows to_model's reading: an element to_model reads only the first of
// (a second <author>, say) is listed when it repeats, and so is <blogger:location> when a
// georss:point gave the location. rel="self" and rel="edit" links are not listed: they are the
// source's addresses for its own copy of the entry, which mean nothing once it is deleted.
void list_not_read(pugi::xml_node entry, const json& m, std::vector<std::string>& out) {
  NotRead parts(out);
  unread_attributes(parts, entry, "");
  // Elements to_model reads only the first of.
  enum Once { id, title, content, published, updated, author, status, type, point, featurename,
              location, control, control_old, count };
  std::array<bool, count> seen{};
  auto first_time = [&](Once e) { return !std::exchange(seen[e], true); };
  // Asked only of the elements it decides for: first_child is not free.
  auto has_point = [&] { return static_cast<bool>(first_child(entry, kGeoRss, "point")); };
  bool url_taken = false;
  for (pugi::xml_node c : entry.children()) {
    if (c.type() != pugi::node_element) continue;
    const std::string_view uri = element_uri(c);
    const std::string_view local = local_name(c);
    std::optional<Once> once;
    if (uri == kAtom) {
      if (local == "id") {
        once = id;
      } else if (local == "title" || local == "content") {
        // A content src attribute is refused before this.
        if (first_time(local == "title" ? title : content)) {
          unread_attributes(parts, c, local, {"type"});
        } else {
          parts.add(std::string(local));
        }
        continue;
      } else if (local == "published" || local == "updated") {
        once = local == "published" ? published : updated;
      } else if (local == "category") {
        // The kind category and label categories are read whole; another scheme's term
        // becomes a label without its scheme.
        const std::string_view scheme = c.attribute("scheme").value();
        const bool known = scheme.empty() || scheme == kKindScheme || scheme == kLabelScheme;
        if (known) {
          unread_attributes(parts, c, "category", {"term", "scheme"});
        } else {
          unread_attributes(parts, c, "category", {"term"});
        }
        continue;
      } else if (local == "link") {
        // Read like to_model: no rel means "alternate" (RFC 4287 §4.2.7.2); the first HTML
        // alternate is the url, every enclosure an attachment.
        std::string_view rel = c.attribute("rel").value();
        if (rel.empty()) rel = "alternate";
        const std::string_view link_type = c.attribute("type").value();
        if (rel == "alternate" && !url_taken && (link_type.empty() || link_type == "text/html")) {
          url_taken = true;
          // Blogger repeats the post's title on its alternate link: that title is carried.
          const bool same_title = m["title"] == c.attribute("title").value();
          if (same_title) {
            unread_attributes(parts, c, "link rel=", {"rel", "type", "href", "title"}, rel);
          } else {
            unread_attributes(parts, c, "link rel=", {"rel", "type", "href"}, rel);
          }
        } else if (rel == "enclosure") {
          unread_attributes(parts, c, "link rel=", {"rel", "type", "href", "title"}, rel);
        } else if (rel != "self" && rel != "edit") {
          parts.add("link rel=" + std::string(rel));
        }
        continue;
      } else if (local == "author") {
        if (!first_time(author)) {
          parts.add("author");
          continue;
        }
        unread_attributes(parts, c, "author");
        unread_children(parts, c, "author", kAtom, {"name", "uri", "email"});
        continue;
      }
    } else if (uri == kBlogger2018) {
      if (local == "status" || local == "type") {
        once = local == "status" ? status : type;
      } else if (local == "location" && !has_point()) {
        if (!first_time(location)) {
          parts.add("blogger:location");
          continue;
        }
        unread_attributes(parts, c, "blogger:location");
        unread_children(parts, c, "blogger:location", kBlogger2018,
                        {"name", "latitude", "longitude"});
        continue;
      }
    } else if (uri == kGeoRss) {
      if (local == "point") once = point;
      if (local == "featurename" && has_point()) once = featurename;
    } else if ((uri == kApp || uri == kAppOld) && local == "control") {
      // Read for its draft flag even when <blogger:status> says the same thing.
      if (!first_time(uri == kApp ? control : control_old)) {
        parts.add("app:control");
        continue;
      }
      unread_attributes(parts, c, "app:control");
      unread_children(parts, c, "app:control", uri, {"draft"});
      continue;
    }
    if (once && first_time(*once)) {
      if (c.first_attribute()) unread_attributes(parts, c, part_name(c));
    } else {
      parts.add(part_name(c));
    }
  }
}

// ---- what split skips of a feed (Format::split's not_read) ----

// The feed's own bookkeeping, read rather than listed: its id, when it was written, the
// software that wrote it, and its links (the source's addresses for the blog and the feed,
// which mean nothing once the posts are deleted there, like an entry's rel="self"). join
// writes its own id and updated.
constexpr std::string_view kFeedRead[] = {"generator", "id", "link", "updated"};

// A skipped entry's name: its kind as the export writes it, "entry kind=comment" (classic:
// the kind category's term, without Blogger's kind namespace when it is in it) or
// "entry blogger:type=COMMENT" (Takeout).
std::string skipped_entry(pugi::xml_node entry) {
  if (pugi::xml_node t = first_child(entry, kBlogger2018, "type")) {
    return "entry " + part_name(t) + "=" + text_of(t);
  }
  constexpr std::string_view kKinds = "http://schemas.google.com/blogger/2008/kind#";
  std::string_view term = kind_category(entry).attribute("term").value();
  if (term.starts_with(kKinds)) term.remove_prefix(kKinds.size());
  return "entry kind=" + std::string(term);
}

// Names what a feed holds outside its posts, in document order: the feed's attributes
// ("feed/@xml:lang"), its elements other than the bookkeeping above and the entries
// ("feed/title", "feed/author": the blog's name and owner), and the entries of other kinds
// (settings, comments, templates, pages), by kind. An element that holds nothing (join's
// `<title type="text"/>`) is left out.
void list_skipped(pugi::xml_node feed, std::vector<std::string>& out) {
  NotRead parts(out);
  unread_attributes(parts, feed, "feed");
  for (pugi::xml_node c : feed.children()) {
    if (c.type() != pugi::node_element) continue;
    if (element_uri(c) == kAtom) {
      const std::string_view local = local_name(c);
      if (local == "entry") {
        if (kind_of(c) == EntryKind::other) parts.add(skipped_entry(c));
        continue;
      }
      if (among(kFeedRead, local)) continue;
    }
    if (has_content(c, {"type"})) parts.add("feed/" + part_name(c));
  }
}

class BloggerAtom final : public Format {
 public:
  std::string_view name() const override { return "blogger-atom"; }
  Dataset dataset() const override { return Dataset::blog_posts; }
  std::string_view media_type() const override { return "application/atom+xml"; }

  std::vector<NativeItem> split(std::string_view document,
                                std::vector<std::string>* not_read) const override {
    auto doc = parse_xml(document, "document");
    pugi::xml_node feed = doc->document_element();
    if (!is_element(feed, kAtom, "feed")) throw FormatError("document", "not an Atom feed");
    std::vector<NativeItem> items;
    std::size_t position = 0;
    for (pugi::xml_node entry : feed.children()) {
      if (!is_element(entry, kAtom, "entry")) continue;
      ++position;
      const std::string id = text_of(first_child(entry, kAtom, "id"));
      const std::string what = id.empty() ? "entry " + std::to_string(position) : id;
      switch (kind_of(entry)) {
        case EntryKind::other:
          continue;  // settings, comments, templates, pages: not blog posts
        case EntryKind::unknown:
          throw FormatError(what, "entry has neither a Blogger kind category nor blogger:type");
        case EntryKind::post:
          break;
      }
      // RFC 4287 §4.1.2: atom:entry MUST contain exactly one atom:id.
      if (id.empty()) throw FormatError(what, "entry has no atom:id");
      items.push_back({id, serialize_standalone(entry)});
    }
    // Last, so that a document refused above adds nothing to the list.
    if (not_read != nullptr) list_skipped(feed, *not_read);
    return items;
  }

  std::string join(const std::vector<NativeItem>& items) const override {
    pugi::xml_document doc;
    pugi::xml_node feed = doc.append_child("feed");
    feed.append_attribute("xmlns") = kAtom;
    std::string ids;
    std::string latest;
    std::int64_t latest_epoch = 0;
    std::vector<std::unique_ptr<pugi::xml_document>> parsed;
    for (const NativeItem& item : items) {
      parsed.push_back(parse_xml(item.text, item.id));
      pugi::xml_node entry = parsed.back()->document_element();
      if (!is_element(entry, kAtom, "entry")) throw FormatError(item.id, "not an Atom entry");
      ids += item.id + "\n";
      for (const char* local : {"updated", "published"}) {
        const std::string t = text_of(first_child(entry, kAtom, local));
        if (auto dt = parse_rfc3339(t)) {
          if (latest.empty() || epoch_seconds(*dt) > latest_epoch) {
            latest = t;
            latest_epoch = epoch_seconds(*dt);
          }
          break;
        }
      }
    }
    // RFC 4287 §4.1.1: a feed MUST have id, title and updated. The id is derived from the
    // items so that the same page always gets the same id.
    feed.append_child("id").text().set(("urn:infobank:blogger-atom:" + sha256_hex(ids)).c_str());
    pugi::xml_node title = feed.append_child("title");
    title.append_attribute("type") = "text";
    feed.append_child("updated").text().set(
        (latest.empty() ? std::string("1970-01-01T00:00:00Z") : latest).c_str());
    for (const auto& d : parsed) feed.append_copy(d->document_element());
    std::ostringstream out;
    doc.save(out, "", pugi::format_raw, pugi::encoding_utf8);
    return out.str();
  }

  Item to_model(const NativeItem& item, std::vector<std::string>* not_read) const override {
    const std::string what = item.id.empty() ? "item" : item.id;
    auto doc = parse_xml(item.text, what);
    pugi::xml_node entry = doc->document_element();
    if (!is_element(entry, kAtom, "entry")) throw FormatError(what, "not an Atom entry");
    json m = empty_blog_post();
    const std::string id = text_of(first_child(entry, kAtom, "id"));
    if (id.empty()) throw FormatError(what, "entry has no atom:id");
    m["id"] = id;
    if (kind_of(entry) != EntryKind::post) throw FormatError(what, "entry is not a blog post");

    if (pugi::xml_node status = first_child(entry, kBlogger2018, "status")) {
      m["status"] = lower(text_of(status));  // LIVE, DRAFT, SCHEDULED, SOFT_TRASHED ...
    } else {
      for (const char* ns : {kApp, kAppOld}) {
        pugi::xml_node control = first_child(entry, ns, "control");
        if (control && text_of(first_child(control, ns, "draft")) == "yes") m["status"] = "draft";
      }
    }

    if (pugi::xml_node title = first_child(entry, kAtom, "title")) {
      // RFC 4287 §3.1.1: text, html or xhtml (a div wrapper holding the markup).
      const std::string_view type = title.attribute("type").value();
      m["title"] = type == "xhtml" ? inner_xml(title.first_child()) : text_of(title);
    }
    if (pugi::xml_node content = first_child(entry, kAtom, "content")) {
      if (content.attribute("src")) throw FormatError(what, "out-of-line content is not supported");
      std::string type = content.attribute("type").value();
      if (type.empty()) type = "text";
      if (type == "xhtml") {
        pugi::xml_node div = first_child(content, "http://www.w3.org/1999/xhtml", "div");
        if (!div) throw FormatError(what, "xhtml content without an XHTML div (RFC 4287 §4.1.3.3)");
        m["content"] = inner_xml(div);
      } else if (type == "text" || type == "html") {
        m["content"] = text_of(content);
      } else {
        throw FormatError(what, "unsupported content type " + type);
      }
      m["content_type"] = type;
    } else {
      m["content_type"] = "text";
    }
    m["published"] = timestamp(entry, "published", what);
    m["updated"] = timestamp(entry, "updated", what);

    for (pugi::xml_node c : entry.children()) {
      if (is_element(c, kAtom, "category") &&
          std::string_view(c.attribute("scheme").value()) != kKindScheme) {
        m["labels"].push_back(c.attribute("term").value());
      }
      if (is_element(c, kAtom, "link")) {
        // RFC 4287 §4.2.7.2: no rel means "alternate".
        std::string_view rel = c.attribute("rel").value();
        if (rel.empty()) rel = "alternate";
        const std::string_view type = c.attribute("type").value();
        if (rel == "alternate" && m["url"].is_null() && (type.empty() || type == "text/html")) {
          m["url"] = c.attribute("href").value();
        } else if (rel == "enclosure") {
          json a{{"kind", nullptr}, {"media_type", nullptr}, {"url", c.attribute("href").value()},
                 {"name", nullptr}, {"content", nullptr}};
          if (c.attribute("type")) a["media_type"] = c.attribute("type").value();
          if (c.attribute("title")) a["name"] = c.attribute("title").value();
          m["attachments"].push_back(a);
        }
      }
    }
    if (pugi::xml_node author = first_child(entry, kAtom, "author")) {
      json a{{"name", nullptr}, {"url", nullptr}, {"email", nullptr}, {"id", nullptr}};
      if (pugi::xml_node n = first_child(author, kAtom, "name")) a["name"] = text_of(n);
      if (pugi::xml_node n = first_child(author, kAtom, "uri")) a["url"] = text_of(n);
      if (pugi::xml_node n = first_child(author, kAtom, "email")) a["email"] = text_of(n);
      m["author"] = a;
    }
    if (pugi::xml_node point = first_child(entry, kGeoRss, "point")) {
      // GeoRSS Simple: "lat lon" in decimal degrees.
      std::istringstream in(text_of(point));
      std::string lat, lon, extra;
      if (!(in >> lat >> lon) || (in >> extra)) throw FormatError(what, "bad georss:point");
      json loc{{"name", nullptr},
               {"latitude_e7", coordinate(lat, true, what)},
               {"longitude_e7", coordinate(lon, false, what)}};
      if (pugi::xml_node n = first_child(entry, kGeoRss, "featurename")) loc["name"] = text_of(n);
      m["location"] = loc;
    } else if (pugi::xml_node l = first_child(entry, kBlogger2018, "location")) {
      json loc{{"name", nullptr},
               {"latitude_e7", coordinate(text_of(first_child(l, kBlogger2018, "latitude")), true, what)},
               {"longitude_e7",
                coordinate(text_of(first_child(l, kBlogger2018, "longitude")), false, what)}};
      if (pugi::xml_node n = first_child(l, kBlogger2018, "name")) loc["name"] = text_of(n);
      m["location"] = loc;
    }
    if (not_read != nullptr) list_not_read(entry, m, *not_read);
    return m;
  }

  Converted from_model(const Item& item) const override {
    const std::string id = check_blog_post(item);
    Converted out;
    auto& lost = out.not_carried;
    pugi::xml_document doc;
    pugi::xml_node e = doc.append_child("entry");
    e.append_attribute("xmlns") = kAtom;
    e.append_child("id").text().set(id.c_str());
    const auto published = model_string(item, "published");
    auto updated = model_string(item, "updated");
    if (published) e.append_child("published").text().set(published->c_str());
    // RFC 4287 §4.1.2: atom:updated is required; without one, the post was last changed when
    // it was published.
    if (!updated) updated = published;
    if (!updated) throw FormatError(id, "Atom needs updated or published (RFC 4287 §4.1.2)");
    e.append_child("updated").text().set(updated->c_str());

    pugi::xml_node kind = e.append_child("category");
    kind.append_attribute("scheme") = kKindScheme;
    kind.append_attribute("term") = kKindPost;
    if (item["kind"] != "POST") lost.push_back("kind");
    for (const json& label : item["labels"]) {
      if (!label.is_string()) throw FormatError(id, "labels must be strings");
      pugi::xml_node c = e.append_child("category");
      c.append_attribute("scheme") = kLabelScheme;
      c.append_attribute("term") = label.get<std::string>().c_str();
    }
    pugi::xml_node title = e.append_child("title");
    title.append_attribute("type") = "text";
    title.text().set(item["title"].get<std::string>().c_str());

    const std::string content_type = item["content_type"].get<std::string>();
    pugi::xml_node content = e.append_child("content");
    content.append_attribute("type") = content_type.c_str();
    if (content_type == "xhtml") {
      pugi::xml_document frag;
      const std::string wrapped = "<div xmlns=\"http://www.w3.org/1999/xhtml\">" +
                                  item["content"].get<std::string>() + "</div>";
      if (!frag.load_buffer(wrapped.data(), wrapped.size(), pugi::parse_default,
                            pugi::encoding_utf8)) {
        throw FormatError(id, "xhtml content is not well-formed");
      }
      content.append_copy(frag.document_element());
    } else if (content_type == "html" || content_type == "text") {
      content.text().set(item["content"].get<std::string>().c_str());
    } else {
      throw FormatError(id, "unknown content_type " + content_type);
    }

    if (auto url = model_string(item, "url")) {
      pugi::xml_node link = e.append_child("link");
      link.append_attribute("rel") = "alternate";
      link.append_attribute("type") = "text/html";
      link.append_attribute("href") = url->c_str();
    }
    for (const json& a : item["attachments"]) {
      const auto url = model_string(a, "url");
      if (!url) {
        lost.push_back("attachments");
        continue;
      }
      // RFC 4287 §4.2.7.2: rel="enclosure" for related resources that may be large.
      pugi::xml_node link = e.append_child("link");
      link.append_attribute("rel") = "enclosure";
      link.append_attribute("href") = url->c_str();
      if (auto t = model_string(a, "media_type")) link.append_attribute("type") = t->c_str();
      if (auto t = model_string(a, "name")) link.append_attribute("title") = t->c_str();
      if (model_string(a, "kind")) lost.push_back("attachments.kind");
      if (model_string(a, "content")) lost.push_back("attachments.content");
    }
    if (const json& author = item["author"]; author.is_object()) {
      pugi::xml_node a = e.append_child("author");
      a.append_child("name").text().set(model_string(author, "name").value_or("").c_str());
      if (auto u = model_string(author, "url")) a.append_child("uri").text().set(u->c_str());
      if (auto m = model_string(author, "email")) a.append_child("email").text().set(m->c_str());
      if (model_string(author, "id")) lost.push_back("author.id");
    }
    const std::string status = item["status"].get<std::string>();
    if (status != "live") {
      // RFC 5023 §13.1.1: app:draft "yes" keeps the entry unpublished.
      pugi::xml_node control = e.append_child("app:control");
      control.append_attribute("xmlns:app") = kApp;
      control.append_child("app:draft").text().set("yes");
      if (status != "draft") lost.push_back("status");
    }
    if (const json& loc = item["location"]; loc.is_object()) {
      if (!loc["latitude_e7"].is_number_integer() || !loc["longitude_e7"].is_number_integer())
        throw FormatError(id, "location needs integer latitude_e7 and longitude_e7");
      if (auto n = model_string(loc, "name")) {
        pugi::xml_node f = e.append_child("georss:featurename");
        f.append_attribute("xmlns:georss") = kGeoRss;
        f.text().set(n->c_str());
      }
      pugi::xml_node p = e.append_child("georss:point");
      p.append_attribute("xmlns:georss") = kGeoRss;
      p.text().set((e7_to_decimal(loc["latitude_e7"].get<std::int64_t>()) + " " +
                    e7_to_decimal(loc["longitude_e7"].get<std::int64_t>()))
                       .c_str());
    }
    // XML cannot hold them: said, not written as references a conforming reader refuses.
    if (drop_forbidden_controls(doc)) lost.push_back("text.control_characters");
    std::ostringstream text;
    doc.save(text, "", pugi::format_raw | pugi::format_no_declaration, pugi::encoding_utf8);
    std::sort(lost.begin(), lost.end());
    lost.erase(std::unique(lost.begin(), lost.end()), lost.end());
    out.native = {id, text.str()};
    return out;
  }
};

}  // namespace

const Format& blogger_atom_format() {
  static const BloggerAtom format;
  return format;
}

}  // namespace portability::detail
