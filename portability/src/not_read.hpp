#pragma once

// Format::to_model's not_read list (formats.hpp): what every adapter uses to name the parts of
// an item that the common model has no field for.

#include <algorithm>
#include <cstddef>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "json_exact.hpp"

namespace portability::detail {

/// Whether a parsed JSON value holds anything that could be lost: null, "", [] and {} do not.
inline bool holds_data(const json& value) {
  if (value.is_string()) return !value.get_ref<const std::string&>().empty();
  return !value.is_null() && !((value.is_array() || value.is_object()) && value.empty());
}

/// Whether `name` is one of `names`. A linear scan compares lengths first: for the few names an
/// object has, cheaper than a binary search's ordered compares.
inline bool among(std::span<const std::string_view> names, std::string_view name) {
  return std::ranges::find(names, name) != names.end();
}

/// Adds the names one to_model call reports, each once; what the list held before the call is
/// the caller's (other items' names), and is neither looked at nor changed.
class NotRead {
 public:
  explicit NotRead(std::vector<std::string>& out) : out_(out), first_(out.size()) {}

  void add(std::string_view name) {
    const auto from = out_.begin() + static_cast<std::ptrdiff_t>(first_);
    if (std::find(from, out_.end(), name) == out_.end()) out_.emplace_back(name);
  }

  /// Each member of `object` that holds data and is not among `read`, by its path: `path`.name,
  /// or the name alone when `path` is empty. Nothing when `object` is not an object.
  void members(const json& object, std::span<const std::string_view> read,
               std::string_view path = {}) {
    if (!object.is_object()) return;
    for (const auto& [key, value] : object.items()) {
      if (!holds_data(value) || among(read, key)) continue;
      add(path.empty() ? key : std::string(path) + "." + key);
    }
  }

 private:
  std::vector<std::string>& out_;
  std::size_t first_;
};

/// The not_read list a transfer's report keeps for a dataset: `so_far` (a list this made) and
/// one page's names, in order, each once. A source decides these names (they are its members
/// and elements), so the list is bounded: a name longer than kMaxNotReadName bytes is cut at a
/// character boundary and ends in "…", and past kMaxNotRead names the list ends in
/// kMoreNotRead instead of growing with every page.
inline constexpr std::size_t kMaxNotRead = 100;
inline constexpr std::size_t kMaxNotReadName = 100;
inline constexpr std::string_view kMoreNotRead = "(and more)";

inline std::vector<std::string> bounded_not_read(const std::vector<std::string>& so_far,
                                                 const std::set<std::string>& page) {
  std::set<std::string> all(so_far.begin(), so_far.end());
  bool more = all.erase(std::string(kMoreNotRead)) > 0;
  for (const auto& name : page) {
    if (name.size() <= kMaxNotReadName) {
      all.insert(name);
      continue;
    }
    std::size_t cut = kMaxNotReadName;
    while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) --cut;
    all.insert(name.substr(0, cut) + "…");
  }
  std::vector<std::string> out;
  for (auto& name : all) {
    if (out.size() == kMaxNotRead) {
      more = true;
      break;
    }
    out.push_back(name);
  }
  if (more) out.emplace_back(kMoreNotRead);
  return out;
}

}  // namespace portability::detail
