#pragma once
// HTTP handlers of accounts and sessions: POST /accounts (sign-up), POST /sessions (login),
// DELETE /sessions/current (logout), GET /me. Thin: parse, call AccountService, map the result.

#include <boost/asio/awaitable.hpp>

#include "api/auth.h"
#include "app/users.h"
#include "http/message.h"

namespace ztm::api {

class AccountsApi {
 public:
  AccountsApi(Auth& auth, app::UserService& users, int max_json_depth)
      : auth_(auth), users_(users), max_json_depth_(max_json_depth) {}

  boost::asio::awaitable<http::Response> sign_up(http::Request& req);  // POST /accounts
  boost::asio::awaitable<http::Response> log_in(http::Request& req);   // POST /sessions
  boost::asio::awaitable<http::Response> log_out(http::Request& req);  // DELETE /sessions/current
  boost::asio::awaitable<http::Response> me(http::Request& req);       // GET /me

 private:
  http::Response session_response(const http::Request& req, const app::NewSession& session,
                                  boost::json::object body);
  Auth& auth_;
  app::UserService& users_;
  int max_json_depth_;
};

}  // namespace ztm::api
