#pragma once

// Private: the blog_posts model (docs/portability.md, "The common model").

#include <string>

#include "json_exact.hpp"

namespace portability::detail {

/// A blog post with every model field present (null / empty where unknown).
json empty_blog_post();
/// Throws FormatError unless `item` has the blog_posts shape; returns its id.
std::string check_blog_post(const json& item);

}  // namespace portability::detail
