// The scan-resistant policies (S3-FIFO, W-TinyLFU): what they promise beyond "evicts something".
// The byte bound, TTL and leases are checked for every policy in local_cache_test.cc.

#include <gtest/gtest.h>

#include <memory>
#include <utility>

#include "cache/local/entry_count_cache.h"
#include "cache/local/eviction_policy.h"
#include "cache/local/local_cache_test_util.h"

namespace ztm::cache {
namespace {

class ScanResistantPolicyTest : public ::testing::TestWithParam<EvictionPolicyKind> {};

// 50 keys read often; then a scan of 20x the cache, one of the 50 read after every 10 scanned
// keys (each is read once per 500 requests: far beyond what LRU keeps). Returns the share of those
// reads that hit, and whether every hot key is cached at the end.
std::pair<double, bool> hot_set_through_a_scan(std::unique_ptr<EvictionPolicy> policy) {
  EntryCountCache cache(std::move(policy), 100);
  for (int round = 0; round < 4; ++round)
    for (std::uint64_t k = 0; k < 50; ++k) cache.access(k);
  int hot_reads = 0, hot_hits = 0;
  for (std::uint64_t k = 1000; k < 3000; ++k) {
    cache.access(k);
    if (k % 10 == 0) {
      ++hot_reads;
      hot_hits += cache.access(k / 10 % 50) ? 1 : 0;
    }
  }
  bool all_kept = true;
  for (std::uint64_t k = 0; k < 50; ++k) all_kept = all_kept && cache.contains(k);
  return {static_cast<double>(hot_hits) / hot_reads, all_kept};
}

TEST_P(ScanResistantPolicyTest, ScanKeepsTheHotSet) {
  const auto [hit_share, all_kept] = hot_set_through_a_scan(make_eviction_policy(GetParam()));
  EXPECT_GE(hit_share, 0.95);
  EXPECT_TRUE(all_kept);
}

// LRU, the baseline, loses the hot set to the same scan (the test above can fail).
TEST(LruPolicyBaseline, ScanFlushesTheHotSet) {
  const auto [hit_share, all_kept] = hot_set_through_a_scan(make_lru_policy());
  EXPECT_LE(hit_share, 0.05);
  EXPECT_FALSE(all_kept);
}

// A key that keeps coming back gets in, even against a full cache of keys read twice.
TEST_P(ScanResistantPolicyTest, RepeatedKeyIsAdmitted) {
  EntryCountCache cache(make_eviction_policy(GetParam()), 100);
  for (int round = 0; round < 2; ++round)
    for (std::uint64_t k = 0; k < 100; ++k) cache.access(k);
  bool hit = false;
  for (int i = 0; i < 10 && !hit; ++i) {
    hit = cache.access(5000);
    cache.access(6000 + static_cast<std::uint64_t>(i));  // a one-time key in between
  }
  EXPECT_TRUE(hit);
  EXPECT_TRUE(cache.contains(5000));
}

INSTANTIATE_TEST_SUITE_P(Policies, ScanResistantPolicyTest,
                         ::testing::Values(EvictionPolicyKind::s3fifo, EvictionPolicyKind::tinylfu),
                         testing_util::policy_name);

// W-TinyLFU's admission: keys seen once do not displace main entries seen more often. They
// pass through the window (1% of the entries: here 1), and the candidate leaving it loses.
TEST(TinyLfuPolicy, OneTimeKeysAreNotAdmitted) {
  EntryCountCache cache(make_tinylfu_policy(), 100);
  for (int round = 0; round < 4; ++round)
    for (std::uint64_t k = 0; k < 100; ++k) cache.access(k);
  for (std::uint64_t k = 5000; k < 5010; ++k) cache.access(k);
  int kept = 0;
  for (std::uint64_t k = 0; k < 100; ++k) kept += cache.contains(k) ? 1 : 0;
  EXPECT_GE(kept, 99);  // the first eviction may take the window's own entry (a tie)
  for (std::uint64_t k = 5000; k < 5009; ++k) EXPECT_FALSE(cache.contains(k)) << k;
  EXPECT_TRUE(cache.contains(5009));  // the newest is still in the window
}

// S3-FIFO's ghost: a key evicted from the small queue without a read enters main when it comes
// back, and then outlives the small queue's newcomers.
TEST(S3FifoPolicy, GhostKeyReturnsToMain) {
  auto p = make_s3fifo_policy();
  for (EvictionPolicy::Slot s = 0; s < 10; ++s) p->on_insert(s, 100 + s);
  const EvictionPolicy::Slot first = p->victim();  // nothing was read: the oldest goes
  EXPECT_EQ(first, 0u);
  p->on_erase(first);
  p->on_insert(first, 100);  // key 100 comes back: into main
  // Evict 9 more: the small queue's keys go first, key 100 (in main) stays.
  for (int i = 0; i < 9; ++i) {
    const EvictionPolicy::Slot v = p->victim();
    EXPECT_NE(v, first) << i;
    p->on_erase(v);
    p->on_insert(v, 1000 + static_cast<std::uint64_t>(i));
  }
}

}  // namespace
}  // namespace ztm::cache
