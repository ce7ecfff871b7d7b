#pragma once
// Checks shared by every SessionStore backend, so they refuse the same inputs the same way.

#include <chrono>
#include <string_view>

#include "core/result.h"

namespace ztm::sessions {

// ok when `key` is 1..kMaxSessionKeyBytes bytes of printable ASCII (0x20..0x7e, as isprint); else
// invalid_argument naming what is wrong (never the key itself: it may be a secret's hash).
Result<void> check_session_key(std::string_view key);

// ok when `d` >= 1 s (the REQUIRES of create/touch/hit); else invalid_argument.
Result<void> check_duration(std::chrono::milliseconds d, std::string_view what);

// How stale a stored expiry may be before touch() rewrites it: a minute, or a tenth of the ttl for
// short ttls, so that a touched session always keeps at least 90% of its ttl.
std::chrono::milliseconds touch_rewrite_threshold(std::chrono::milliseconds ttl);

}  // namespace ztm::sessions
