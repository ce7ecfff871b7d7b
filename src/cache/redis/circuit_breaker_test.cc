#include "cache/redis/circuit_breaker.h"

#include <gtest/gtest.h>

#include "core/manual_clock.h"

namespace ztm::cache {
namespace {

using namespace std::chrono_literals;

class CircuitBreakerTest : public ::testing::Test {
 protected:
  ManualClock clock;
  CircuitBreaker breaker{{.failure_threshold = 3, .cooldown = 500ms, .clock = &clock}};
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
  clock.advance(499ms);
  EXPECT_FALSE(breaker.try_start_probe());  // still, a millisecond before the end
  clock.advance(1ms);
  EXPECT_TRUE(breaker.try_start_probe());
  EXPECT_FALSE(breaker.try_start_probe());  // only one prober
  EXPECT_FALSE(breaker.allow());            // nobody else uses it meanwhile
  breaker.probe_done(false);
  EXPECT_EQ(breaker.state(), CircuitBreaker::State::open);
  EXPECT_FALSE(breaker.try_start_probe());  // a new cool-down
  clock.advance(500ms);
  ASSERT_TRUE(breaker.try_start_probe());
  breaker.probe_done(true);
  EXPECT_TRUE(breaker.allow());
  EXPECT_EQ(breaker.opens(), 1u);
}

}  // namespace
}  // namespace ztm::cache
