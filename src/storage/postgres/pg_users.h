#pragma once
// The users table's statements (the SQL behind store.h's user methods), run on one pg::Host.
// PgStore runs them on its only host; ReplicaRouter on the host it picks for each call. Each
// function has the semantics of the Store method of the same name (see pg_store.h for how they
// map to SQL and SQLSTATEs).
//
// REQUIRES for every function: `host` outlives the call.

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "core/result.h"
#include "postgres/host.h"
#include "storage/store.h"
#include "storage/user_record.h"

namespace ztm::pg {

boost::asio::awaitable<Result<StoredUser>> get_user(Host& host, UserId id);
boost::asio::awaitable<Result<UserPage>> list_users(Host& host, UserId after, int limit);
boost::asio::awaitable<Result<StoredUser>> create_user(Host& host, User user,
                                                       std::optional<std::string> idempotency_key);
boost::asio::awaitable<Result<StoredUser>> update_user(Host& host, User user,
                                                       std::optional<std::int64_t> expected);
boost::asio::awaitable<Result<void>> delete_user(Host& host, UserId id,
                                                 std::optional<std::int64_t> expected);
boost::asio::awaitable<Result<std::int64_t>> count_users(Host& host);
boost::asio::awaitable<Result<StoredUser>> create_account(Host& host, User user, Account account);
boost::asio::awaitable<Result<Account>> find_account(Host& host, const std::string& email);
boost::asio::awaitable<Result<void>> ping(Host& host);

}  // namespace ztm::pg
