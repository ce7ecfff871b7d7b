#include "api/users_api.h"

#include <boost/json/serialize.hpp>
#include <charconv>

#include "api/errors.h"
#include "api/request_parsing.h"
#include "app/purge_keys.h"
#include "app/user_json.h"
#include "core/log.h"

namespace ztm::api {

using app::user_from_json;
using app::user_to_json;
using storage::StoredUser;

namespace json = boost::json;
using http::Response;

namespace {

// Read-your-writes (app/users.h): a write's response names its commit position, which the
// client sends back as X-Ztm-Position on later reads. Absent when the backend needs none.
void add_position(Response& res, const std::string& position) {
  if (!position.empty()) res.header("X-Ztm-Position", position);
}

}  // namespace

boost::asio::awaitable<Response> UsersApi::written(unsigned status, const StoredUser& s) {
  auto doc = co_await users_.document(s);
  if (!doc) co_return error_response(doc.error());
  Response res;
  res.status = status;
  res.body = (*doc)->data;
  res.header("ETag", DocumentEtag((*doc)->version, (*doc)->digest).view());
  add_position(res, s.position);
  co_return res;
}

boost::asio::awaitable<Result<UserId>> UsersApi::owned_id(http::Request& req) {
  auto id = parse_id(req.params[0]);
  if (!id) co_return id.error();
  auto who = co_await auth_.principal(req);
  if (!who) co_return who.error();
  if (auto allowed = require_owner(*who, *id); !allowed) co_return allowed.error();
  co_return *id;
}

Result<storage::Consistency> UsersApi::read_consistency(const http::Request& req) const {
  if (auth_.edge_fetch(req)) return storage::Consistency{.latest = true};
  return parse_position(req);
}

http::Answer UsersApi::get(http::Request& req) {
  auto id = parse_id(req.params[0]);
  if (!id) return error_response(id.error());
  auto consistency = read_consistency(req);
  if (!consistency) return error_response(consistency.error());
  if (auto hit = users_.cached(*id, *consistency)) return document_response(req, *id, hit);
  return read(req, *id, std::move(*consistency));
}

boost::asio::awaitable<Response> UsersApi::read(http::Request& req, UserId id,
                                                storage::Consistency consistency) {
  auto doc = co_await users_.load(id, std::move(consistency));
  if (!doc) co_return error_response(doc.error());
  co_return document_response(req, id, *doc);
}

Response UsersApi::document_response(http::Request& req, UserId id,
                                     const app::UserDocument& doc) const {
  Response res;
  CachePolicy::conditional(req, res, DocumentEtag(doc->version, doc->digest).view(), doc->data);
  cache_.public_read(req, res, CachePolicy::Read::user, app::user_key(id));
  return res;
}

boost::asio::awaitable<Response> UsersApi::list(http::Request& req) {
  auto query = parse_page(req, kDefaultPageSize, kMaxPageSize);
  if (!query) co_return error_response(query.error());
  auto consistency = read_consistency(req);
  if (!consistency) co_return error_response(consistency.error());
  auto page = co_await users_.list(query->after, query->limit, std::move(*consistency));
  if (!page) co_return error_response(page.error());
  json::array users;
  users.reserve(page->users.size());
  for (const auto& s : page->users) users.emplace_back(user_to_json(s.user));
  json::value next = nullptr;
  if (page->more && !page->users.empty())
    next = "/users?after=" + std::to_string(page->users.back().user.id) +
           "&limit=" + std::to_string(query->limit);
  // The page changes when any user on it does (their keys) or a user joins (users-list).
  std::string keys(app::kUsersListKey);
  for (const auto& s : page->users) {
    keys += ' ';
    keys += app::user_key(s.user.id);
  }
  std::string body =
      json::serialize(json::object{{"users", std::move(users)}, {"next", std::move(next)}});
  Response res;
  const std::string tag = content_etag(body);
  CachePolicy::conditional(req, res, tag, body);
  cache_.public_read(req, res, CachePolicy::Read::list, keys);
  co_return res;
}

boost::asio::awaitable<Response> UsersApi::create(http::Request& req) {
  auto who = co_await auth_.principal(req);
  if (!who) co_return error_response(who.error());
  if (!who->admin())
    co_return error_response(
        Error{Errc::forbidden, "only an admin creates users; sign up with POST /accounts"});
  auto key = parse_idempotency_key(req);
  if (!key) co_return error_response(key.error());
  auto body = parse_json_body(req, max_json_depth_);
  if (!body) co_return error_response(body.error());
  auto user = user_from_json(*body, std::nullopt);
  if (!user) co_return error_response(user.error());
  // A repeat of a keyed create answers like the first (201, the same user and Location).
  auto created = co_await users_.create(std::move(*user), std::move(*key));
  if (!created) co_return error_response(created.error());
  Response res = co_await written(201, *created);
  if (res.status == 201) res.header("Location", "/users/" + std::to_string(created->user.id));
  co_return res;
}

boost::asio::awaitable<Response> UsersApi::replace(http::Request& req) {
  auto id = co_await owned_id(req);
  if (!id) co_return error_response(id.error());
  auto body = parse_json_body(req, max_json_depth_);
  if (!body) co_return error_response(body.error());
  auto user = user_from_json(*body, *id);
  if (!user) co_return error_response(user.error());
  auto updated =
      co_await users_.replace(std::move(*user), parse_if_match(req.header(http::Field::if_match)));
  if (!updated) co_return error_response(updated.error());
  co_return co_await written(200, *updated);
}

boost::asio::awaitable<Response> UsersApi::patch(http::Request& req) {
  auto id = co_await owned_id(req);
  if (!id) co_return error_response(id.error());
  auto body = parse_json_body(req, max_json_depth_);
  if (!body) co_return error_response(body.error());
  const auto& patch = *body;
  if (!patch.is_object())
    co_return error_response(
        Error{Errc::invalid_argument, "body: a merge patch must be a JSON object"});
  auto updated =
      co_await users_.patch(*id, patch, parse_if_match(req.header(http::Field::if_match)));
  if (!updated) co_return error_response(updated.error());
  co_return co_await written(200, *updated);
}

boost::asio::awaitable<Response> UsersApi::remove(http::Request& req) {
  auto id = co_await owned_id(req);
  if (!id) co_return error_response(id.error());
  auto done = co_await users_.remove(*id, parse_if_match(req.header(http::Field::if_match)));
  if (!done) co_return error_response(done.error());
  // The user is gone: so are its sessions, on every server. A failure here leaves sessions
  // that authenticate but find no user (GET /me answers 404); it does not undo the delete.
  if (auto ended = co_await auth_.accounts().end_sessions_of(*id); !ended)
    log::warn("sessions of a deleted user not ended",
              {{"user", *id}, {"error", ended.error().message}});
  Response res;
  res.status = 204;
  add_position(res, done->position);
  co_return res;
}

}  // namespace ztm::api
