#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "authz/expected.hpp"

namespace sample_service {

struct FetchResult {
  unsigned status = 0;
  std::string body;
};

/// A blocking HTTP/1.1 GET of an `http://` URL, with a deadline for the whole exchange and a
/// cap on the body. Runs its own io_context on the calling thread: call it from the worker
/// pool, never from an I/O thread. Errors are `server_error` with a description.
authz::Expected<FetchResult> http_get(const std::string& url,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(5),
                                      std::size_t max_body = 1 << 20);

}  // namespace sample_service
