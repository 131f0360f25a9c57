#pragma once

// Private: one instance of each adapter, defined in its own file.

#include "portability/formats.hpp"

namespace portability::detail {

const Format& blogger_atom_format();
const Format& dtp_social_post_format();
const Format& icalendar_format();
const Format& jscalendar_format();
const Format& apple_health_format();
const Format& open_mhealth_format();
const Format& takeout_records_format();
const Format& geojson_format();

}  // namespace portability::detail
