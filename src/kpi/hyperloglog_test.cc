// The HyperLogLog and the in-process sketch against exact counts: within 3 standard errors
// (0.81 % each) for every size tried, idempotent, and a union by merge.

#include "kpi/hyperloglog.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/run_sync.h"
#include "kpi/local/local_sketch.h"

namespace ztm::kpi {
namespace {

// |estimate - exact| <= 3 sigma (and exact for tiny sets, where the estimate rounds to it).
void expect_within_error(double estimate, double exact) {
  const double bound = std::max(1.0, 3 * HyperLogLog::kStandardError * exact);
  EXPECT_LE(std::abs(estimate - exact), bound) << "estimate " << estimate << " of " << exact;
}

// Ids as the service issues them: Snowflake ids are sequential, close together.
std::int64_t user(int i) {
  return (std::int64_t{1} << 40) + std::int64_t{i} * 64;
}

TEST(HyperLogLog, EmptyCountsZero) {
  HyperLogLog h;
  EXPECT_TRUE(h.empty());
  EXPECT_EQ(std::llround(h.estimate()), 0);
}

TEST(HyperLogLog, EstimatesWithinThreeStandardErrors) {
  for (int n : {1, 10, 1'000, 20'000, 100'000, 1'000'000}) {
    HyperLogLog h;
    for (int i = 0; i < n; ++i) h.add(static_cast<std::uint64_t>(user(i)));
    SCOPED_TRACE(n);
    expect_within_error(h.estimate(), n);
  }
}

TEST(HyperLogLog, AddingAgainChangesNothing) {
  HyperLogLog once, thrice;
  for (int i = 0; i < 20'000; ++i) once.add(static_cast<std::uint64_t>(user(i)));
  for (int round = 0; round < 3; ++round)
    for (int i = 0; i < 20'000; ++i) thrice.add(static_cast<std::uint64_t>(user(i)));
  EXPECT_EQ(once.estimate(), thrice.estimate());
}

TEST(HyperLogLog, MergeIsTheUnion) {
  HyperLogLog a, b;
  for (int i = 0; i < 15'000; ++i) a.add(static_cast<std::uint64_t>(user(i)));
  for (int i = 10'000; i < 25'000; ++i) b.add(static_cast<std::uint64_t>(user(i)));
  a.merge(b);
  expect_within_error(a.estimate(), 25'000);
}

TEST(LocalSketch, DayWeekAndMonthWithinTheError) {
  LocalActiveUserSketch sketch;
  constexpr UtcDay kDay = 20'240;
  // 20,000 users today; the next 5,000 ids on each of the 6 days before.
  std::vector<UserId> today;
  for (int i = 0; i < 20'000; ++i) today.push_back(user(i));
  ASSERT_TRUE(run_sync(sketch.add(kDay, today)).ok());
  for (int d = 1; d <= 6; ++d) {
    std::vector<UserId> earlier;
    for (int i = 0; i < 5'000; ++i) earlier.push_back(user(15'000 + d * 5'000 + i));
    ASSERT_TRUE(run_sync(sketch.add(kDay - d, earlier)).ok());
  }
  expect_within_error(static_cast<double>(*run_sync(sketch.count(kDay, kDay))), 20'000);
  expect_within_error(static_cast<double>(*run_sync(sketch.count(kDay - 6, kDay))), 50'000);
  EXPECT_EQ(*run_sync(sketch.count(kDay + 1, kDay + 1)), 0);
  EXPECT_FALSE(run_sync(sketch.count(kDay - kRetainedDays, kDay)).ok());
}

TEST(LocalSketch, KeepsOnlyTheRetainedDays) {
  LocalActiveUserSketch sketch;
  const std::vector<UserId> one{user(1)};
  ASSERT_TRUE(run_sync(sketch.add(100, one)).ok());
  ASSERT_TRUE(run_sync(sketch.add(100 + kRetainedDays - 1, one)).ok());
  EXPECT_EQ(*run_sync(sketch.count(100, 100)), 1);  // still inside the window
  ASSERT_TRUE(run_sync(sketch.add(100 + kRetainedDays, one)).ok());
  EXPECT_EQ(*run_sync(sketch.count(100, 100)), 0);  // dropped
}

}  // namespace
}  // namespace ztm::kpi
