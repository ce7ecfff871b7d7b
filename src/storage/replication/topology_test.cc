// The routing rules of topology.h, without a server.
#include "storage/replication/topology.h"

#include <gtest/gtest.h>

#include <set>

namespace ztm::storage {
namespace {

using namespace std::chrono_literals;

HostStatus primary(std::uint64_t lsn, std::uint32_t timeline = 1) {
  return {HostRole::primary, lsn, 0.0, timeline};
}
HostStatus replica(std::uint64_t lsn, std::optional<double> lag = 0.0) {
  return {HostRole::replica, lsn, lag, 0};
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
  for (int i = 0; i < 10; ++i) picked.insert(*t.pick_read(0, 0));
  EXPECT_EQ(picked.count(1), 5u);
  EXPECT_EQ(picked.count(2), 5u);
}

TEST(Topology, SkipsDownLaggingAndTriedReplicasThenFallsBackToThePrimary) {
  Topology t(3, 1000ms);
  t.update(0, primary(100));
  t.update(1, replica(100, 5.0));           // beyond the bound
  t.update(2, replica(100, std::nullopt));  // unknown lag
  EXPECT_EQ(t.pick_read(0, 0), 0u);
  t.update(2, replica(100));
  EXPECT_EQ(t.pick_read(0, 0), 2u);
  EXPECT_EQ(t.pick_read(0, 1u << 2), 0u);                 // 2 failed this call: the primary
  EXPECT_EQ(t.pick_read(0, 1u << 2 | 1u), std::nullopt);  // and the primary too: nothing
  t.mark_down(2);
  EXPECT_EQ(t.pick_read(0, 0), 0u);
}

TEST(Topology, AReadWithAPositionGoesOnlyWhereThatPositionWasReplayed) {
  Topology t(3, 1000ms);
  t.update(0, primary(300));
  t.update(1, replica(200));
  t.update(2, replica(300));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(t.pick_read(250, 0), 2u);
  EXPECT_EQ(t.pick_read(301, 0), 0u);
}

TEST(Topology, OfTwoPrimariesTheHigherTimelineTakesWritesAndNoneMeansNoPrimary) {
  Topology t(2, 1000ms);
  EXPECT_EQ(t.primary(), std::nullopt);
  EXPECT_EQ(t.pick_read(0, 0), std::nullopt);
  t.update(0, primary(100, 1));
  t.update(1, primary(90, 2));  // promoted: a new timeline
  EXPECT_EQ(t.primary(), 1u);
}

}  // namespace
}  // namespace ztm::storage
