#pragma once
// Belady's OPT for a cache of `capacity` unit-size entries: which requests of `keys` it hits.
// On a miss with a full cache it drops whichever of the cached keys and the new key is next used
// farthest in the future (the new key may be the one: a bypass). Next uses come from one
// backward pass; the cache is a max-heap on next use with lazy deletion (a popped entry whose
// next use no longer matches its key's current one is stale and skipped). O(n log n).
//
// Used by cache_sim; belady_test.cc checks it against an exhaustive search on small traces.

#include <cstddef>
#include <cstdint>
#include <queue>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ztm::bench {

// REQUIRES: capacity >= 1.
inline std::vector<bool> belady_hits(std::span<const std::uint32_t> keys, std::size_t capacity) {
  const std::size_t n = keys.size();
  constexpr std::size_t kNever = SIZE_MAX;
  std::vector<std::size_t> next_use(n);
  {
    std::unordered_map<std::uint32_t, std::size_t> seen;
    for (std::size_t i = n; i-- > 0;) {
      const auto it = seen.find(keys[i]);
      next_use[i] = it == seen.end() ? kNever : it->second;
      seen[keys[i]] = i;
    }
  }
  std::unordered_map<std::uint32_t, std::size_t> cached;  // key -> its next use
  std::priority_queue<std::pair<std::size_t, std::uint32_t>> heap;
  std::vector<bool> hit(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t k = keys[i];
    if (const auto it = cached.find(k); it != cached.end()) {
      hit[i] = true;
      it->second = next_use[i];
      heap.emplace(next_use[i], k);
      continue;
    }
    if (cached.size() == capacity) {
      for (;;) {  // drop stale heap entries: evicted keys, superseded next uses
        const auto top = cached.find(heap.top().second);
        if (top != cached.end() && top->second == heap.top().first) break;
        heap.pop();
      }
      if (heap.top().first <= next_use[i]) continue;  // the new key is the farthest: bypass
      cached.erase(heap.top().second);
      heap.pop();
    }
    cached.emplace(k, next_use[i]);
    heap.emplace(next_use[i], k);
  }
  return hit;
}

}  // namespace ztm::bench
