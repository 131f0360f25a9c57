#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace authz {

/// `base` with the non-empty parameters appended to its query (keeping any it has: RFC 6749
/// §3.1.2 says the redirect URI's query must be retained).
std::string with_params(std::string_view base,
                        std::initializer_list<std::pair<std::string_view, std::string_view>> params);
bool contains_word(std::string_view list, std::string_view word);
std::string join(const std::vector<std::string>& words);

}  // namespace authz

namespace authz {
/// RFC 3986 absolute URI without a fragment (RFC 8707 §2 resource indicators).
bool absolute_uri(std::string_view text);
}  // namespace authz
