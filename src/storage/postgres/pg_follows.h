#pragma once
// The follows statements (the SQL behind follow_store.h), run on one postgres::Host. PgStore runs
// them on its only host; ReplicaRouter on the primary. Each function has the semantics of the
// FollowStore method of the same name; each is one statement, so one transaction.
//
// REQUIRES for every function: `host` outlives the call.

#include <boost/asio/awaitable.hpp>
#include <string>

#include "core/result.h"
#include "postgres/host.h"
#include "storage/follow_store.h"

namespace ztm::storage {

boost::asio::awaitable<Result<bool>> pg_follow(postgres::Host& host, UserId follower,
                                               UserId followee, const std::string& follower_name,
                                               const std::string& followee_name);
boost::asio::awaitable<Result<bool>> pg_unfollow(postgres::Host& host, UserId follower,
                                                 UserId followee);
boost::asio::awaitable<Result<bool>> pg_apply_follow(postgres::Host& host,
                                                     const FollowChange& change);
boost::asio::awaitable<Result<FollowPage>> pg_list_following(postgres::Host& host, UserId user,
                                                             UserId after, int limit);
boost::asio::awaitable<Result<FollowPage>> pg_list_followers(postgres::Host& host, UserId user,
                                                             UserId after, int limit);
boost::asio::awaitable<Result<FollowCounts>> pg_follow_counts(postgres::Host& host, UserId user);

}  // namespace ztm::storage
