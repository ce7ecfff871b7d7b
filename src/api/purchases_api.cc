#include "api/purchases_api.h"

#include <boost/json/serialize.hpp>

#include "api/errors.h"
#include "api/request_parsing.h"
#include "core/ids.h"

namespace ztm::api {

namespace json = boost::json;
using http::Response;
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

Response json_response(unsigned status, const json::value& body) {
  Response res;
  res.status = status;
  res.body = json::serialize(body);
  res.header("Cache-Control", "private, no-store");
  return res;
}

}  // namespace

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

}  // namespace ztm::api
