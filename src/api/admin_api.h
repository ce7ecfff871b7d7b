#pragma once
// HTTP handlers for admins (an account with role "admin"; 401 without a session, 403 for a user
// who is not an admin): thin — authenticate, parse, call the service, map the result.
//   GET /admin/kpis[?day=yyyy-mm-dd]  the day's business KPIs (default today, UTC): exact and
//                                     sketch side by side, the retention table, revenue
//                                     (docs/kpis.md shows the JSON).
//   PUT /admin/users/{id}/role        {"role": "admin"|"user"}: 204; the user's sessions end, so
//                                     the change holds from its next request.

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include "api/auth.h"
#include "app/kpis.h"
#include "http/message.h"

namespace ztm::api {

class AdminApi {
 public:
  AdminApi(Auth& auth, app::KpiService& kpis, int max_json_depth)
      : auth_(auth), kpis_(kpis), max_json_depth_(max_json_depth) {}

  boost::asio::awaitable<http::Response> kpis(http::Request& req);      // GET /admin/kpis
  boost::asio::awaitable<http::Response> set_role(http::Request& req);  // PUT .../role

 private:
  Auth& auth_;
  app::KpiService& kpis_;
  int max_json_depth_;
};

// The JSON of GET /admin/kpis.
boost::json::object kpi_report_json(const app::KpiReport& report);

}  // namespace ztm::api
