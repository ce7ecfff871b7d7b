// Business KPIs over real sockets: POST /purchases and its hostile inputs, GET /me/purchases,
// GET /admin/kpis refused without an admin's session, an authenticated request counted as
// activity, and the KPI gauges on /metrics (no user id in any label; promtool in server_test).
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "core/utc_day.h"
#include "tests/support/eventually.h"
#include "tests/support/http_client.h"
#include "tests/support/redis_instance.h"
#include "tests/support/test_server.h"

namespace ztm {
namespace {
using test::error_code;
using test::HttpClient;
using test::Reply;
using test::TestServer;
namespace json = boost::json;

class KpisTest : public ::testing::Test {
 protected:
  TestServer server{[](Config& config) {
    config.kpi.activity_flush_ms = 20;
    config.kpi.refresh_interval_ms = 50;
  }};
  HttpClient c{server.port()};
};

TEST_F(KpisTest, APurchaseRecordsTheCataloguePrice) {
  EXPECT_EQ(c.request("POST", "/purchases", R"({"plan":"storage-1tb"})").status, 401u);
  c.authorize(server.user_token());
  auto r = c.request("POST", "/purchases", R"({"plan":"storage-1tb"})");
  ASSERT_EQ(r.status, 201u) << r.body;
  const auto bought = json::parse(r.body);
  EXPECT_EQ(bought.at("plan").as_string(), "storage-1tb");
  EXPECT_EQ(bought.at("price_cents").as_int64(), 999);
  EXPECT_EQ(bought.at("currency").as_string(), "USD");
  EXPECT_EQ(bought.at("user_id").as_int64(), 12);
  auto mine = c.request("GET", "/me/purchases");
  ASSERT_EQ(mine.status, 200u);
  EXPECT_EQ(json::parse(mine.body).at("purchases").as_array().size(), 1u);
  auto plans = c.request("GET", "/plans");
  ASSERT_EQ(plans.status, 200u);
  EXPECT_EQ(json::parse(plans.body).at("plans").as_array().size(), 2u);
}

TEST_F(KpisTest, AnIdempotencyKeyMakesOnePurchase) {
  c.authorize(server.user_token());
  const char* key = "Idempotency-Key: buy-once-1\r\n";
  auto first = c.request("POST", "/purchases", R"({"plan":"storage-100gb"})", key);
  auto again = c.request("POST", "/purchases", R"({"plan":"storage-100gb"})", key);
  ASSERT_EQ(first.status, 201u) << first.body;
  ASSERT_EQ(again.status, 201u) << again.body;
  EXPECT_EQ(json::parse(first.body).at("id"), json::parse(again.body).at("id"));
  auto other = c.request("POST", "/purchases", R"({"plan":"storage-1tb"})", key);
  EXPECT_EQ(other.status, 409u);
  EXPECT_EQ(error_code(other), "conflict");
  EXPECT_EQ(json::parse(c.request("GET", "/me/purchases").body).at("purchases").as_array().size(),
            1u);
  EXPECT_EQ(
      c.request("POST", "/purchases", R"({"plan":"storage-1tb"})", "Idempotency-Key: bad key\r\n")
          .status,
      400u);
}

TEST_F(KpisTest, HostilePurchasesAreRefusedWithAJsonError) {
  c.authorize(server.user_token());
  struct Case {
    std::string body;
    unsigned status;
    const char* code;
  };
  const std::vector<Case> cases = {
      {R"({"plan":"storage-1pb"})", 422, "validation_failed"},
      {R"({"plan":"storage-1tb","price_cents":1})", 422, "validation_failed"},  // no client price
      {R"({"plan":42})", 422, "validation_failed"},
      {R"({})", 422, "validation_failed"},
      {R"(["storage-1tb"])", 422, "validation_failed"},
      {R"({"plan":"storage-1tb")", 400, "invalid_json"},
      {std::string(64, '[') + std::string(64, ']'), 400, "invalid_json"},  // too deep
      {R"({"plan":")" + std::string(100'000, 'x') + R"("})", 413, "body_too_large"},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(k.body.substr(0, 60));
    HttpClient fresh(server.port());  // a 413 closes its connection
    fresh.authorize(server.user_token());
    const auto r = fresh.request("POST", "/purchases", k.body);
    EXPECT_EQ(r.status, k.status) << r.body;
    EXPECT_EQ(error_code(r), k.code);
  }
  const auto text = c.request("POST", "/purchases", "plan=storage-1tb", {}, "text/plain");
  EXPECT_EQ(text.status, 415u);
  EXPECT_TRUE(json::parse(c.request("GET", "/me/purchases").body)
                  .at("purchases")
                  .as_array()
                  .empty());  // nothing was bought
}

TEST_F(KpisTest, AdminKpisNeedAnAdmin) {
  const auto anonymous = c.request("GET", "/admin/kpis");
  EXPECT_EQ(anonymous.status, 401u);
  EXPECT_EQ(error_code(anonymous), "unauthenticated");
  c.authorize("not-a-session-token-not-a-session-token-xyz");
  EXPECT_EQ(c.request("GET", "/admin/kpis").status, 401u);
  c.authorize(server.user_token());
  const auto user = c.request("GET", "/admin/kpis");
  EXPECT_EQ(user.status, 403u);
  EXPECT_EQ(error_code(user), "forbidden");
  c.authorize(server.admin_token());
  const auto admin = c.request("GET", "/admin/kpis");
  ASSERT_EQ(admin.status, 200u) << admin.body;
  const auto body = json::parse(admin.body);
  EXPECT_EQ(body.at("day").as_string(), iso_date(utc_day(std::chrono::system_clock::now())));
  EXPECT_EQ(body.at("retention").as_array().size(), 31u);
  EXPECT_TRUE(body.at("active_users").at("sketch").at("dau").is_int64());
  EXPECT_EQ(c.request("GET", "/admin/kpis?day=2025-02-30").status, 400u);
  EXPECT_EQ(c.request("GET", "/admin/kpis?day=2025-06-01").status, 200u);
}

// The demo user's authenticated request counts them active today: the admin's report and the
// gauges show it (exact and sketch) once the tracker has flushed and the gauges refreshed.
TEST_F(KpisTest, AnAuthenticatedRequestMakesTheUserActiveToday) {
  HttpClient user(server.port());
  user.authorize(server.user_token());
  ASSERT_EQ(user.request("GET", "/me").status, 200u);
  c.authorize(server.admin_token());
  std::int64_t dau = 0;
  EXPECT_TRUE(test::eventually([&] {
    const auto body = json::parse(c.request("GET", "/admin/kpis").body);
    dau = body.at("active_users").at("exact").at("dau").as_int64();
    return dau == 2 && body.at("active_users").at("sketch").at("dau").as_int64() == 2;
  })) << "dau "
      << dau;  // the user and the admin
  std::string metrics;
  EXPECT_TRUE(test::eventually([&] {
    metrics = c.request("GET", "/metrics").body;
    return metrics.find(R"(ztm_kpi_active_users{window="day",method="exact"} 2)") !=
               std::string::npos &&
           metrics.find(R"(ztm_kpi_active_users{window="day",method="sketch"} 2)") !=
               std::string::npos;
  })) << metrics;
  for (const char* name :
       {"ztm_kpi_signups ", "ztm_kpi_revenue_cents ", "ztm_kpi_edits_done ",
        "ztm_kpi_photos_uploaded ", "ztm_kpi_purchases ",
        R"(ztm_kpi_retention_ratio{after_days="7"})", "ztm_kpi_last_refresh_timestamp_seconds "})
    EXPECT_NE(metrics.find(name), std::string::npos) << name;
  EXPECT_EQ(metrics.find("user_id"), std::string::npos);  // no user in any label
}

// Scaled out (sessions in Redis), kpi.sketch = auto puts the day's HyperLogLog on the sessions'
// Redis, under the documented key, shared by every web server (engine: a redis-server of its own).
TEST(KpisRedisTest, WithSessionsInRedisTheSketchIsThere) {
  test::RedisInstance redis;
  TestServer server([&](Config& config) {
    config.sessions.backend = "redis";
    config.sessions.redis_address = redis.address();
    config.kpi.activity_flush_ms = 20;
  });
  HttpClient user(server.port());
  user.authorize(server.user_token());
  ASSERT_EQ(user.request("GET", "/me").status, 200u);
  const std::string key = "ztm:kpi:dau:" + iso_date(utc_day(std::chrono::system_clock::now()));
  EXPECT_TRUE(test::eventually([&] { return redis.command({"PFCOUNT", key}) == "1"; }));
  // PFADD and EXPIRE are one script (src/kpi/redis/redis_sketch.cc): the TTL is there with the
  // count.
  EXPECT_GT(std::stoll(redis.command({"TTL", key})), 34 * 86'400);
  HttpClient admin(server.port());
  admin.authorize(server.admin_token());
  EXPECT_TRUE(test::eventually([&] {
    const auto body = json::parse(admin.request("GET", "/admin/kpis").body);
    return body.at("active_users").at("sketch").at("dau").as_int64() == 2;  // user and admin
  }));
}

}  // namespace
}  // namespace ztm
