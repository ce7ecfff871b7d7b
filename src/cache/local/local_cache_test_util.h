#pragma once
// Helpers shared by the local cache and eviction policy tests (test-only).

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>

#include "cache/cache.h"
#include "cache/local/eviction_policy.h"

namespace ztm::testing_util {

inline cache::CachedPtr value_of(std::string data, std::int64_t version = 1) {
  return std::make_shared<const cache::CachedValue>(cache::CachedValue{std::move(data), version});
}

// A read-through fill as a caller does it: lease, then put.
inline bool fill(cache::Cache& cache, std::string_view key, std::string data,
                 std::int64_t version = 1) {
  const cache::Cache::Lease lease = cache.lease(key);
  return cache.put(key, value_of(std::move(data), version), lease);
}

// Names parameterised tests by policy: AllPolicies/LocalCacheTest.Erase/lru.
inline std::string policy_name(const ::testing::TestParamInfo<cache::EvictionPolicyKind>& p) {
  return std::string(to_string(p.param));
}

}  // namespace ztm::testing_util
