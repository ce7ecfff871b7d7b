#include "api/purchases_api.h"

#include <boost/json/serialize.hpp>

#include "api/errors.h"
#include "api/request_parsing.h"
#include "core/ids.h"

namespace ztm::api {

namespace json = boost::json;
using http::Response;
using storage::kRetentionDays;
using storage::Purchase;

namespace {

json::object purchase_json(const Purchase& p) {
  const auto when = std::chrono::system_clock::time_point(
      std::chrono::milliseconds(IdGenerator::decode(p.id).unix_ms));
  return json::object{{"id", p.id},
                      {"user_id", p.user_id},
                      {"plan", p.plan},
                      {"price_cents", p.price_cents},
                      {"currency", p.currency},
                      {"day", iso_date(utc_day(when))}};
}

// {"plan": "<id>"} and nothing else.
Result<std::string> read_plan(const json::value& body) {
  const auto* object = body.if_object();
  if (!object) return Error{Errc::invalid_argument, "body: must be a JSON object"};
  for (const auto& [key, value] : *object)
    if (key != "plan") return Error{Errc::invalid_argument, "body: only \"plan\" is accepted"};
  const auto* it = object->if_contains("plan");
  if (!it) return Error{Errc::invalid_argument, "plan: required"};
  const auto* plan = it->if_string();
  if (!plan) return Error{Errc::invalid_argument, "plan: must be a string"};
  return std::string(*plan);
}

json::value optional_json(const auto& v) {
  if (v) return json::value(*v);
  return nullptr;
}

Response json_response(unsigned status, const json::value& body) {
  Response res;
  res.status = status;
  res.body = json::serialize(body);
  res.header("Cache-Control", "private, no-store");
  return res;
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
                      {"standard_error", 0.0081}};
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

boost::asio::awaitable<Response> PurchasesApi::buy(http::Request& req) {
  auto who = co_await auth_.principal(req);
  if (!who) co_return error_response(who.error());
  auto key = parse_idempotency_key(req);
  if (!key) co_return error_response(key.error());
  auto body = parse_json_body(req, max_json_depth_);
  if (!body) co_return error_response(body.error());
  auto plan = read_plan(*body);
  if (!plan) co_return error_response(plan.error());
  // A repeat of a keyed purchase answers like the first (201, the same purchase).
  auto bought = co_await purchases_.buy(who->user_id, std::move(*plan), std::move(*key));
  if (!bought) co_return error_response(bought.error());
  Response res = json_response(201, purchase_json(*bought));
  res.header("Location", "/me/purchases");
  co_return res;
}

boost::asio::awaitable<Response> PurchasesApi::mine(http::Request& req) {
  auto who = co_await auth_.principal(req);
  if (!who) co_return error_response(who.error());
  auto list = co_await purchases_.of(who->user_id);
  if (!list) co_return error_response(list.error());
  json::array out;
  for (const auto& p : *list) out.push_back(purchase_json(p));
  co_return json_response(200, json::object{{"purchases", std::move(out)}});
}

boost::asio::awaitable<Response> PurchasesApi::plans(http::Request&) {
  json::array out;
  for (const auto& p : app::plans())
    out.push_back(json::object{{"id", p.id},
                               {"description", p.description},
                               {"price_cents", p.price_cents},
                               {"currency", p.currency}});
  Response res;
  res.body = json::serialize(json::object{{"plans", std::move(out)}});
  co_return res;
}

boost::asio::awaitable<Response> PurchasesApi::admin_kpis(http::Request& req) {
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
  co_return json_response(200, kpi_report_json(*report));
}

}  // namespace ztm::api
