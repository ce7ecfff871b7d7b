// RedisCacheTier against real redis-servers: the lease protocol, node failures, hot keys.

#include "cache/redis/redis_cache_tier.h"

#include <gtest/gtest.h>

#include "tests/cache/l2_cluster.h"

namespace ztm::test {

using cache::CachedPtr;
using cache::CachedValue;
using cache::RedisCacheTier;
using cache::SharedLease;
using cache::SharedLookup;

namespace {

using namespace std::chrono_literals;
using cache::RedisCacheTier;
using Kind = SharedLookup::Kind;

CachedPtr value(const std::string& data, std::int64_t version) {
  return std::make_shared<const CachedValue>(CachedValue{data, version});
}

class RedisCacheTierTest : public ::testing::Test {
 protected:
  RedisCacheTierTest() {
    ignore_sigpipe();
    for (int i = 0; i < 3; ++i) redis.push_back(std::make_unique<RedisInstance>());
    auto o = tier_options(redis);
    o.lease_wait = 30ms;
    tier = std::make_unique<RedisCacheTier>(o);
  }
  ~RedisCacheTierTest() override { loops.reset(); }

  SharedLookup lookup(const std::string& key) { return run_on(*loops, tier->get_or_lease(key)); }
  bool fill(const std::string& key, CachedPtr v, SharedLease lease) {
    return run_on(*loops, tier->fill(key, std::move(v), std::move(lease)));
  }
  void erase(const std::string& key) { run_on(*loops, erase_and_ack(key)); }
  boost::asio::awaitable<bool> refresh() {
    co_await tier->refresh_stats();
    co_return true;
  }
  boost::asio::awaitable<bool> erase_and_ack(std::string key) {
    co_await tier->erase(key);
    co_return true;
  }
  // Which redis instance holds key's value right now ("" if none).
  std::string stored_at(int node, const std::string& key) {
    return redis[static_cast<std::size_t>(node)]->command({"GET", "c:" + key});
  }

  std::vector<std::unique_ptr<RedisInstance>> redis;
  std::unique_ptr<RedisCacheTier> tier;
  std::unique_ptr<EventLoops> loops = std::make_unique<EventLoops>(1);
};

TEST_F(RedisCacheTierTest, OneLeaseAtATimeAndAFillAfterAnEraseIsRefused) {
  auto first = lookup("k");
  ASSERT_EQ(first.kind, Kind::lease);
  EXPECT_EQ(lookup("k").kind, Kind::busy);  // another reader waits 30 ms, then gives up
  ASSERT_TRUE(fill("k", value("v1", 1), first.lease));
  auto hit = lookup("k");
  ASSERT_EQ(hit.kind, Kind::hit);
  EXPECT_EQ(hit.value->data, "v1");
  EXPECT_EQ(hit.value->version, 1);
  EXPECT_EQ(stored_at(tier->ring().owner("k"), "k"), "1:v1");

  // A slow reader leases, a write deletes, the slow reader's fill must not land.
  erase("k");
  auto slow = lookup("k");
  ASSERT_EQ(slow.kind, Kind::lease);
  erase("k");
  EXPECT_FALSE(fill("k", value("old", 1), slow.lease));
  auto fresh = lookup("k");
  EXPECT_EQ(fresh.kind, Kind::lease) << "nothing cached, and the lease is free again";
  EXPECT_EQ(tier->stats().stale_sets_refused, 1u);
  EXPECT_EQ(tier->stats().busy_gave_up, 1u);
}

TEST_F(RedisCacheTierTest, ANodeThatMissedADeleteIsFlushedBeforeItServesAgain) {
  auto o = tier_options(redis);
  o.failure_threshold = 1;
  tier = std::make_unique<RedisCacheTier>(o);
  const std::string key = "user:42";
  const int owner = tier->ring().owner(key);
  auto l = lookup(key);
  ASSERT_EQ(l.kind, Kind::lease);
  ASSERT_TRUE(fill(key, value("v1", 1), l.lease));

  redis[static_cast<std::size_t>(owner)]->pause();  // up, holding v1, but not answering
  EXPECT_NE(lookup(key).kind, Kind::hit);           // times out: the breaker opens
  ASSERT_FALSE(tier->node_up(owner));
  erase(key);  // the write's delete cannot reach the owner
  redis[static_cast<std::size_t>(owner)]->resume();
  ASSERT_EQ(stored_at(owner, key), "1:v1");  // the stale copy is still there...

  // ...but the owner is used again only after the probe emptied it.
  SharedLookup after;
  ASSERT_TRUE(eventually(
      [&] {
        after = lookup(key);
        return tier->node_up(owner);
      },
      5s, 20ms));
  EXPECT_EQ(stored_at(owner, key), "");
  EXPECT_GE(tier->ring_stats().flushes, 1u);
  after = lookup(key);
  EXPECT_NE(after.kind, Kind::hit) << "served the value a write deleted";
}

TEST_F(RedisCacheTierTest, AHotKeyIsSpreadOverItsReplicasAndListed) {
  const std::string hot = "user:7";
  for (int i = 0; i < 20'000; ++i)
    tier->record_access(i % 2 ? hot : "user:" + std::to_string(1000 + i));
  ASSERT_FALSE(tier->hot_keys().empty());
  EXPECT_EQ(tier->hot_keys()[0].key, hot);
  MetricsRegistry metrics;
  tier->register_metrics(metrics);
  tier->record_access(hot);  // a hot key first seen after registration gets its series
  for (int i = 0; i < 64; ++i) tier->record_access(hot);
  EXPECT_NE(metrics.render().find("ztm_cache_hot_key_share{key=\"user:7\"}"), std::string::npos)
      << metrics.render();
  EXPECT_NE(metrics.render().find("ztm_cache_l2_node_up{node=\"" + redis[0]->address() + "\"} 1"),
            std::string::npos);

  // Each replica grants its own lease: lookups alternate between the first two ring nodes.
  const auto replicas = tier->ring().successors(hot, 2);
  for (int i = 0; i < 4; ++i) {
    auto l = lookup(hot);
    if (l.kind == Kind::lease) {
      ASSERT_TRUE(fill(hot, value("h", 1), l.lease));
    }
  }
  for (int node : replicas) EXPECT_EQ(stored_at(node, hot), "1:h");
  EXPECT_GE(tier->ring_stats().hot_key_lookups, 4u);
  erase(hot);  // deletes reach every replica
  for (int node : replicas) EXPECT_EQ(stored_at(node, hot), "");
}

TEST_F(RedisCacheTierTest, ANodesOwnEvictionsAreInTheMetrics) {
  MetricsRegistry metrics;
  tier->register_metrics(metrics);
  // Node 0 at a small maxmemory, written past it: Redis evicts (allkeys-lru).
  auto& node = *redis[0];
  node.command({"CONFIG", "SET", "maxmemory-policy", "allkeys-lru"});
  node.command({"CONFIG", "SET", "maxmemory", "4mb"});
  const std::string kilobyte(1024, 'v');
  for (int i = 0; i < 8'000; ++i) node.command({"SET", "c:filler:" + std::to_string(i), kilobyte});
  const std::string info = node.command({"INFO", "stats"});
  const auto at = info.find("evicted_keys:");
  ASSERT_NE(at, std::string::npos) << info;
  const long evicted = std::stol(info.substr(at + 13));
  ASSERT_GT(evicted, 0) << "the node evicted nothing: the test wrote too little";

  run_on(*loops, refresh());
  const std::string rendered = metrics.render();
  auto series = [&](const std::string& address) {
    const std::string name = "ztm_cache_evictions_total{layer=\"l2\",node=\"" + address + "\"} ";
    const auto p = rendered.find(name);
    return p == std::string::npos ? -1.0 : std::stod(rendered.substr(p + name.size()));
  };
  EXPECT_GE(series(node.address()), static_cast<double>(evicted)) << rendered;
  EXPECT_EQ(series(redis[1]->address()), 0.0) << rendered;
}

}  // namespace
}  // namespace ztm::test
