// Concurrency smoke tests: several threads hammer one cache with a bounded number of operations,
// then the invariants are checked. They run in the normal build; a ThreadSanitizer build
// (-fsanitize=thread) also checks them for data races.

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cache/local/local_cache.h"
#include "cache/local/local_cache_test_util.h"
#include "core/manual_clock.h"

namespace ztm::cache {
namespace {

using testing_util::value_of;

constexpr int kThreads = 8;
constexpr int kOpsPerThread = 20'000;
constexpr int kKeys = 64;

std::string key_name(int k) {
  return "user:" + std::to_string(k);
}

class LocalCacheConcurrencyTest : public ::testing::TestWithParam<EvictionPolicyKind> {};

TEST_P(LocalCacheConcurrencyTest, MixedTrafficKeepsInvariants) {
  // A clock the threads move forward, so entries also expire under load.
  ManualClock clock;
  LocalCacheOptions o;
  o.policy = GetParam();
  o.max_bytes = 16 * 1024;  // small: most puts evict
  o.shards = 4;
  o.ttl = std::chrono::milliseconds(50);
  o.clock = &clock;
  LocalCache cache(o);

  std::atomic<std::uint64_t> gets{0}, wrong_values{0}, over_bound{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      std::uniform_int_distribution<int> key_of(0, kKeys - 1), percent(0, 99), size_of(0, 1500);
      for (int i = 0; i < kOpsPerThread; ++i) {
        const std::string key = key_name(key_of(rng));
        const int roll = percent(rng);
        if (roll < 60) {
          gets.fetch_add(1);
          if (CachedPtr v = cache.get(key); v && v->data.rfind(key + "|", 0) != 0)
            wrong_values.fetch_add(1);  // a value cached under another key
        } else if (roll < 85) {
          const auto lease = cache.lease(key);
          const std::string data =
              key + "|" + std::string(static_cast<std::size_t>(size_of(rng)), 'v');
          (void)cache.put(key, value_of(data), lease);
        } else if (roll < 97) {
          cache.erase(key);
        } else if (roll < 99) {
          clock.advance(std::chrono::milliseconds(1));
        } else if (cache.stats().bytes > static_cast<std::uint64_t>(o.max_bytes)) {
          over_bound.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();

  EXPECT_EQ(wrong_values.load(), 0u);
  EXPECT_EQ(over_bound.load(), 0u);
  const CacheStats during = cache.stats();
  EXPECT_LE(during.bytes, static_cast<std::uint64_t>(o.max_bytes));
  EXPECT_EQ(during.hits + during.misses, gets.load());
  EXPECT_GT(during.evictions, 0u);

  // Quiescent: the byte count is exactly the charges of what is still cached.
  std::uint64_t bytes = 0, entries = 0;
  for (int k = 0; k < kKeys; ++k) {
    if (CachedPtr v = cache.get(key_name(k))) {
      bytes += static_cast<std::uint64_t>(LocalCache::entry_charge(key_name(k), *v));
      ++entries;
    }
  }
  const CacheStats after = cache.stats();
  EXPECT_EQ(after.bytes, bytes);
  EXPECT_EQ(after.entries, entries);
}

TEST_P(LocalCacheConcurrencyTest, ReadThroughNeverLeavesAStaleValue) {
  // The store is one version counter per key. Writers bump a version, then erase the key
  // (delete-on-write). Readers fill misses with lease -> read the store -> put. Once everyone
  // stops, whatever is cached must carry the latest version: a put of a version read before a
  // write must never land after that write's erase.
  constexpr int kStoreKeys = 8;
  std::array<std::atomic<std::int64_t>, kStoreKeys> store{};
  LocalCacheOptions o;
  o.policy = GetParam();
  o.shards = 4;
  LocalCache cache(o);

  std::atomic<std::uint64_t> fills{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const bool writer = t % 2 == 0;
      std::mt19937 rng(static_cast<unsigned>(100 + t));
      std::uniform_int_distribution<int> key_of(0, kStoreKeys - 1);
      for (int i = 0; i < kOpsPerThread; ++i) {
        const int k = key_of(rng);
        const std::string key = key_name(k);
        if (writer) {
          store[k].fetch_add(1);
          cache.erase(key);
        } else if (!cache.get(key)) {
          const auto lease = cache.lease(key);
          const std::int64_t version = store[k].load();
          std::this_thread::yield();  // widen the window a slow reader has in production
          if (cache.put(key, value_of(key, version), lease)) fills.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();

  for (int k = 0; k < kStoreKeys; ++k) {
    if (CachedPtr v = cache.get(key_name(k))) {
      EXPECT_EQ(v->version, store[k].load()) << "stale value cached for " << key_name(k);
    }
  }
  EXPECT_GT(fills.load(), 0u);
}

INSTANTIATE_TEST_SUITE_P(AllPolicies, LocalCacheConcurrencyTest,
                         ::testing::Values(EvictionPolicyKind::lru, EvictionPolicyKind::lfu,
                                           EvictionPolicyKind::fifo, EvictionPolicyKind::s3fifo,
                                           EvictionPolicyKind::tinylfu),
                         testing_util::policy_name);

}  // namespace
}  // namespace ztm::cache
