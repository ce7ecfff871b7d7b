#pragma once
// The data tier, as the web tier sees it. Every backend (SQLite now; PostgreSQL with
// primary/replica routing and shards next) implements this interface and passes the same
// conformance suite (tests/storage/store_conformance.h).
//
// Contract for every method:
//  - It never throws for expected failures; they come back as Result errors:
//      not_found            the user does not exist
//      precondition_failed  expected_version was given and differs from the stored version
//      conflict             create_user with an id that already exists
//      unavailable          the backend cannot be reached (a retry may succeed)
//      overloaded           too many calls are queued (a retry later may succeed)
//  - It never blocks the calling (event-loop) thread.
//  - A successful write is visible to every later read on the primary, and as durable as the
//    backend is configured to make it (SQLite: storage.sqlite_durable_commits; PostgreSQL:
//    synchronous_commit and synchronous standbys).
//
// Read-your-writes: every write reports its commit position (StoredUser::position,
// Committed::position), opaque text in the backend's commit order; a read given that position
// (Consistency::min_position) sees that write and every earlier one. Backends whose every read
// sees every committed write (SQLite, one PostgreSQL server, memory) report "" and ignore it; the
// replica-routing store (replication/replica_router.h) reports the primary's WAL position and
// serves such a read only from a host that has replayed it, else from the primary.
//
// Idempotent create: create_user with an idempotency key records the key in the same
// transaction as the user; a later create with the same key creates nothing and returns the user
// the key created (as currently stored; not_found if deleted since). The key is 1..200 bytes.
//
// Accounts: create_account stores a user and its credentials in one transaction (conflict if the
// user id or the email exists; the message names which); find_account reads the latest state
// (the primary), so a user can log in right after signing up.
//
// Later tiers plug in behind it without changing callers: a sharded store picks the cluster by
// user id.

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "core/result.h"
#include "storage/user_record.h"

namespace ztm::storage {

// How fresh a read must be: "" = any committed state; else at least this commit position.
// `latest`: the latest committed state (the read a compare-and-set write depends on; the
// replica-routing store serves it from the primary).
struct Consistency {
  std::string min_position;
  bool latest = false;
};

// What a write without a value to return reports: where it committed ("" when every read sees it).
struct Committed {
  std::string position;
};

inline constexpr std::size_t kMaxIdempotencyKeyBytes = 200;

class Store {
 public:
  virtual ~Store() = default;

  virtual boost::asio::awaitable<Result<StoredUser>> get_user(UserId id,
                                                              Consistency consistency) = 0;

  // Users with id > after, ascending, at most `limit` of them.
  // REQUIRES: 1 <= limit <= 1000.
  virtual boost::asio::awaitable<Result<UserPage>> list_users(UserId after, int limit,
                                                              Consistency consistency) = 0;

  // Stores a new user with version 1. REQUIRES: user.id > 0. With an idempotency key, see above.
  virtual boost::asio::awaitable<Result<StoredUser>> create_user(
      User user, std::optional<std::string> idempotency_key) = 0;

  // Replaces every field of an existing user and increments its version; if expected_version is
  // set, only when the stored version equals it (compare-and-set, atomic in the backend).
  virtual boost::asio::awaitable<Result<StoredUser>> update_user(
      User user, std::optional<std::int64_t> expected_version) = 0;

  // Deletes a user; with expected_version, only when the stored version equals it.
  virtual boost::asio::awaitable<Result<Committed>> delete_user(
      UserId id, std::optional<std::int64_t> expected_version) = 0;

  virtual boost::asio::awaitable<Result<std::int64_t>> count_users() = 0;

  // REQUIRES: user.id > 0, account.user_id == user.id, email 1..254 bytes.
  virtual boost::asio::awaitable<Result<StoredUser>> create_account(User user, Account account) = 0;

  // not_found when no account has this email.
  virtual boost::asio::awaitable<Result<Account>> find_account(std::string email) = 0;

  // Sets the role of user `user`'s account. REQUIRES: role is "user" or "admin". not_found when
  // the user has no account.
  virtual boost::asio::awaitable<Result<void>> set_role(UserId user, std::string role) = 0;

  // Succeeds when the backend answers a trivial query (used by /readyz).
  virtual boost::asio::awaitable<Result<void>> ping() = 0;

  // Shorthands: any consistency, no idempotency key. Backends re-export them (using Store::...).
  // Overloads rather than default arguments, because GCC 12 destroys a class-type temporary
  // argument (a default one too) inside a co_await expression twice: `co_await s.get_user(id)`
  // must not build a Consistency in the awaiting coroutine. The same holds for every call:
  // never pass a braced temporary such as Consistency{...} directly inside co_await.
  boost::asio::awaitable<Result<StoredUser>> get_user(UserId id) {
    return get_user(id, Consistency{});
  }
  boost::asio::awaitable<Result<UserPage>> list_users(UserId after, int limit) {
    return list_users(after, limit, Consistency{});
  }
  boost::asio::awaitable<Result<StoredUser>> create_user(User user) {
    return create_user(std::move(user), std::nullopt);
  }
};

}  // namespace ztm::storage
