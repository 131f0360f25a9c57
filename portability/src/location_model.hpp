#pragma once

// Private: the location_points model (docs/portability.md, "The common model").

#include <string>

#include "json_exact.hpp"

namespace portability::detail {

json empty_location_point();
/// Throws FormatError unless `item` has the location_points shape; returns its timestamp.
std::string check_location_point(const json& item);
/// Degrees as exact decimal text -> E7, refusing what is out of range (WGS 84 bounds).
std::int64_t degrees_to_e7(const std::string& text, bool latitude, const std::string& what);
/// The measurement fields kept as decimal strings, in model order.
constexpr const char* kLocationDecimals[] = {"accuracy", "altitude", "vertical_accuracy", "velocity",
                                             "heading"};

}  // namespace portability::detail
