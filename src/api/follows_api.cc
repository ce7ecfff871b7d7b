#include "api/follows_api.h"

#include <fmt/format.h>

#include <boost/json/serialize.hpp>

#include "api/errors.h"
#include "api/request_parsing.h"
#include "app/purge_keys.h"

namespace ztm::api {

namespace json = boost::json;
using http::Response;

boost::asio::awaitable<Response> FollowsApi::follow(http::Request& req) {
  co_return co_await change(req, true);
}

boost::asio::awaitable<Response> FollowsApi::unfollow(http::Request& req) {
  co_return co_await change(req, false);
}

boost::asio::awaitable<Response> FollowsApi::change(http::Request& req, bool follow) {
  auto who = co_await auth_.principal(req);
  if (!who) co_return error_response(who.error());
  auto id = parse_id(req.params[0]);
  if (!id) co_return error_response(id.error());
  Result<bool> done = false;
  if (follow)
    done = co_await follows_.follow(who->user_id, *id);
  else
    done = co_await follows_.unfollow(who->user_id, *id);
  if (!done) co_return error_response(done.error());
  Response res;
  res.status = 204;
  co_return res;
}

boost::asio::awaitable<Response> FollowsApi::followers(http::Request& req) {
  co_return co_await page(req, Side::followers);
}

boost::asio::awaitable<Response> FollowsApi::following(http::Request& req) {
  co_return co_await page(req, Side::following);
}

boost::asio::awaitable<Response> FollowsApi::page(http::Request& req, Side side) {
  auto user = parse_id(req.params[0]);
  if (!user) co_return error_response(user.error());
  auto query = parse_page(req, kDefaultPageSize, kMaxPageSize);
  if (!query) co_return error_response(query.error());
  const char* name = side == Side::followers ? "followers" : "following";
  Result<storage::FollowPage> page = storage::FollowPage{};
  if (side == Side::followers)
    page = co_await follows_.followers(*user, query->after, query->limit);
  else
    page = co_await follows_.following(*user, query->after, query->limit);
  if (!page) co_return error_response(page.error());
  json::array users;
  users.reserve(page->users.size());
  for (const auto& e : page->users) users.push_back(json::object{{"id", e.user}, {"name", e.name}});
  json::value next = nullptr;
  if (page->more && !page->users.empty())
    next = fmt::format("/users/{}/{}?after={}&limit={}", *user, name, page->users.back().user,
                       query->limit);
  std::string body =
      json::serialize(json::object{{"users", std::move(users)}, {"next", std::move(next)}});
  Response res;
  const std::string tag = content_etag(body);
  CachePolicy::conditional(req, res, tag, body);
  // Purged by the relay once it applied a follow of either side (app/purge_keys.h).
  cache_.public_read(
      req, res, CachePolicy::Read::list,
      side == Side::followers ? app::followers_key(*user) : app::following_key(*user));
  co_return res;
}

}  // namespace ztm::api
