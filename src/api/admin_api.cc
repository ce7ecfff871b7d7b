#include "api/admin_api.h"

#include <boost/json/serialize.hpp>

#include "api/errors.h"
#include "api/request_parsing.h"

namespace ztm::api {

namespace json = boost::json;
using http::Response;
using storage::kRetentionDays;

namespace {

json::value optional_json(const auto& v) {
  if (v) return json::value(*v);
  return nullptr;
}

}  // namespace

json::object kpi_report_json(const app::KpiReport& report) {
  const auto& e = report.exact;
  json::array retention;
  for (const auto& r : report.retention) {
    json::object row{{"cohort", iso_date(r.cohort)}, {"signups", r.size}};
    for (std::size_t i = 0; i < kRetentionDays.size(); ++i) {
      const std::string n = std::to_string(kRetentionDays[i]);
      row.emplace("day" + n + "_active", optional_json(r.active[i]));
      row.emplace("day" + n + "_share", optional_json(r.share[i]));
    }
    retention.push_back(std::move(row));
  }
  json::object sketch{{"dau", optional_json(report.sketch.dau)},
                      {"wau", optional_json(report.sketch.wau)},
                      {"mau", optional_json(report.sketch.mau)},
                      {"standard_error", app::kSketchStandardError}};
  if (!report.sketch.error.empty()) sketch.emplace("error", report.sketch.error);
  return json::object{
      {"day", iso_date(report.day)},
      {"active_users",
       json::object{{"exact", json::object{{"dau", e.dau}, {"wau", e.wau}, {"mau", e.mau}}},
                    {"sketch", std::move(sketch)}}},
      {"signups", e.signups},
      {"photos_uploaded", e.photos_uploaded},
      {"edits_done", e.edits_done},
      {"revenue",
       json::object{{"purchases", e.purchases}, {"cents", e.revenue_cents}, {"currency", "USD"}}},
      {"retention", std::move(retention)}};
}

boost::asio::awaitable<Response> AdminApi::kpis(http::Request& req) {
  auto who = co_await auth_.principal(req);
  if (!who) co_return error_response(who.error());
  if (!who->admin())
    co_return error_response(Error{Errc::forbidden, "only an admin reads the KPIs"});
  UtcDay day = kpis_.today();
  if (const auto text = req.query_param("day"); !text.empty()) {
    const auto parsed = parse_iso_date(text);
    if (!parsed)
      co_return error_response(
          Error{Errc::invalid_parameter, "day: a date yyyy-mm-dd (UTC), 1970 or later"});
    day = *parsed;
  }
  auto report = co_await kpis_.report(day);
  if (!report) co_return error_response(report.error());
  Response res;
  res.body = json::serialize(kpi_report_json(*report));
  res.header("Cache-Control", "private, no-store");
  co_return res;
}

boost::asio::awaitable<Response> AdminApi::set_role(http::Request& req) {
  auto who = co_await auth_.principal(req);
  if (!who) co_return error_response(who.error());
  if (!who->admin()) co_return error_response(Error{Errc::forbidden, "only an admin sets roles"});
  auto id = parse_id(req.params[0]);
  if (!id) co_return error_response(id.error());
  auto body = parse_json_body(req, max_json_depth_);
  if (!body) co_return error_response(body.error());
  const auto* object = body->if_object();
  const auto* role = object ? object->if_contains("role") : nullptr;
  if (!role || !role->is_string() || object->size() != 1)
    co_return error_response(
        Error{Errc::invalid_argument, R"(the body must be {"role": "admin"} or {"role": "user"})"});
  auto done = co_await auth_.accounts().set_role(*id, std::string(role->as_string()));
  if (!done) co_return error_response(done.error());
  Response res;
  res.status = 204;
  co_return res;
}

}  // namespace ztm::api
