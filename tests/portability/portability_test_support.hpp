#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "portability/formats.hpp"

namespace portability::testing {

// The shared samples sit beside the source tree (/work/shared/samples); ctest passes
// INFOBANK_SAMPLES_DIR, and a direct run falls back to the path relative to this file.
inline std::string read_sample(const std::string& name) {
  std::filesystem::path dir;
  if (const char* env = std::getenv("INFOBANK_SAMPLES_DIR"); env != nullptr && *env != '\0') {
    dir = env;
  } else {
    dir = std::filesystem::path(__FILE__).parent_path() / ".." / ".." / ".." / "shared" / "samples";
  }
  std::ifstream in(dir / name, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read sample " + (dir / name).string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline const Format& format(std::string_view name) {
  const Format* f = find_format(name);
  if (f == nullptr) throw std::runtime_error("no format " + std::string(name));
  return *f;
}

/// Names in a to_model not_read list.
using Names = std::vector<std::string>;

/// to_model's not_read list for one item, checking that asking for it leaves the model as it
/// was.
inline Names not_read_of(const Format& f, const NativeItem& n) {
  Names names;
  const Item with = f.to_model(n, &names);
  EXPECT_EQ(with, f.to_model(n)) << "asking for not_read changed the model of " << n.id;
  return names;
}

/// split's not_read list for a document (what it skips), checking that asking for it leaves
/// the items as they were.
inline Names skipped_by(const Format& f, std::string_view document) {
  Names names;
  const std::vector<NativeItem> with = f.split(document, &names);
  const std::vector<NativeItem> without = f.split(document);
  EXPECT_EQ(with.size(), without.size()) << "asking for not_read changed what split gave";
  for (std::size_t i = 0; i < with.size() && i < without.size(); ++i) {
    EXPECT_EQ(with[i].id, without[i].id) << "item " << i;
    EXPECT_EQ(with[i].text, without[i].text) << "item " << i;
  }
  return names;
}

/// split refuses `document` and, refusing it, adds nothing to the list it was given.
inline void expect_split_refused(const Format& f, std::string_view document) {
  Names refused;
  EXPECT_THROW(f.split(document, &refused), FormatError) << f.name();
  EXPECT_TRUE(refused.empty()) << f.name() << " listed " << refused.size() << " names";
}

/// split's not_read list for the page join writes of `document`'s items: a page the sample
/// service exports holds nothing split skips, so a transfer between two of them lists only
/// what the items themselves hold.
inline Names skipped_by_joined(const Format& f, std::string_view document) {
  return skipped_by(f, f.join(f.split(document)));
}

inline std::vector<Item> models(const Format& f, std::string_view document) {
  std::vector<Item> out;
  for (const NativeItem& n : f.split(document)) out.push_back(f.to_model(n));
  return out;
}

// RFC 3339 text -> "epoch.fraction" so that values differing only in offset compare equal.
inline std::string instant(const std::string& t) {
  auto num = [&](std::size_t at, std::size_t n) { return std::stoll(t.substr(at, n)); };
  long long y = num(0, 4), m = num(5, 2), d = num(8, 2);
  y -= m <= 2;
  const long long era = (y >= 0 ? y : y - 399) / 400;
  const long long yoe = y - era * 400;
  const long long doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const long long days = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
  long long secs = days * 86400 + num(11, 2) * 3600 + num(14, 2) * 60 + num(17, 2);
  std::size_t i = 19;
  std::string frac;
  if (t[i] == '.') {
    while (++i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) frac.push_back(t[i]);
  }
  if (t[i] != 'Z') {
    const long long off = std::stoll(t.substr(i + 1, 2)) * 60 + std::stoll(t.substr(i + 4, 2));
    secs -= (t[i] == '-' ? -1 : 1) * off * 60;
  }
  return std::to_string(secs) + "." + frac;
}

// Removes what a conversion reported as not carried: "a" or "a.b" (applied to each element
// when "a" is an array). "x.offset" compares x as an instant; "x.fraction" drops x, and
// "a.x.fraction" drops x from each element of the array a (whose elements are then compared
// in any order).
inline void forget(Item& item, const std::vector<std::string>& paths) {
  for (const std::string& p : paths) {
    const std::size_t dot = p.find('.');
    if (dot == std::string::npos) {
      item.erase(p);
      continue;
    }
    const std::string head = p.substr(0, dot), tail = p.substr(dot + 1);
    if (!item.contains(head)) continue;
    Item& v = item[head];
    if (tail == "offset" && v.is_string()) {
      v = instant(v.get<std::string>());
    } else if (tail == "fraction") {
      item.erase(head);
    } else if (v.is_array()) {
      const std::string field = tail.ends_with(".fraction")
                                    ? tail.substr(0, tail.size() - std::string(".fraction").size())
                                    : tail;
      for (Item& e : v) e.erase(field);
      // What is left of the elements, as a multiset: a model array kept in a canonical order
      // (alerts) may order its elements by the field just erased.
      std::sort(v.begin(), v.end());
    } else if (v.is_object()) {
      v.erase(tail);
    }
  }
}

// model -> native(to) -> model, and the model minus what `to` reported as not carried.
inline void expect_carried(const Item& model, const Format& to) {
  const Converted c = to.from_model(model);
  Item back = to.to_model(c.native);
  Item expected = model;
  forget(expected, c.not_carried);
  forget(back, c.not_carried);
  EXPECT_EQ(expected, back) << to.name() << " lost more than it said; not_carried has "
                            << c.not_carried.size() << " entries\nnative: " << c.native.text;
}

}  // namespace portability::testing
