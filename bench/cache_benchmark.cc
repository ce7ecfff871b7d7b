// cache_benchmark: L1 (LocalCache) lookups per second on a warm cache, for every policy.
//
// Each benchmark fills a cache with `keys` entries ("user:<id>" -> 100 bytes; all fit), then
// every thread reads them in its own random order (uniform: every lookup is a hit). The counter
// items_per_second is the total over all threads per second of wall time (UseRealTime).
//
//   taskset -c 0,1 ./build/bench/cache_benchmark --benchmark_min_time=1

#include <benchmark/benchmark.h>

#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cache/local/local_cache.h"

namespace {

using ztm::cache::EvictionPolicyKind;

// A warm cache and its keys, shared by the benchmark threads (read-only apart from the cache).
struct WarmCache {
  WarmCache(EvictionPolicyKind policy, int keys) : cache(options(policy)) {
    for (int i = 0; i < keys; ++i) {
      names.push_back("user:" + std::to_string(1'000'000 + i));
      auto value = std::make_shared<const ztm::cache::CachedValue>(
          ztm::cache::CachedValue{std::string(100, 'v'), 1});
      cache.put(names.back(), std::move(value), cache.lease(names.back()));
    }
  }
  static ztm::cache::LocalCacheOptions options(EvictionPolicyKind policy) {
    ztm::cache::LocalCacheOptions o;
    o.policy = policy;
    o.max_bytes = std::int64_t{1} << 30;
    o.ttl =
        std::chrono::hours(24);  // the caches are filled up front; a long run must not expire them
    return o;
  }
  ztm::cache::LocalCache cache;
  std::vector<std::string> names;
};

void hits(benchmark::State& state, WarmCache* warm) {
  // This thread's random order over the keys; indexes are precomputed so the loop only looks up.
  std::mt19937 rng(static_cast<unsigned>(state.thread_index()) + 1);
  std::vector<const std::string*> order;
  for (int i = 0; i < 1 << 16; ++i) order.push_back(&warm->names[rng() % warm->names.size()]);
  std::size_t i = 0;
  std::size_t found = 0;
  for (auto _ : state) {
    ztm::cache::CachedPtr v = warm->cache.get(*order[i]);
    found += v != nullptr ? 1 : 0;
    benchmark::DoNotOptimize(v);
    i = (i + 1) & (order.size() - 1);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  if (found != static_cast<std::size_t>(state.iterations())) state.SkipWithError("a lookup missed");
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  // Owned here, for the whole run: the benchmark threads share them.
  std::vector<std::unique_ptr<WarmCache>> caches;
  for (const auto policy :
       {EvictionPolicyKind::lru, EvictionPolicyKind::fifo, EvictionPolicyKind::lfu,
        EvictionPolicyKind::s3fifo, EvictionPolicyKind::tinylfu}) {
    for (const int keys : {10'000, 100'000}) {
      caches.push_back(std::make_unique<WarmCache>(policy, keys));
      const std::string name =
          "L1Hit/" + std::string(to_string(policy)) + "/keys:" + std::to_string(keys);
      benchmark::RegisterBenchmark(name.c_str(), hits, caches.back().get())
          ->Threads(1)
          ->Threads(2)
          ->UseRealTime();
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
