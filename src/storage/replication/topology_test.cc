// The routing rules of topology.h, without a server.
#include "storage/replication/topology.h"

#include <gtest/gtest.h>

#include <set>

namespace ztm::storage {
namespace {

using namespace std::chrono_literals;

using Time = Topology::Time;
const Time t0 = Time{} + 1h;  // any fixed start

HostStatus primary(std::uint64_t lsn, Time at = t0, std::uint32_t timeline = 1) {
  return {HostRole::primary, lsn, timeline, false, at};
}
HostStatus replica(std::uint64_t lsn, Time at = t0, bool streaming = true,
                   std::uint32_t timeline = 1) {
  return {HostRole::replica, lsn, timeline, streaming, at};
}

TEST(Lsn, ParsesAndFormatsPostgresText) {
  EXPECT_EQ(parse_lsn("16/B374D848"), 0x16B374D848u);
  EXPECT_EQ(parse_lsn("0/0"), 0u);
  EXPECT_EQ(format_lsn(0x16B374D848u), "16/B374D848");
  for (const char* bad : {"", "/", "1/", "/1", "x/1", "1/2/3", "1-2", "100000000/0"})
    EXPECT_EQ(parse_lsn(bad), std::nullopt) << bad;
}

TEST(Topology, ReadsAlternateBetweenHealthyReplicasAndWritesGoToThePrimary) {
  Topology t(3, 1000ms);
  t.update(0, primary(100));
  t.update(1, replica(100));
  t.update(2, replica(100));
  EXPECT_EQ(t.primary(), 0u);
  std::multiset<std::size_t> picked;
  for (int i = 0; i < 10; ++i) picked.insert(*t.pick_read(0, 0, t0));
  EXPECT_EQ(picked.count(1), 5u);
  EXPECT_EQ(picked.count(2), 5u);
}

TEST(Topology, SkipsDownUnprovenAndTriedReplicasThenFallsBackToThePrimary) {
  Topology t(3, 1000ms);
  t.update(0, primary(100));
  t.update(1, replica(90));  // behind every sample: nothing proves it fresh
  t.update(2, replica(100, t0, /*streaming=*/false));  // its WAL receiver is not streaming
  EXPECT_EQ(t.pick_read(0, 0, t0), 0u);
  t.update(2, replica(100));
  EXPECT_EQ(t.pick_read(0, 0, t0), 2u);
  EXPECT_EQ(t.pick_read(0, 1u << 2, t0), 0u);                 // 2 failed this call: the primary
  EXPECT_EQ(t.pick_read(0, 1u << 2 | 1u, t0), std::nullopt);  // and the primary too: nothing
  t.mark_down(2);
  EXPECT_EQ(t.pick_read(0, 0, t0), 0u);
}

TEST(Topology, AReadWithAPositionGoesOnlyWhereThatPositionWasReplayed) {
  Topology t(3, 1000ms);
  t.update(0, primary(300));
  t.update(1, replica(200));
  t.update(2, replica(300));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(t.pick_read(250, 0, t0), 2u);
  EXPECT_EQ(t.pick_read(301, 0, t0), 0u);
}

TEST(Topology, OfTwoPrimariesTheHigherTimelineTakesWritesAndNoneMeansNoPrimary) {
  Topology t(2, 1000ms);
  EXPECT_EQ(t.primary(), std::nullopt);
  EXPECT_EQ(t.pick_read(0, 0, t0), std::nullopt);
  t.update(0, primary(100, t0, 1));
  t.update(1, primary(90, t0, 2));  // promoted: a new timeline
  EXPECT_EQ(t.primary(), 1u);
}

// The replica's own view is not trusted: one that replayed all it received but hears nothing
// new is fresh as of the last primary sample it reached, and that ages.
TEST(Topology, AReplicaIsFreshAsOfTheNewestPrimarySampleItHasReplayed) {
  Topology t(2, 1000ms);
  t.update(0, primary(100, t0));
  t.update(0, primary(200, t0 + 250ms));
  t.update(0, primary(300, t0 + 500ms));
  t.update(1, replica(250, t0 + 600ms));  // has every write committed before t0 + 250ms
  EXPECT_EQ(t.staleness(1, t0 + 1s), std::chrono::duration<double>(0.75));
  EXPECT_EQ(t.pick_read(0, 0, t0 + 1250ms), 1u) << "fresh as of t0 + 250ms: 1 s ago";
  EXPECT_EQ(t.pick_read(0, 0, t0 + 1251ms), 0u) << "beyond the bound: the primary";
  t.update(1, replica(300, t0 + 1300ms));
  EXPECT_EQ(t.pick_read(0, 0, t0 + 1500ms), 1u) << "it caught up with the sample at t0 + 500ms";
  EXPECT_EQ(t.staleness(0, t0 + 9s), std::chrono::duration<double>(0)) << "the primary";
}

TEST(Topology, ACutOffReplicaStopsTakingReadsWithinTheBoundThoughItSaysItIsCurrent) {
  Topology t(2, 1000ms);
  for (int i = 0; i <= 8; ++i) {  // the primary moves on every 250 ms; the replica stays at 200
    t.update(0, primary(200 + 100 * static_cast<std::uint64_t>(i), t0 + 250ms * i));
    t.update(1, replica(200, t0 + 250ms * i));
  }
  EXPECT_EQ(t.pick_read(0, 0, t0 + 1s), 1u);
  EXPECT_EQ(t.pick_read(0, 0, t0 + 1001ms), 0u);
  EXPECT_EQ(t.staleness(1, t0 + 2s), std::chrono::duration<double>(2.0));
}

TEST(Topology, WithoutAPrimaryEveryReplicaStopsWithinTheBoundAndReadsHaveNowhereToGo) {
  Topology t(3, 1000ms);
  t.update(0, primary(500, t0));
  t.update(1, replica(500, t0));
  t.update(2, replica(500, t0));
  t.mark_down(0);  // killed: no more samples
  EXPECT_TRUE(t.pick_read(0, 0, t0 + 1s).has_value()) << "fresh as of t0: within the bound";
  EXPECT_EQ(t.pick_read(0, 0, t0 + 1001ms), std::nullopt) << "nothing proven: the caller 503s";
}

TEST(Topology, APromotionStartsTheSamplesAgainAndOldTimelineReplicasTakeNoReads) {
  Topology t(3, 1000ms);
  t.update(0, primary(500, t0, 1));
  t.update(1, replica(500, t0, true, 1));
  t.update(2, replica(500, t0, true, 1));
  t.mark_down(0);
  t.update(1, primary(510, t0 + 300ms, 2));  // promoted
  EXPECT_EQ(t.pick_read(0, 0, t0 + 400ms), 1u) << "replica 2 still receives timeline 1";
  t.update(2, replica(520, t0 + 500ms, true, 2));  // following the new primary
  EXPECT_EQ(t.pick_read(0, 0, t0 + 600ms), 2u);
  t.update(0, primary(900, t0 + 700ms, 1));  // the old primary is back, on its old timeline
  EXPECT_EQ(t.primary(), 1u) << "writes stay on the higher timeline";
  EXPECT_EQ(t.pick_read(0, 0, t0 + 800ms), 2u) << "its samples are not the current primary's";
}

TEST(Topology, SamplesOutOfOrderOrGoingBackAreIgnored) {
  Topology t(2, 1000ms);
  t.update(0, primary(300, t0 + 500ms));
  t.update(0, primary(200, t0 + 250ms));  // an older answer arriving late
  t.update(1, replica(250, t0 + 600ms));
  EXPECT_EQ(t.staleness(1, t0 + 600ms), std::nullopt) << "only the sample at 300 is kept";
}

}  // namespace
}  // namespace ztm::storage
