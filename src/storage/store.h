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
// Later tiers plug in behind it without changing callers: a replica-routing store sends reads to
// replicas and writes to the primary; a sharded store picks the cluster by user id.

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>

#include "core/result.h"
#include "storage/user_record.h"

namespace ztm {

class Store {
 public:
  virtual ~Store() = default;

  virtual boost::asio::awaitable<Result<StoredUser>> get_user(UserId id) = 0;

  // Users with id > after, ascending, at most `limit` of them.
  // REQUIRES: 1 <= limit <= 1000.
  virtual boost::asio::awaitable<Result<UserPage>> list_users(UserId after, int limit) = 0;

  // Stores a new user with version 1. REQUIRES: user.id > 0.
  virtual boost::asio::awaitable<Result<StoredUser>> create_user(User user) = 0;

  // Replaces every field of an existing user and increments its version; if expected_version is
  // set, only when the stored version equals it (compare-and-set, atomic in the backend).
  virtual boost::asio::awaitable<Result<StoredUser>> update_user(
      User user, std::optional<std::int64_t> expected_version) = 0;

  // Deletes a user; with expected_version, only when the stored version equals it.
  virtual boost::asio::awaitable<Result<void>> delete_user(
      UserId id, std::optional<std::int64_t> expected_version) = 0;

  virtual boost::asio::awaitable<Result<std::int64_t>> count_users() = 0;

  // Succeeds when the backend answers a trivial query (used by /readyz).
  virtual boost::asio::awaitable<Result<void>> ping() = 0;
};

}  // namespace ztm
