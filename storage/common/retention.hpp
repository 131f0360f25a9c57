#pragma once

// How long storage keeps what has expired: one policy for both back ends.

#include <cstdint>

namespace storage {

// Expired tokens are kept a day so that introspection and reuse detection still recognise
// them (a replayed, just-expired refresh token still revokes its family) before they go.
inline constexpr std::int64_t kExpiredTokenRetention = 24 * 60 * 60;

// Failed logins are also trimmed per key by record_login_failure; purge_expired drops keys
// that never failed again. Throttling windows longer than this are not supported.
inline constexpr std::int64_t kLoginFailureRetention = 24 * 60 * 60;

// purge_expired deletes at most this many rows of a table per transaction: a sweep after a busy
// hour deletes millions of tokens, and one transaction would hold the write lock (and with it
// the token endpoint) for seconds.
inline constexpr std::int64_t kPurgeBatch = 2000;

}  // namespace storage
