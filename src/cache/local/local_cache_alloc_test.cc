// Checks the hot-path promise: get() allocates nothing, on a hit or a miss. This file replaces
// the global operator new of the whole cache_test binary, to count the allocations each thread
// makes; it allocates with malloc as the default one does, so the other tests are unaffected.

#include <gtest/gtest.h>

#include <cstdlib>
#include <new>

#include "cache/local/local_cache.h"
#include "cache/local/local_cache_test_util.h"

namespace {
thread_local std::uint64_t allocations_on_this_thread = 0;
}  // namespace

void* operator new(std::size_t size) {
  ++allocations_on_this_thread;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
// GCC cannot see that these deletes pair with the malloc-based new above once both are inlined.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
#pragma GCC diagnostic pop

namespace ztm::cache {
namespace {

class LocalCacheAllocTest : public ::testing::TestWithParam<EvictionPolicyKind> {};

TEST_P(LocalCacheAllocTest, GetDoesNotAllocate) {
  LocalCacheOptions o;
  o.policy = GetParam();
  LocalCache cache(o);
  for (int i = 0; i < 100; ++i) {
    const std::string key = "user:" + std::to_string(i);
    ASSERT_TRUE(testing_util::fill(cache, key, "{\"name\":\"x\"}"));
  }
  const std::string hit = "user:42";
  const std::string miss = "user:1000";

  const std::uint64_t before = allocations_on_this_thread;
  for (int i = 0; i < 1000; ++i) {
    CachedPtr v = cache.get(hit);
    CachedPtr none = cache.get(miss);
    if (!v || none) break;
  }
  const std::uint64_t during = allocations_on_this_thread - before;

  EXPECT_EQ(during, 0u);
  EXPECT_EQ(cache.stats().hits, 1000u);
  EXPECT_EQ(cache.stats().misses, 1000u);
}

INSTANTIATE_TEST_SUITE_P(AllPolicies, LocalCacheAllocTest,
                         ::testing::Values(EvictionPolicyKind::lru, EvictionPolicyKind::lfu,
                                           EvictionPolicyKind::fifo, EvictionPolicyKind::s3fifo,
                                           EvictionPolicyKind::tinylfu),
                         testing_util::policy_name);

}  // namespace
}  // namespace ztm::cache
