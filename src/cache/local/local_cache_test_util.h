#pragma once
// Helpers shared by the local cache and eviction policy tests (test-only).

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "cache/cache.h"
#include "cache/local/eviction_policy.h"

namespace ztm::testing_util {

// A clock that moves only when told to. Copies share the same time.
class FakeClock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  void advance(std::chrono::milliseconds d) { *t_ += d; }
  // For LocalCacheOptions::now. Reading is safe from many threads while nobody advances.
  auto now() const {
    return [t = t_] { return *t; };
  }

 private:
  std::shared_ptr<TimePoint> t_ = std::make_shared<TimePoint>(TimePoint{} + std::chrono::hours(1));
};

inline CachedPtr value_of(std::string data, std::int64_t version = 1) {
  return std::make_shared<const CachedValue>(CachedValue{std::move(data), version});
}

// A read-through fill as a caller does it: lease, then put.
inline bool fill(Cache& cache, std::string_view key, std::string data, std::int64_t version = 1) {
  const Cache::Lease lease = cache.lease(key);
  return cache.put(key, value_of(std::move(data), version), lease);
}

// Names parameterised tests by policy: AllPolicies/LocalCacheTest.Erase/lru.
inline std::string policy_name(const ::testing::TestParamInfo<EvictionPolicyKind>& p) {
  return std::string(to_string(p.param));
}

}  // namespace ztm::testing_util
