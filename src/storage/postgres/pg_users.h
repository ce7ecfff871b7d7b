#pragma once
// The users table's statements (the SQL behind store.h's user methods), run on one postgres::Host.
// PgStore runs them on its only host; ReplicaRouter on the host it picks for each call. Each
// function has the semantics of the Store method named like it without `pg_` (see pg_store.h for
// how they map to SQL and SQLSTATEs).
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

namespace ztm::storage {

boost::asio::awaitable<Result<StoredUser>> pg_get_user(postgres::Host& host, UserId id);
boost::asio::awaitable<Result<UserPage>> pg_list_users(postgres::Host& host, UserId after,
                                                       int limit);
boost::asio::awaitable<Result<StoredUser>> pg_create_user(
    postgres::Host& host, User user, std::optional<std::string> idempotency_key);
boost::asio::awaitable<Result<StoredUser>> pg_update_user(postgres::Host& host, User user,
                                                          std::optional<std::int64_t> expected);
boost::asio::awaitable<Result<void>> pg_delete_user(postgres::Host& host, UserId id,
                                                    std::optional<std::int64_t> expected);
boost::asio::awaitable<Result<std::int64_t>> pg_count_users(postgres::Host& host);
boost::asio::awaitable<Result<StoredUser>> pg_create_account(postgres::Host& host, User user,
                                                             Account account);
boost::asio::awaitable<Result<Account>> pg_find_account(postgres::Host& host,
                                                        const std::string& email);
boost::asio::awaitable<Result<void>> pg_set_role(postgres::Host& host, UserId user,
                                                 const std::string& role);
boost::asio::awaitable<Result<void>> pg_ping(postgres::Host& host);

}  // namespace ztm::storage
