#include "app/follows.h"

namespace ztm::app {

using boost::asio::awaitable;

std::string display_name(const storage::User& user) {
  return user.first_name + " " + user.last_name;
}

awaitable<Result<bool>> FollowService::follow(UserId follower, UserId followee) {
  if (follower == followee) co_return Error{Errc::invalid_argument, "you cannot follow yourself"};
  auto them = co_await users_.get_user(followee);
  if (!them) co_return std::move(them).error();
  auto me = co_await users_.get_user(follower);
  if (!me) co_return std::move(me).error();
  std::string my_name = display_name(me->user), their_name = display_name(them->user);
  auto changed =
      co_await follows_.follow(follower, followee, std::move(my_name), std::move(their_name));
  // Even on failure: a write of unknown outcome must not leave a stale count (users.h).
  co_await documents_.invalidate(follower);
  co_return changed;
}

awaitable<Result<bool>> FollowService::unfollow(UserId follower, UserId followee) {
  if (follower == followee) co_return Error{Errc::invalid_argument, "you cannot follow yourself"};
  auto them = co_await users_.get_user(followee);
  if (!them) co_return std::move(them).error();
  auto changed = co_await follows_.unfollow(follower, followee);
  co_await documents_.invalidate(follower);  // as in follow()
  co_return changed;
}

awaitable<Result<storage::FollowPage>> FollowService::followers(UserId user, UserId after,
                                                                int limit) {
  auto exists = co_await users_.get_user(user);
  if (!exists) co_return std::move(exists).error();
  co_return co_await follows_.list_followers(user, after, limit);
}

awaitable<Result<storage::FollowPage>> FollowService::following(UserId user, UserId after,
                                                                int limit) {
  auto exists = co_await users_.get_user(user);
  if (!exists) co_return std::move(exists).error();
  co_return co_await follows_.list_following(user, after, limit);
}

}  // namespace ztm::app
