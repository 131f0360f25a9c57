#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace portability {

/// The four kinds of data a transfer moves. Each has one common model (docs/portability.md,
/// "The common model") that every native format converts to and from.
enum class Dataset { blog_posts, calendar_events, health_records, location_points };

std::string_view to_string(Dataset dataset);
std::optional<Dataset> parse_dataset(std::string_view name);

/// One item in the common model: a JSON object whose fields are fixed per dataset.
using Item = nlohmann::json;

/// A native item or document that cannot be read. `item` names it (its native id, or its
/// position "item 3" / "line 12" when it has none) so the transfer report can say which.
class FormatError : public std::runtime_error {
 public:
  FormatError(std::string item, const std::string& message)
      : std::runtime_error(item.empty() ? message : item + ": " + message),
        item_(std::move(item)) {}
  const std::string& item() const { return item_; }

 private:
  std::string item_;
};

/// One item in its native form: a self-contained fragment of the native format (an Atom
/// <entry>, a VEVENT block, a HealthKit <Record>, a JSON object ...) and its native id.
struct NativeItem {
  std::string id;
  std::string text;
};

/// What from_model produced, and the model fields the native format cannot carry
/// (e.g. "labels", "metadata.HKWasUserEntered"): the transfer report lists them.
struct Converted {
  NativeItem native;
  std::vector<std::string> not_carried;
};

/// One native format, both directions. Stateless and thread-safe.
class Format {
 public:
  virtual ~Format() = default;
  /// Registry name: "blogger-atom", "dtp-social-post", "icalendar", "jscalendar",
  /// "apple-health", "open-mhealth", "takeout-records", "geojson".
  virtual std::string_view name() const = 0;
  virtual Dataset dataset() const = 0;
  /// The Content-Type of a document (page) in this format.
  virtual std::string_view media_type() const = 0;

  /// Splits a whole native document (an export file or one page) into its items, in
  /// document order. Entries the format holds that are not items of this dataset (Blogger
  /// settings and comments, HealthKit <Me>, ...) are skipped. A leading UTF-8 byte-order mark
  /// is accepted. Throws FormatError if the document or an item is broken.
  ///
  /// With `not_read`, also says what the document holds outside its items that the model has
  /// no field for, so that a transfer's report names it too: appends the name of each such
  /// part once, in to_model's style (an entry by its kind, "entry kind=comment"; a component,
  /// "VTODO"; an element or member of the document itself by its path, "feed/title",
  /// "VCALENDAR/X-WR-CALNAME", "Group.title"). The document's own bookkeeping (its id, its
  /// producer, when it was written) is read, not listed. The items returned are the same
  /// with or without the list.
  virtual std::vector<NativeItem> split(std::string_view document,
                                        std::vector<std::string>* not_read = nullptr) const = 0;
  /// The native document (page) holding `items` in order; split(join(x)) == x by id and
  /// content.
  virtual std::string join(const std::vector<NativeItem>& items) const = 0;

  /// Native item -> common model. Throws FormatError naming the item.
  ///
  /// With `not_read`, also says what the item holds that the model has no field for, so that
  /// a transfer's report can say what stays behind at the source instead of dropping it
  /// silently: appends the name of each such part once, as the format names it (an element
  /// or attribute, "WorkoutRoute"; a property or component, "ATTENDEE", "VALARM"; an object
  /// member, "activity", "participants"). Parts that the model carries in another form (a
  /// HealthKit date's format, an Atom link's rel) are read, not listed.
  virtual Item to_model(const NativeItem& item,
                        std::vector<std::string>* not_read = nullptr) const = 0;
  /// Common model -> native item.
  virtual Converted from_model(const Item& item) const = 0;
};

/// The format registered under `name`, or nullptr.
const Format* find_format(std::string_view name);
/// Every registered format.
std::vector<const Format*> all_formats();

/// The canonical serialization of an item: JSON with keys sorted, no insignificant
/// whitespace, UTF-8 (what the digest is computed over).
std::string canonical(const Item& item);

/// An order-independent digest of a multiset of items: the sum modulo 2^256 of
/// SHA-256(canonical(item)), as 64 lowercase hex digits. Order-independent and incremental,
/// so the broker can persist it page by page and a service can compute it in any order.
class Digest {
 public:
  Digest() = default;
  void add(const Item& item);
  void add(const Digest& other);
  std::string hex() const;
  /// nullopt unless exactly 64 hex digits.
  static std::optional<Digest> from_hex(std::string_view hex);
  bool operator==(const Digest&) const = default;

 private:
  std::array<std::uint8_t, 32> sum_{};  // big-endian
};

}  // namespace portability
