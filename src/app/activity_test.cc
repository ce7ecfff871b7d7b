// ActivityTracker: one row per user and day however often they come, the day change, the
// seen-today set's limit (fall back to writing), the bound on rows waiting (drop and count),
// and a failed flush that writes its rows again.

#include "app/activity.h"

#include <gtest/gtest.h>

#include "core/manual_clock.h"
#include "core/run_sync.h"
#include "core/task_group.h"
#include "kpi/local/local_sketch.h"
#include "tests/support/memory_store.h"

namespace ztm::app {
namespace {

using namespace std::chrono_literals;

// A store that counts the activity rows it is asked to write.
class CountingStore : public test::MemoryStore {
 public:
  boost::asio::awaitable<Result<void>> record_activity(UtcDay day,
                                                       std::vector<UserId> users) override {
    rows += static_cast<int>(users.size());
    co_return co_await test::MemoryStore::record_activity(day, std::move(users));
  }
  int rows = 0;
};

struct Tracker {
  explicit Tracker(ActivityOptions options = {}) {
    options.clock = &clock;
    tracker = std::make_unique<ActivityTracker>(store, sketch, options, &metrics);
  }
  std::int64_t dau(UtcDay day) { return run_sync(store.daily_kpis(day))->dau; }
  ManualClock clock;
  CountingStore store;
  kpi::LocalActiveUserSketch sketch;
  MetricsRegistry metrics;
  std::unique_ptr<ActivityTracker> tracker;
};

TEST(ActivityTracker, WritesEachUserOncePerDay) {
  Tracker t;
  const UtcDay day = utc_day(t.clock.now());
  for (int round = 0; round < 3; ++round)
    for (UserId u = 1; u <= 4; ++u) t.tracker->seen(u);
  EXPECT_EQ(t.tracker->pending(), 4u);
  ASSERT_TRUE(run_sync(t.tracker->flush()).ok());
  for (UserId u = 1; u <= 4; ++u) t.tracker->seen(u);  // seen today: nothing to write
  ASSERT_TRUE(run_sync(t.tracker->flush()).ok());
  EXPECT_EQ(t.store.rows, 4);
  EXPECT_EQ(t.dau(day), 4);
  EXPECT_EQ(*run_sync(t.sketch.count(day, day)), 4);

  t.clock.advance(24h);  // the next UTC day: the set starts again
  t.tracker->seen(1);
  EXPECT_EQ(t.tracker->seen_today(), 1u);
  ASSERT_TRUE(run_sync(t.tracker->flush()).ok());
  EXPECT_EQ(t.store.rows, 5);
  EXPECT_EQ(t.dau(day + 1), 1);
  EXPECT_EQ(t.dau(day), 4);
}

TEST(ActivityTracker, BeyondTheSeenLimitEveryFlushWritesAgain) {
  Tracker t(ActivityOptions{.max_seen = 3});
  const UtcDay day = utc_day(t.clock.now());
  for (UserId u = 1; u <= 5; ++u) t.tracker->seen(u);
  EXPECT_EQ(t.tracker->seen_today(), 3u);  // the limit
  EXPECT_EQ(t.tracker->pending(), 5u);     // everyone is written nonetheless
  ASSERT_TRUE(run_sync(t.tracker->flush()).ok());
  for (UserId u = 1; u <= 5; ++u) t.tracker->seen(u), t.tracker->seen(u);
  EXPECT_EQ(t.tracker->pending(), 2u);  // users 4 and 5, once each; 1..3 are remembered
  ASSERT_TRUE(run_sync(t.tracker->flush()).ok());
  EXPECT_EQ(t.store.rows, 7);
  EXPECT_EQ(t.dau(day), 5);  // insert-if-absent: still exact
  EXPECT_EQ(t.tracker->dropped(), 0u);
}

TEST(ActivityTracker, RowsBeyondThePendingLimitAreDroppedAndCounted) {
  Tracker t(ActivityOptions{.max_pending = 2});
  for (UserId u = 1; u <= 5; ++u) t.tracker->seen(u);
  EXPECT_EQ(t.tracker->pending(), 2u);
  EXPECT_EQ(t.tracker->dropped(), 3u);
  EXPECT_NE(t.metrics.render().find("ztm_kpi_activity_dropped_total 3"), std::string::npos);
}

TEST(ActivityTracker, AFailedFlushWritesItsRowsAgain) {
  Tracker t;
  const UtcDay day = utc_day(t.clock.now());
  t.tracker->seen(7);
  t.store.fail_with(Errc::unavailable);
  EXPECT_FALSE(run_sync(t.tracker->flush()).ok());
  EXPECT_EQ(t.tracker->pending(), 1u);
  t.store.fail_with(std::nullopt);
  ASSERT_TRUE(run_sync(t.tracker->flush()).ok());
  EXPECT_EQ(t.tracker->pending(), 0u);
  EXPECT_EQ(t.dau(day), 1);
}

// The node's task: stopping it (Asio cancellation) flushes what the last period saw, and returns.
TEST(ActivityTracker, StoppingTheTaskFlushesWhatWasSeen) {
  Tracker t;
  const UtcDay day = utc_day(t.clock.now());
  TaskGroup group;
  group.spawn(t.tracker->run(std::chrono::hours(1)));
  t.tracker->seen(9);
  group.stop();
  EXPECT_EQ(t.dau(day), 1);
  EXPECT_EQ(t.tracker->pending(), 0u);
}

}  // namespace
}  // namespace ztm::app
