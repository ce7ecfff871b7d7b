// belady_hits against the definition: on small random traces, the most hits any sequence of
// eviction choices can get (an exhaustive search), and never fewer hits than a real policy.

#include "bench/belady.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "cache/local/entry_count_cache.h"
#include "cache/local/eviction_policy.h"

namespace ztm::bench {

using cache::EntryCountCache;
using cache::EvictionPolicyKind;
using cache::make_eviction_policy;

namespace {

std::size_t count(const std::vector<bool>& hits) {
  return static_cast<std::size_t>(std::count(hits.begin(), hits.end(), true));
}

// The most hits from request i on, over every choice on every miss: cache the key or not, and
// if the cache is full, which entry to drop.
std::size_t best_hits(const std::vector<std::uint32_t>& keys, std::size_t i,
                      const std::set<std::uint32_t>& cache, std::size_t capacity) {
  if (i == keys.size()) return 0;
  if (cache.count(keys[i]) != 0) return 1 + best_hits(keys, i + 1, cache, capacity);
  std::size_t best = best_hits(keys, i + 1, cache, capacity);  // bypass
  if (cache.size() < capacity) {
    auto with = cache;
    with.insert(keys[i]);
    return std::max(best, best_hits(keys, i + 1, with, capacity));
  }
  for (const std::uint32_t victim : cache) {
    auto with = cache;
    with.erase(victim);
    with.insert(keys[i]);
    best = std::max(best, best_hits(keys, i + 1, with, capacity));
  }
  return best;
}

std::vector<std::uint32_t> random_keys(std::mt19937& rng, std::size_t n, std::uint32_t distinct) {
  std::vector<std::uint32_t> keys(n);
  for (auto& k : keys) k = std::uniform_int_distribution<std::uint32_t>(0, distinct - 1)(rng);
  return keys;
}

TEST(Belady, HitsAsOftenAsTheBestOfEveryEvictionChoice) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    const std::size_t capacity = 1 + static_cast<std::size_t>(round % 3);
    const auto keys = random_keys(rng, 12, 5);
    EXPECT_EQ(count(belady_hits(keys, capacity)), best_hits(keys, 0, {}, capacity))
        << "round " << round << ", capacity " << capacity;
  }
}

TEST(Belady, NeverHitsLessThanAnyPolicy) {
  std::mt19937 rng(11);
  const EvictionPolicyKind kinds[] = {EvictionPolicyKind::lru, EvictionPolicyKind::fifo,
                                      EvictionPolicyKind::lfu, EvictionPolicyKind::s3fifo,
                                      EvictionPolicyKind::tinylfu};
  for (int round = 0; round < 20; ++round) {
    const auto keys = random_keys(rng, 5'000, 300);
    const std::size_t opt = count(belady_hits(keys, 30));
    for (const auto kind : kinds) {
      EntryCountCache cache(make_eviction_policy(kind), 30);
      std::size_t hits = 0;
      for (const std::uint32_t k : keys) hits += cache.access(k) ? 1 : 0;
      EXPECT_GE(opt, hits) << to_string(kind) << ", round " << round;
    }
  }
}

}  // namespace
}  // namespace ztm::bench
