#include "cache/redis/circuit_breaker.h"

#include <gtest/gtest.h>

namespace ztm::cache {
namespace {

using namespace std::chrono_literals;

class CircuitBreakerTest : public ::testing::Test {
 protected:
  std::chrono::steady_clock::time_point now{};
  CircuitBreaker breaker{
      {.failure_threshold = 3, .cooldown = 500ms, .now = [this] { return now; }}};
};

TEST_F(CircuitBreakerTest, OpensAfterConsecutiveFailuresOnly) {
  breaker.on_failure();
  breaker.on_failure();
  breaker.on_success();  // resets the run
  breaker.on_failure();
  breaker.on_failure();
  EXPECT_TRUE(breaker.allow());
  breaker.on_failure();
  EXPECT_FALSE(breaker.allow());
  EXPECT_EQ(breaker.opens(), 1u);
}

TEST_F(CircuitBreakerTest, OneProbeAfterTheCooldownThenClosedOrOpenAgain) {
  breaker.trip();
  EXPECT_FALSE(breaker.try_start_probe());  // cooling down
  now += 500ms;
  EXPECT_TRUE(breaker.try_start_probe());
  EXPECT_FALSE(breaker.try_start_probe());  // only one prober
  EXPECT_FALSE(breaker.allow());            // nobody else uses it meanwhile
  breaker.probe_done(false);
  EXPECT_EQ(breaker.state(), CircuitBreaker::State::open);
  EXPECT_FALSE(breaker.try_start_probe());  // a new cool-down
  now += 500ms;
  ASSERT_TRUE(breaker.try_start_probe());
  breaker.probe_done(true);
  EXPECT_TRUE(breaker.allow());
  EXPECT_EQ(breaker.opens(), 1u);
}

}  // namespace
}  // namespace ztm::cache
