#include "api/accounts_api.h"

#include <boost/json/serialize.hpp>

#include "api/errors.h"
#include "api/request_parsing.h"
#include "app/user_json.h"

namespace ztm::api {

using app::NewSession;
using app::user_from_json;
using app::user_to_json;

namespace json = boost::json;
using http::Response;

namespace {

// The body's string fields by name; unknown fields, missing ones and other types are 422.
struct Credentials {
  std::string email;
  std::string password;
  const json::value* profile = nullptr;
};

Result<Credentials> read_credentials(const json::value& body, bool with_profile) {
  auto invalid = [](std::string message) {
    return Error{Errc::invalid_argument, std::move(message)};
  };
  const auto* object = body.if_object();
  if (!object) return invalid("body: must be a JSON object");
  Credentials c;
  for (const auto& [key, value] : *object) {
    if (key == "email" || key == "password") {
      const auto* s = value.if_string();
      if (!s) return invalid(std::string(key) + ": must be a string");
      (key == "email" ? c.email : c.password) = std::string(*s);
    } else if (key == "profile" && with_profile) {
      c.profile = &value;
    } else {
      return invalid(std::string(key) + ": unknown field");
    }
  }
  if (!object->contains("email")) return invalid("email: required");
  if (!object->contains("password")) return invalid("password: required");
  if (with_profile && !c.profile)
    return invalid("profile: required (the user's firstName, lastName...)");
  return c;
}

}  // namespace

Response AccountsApi::session_response(const http::Request& req, const NewSession& session,
                                       json::object body) {
  Response res;
  res.status = 201;
  body.emplace("token", session.token);
  body.emplace("user_id", session.user_id);
  body.emplace("expires_in_s", session.expires_in.count());
  res.body = json::serialize(body);
  res.header("Set-Cookie", auth_.cookie(req, &session));
  res.header("Cache-Control", "no-store");
  return res;
}

boost::asio::awaitable<Response> AccountsApi::sign_up(http::Request& req) {
  auto body = parse_json_body(req, max_json_depth_);
  if (!body) co_return error_response(body.error());
  auto creds = read_credentials(*body, true);
  if (!creds) co_return error_response(creds.error());
  auto& c = *creds;
  auto profile = user_from_json(*c.profile, std::nullopt);
  if (!profile) {
    Error e = std::move(profile).error();
    e.message = "profile." + e.message;
    co_return error_response(e);
  }
  std::string client = auth_.client_address(req);
  auto done = co_await auth_.accounts().sign_up(std::move(c.email), std::move(c.password),
                                                std::move(*profile), std::move(client));
  if (!done) co_return error_response(done.error());
  Response res = session_response(req, done->session, {{"user", user_to_json(done->user.user)}});
  res.header("Location", "/users/" + std::to_string(done->user.user.id));
  co_return res;
}

boost::asio::awaitable<Response> AccountsApi::log_in(http::Request& req) {
  auto body = parse_json_body(req, max_json_depth_);
  if (!body) co_return error_response(body.error());
  auto creds = read_credentials(*body, false);
  if (!creds) co_return error_response(creds.error());
  auto& c = *creds;
  std::string client = auth_.client_address(req);
  auto session = co_await auth_.accounts().log_in(std::move(c.email), std::move(c.password),
                                                  std::move(client));
  if (!session) co_return error_response(session.error());
  co_return session_response(req, *session, {});
}

boost::asio::awaitable<Response> AccountsApi::log_out(http::Request& req) {
  auto token = Auth::token(req);
  if (!token) co_return error_response(Error{Errc::unauthenticated, "no session to end"});
  auto done = co_await auth_.accounts().log_out(std::move(*token));
  if (!done) co_return error_response(done.error());
  Response res;
  res.status = 204;
  res.header("Set-Cookie", auth_.cookie(req, nullptr));
  co_return res;
}

boost::asio::awaitable<Response> AccountsApi::me(http::Request& req) {
  auto who = co_await auth_.principal(req);
  if (!who) co_return error_response(who.error());
  auto doc = co_await users_.get(who->user_id);
  if (!doc) co_return error_response(doc.error());
  Response res;
  res.body = (*doc)->data;
  res.header("Cache-Control", "private, no-store");
  co_return res;
}

}  // namespace ztm::api
