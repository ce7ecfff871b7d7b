#include "core/clock.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "core/manual_clock.h"

namespace ztm {
namespace {

using namespace std::chrono_literals;

TEST(SystemClock, ReadsTheRealClocks) {
  const Clock& clock = Clock::system();
  EXPECT_EQ(&clock, &Clock::system()) << "one stateless object";
  const auto wall = clock.now();
  EXPECT_LT(std::chrono::abs(wall - std::chrono::system_clock::now()), 5s);
  const auto steady = clock.steady_now();
  EXPECT_LE(steady, std::chrono::steady_clock::now());
  EXPECT_LE(clock.steady_now() - steady, 5s);
  // The coarse reading shares steady_clock's epoch and lags by at most a tick (<= 10 ms here).
  const auto coarse = clock.coarse_steady_now();
  const auto exact = clock.steady_now();
  EXPECT_LE(coarse, exact + 1ms);
  EXPECT_LT(exact - coarse, 10ms);
}

TEST(ManualClock, MovesOnlyWhenAdvanced) {
  ManualClock clock;
  const auto wall = clock.now();
  const auto steady = clock.steady_now();
  EXPECT_EQ(wall, ManualClock::kDefaultStart);
  EXPECT_GT(steady, std::chrono::steady_clock::time_point{}) << "an unset deadline is past";
  EXPECT_EQ(clock.now(), wall);
  EXPECT_EQ(clock.steady_now(), steady);
  clock.advance(1500ms);
  EXPECT_EQ(clock.now() - wall, 1500ms);
  EXPECT_EQ(clock.steady_now() - steady, 1500ms);
  EXPECT_EQ(clock.coarse_steady_now(), clock.steady_now()) << "exact, not coarse";
  EXPECT_EQ(unix_ms(clock.now()), unix_ms(ManualClock::kDefaultStart) + 1500);
}

TEST(ManualClock, WallTimeStepsAloneAndMonotonicTimeNeverGoesBack) {
  ManualClock clock;
  const auto steady = clock.steady_now();
  clock.step_wall(-3s);
  EXPECT_EQ(clock.now(), ManualClock::kDefaultStart - 3s);
  EXPECT_EQ(clock.steady_now(), steady);
  EXPECT_THROW(clock.advance(-1ms), std::invalid_argument);
  EXPECT_EQ(clock.steady_now(), steady);
}

TEST(ManualClock, AdvancesFromManyThreadsAddUp) {
  ManualClock clock;
  const auto start = clock.steady_now();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&clock] {
      for (int i = 0; i < 1000; ++i) clock.advance(1ms);
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(clock.steady_now() - start, 4000ms);
  EXPECT_EQ(clock.now() - ManualClock::kDefaultStart, 4000ms);
}

}  // namespace
}  // namespace ztm
