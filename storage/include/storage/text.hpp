#pragma once

// Text checks shared by the authorization server (form values, JSON it writes) and the
// portability adapters (native formats): both sit on storage, so the one check lives here,
// like the date parser (storage/datetime.hpp).

#include <string_view>

namespace storage::text {

/// True if `text` is well-formed UTF-8 (RFC 3629 §4: no overlongs, no surrogates, nothing
/// above U+10FFFF).
bool valid_utf8(std::string_view text);

}  // namespace storage::text
