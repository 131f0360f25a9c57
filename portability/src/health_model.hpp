#pragma once

// Private: the health_records model (docs/portability.md, "The common model").

#include <string>

#include "json_exact.hpp"

namespace portability::detail {

json empty_health_record();
/// Throws FormatError unless `item` has the health_records shape; returns its id.
std::string check_health_record(const json& item);
/// The stable id of a HealthKit sample (HealthKit exports have none): lowercase hex
/// SHA-256 over type, startDate, endDate, sourceName and value as written, '\n'-separated.
std::string healthkit_id(const std::string& type, const std::string& start, const std::string& end,
                         const std::string& source, const std::string& value);

}  // namespace portability::detail
