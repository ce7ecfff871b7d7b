#include "sessions/session_key.h"

#include <fmt/format.h>

#include <algorithm>

#include "sessions/session_store.h"

namespace ztm::sessions {

Result<void> check_session_key(std::string_view key) {
  if (key.empty() || key.size() > kMaxSessionKeyBytes)
    return Error{Errc::invalid_argument, fmt::format("session key: {} bytes, must be 1..{}",
                                                     key.size(), kMaxSessionKeyBytes)};
  if (!std::all_of(key.begin(), key.end(), [](char c) { return c >= 0x20 && c < 0x7f; }))
    return Error{Errc::invalid_argument, "session key: not printable ASCII"};
  return {};
}

Result<void> check_duration(std::chrono::milliseconds d, std::string_view what) {
  if (d < std::chrono::seconds(1))
    return Error{Errc::invalid_argument, fmt::format("{}: {} ms, must be >= 1 s", what, d.count())};
  return {};
}

std::chrono::milliseconds touch_rewrite_threshold(std::chrono::milliseconds ttl) {
  return std::min<std::chrono::milliseconds>(std::chrono::minutes(1), ttl / 10);
}

}  // namespace ztm::sessions
