#include "cache/redis/consistent_hash_ring.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <string>

namespace ztm::cache {
namespace {

constexpr int kKeys = 100'000;

std::string key(int i) {
  return "user:" + std::to_string(i);
}

// Share of keys whose owner (by name) differs between the two rings.
double moved_share(const ConsistentHashRing& before, const ConsistentHashRing& after) {
  int moved = 0;
  for (int i = 0; i < kKeys; ++i)
    if (before.name(before.owner(key(i))) != after.name(after.owner(key(i)))) ++moved;
  return static_cast<double>(moved) / kKeys;
}

TEST(ConsistentHashRing, AddingAFourthNodeToThreeMovesAboutAQuarterOfTheKeys) {
  const ConsistentHashRing three({"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"});
  const ConsistentHashRing four(
      {"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379", "10.0.0.4:6379"});
  const double moved = moved_share(three, four);
  std::printf("adding a 4th node to 3 moved %.2f%% of %d keys\n", 100 * moved, kKeys);
  EXPECT_GE(moved, 0.20);
  EXPECT_LE(moved, 0.30);
  // Every moved key moved TO the new node: nothing shuffles between the old ones.
  for (int i = 0; i < kKeys; ++i) {
    const auto& was = three.name(three.owner(key(i)));
    const auto& is = four.name(four.owner(key(i)));
    if (was != is) {
      ASSERT_EQ(is, "10.0.0.4:6379") << key(i);
    }
  }
}

TEST(ConsistentHashRing, RemovingANodeMovesOnlyItsKeys) {
  const ConsistentHashRing four({"a:1", "b:1", "c:1", "d:1"});
  const ConsistentHashRing three({"a:1", "b:1", "c:1"});
  const double moved = moved_share(four, three);
  std::printf("removing 1 of 4 nodes moved %.2f%% of %d keys\n", 100 * moved, kKeys);
  EXPECT_GE(moved, 0.20);
  EXPECT_LE(moved, 0.30);
  for (int i = 0; i < kKeys; ++i)
    if (four.name(four.owner(key(i))) != "d:1") {
      ASSERT_EQ(four.name(four.owner(key(i))), three.name(three.owner(key(i))));
    }
}

TEST(ConsistentHashRing, VirtualNodesBalanceTheShares) {
  const ConsistentHashRing ring({"a:1", "b:1", "c:1"});
  std::map<int, int> owned;
  for (int i = 0; i < kKeys; ++i) ++owned[ring.owner(key(i))];
  for (const auto& [node, n] : owned) {
    EXPECT_GT(n, kKeys / 3 * 0.85) << ring.name(node);
    EXPECT_LT(n, kKeys / 3 * 1.15) << ring.name(node);
  }
  // With one point per node the shares are far apart: the reason for virtual nodes.
  const ConsistentHashRing bare({"a:1", "b:1", "c:1"}, 1);
  std::map<int, int> bare_owned;
  for (int i = 0; i < kKeys; ++i) ++bare_owned[bare.owner(key(i))];
  int most = 0;
  for (const auto& kv : bare_owned) most = std::max(most, kv.second);
  EXPECT_GT(most, kKeys / 3 * 1.15);
}

TEST(ConsistentHashRing, EveryProcessBuildsTheSameRingWhateverTheNodeOrder) {
  const ConsistentHashRing x({"a:1", "b:1", "c:1"});
  const ConsistentHashRing y({"c:1", "a:1", "b:1"});
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(x.name(x.owner(key(i))), y.name(y.owner(key(i))));
}

TEST(ConsistentHashRing, SuccessorsAreDistinctAndStartWithTheOwner) {
  const ConsistentHashRing ring({"a:1", "b:1", "c:1"});
  for (int i = 0; i < 1000; ++i) {
    auto s = ring.successors(key(i), 5);
    ASSERT_EQ(s.size(), 3u);
    EXPECT_EQ(s[0], ring.owner(key(i)));
    EXPECT_NE(s[0], s[1]);
    EXPECT_NE(s[1], s[2]);
    EXPECT_NE(s[0], s[2]);
  }
  EXPECT_THROW(ConsistentHashRing({"a:1", "a:1"}), std::invalid_argument);
}

}  // namespace
}  // namespace ztm::cache
