#pragma once
// HTTP handlers of follows (docs/sharding.md, "Follows"). Thin: parse, call FollowService, map the
// result.
//   POST   /users/{id}/follow      the caller follows {id} -> 204 (again: 204, nothing changes)
//   DELETE /users/{id}/follow      the caller stops following {id} -> 204 (idempotent too)
//   GET    /users/{id}/followers   a page of who follows {id} (?after&limit), by user id
//   GET    /users/{id}/following   a page of whom {id} follows, by user id
// The pages are public reads kept by edges, tagged followers-{id} / following-{id}
// (app/purge_keys.h); the outbox relay purges both sides of a follow once it applied it, so an
// edge's page is as fresh as the followers side at the origin (which also waits for the relay).

#include <boost/asio/awaitable.hpp>

#include "api/auth.h"
#include "api/cache_policy.h"
#include "app/follows.h"
#include "http/message.h"

namespace ztm::api {

class FollowsApi {
 public:
  static constexpr int kDefaultPageSize = 20;
  static constexpr int kMaxPageSize = 100;

  FollowsApi(Auth& auth, app::FollowService& follows, const CachePolicy& cache)
      : auth_(auth), follows_(follows), cache_(cache) {}

  boost::asio::awaitable<http::Response> follow(http::Request& req);
  boost::asio::awaitable<http::Response> unfollow(http::Request& req);
  boost::asio::awaitable<http::Response> followers(http::Request& req);
  boost::asio::awaitable<http::Response> following(http::Request& req);

 private:
  enum class Side { followers, following };
  boost::asio::awaitable<http::Response> change(http::Request& req, bool follow);
  boost::asio::awaitable<http::Response> page(http::Request& req, Side side);

  Auth& auth_;
  app::FollowService& follows_;
  const CachePolicy& cache_;
};

}  // namespace ztm::api
