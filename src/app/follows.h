#pragma once
// The follows' business rules, free of HTTP: a user follows another that exists, never themself;
// each edge carries the other user's display name (storage/follow_store.h: the second copy is
// written by the outbox relay, so a followee's followers page shows a new follower once the relay
// has passed, usually within one pass). A follow changes the follower's `following` count at
// once: the follower's cached user document is invalidated here; the followee's `followers`
// count changes when the relay applies the copy, which invalidates both (app/outbox_relay.h).

#include <boost/asio/awaitable.hpp>

#include "app/users.h"
#include "core/ids.h"
#include "core/result.h"
#include "storage/follow_store.h"
#include "storage/store.h"

namespace ztm::app {

// "Ada Lovelace": the name an edge carries.
std::string display_name(const storage::User& user);

class FollowService {
 public:
  // REQUIRES: all outlive the service (the composition root passes one Database twice).
  // `documents` serves the user documents that carry the counts.
  FollowService(storage::Store& users, storage::FollowStore& follows, UserService& documents)
      : users_(users), follows_(follows), documents_(documents) {}

  // `follower` follows `followee`: invalid_argument for oneself, not_found when either user does
  // not exist. Whether it changed anything (false: followed already).
  boost::asio::awaitable<Result<bool>> follow(UserId follower, UserId followee);
  // not_found when the followee does not exist; false when there was no edge.
  boost::asio::awaitable<Result<bool>> unfollow(UserId follower, UserId followee);
  // Pages of `user`'s edges (limit 1..1000); not_found when the user does not exist.
  boost::asio::awaitable<Result<storage::FollowPage>> followers(UserId user, UserId after,
                                                                int limit);
  boost::asio::awaitable<Result<storage::FollowPage>> following(UserId user, UserId after,
                                                                int limit);

 private:
  storage::Store& users_;
  storage::FollowStore& follows_;
  UserService& documents_;
};

}  // namespace ztm::app
