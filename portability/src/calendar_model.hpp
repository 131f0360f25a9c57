#pragma once

// Private: the calendar_events model (docs/portability.md, "The common model").

#include <string>

#include "json_exact.hpp"

namespace portability::detail {

constexpr const char* kUtcZone = "Etc/UTC";

/// An event with every model field present (defaults where the formats define them).
json empty_event();
/// Throws FormatError unless `item` has the calendar_events shape; returns its uid.
std::string check_event(const json& item);
/// Sorts and de-duplicates a JSON array of strings (the model keeps sets in this order).
void sort_unique(json& array);
/// True for "YYYY-MM-DDTHH:MM:SS" with an optional ".fraction" (RFC 8984 §1.4.4).
bool is_local_date_time(const std::string& s);

}  // namespace portability::detail
