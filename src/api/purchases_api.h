#pragma once
// HTTP handlers of purchases (revenue, docs/kpis.md): thin — authenticate, parse, call the
// service, map the result.
//   POST /purchases     {"plan": "<id>"} by the logged-in user; Idempotency-Key honoured. 201.
//   GET  /me/purchases  the logged-in user's purchases, newest first.
//   GET  /plans         the catalogue (public).

#include <boost/asio/awaitable.hpp>

#include "api/auth.h"
#include "app/purchases.h"
#include "http/message.h"

namespace ztm::api {

class PurchasesApi {
 public:
  PurchasesApi(Auth& auth, app::PurchaseService& purchases, int max_json_depth)
      : auth_(auth), purchases_(purchases), max_json_depth_(max_json_depth) {}

  boost::asio::awaitable<http::Response> buy(http::Request& req);    // POST /purchases
  boost::asio::awaitable<http::Response> mine(http::Request& req);   // GET /me/purchases
  boost::asio::awaitable<http::Response> plans(http::Request& req);  // GET /plans

 private:
  Auth& auth_;
  app::PurchaseService& purchases_;
  int max_json_depth_;
};

}  // namespace ztm::api
