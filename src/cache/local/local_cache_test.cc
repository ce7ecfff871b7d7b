#include "cache/local/local_cache.h"

#include <gtest/gtest.h>

#include <random>
#include <stdexcept>
#include <string>

#include "cache/local/local_cache_test_util.h"
#include "core/manual_clock.h"

namespace ztm::cache {
namespace {

using std::chrono::milliseconds;
using testing_util::fill;
using testing_util::value_of;

LocalCacheOptions small_options(EvictionPolicyKind policy, std::int64_t max_bytes, int shards,
                                const ManualClock& clock) {
  LocalCacheOptions o;
  o.policy = policy;
  o.max_bytes = max_bytes;
  o.shards = shards;
  o.ttl = milliseconds(1000);
  o.ttl_jitter_percent = 0;  // exact expiry; the jitter has its own test
  o.clock = &clock;
  return o;
}

// ---- Behaviour that differs by policy --------------------------------------------------------

struct EvictionCase {
  EvictionPolicyKind policy;
  std::string evicted;  // after: put a, b, c; get b, b, c, a; put d
};

class LocalCachePolicyTest : public ::testing::TestWithParam<EvictionCase> {};

TEST_P(LocalCachePolicyTest, EvictsInPolicyOrder) {
  ManualClock clock;
  const std::int64_t one = LocalCache::entry_charge("a", *value_of(std::string(10, 'x')));
  LocalCache cache(small_options(GetParam().policy, 3 * one, 1, clock));  // room for 3 entries
  for (const char* k : {"a", "b", "c"}) ASSERT_TRUE(fill(cache, k, std::string(10, 'x')));
  for (const char* k : {"b", "b", "c", "a"}) ASSERT_NE(cache.get(k), nullptr);
  // LRU: b is least recent. FIFO: a is oldest. LFU: a and c have 2 touches, b has 3; c is older.
  ASSERT_TRUE(fill(cache, "d", std::string(10, 'x')));

  EXPECT_EQ(cache.stats().evictions, 1u);
  EXPECT_EQ(cache.stats().entries, 3u);
  for (const char* k : {"a", "b", "c", "d"})
    EXPECT_EQ(cache.get(k) == nullptr, k == GetParam().evicted) << "key " << k;
}

INSTANTIATE_TEST_SUITE_P(AllPolicies, LocalCachePolicyTest,
                         ::testing::Values(EvictionCase{EvictionPolicyKind::lru, "b"},
                                           EvictionCase{EvictionPolicyKind::fifo, "a"},
                                           EvictionCase{EvictionPolicyKind::lfu, "c"},
                                           // all read, so all move to main; a went first
                                           EvictionCase{EvictionPolicyKind::s3fifo, "a"},
                                           // b, c move to main; a (2 touches) loses to b (3)
                                           EvictionCase{EvictionPolicyKind::tinylfu, "a"}),
                         [](const auto& p) { return std::string(to_string(p.param.policy)); });

// ---- Behaviour shared by all policies --------------------------------------------------------

class LocalCacheTest : public ::testing::TestWithParam<EvictionPolicyKind> {};

TEST_P(LocalCacheTest, ByteBoundNeverExceeded) {
  ManualClock clock;
  const std::int64_t max_bytes = 32 * 1024;
  LocalCache cache(small_options(GetParam(), max_bytes, 4, clock));
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> key_of(0, 499);
  std::uniform_int_distribution<int> size_of(0, 9000);  // some exceed the 8 KiB shard budget
  for (int i = 0; i < 20'000; ++i) {
    const std::string key = "user:" + std::to_string(key_of(rng));
    (void)fill(cache, key, std::string(static_cast<std::size_t>(size_of(rng)), 'v'));
    ASSERT_LE(cache.stats().bytes, static_cast<std::uint64_t>(max_bytes)) << "put " << i;
  }
  // The byte count is exactly the sum of the charges of what is cached.
  std::uint64_t bytes = 0, entries = 0;
  for (int k = 0; k <= 499; ++k) {
    const std::string key = "user:" + std::to_string(k);
    if (auto v = cache.get(key)) {
      bytes += static_cast<std::uint64_t>(LocalCache::entry_charge(key, *v));
      ++entries;
    }
  }
  const CacheStats s = cache.stats();
  EXPECT_EQ(s.bytes, bytes);
  EXPECT_EQ(s.entries, entries);
  EXPECT_GT(s.evictions, 0u);
}

TEST_P(LocalCacheTest, TooLargeEntryRefused) {
  ManualClock clock;
  LocalCache one_shard(small_options(GetParam(), 4096, 1, clock));
  const std::size_t fits = 4096 - 1 - LocalCache::kEntryOverheadBytes;  // key "k" is 1 byte
  EXPECT_FALSE(fill(one_shard, "k", std::string(fits + 1, 'x')));
  EXPECT_EQ(one_shard.get("k"), nullptr);
  EXPECT_EQ(one_shard.stats().bytes, 0u);
  EXPECT_TRUE(fill(one_shard, "k", std::string(fits, 'x')));  // exactly the budget
  EXPECT_EQ(one_shard.stats().bytes, 4096u);

  // The bound is per shard: 4 shards of 1 KiB refuse a 1000-byte value.
  LocalCache four_shards(small_options(GetParam(), 4096, 4, clock));
  EXPECT_FALSE(fill(four_shards, "k", std::string(1000, 'x')));
  EXPECT_EQ(four_shards.stats().inserts, 0u);
}

TEST_P(LocalCacheTest, EntryExpiresAfterTtl) {
  ManualClock clock;
  LocalCache cache(small_options(GetParam(), 64 * 1024, 1, clock));
  ASSERT_TRUE(fill(cache, "k", "v"));
  clock.advance(milliseconds(999));
  ASSERT_NE(cache.get("k"), nullptr);  // a hit does not extend the TTL
  clock.advance(milliseconds(1));
  EXPECT_EQ(cache.get("k"), nullptr);
  const CacheStats s = cache.stats();
  EXPECT_EQ(s.expirations, 1u);
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.entries, 0u);
  EXPECT_EQ(s.bytes, 0u);
  // A new put starts a new TTL.
  ASSERT_TRUE(fill(cache, "k", "v2"));
  clock.advance(milliseconds(999));
  EXPECT_EQ(cache.get("k")->data, "v2");
}

// Entries filled together expire spread over ttl +- 10%, never outside it.
TEST_P(LocalCacheTest, TtlJitterSpreadsExpiryWithinBounds) {
  ManualClock clock;
  LocalCacheOptions o = small_options(GetParam(), 16 << 20, 4, clock);
  o.ttl_jitter_percent = 10;  // expiry in [900 ms, 1100 ms] after the put
  LocalCache cache(o);
  const int n = 1000;
  auto key = [](int i) { return "user:" + std::to_string(i); };
  for (int i = 0; i < n; ++i) ASSERT_TRUE(fill(cache, key(i), "v"));
  auto alive = [&] {
    int hits = 0;
    for (int i = 0; i < n; ++i) hits += cache.get(key(i)) != nullptr ? 1 : 0;
    return hits;
  };
  clock.advance(milliseconds(899));
  EXPECT_EQ(alive(), n);
  clock.advance(milliseconds(101));  // 1000 ms: about half are gone
  const int at_ttl = alive();
  EXPECT_GT(at_ttl, n * 3 / 10);
  EXPECT_LT(at_ttl, n * 7 / 10);
  clock.advance(milliseconds(100));  // 1100 ms: all are gone
  EXPECT_EQ(alive(), 0);
  EXPECT_EQ(cache.stats().expirations, static_cast<std::uint64_t>(n));
}

TEST_P(LocalCacheTest, EraseRemoves) {
  ManualClock clock;
  LocalCache cache(small_options(GetParam(), 64 * 1024, 4, clock));
  ASSERT_TRUE(fill(cache, "k", "v"));
  ASSERT_TRUE(fill(cache, "other", "w"));
  cache.erase("k");
  EXPECT_EQ(cache.get("k"), nullptr);
  EXPECT_EQ(cache.get("other")->data, "w");
  cache.erase("never-cached");  // fine
  const CacheStats s = cache.stats();
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.bytes, static_cast<std::uint64_t>(LocalCache::entry_charge("other", *value_of("w"))));
}

TEST_P(LocalCacheTest, ReplaceUpdatesValueAndBytes) {
  ManualClock clock;
  LocalCache cache(small_options(GetParam(), 64 * 1024, 1, clock));
  ASSERT_TRUE(cache.put("k", value_of(std::string(100, 'a'), 1), cache.lease("k")));
  EXPECT_EQ(cache.stats().bytes, 1 + 100 + LocalCache::kEntryOverheadBytes);
  ASSERT_TRUE(cache.put("k", value_of(std::string(300, 'b'), 2), cache.lease("k")));
  const CacheStats s = cache.stats();
  EXPECT_EQ(s.bytes, 1 + 300 + LocalCache::kEntryOverheadBytes);
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.inserts, 2u);
  const CachedPtr v = cache.get("k");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->data, std::string(300, 'b'));
  EXPECT_EQ(v->version, 2);
}

TEST_P(LocalCacheTest, ReplaceEvictsOthersWhenItGrows) {
  ManualClock clock;
  const std::int64_t small = LocalCache::entry_charge("a", *value_of("x"));
  LocalCache cache(small_options(GetParam(), 3 * small, 1, clock));
  for (const char* k : {"a", "b", "c"}) ASSERT_TRUE(fill(cache, k, "x"));
  ASSERT_TRUE(fill(cache, "b", std::string(small + 1, 'y')));  // b now needs two entries' room
  const CacheStats s = cache.stats();
  EXPECT_LE(s.bytes, static_cast<std::uint64_t>(3 * small));
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_EQ(cache.get("b")->data, std::string(small + 1, 'y'));
}

TEST_P(LocalCacheTest, StaleSetRefused) {
  ManualClock clock;
  LocalCache cache(small_options(GetParam(), 64 * 1024, 4, clock));
  // A reader misses and takes a lease; a writer then updates the store and erases the key; the
  // reader's put of what it read before the write must not land.
  const Cache::Lease reader = cache.lease("k");
  cache.erase("k");
  EXPECT_FALSE(cache.put("k", value_of("old", 1), reader));
  EXPECT_EQ(cache.get("k"), nullptr);
  EXPECT_EQ(cache.stats().stale_sets_refused, 1u);

  // A lease taken after the erase is good.
  EXPECT_TRUE(cache.put("k", value_of("new", 2), cache.lease("k")));
  EXPECT_EQ(cache.get("k")->version, 2);
}

TEST_P(LocalCacheTest, LeaseWithoutEraseStores) {
  ManualClock clock;
  LocalCache cache(small_options(GetParam(), 64 * 1024, 4, clock));
  const Cache::Lease lease = cache.lease("k");
  EXPECT_TRUE(cache.put("k", value_of("v", 1), lease));
  EXPECT_TRUE(cache.put("k", value_of("v", 1), lease));  // a second filler with the same lease
  cache.erase("k");
  EXPECT_FALSE(cache.put("k", value_of("v", 1), lease));  // the erase made it stale
  EXPECT_EQ(cache.get("k"), nullptr);
}

TEST_P(LocalCacheTest, EraseOfAnotherKeyInTheShardAlsoRefuses) {
  // Documented trade-off of per-shard leases: a skipped fill, never a stale value.
  ManualClock clock;
  LocalCache cache(small_options(GetParam(), 64 * 1024, 1, clock));
  const Cache::Lease lease = cache.lease("k");
  cache.erase("unrelated");
  EXPECT_FALSE(cache.put("k", value_of("v"), lease));
}

TEST_P(LocalCacheTest, CountsHitsMissesAndNullValues) {
  ManualClock clock;
  LocalCache cache(small_options(GetParam(), 64 * 1024, 4, clock));
  EXPECT_EQ(cache.get("k"), nullptr);
  EXPECT_FALSE(cache.put("k", nullptr, cache.lease("k")));
  ASSERT_TRUE(fill(cache, "k", "v"));
  EXPECT_NE(cache.get("k"), nullptr);
  EXPECT_NE(cache.get("k"), nullptr);
  const CacheStats s = cache.stats();
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.inserts, 1u);
  EXPECT_EQ(s.entries, 1u);
}

INSTANTIATE_TEST_SUITE_P(AllPolicies, LocalCacheTest,
                         ::testing::Values(EvictionPolicyKind::lru, EvictionPolicyKind::lfu,
                                           EvictionPolicyKind::fifo, EvictionPolicyKind::s3fifo,
                                           EvictionPolicyKind::tinylfu),
                         testing_util::policy_name);

TEST(LocalCacheOptionsTest, InvalidOptionsThrow) {
  auto with = [](auto change) {
    LocalCacheOptions o;
    change(o);
    return o;
  };
  EXPECT_THROW(LocalCache(with([](auto& o) { o.shards = 0; })), std::invalid_argument);
  EXPECT_THROW(LocalCache(with([](auto& o) { o.shards = 12; })), std::invalid_argument);
  EXPECT_THROW(LocalCache(with([](auto& o) { o.shards = 2048; })), std::invalid_argument);
  EXPECT_THROW(LocalCache(with([](auto& o) { o.max_bytes = 100; })), std::invalid_argument);
  EXPECT_THROW(LocalCache(with([](auto& o) { o.ttl = milliseconds(0); })), std::invalid_argument);
  EXPECT_THROW(LocalCache(with([](auto& o) { o.ttl_jitter_percent = -1; })), std::invalid_argument);
  EXPECT_THROW(LocalCache(with([](auto& o) { o.ttl_jitter_percent = 51; })), std::invalid_argument);
  EXPECT_THROW(LocalCache(with([](auto& o) { o.clock = nullptr; })), std::invalid_argument);
  EXPECT_NO_THROW(LocalCache(with([](auto& o) { o.shards = 1; })));
  EXPECT_NO_THROW(LocalCache(LocalCacheOptions{}));
}

}  // namespace
}  // namespace ztm::cache
