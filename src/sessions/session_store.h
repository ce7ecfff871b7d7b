#pragma once
// Where sessions live, outside every web server (the chapter's stateless web tier, figure 1-14):
// any server can authenticate any request, and a session outlives the server that created it.
// Backends: sqlite/ (the single server) and redis/ (a Redis primary + replica under Sentinel,
// shared by every web server). Both pass tests/sessions/session_store_conformance.h.
//
// The store also keeps the login rate-limit counters (hit()), for the same reason: a limit per
// account must hold across every web server.
//
// Contract for every method:
//  - Keys are opaque printable ASCII, 1..128 bytes (the service passes a hash of the token,
//    never the token itself, so a leaked store does not leak live sessions).
//  - Expected failures come back as Result errors, never exceptions:
//      not_found    no such session, or it expired
//      conflict     create() with a key that exists
//      unavailable  the backend cannot be reached or did not answer in time (retry may succeed)
//      overloaded   too many calls queued
//  - It never blocks the calling (event-loop) thread; every wait is bounded.
//  - A revoked session is gone for every server at once: revoke() returning ok means no later
//    touch() anywhere finds it.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <string>

#include "core/ids.h"
#include "core/result.h"

namespace ztm::sessions {

struct SessionData {
  UserId user_id = 0;
  std::string role;  // "user" | "admin"
  bool operator==(const SessionData&) const = default;
};

struct RateCount {
  std::int64_t hits = 0;                  // in the sliding window ending now, this one included
  std::chrono::milliseconds reset_in{0};  // until the current fixed window ends (Retry-After)
};

inline constexpr std::size_t kMaxSessionKeyBytes = 128;

class SessionStore {
 public:
  virtual ~SessionStore() = default;

  // Stores a new session that expires `ttl` from now unless touched.
  // REQUIRES: ttl >= 1 s.
  virtual boost::asio::awaitable<Result<void>> create(std::string key, SessionData data,
                                                      std::chrono::milliseconds ttl) = 0;

  // Finds a live session and slides its expiry to `ttl` from now (a backend may skip rewriting
  // an expiry that is less than a minute old, to spare writes). not_found if absent or expired.
  virtual boost::asio::awaitable<Result<SessionData>> touch(std::string key,
                                                            std::chrono::milliseconds ttl) = 0;

  // Removes a session; ok when it did not exist.
  virtual boost::asio::awaitable<Result<void>> revoke(std::string key) = 0;

  // Removes every session of a user (the user was deleted); ok when there were none.
  virtual boost::asio::awaitable<Result<void>> revoke_user(UserId user) = 0;

  // Counts one hit on a sliding-window counter and answers the hits of the last `window`,
  // estimated from two fixed windows (as Cloudflare's limiter does): the first hit starts a
  // window of `window`, the next one follows it, and a hit counts this window's hits plus the
  // previous window's weighted by how much of it the last `window` still covers (rounded down).
  // So a burst just before a window's end still counts just after it, and a client cannot send
  // twice the limit across a boundary; after two quiet windows the count starts again at 1.
  // REQUIRES: window >= 1 s; key as for sessions.
  virtual boost::asio::awaitable<Result<RateCount>> hit(std::string key,
                                                        std::chrono::milliseconds window) = 0;

  // Succeeds when the backend answers (used by /readyz).
  virtual boost::asio::awaitable<Result<void>> ping() = 0;
};

}  // namespace ztm::sessions
