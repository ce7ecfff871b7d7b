// RedisActiveUserSketch on a real redis-server: the documented keys and their expiry, and the
// DAU/WAU of 20,000 users within 3 standard errors of the exact count.

#include "kpi/redis/redis_sketch.h"

#include <gtest/gtest.h>

#include <cmath>

#include "kpi/hyperloglog.h"
#include "tests/sessions/event_loops.h"
#include "tests/support/redis_instance.h"

namespace ztm::test {
namespace {

using kpi::HyperLogLog;
using kpi::RedisActiveUserSketch;

RedisInstance& server() {
  static RedisInstance instance;
  return instance;
}

std::unique_ptr<RedisActiveUserSketch> sketch(const std::string& prefix,
                                              int max_values_per_command = 1000) {
  redis::ConnectionOptions o;
  o.address = server().address();
  o.timeout = std::chrono::seconds(2);
  return std::make_unique<RedisActiveUserSketch>(
      std::make_shared<redis::Client>(o),
      kpi::RedisSketchOptions{.prefix = prefix, .max_values_per_command = max_values_per_command});
}

std::vector<UserId> users(int from, int n) {
  std::vector<UserId> out;
  for (int i = from; i < from + n; ++i) out.push_back((std::int64_t{1} << 40) + i * 64);
  return out;
}

constexpr UtcDay kDay = 20'240;  // 2025-06-01

TEST(RedisSketch, DayKeysFollowTheDocumentedLayoutAndExpire) {
  auto s = sketch("layout:");
  EventLoops loops(1);
  ASSERT_TRUE(loops.run(s->add(kDay, users(0, 3))).ok());
  EXPECT_EQ(s->key(kDay), "layout:dau:2025-06-01");
  EXPECT_EQ(server().command({"PFCOUNT", "layout:dau:2025-06-01"}), "3");
  const auto ttl = std::stoll(server().command({"TTL", "layout:dau:2025-06-01"}));
  EXPECT_GT(ttl, 34 * 86'400);
  EXPECT_LE(ttl, 35 * 86'400);
}

TEST(RedisSketch, CountsWithinThreeStandardErrors) {
  auto s = sketch("error:");
  EventLoops loops(2);
  ASSERT_TRUE(loops.run(s->add(kDay, users(0, 20'000))).ok());
  ASSERT_TRUE(loops.run(s->add(kDay, users(0, 20'000))).ok());  // again: no change
  ASSERT_TRUE(loops.run(s->add(kDay - 1, users(15'000, 10'000))).ok());
  const double sigma3 = 3 * HyperLogLog::kStandardError;
  const auto dau = loops.run(s->count(kDay, kDay));
  ASSERT_TRUE(dau.ok());
  EXPECT_LE(std::abs(static_cast<double>(*dau) - 20'000), sigma3 * 20'000) << *dau;
  const auto two_days = loops.run(s->count(kDay - 1, kDay));
  ASSERT_TRUE(two_days.ok());
  EXPECT_LE(std::abs(static_cast<double>(*two_days) - 25'000), sigma3 * 25'000) << *two_days;
  EXPECT_EQ(*loops.run(s->count(kDay + 1, kDay + 1)), 0);
}

// Lua's unpack() refuses ~8,000 values: a configured batch above the script's limit is cut to it.
TEST(RedisSketch, ABatchLargerThanTheScriptTakesIsCut) {
  auto s = sketch("big:", 1'000'000);
  EventLoops loops(1);
  ASSERT_TRUE(loops.run(s->add(kDay, users(0, 3 * kpi::kMaxValuesPerScript))).ok());
  const auto n = std::stoll(server().command({"PFCOUNT", "big:dau:2025-06-01"}));
  const double sigma3 = 3 * HyperLogLog::kStandardError;
  EXPECT_LE(std::abs(static_cast<double>(n) - 3 * kpi::kMaxValuesPerScript),
            sigma3 * 3 * kpi::kMaxValuesPerScript)
      << n;
  EXPECT_GT(std::stoll(server().command({"TTL", "big:dau:2025-06-01"})), 34 * 86'400);
}

TEST(RedisSketch, AnUnreachableServerIsUnavailable) {
  redis::ConnectionOptions o;
  o.address = "127.0.0.1:1";
  o.timeout = std::chrono::milliseconds(300);
  RedisActiveUserSketch s(std::make_shared<redis::Client>(o), {});
  EventLoops loops(1);
  auto r = loops.run(s.add(kDay, users(0, 1)));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::unavailable);
}

}  // namespace
}  // namespace ztm::test
