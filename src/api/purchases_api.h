#pragma once
// HTTP handlers of purchases (revenue, docs/kpis.md) and of the admin's KPI report: thin —
// authenticate, parse, call the service, map the result.
//   POST /purchases     {"plan": "<id>"} by the logged-in user; Idempotency-Key honoured. 201.
//   GET  /me/purchases  the logged-in user's purchases, newest first.
//   GET  /plans         the catalogue (public).
//   GET  /admin/kpis[?day=yyyy-mm-dd]  the day's KPIs (default today, UTC); admins only (401
//                       without a session, 403 for a user who is not an admin).

#include <boost/asio/awaitable.hpp>

#include "api/auth.h"
#include "app/kpis.h"
#include "app/purchases.h"
#include "http/message.h"

namespace ztm::api {

class PurchasesApi {
 public:
  PurchasesApi(Auth& auth, app::PurchaseService& purchases, app::KpiService& kpis,
               int max_json_depth)
      : auth_(auth), purchases_(purchases), kpis_(kpis), max_json_depth_(max_json_depth) {}

  boost::asio::awaitable<http::Response> buy(http::Request& req);         // POST /purchases
  boost::asio::awaitable<http::Response> mine(http::Request& req);        // GET /me/purchases
  boost::asio::awaitable<http::Response> plans(http::Request& req);       // GET /plans
  boost::asio::awaitable<http::Response> admin_kpis(http::Request& req);  // GET /admin/kpis

 private:
  Auth& auth_;
  app::PurchaseService& purchases_;
  app::KpiService& kpis_;
  int max_json_depth_;
};

// The JSON of GET /admin/kpis (docs/kpis.md shows an example).
boost::json::object kpi_report_json(const app::KpiReport& report);

}  // namespace ztm::api
