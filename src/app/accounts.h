#pragma once
// Accounts and sessions (the chapter's stateless web tier): sign-up, login, logout and
// authenticating a request. Every piece of state lives in shared stores — credentials in the
// Store (replicated with the users), sessions and login counters in the SessionStore (Redis when
// scaled out) — so any web server serves any request and a session outlives its server.
//
// A session token is 256 random bits, base64url (43 characters). The SessionStore keys it by a
// BLAKE2b hash of the token, so a leaked store holds no usable token.
//
// Errors: invalid_argument (422: bad email, password length...), conflict (409: email taken),
// unauthenticated (401: wrong credentials — the same answer, in the same time, whether or not the
// account exists; no, expired, revoked or malformed token), rate_limited (429), unavailable /
// overloaded (503) from the stores and the hashing pool.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <string>

#include "app/passwords.h"
#include "core/clock.h"
#include "core/ids.h"
#include "sessions/session_store.h"
#include "storage/store.h"

namespace ztm::app {

class ActivityTracker;

struct AccountLimits {
  static constexpr std::size_t kMaxEmail = 254;  // RFC 5321 path limit
  static constexpr std::size_t kMinPassword = 8;
  static constexpr std::size_t kMaxPassword = 128;  // bytes; longer is refused, not truncated
  // A session token: 32 random bytes in base64url without padding (43 characters), '.', and the
  // Unix second it was issued (decimal). The store keys the session by the token's hash, so the
  // issue time cannot be changed without losing the session: it bounds the session's life.
  static constexpr std::size_t kTokenRandomChars = 43;
  static constexpr std::size_t kMaxTokenChars = kTokenRandomChars + 1 + 12;
};

struct AccountOptions {
  std::chrono::seconds session_ttl{14 * 86'400};  // idle: every authenticated request slides it
  // Absolute: however often it is used, a session ends this long after the login that made it.
  std::chrono::seconds session_max_lifetime{30 * 86'400};
  const Clock* clock = &Clock::system();  // the issue times in tokens; must outlive the service
  // Logins per window: to one account from one client address (tight: guessing), to one account
  // from everywhere (loose, so that one attacker cannot lock the owner out), and logins and
  // sign-ups from one address. An IPv6 client counts per /64 (one subscriber's prefix).
  int attempts_per_account_address = 10;
  int attempts_per_account = 100;
  int attempts_per_address = 50;
  std::chrono::seconds window{60};
};

// The key a client address is counted under: the address, or its /64 for IPv6 (one subscriber
// usually holds a whole /64 and can pick any address in it).
std::string address_bucket(const std::string& client);

struct Principal {
  UserId user_id = 0;
  std::string role;  // "user" | "admin"
  bool admin() const { return role == "admin"; }
};

struct NewSession {
  std::string token;
  UserId user_id = 0;
  std::chrono::seconds expires_in{0};
};

struct SignedUp {
  NewSession session;
  storage::StoredUser user;
};

// "  Ada@Example.COM " -> "ada@example.com"; invalid_argument naming the field when it is not
// a plausible address (one '@', non-empty parts, no spaces or control characters, <= 254 bytes).
Result<std::string> normalize_email(std::string_view email);

class AccountService {
 public:
  // REQUIRES: every reference outlives this; so does `activity` (may be null: not tracked),
  // told of every authenticated request (app/activity.h).
  AccountService(storage::Store& store, sessions::SessionStore& sessions, PasswordHasher& hasher,
                 IdGenerator& ids, AccountOptions options, ActivityTracker* activity = nullptr);

  // Creates the user and its account (role "user") and logs it in. `client` is the client's
  // address, for the per-address limit.
  boost::asio::awaitable<Result<SignedUp>> sign_up(std::string email, std::string password,
                                                   storage::User profile, std::string client);

  boost::asio::awaitable<Result<NewSession>> log_in(std::string email, std::string password,
                                                    std::string client);

  // Revokes the session everywhere. unauthenticated when the token names no live session.
  boost::asio::awaitable<Result<void>> log_out(std::string token);

  // The session's owner; slides its expiry and counts the owner active today.
  boost::asio::awaitable<Result<Principal>> authenticate(std::string token);

  // After a user is deleted: ends all of its sessions.
  boost::asio::awaitable<Result<void>> end_sessions_of(UserId user);

  // Makes `user` an "admin" or a "user" (invalid_argument otherwise; not_found without an
  // account) and ends its sessions: a session carries the role it was opened with, so the
  // change holds from the user's next request (401, then a login with the new role).
  boost::asio::awaitable<Result<void>> set_role(UserId user, std::string role);

 private:
  boost::asio::awaitable<Result<void>> count_attempt(std::string key, int limit);
  boost::asio::awaitable<Result<NewSession>> open_session(UserId user, std::string role);

  storage::Store& store_;
  sessions::SessionStore& sessions_;
  PasswordHasher& hasher_;
  IdGenerator& ids_;
  AccountOptions options_;
  ActivityTracker* activity_;
};

}  // namespace ztm::app
