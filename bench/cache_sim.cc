// cache_sim: replays synthetic key traces through every L1 eviction policy (the same policy
// classes LocalCache uses, driven by EntryCountCache with unit-size entries) and through
// Belady's optimal policy, and prints the hit ratios as a Markdown table.
//
// Traces are generated from fixed seeds, so every run prints the same table. Each trace has
// kRequests requests over kKeys keys; the whole trace counts, cold misses included.
//
//   ./build/bench/cache_sim            (about 10 s on one core)

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <numeric>
#include <queue>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cache/local/entry_count_cache.h"
#include "cache/local/eviction_policy.h"

namespace {

using ztm::EvictionPolicyKind;
using Trace = std::vector<std::uint32_t>;

constexpr std::uint32_t kKeys = 100'000;
constexpr std::size_t kRequests = 2'000'000;

// Draws key ranks 0..n-1 with P(rank r) proportional to 1 / (r + 1)^skew, by binary search in
// the cumulative distribution. Rank r is key perm[r]: popularity does not follow key order.
class ZipfKeys {
 public:
  ZipfKeys(std::uint32_t n, double skew, std::uint64_t seed) : rng_(seed), perm_(n) {
    cdf_.reserve(n);
    double sum = 0;
    for (std::uint32_t r = 0; r < n; ++r) cdf_.push_back(sum += 1.0 / std::pow(r + 1.0, skew));
    for (double& c : cdf_) c /= sum;
    std::iota(perm_.begin(), perm_.end(), 0u);
    std::shuffle(perm_.begin(), perm_.end(), rng_);
  }
  std::uint32_t rank() {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng_);
    const auto it = std::lower_bound(cdf_.begin(), cdf_.end(), u);
    return static_cast<std::uint32_t>(std::min<std::size_t>(it - cdf_.begin(), cdf_.size() - 1));
  }
  // The key of a rank, with popularity moved `shift` places along the permutation.
  std::uint32_t key(std::uint32_t rank, std::uint32_t shift = 0) const {
    return perm_[(rank + shift) % perm_.size()];
  }

 private:
  std::mt19937_64 rng_;
  std::vector<double> cdf_;
  std::vector<std::uint32_t> perm_;
};

Trace zipf_trace(double skew, std::uint64_t seed) {
  ZipfKeys z(kKeys, skew, seed);
  Trace t(kRequests);
  for (auto& k : t) k = z.key(z.rank());
  return t;
}

// Zipf 0.9 with a scan: after every 50,000 Zipf requests, 25,000 keys read in key order (a
// batch job walking the table; it resumes where it stopped, so the scan wraps every 4 bursts).
// Scan requests are a third of the trace.
Trace scan_trace(std::uint64_t seed) {
  ZipfKeys z(kKeys, 0.9, seed);
  Trace t;
  t.reserve(kRequests);
  std::uint32_t next_scanned = 0;
  while (t.size() < kRequests) {
    for (int i = 0; i < 50'000 && t.size() < kRequests; ++i) t.push_back(z.key(z.rank()));
    for (int i = 0; i < 25'000 && t.size() < kRequests; ++i) {
      t.push_back(next_scanned);
      next_scanned = (next_scanned + 1) % kKeys;
    }
  }
  return t;
}

// Zipf 0.9 with a scan interleaved: every third request is the next key of a walk through the
// key space (a background job streaming the table while users read).
Trace interleaved_scan_trace(std::uint64_t seed) {
  ZipfKeys z(kKeys, 0.9, seed);
  Trace t(kRequests);
  std::uint32_t next_scanned = 0;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (i % 3 == 2) {
      t[i] = next_scanned;
      next_scanned = (next_scanned + 1) % kKeys;
    } else {
      t[i] = z.key(z.rank());
    }
  }
  return t;
}

// Zipf 0.9 whose popular keys drift: every 10,000 requests, popularity moves 1,000 places along
// the key permutation, so the top 10,000 keys are replaced entirely every 100,000 requests.
Trace shifting_trace(std::uint64_t seed) {
  ZipfKeys z(kKeys, 0.9, seed);
  Trace t(kRequests);
  for (std::size_t i = 0; i < t.size(); ++i)
    t[i] = z.key(z.rank(), static_cast<std::uint32_t>(i / 10'000 * 1'000));
  return t;
}

double hit_ratio(EvictionPolicyKind kind, const Trace& trace, std::size_t capacity) {
  ztm::EntryCountCache cache(ztm::make_eviction_policy(kind), capacity);
  std::size_t hits = 0;
  for (const std::uint32_t k : trace) hits += cache.access(k) ? 1 : 0;
  return static_cast<double>(hits) / static_cast<double>(trace.size());
}

// The best fixed content in hindsight: the `capacity` keys requested most often in the whole
// trace, cached from the start and never changed. For a trace drawn independently per request
// (the plain Zipf ones) this is what the best online policy can expect (keep the most popular
// keys), so the gap between it and OPT is beyond the reach of any policy that does not see the
// future.
double static_top_hit_ratio(const Trace& trace, std::size_t capacity) {
  std::unordered_map<std::uint32_t, std::size_t> count;
  for (const std::uint32_t k : trace) ++count[k];
  std::vector<std::size_t> counts;
  counts.reserve(count.size());
  for (const auto& [k, c] : count) counts.push_back(c);
  const std::size_t top = std::min(capacity, counts.size());
  std::partial_sort(counts.begin(), counts.begin() + static_cast<std::ptrdiff_t>(top), counts.end(),
                    std::greater<>());
  const std::size_t hits = std::accumulate(counts.begin(), counts.begin() + static_cast<std::ptrdiff_t>(top), std::size_t{0});
  return static_cast<double>(hits) / static_cast<double>(trace.size());
}

// Belady's OPT: on a miss with a full cache, drop whichever of the cached keys and the new key
// is next used farthest in the future (the new key may be the one: bypass). Next uses come from
// one backward pass; the cache is a max-heap on next use with lazy deletion (a popped entry
// whose next use no longer matches its key's current one is stale and skipped). O(n log n).
double belady_hit_ratio(const Trace& trace, std::size_t capacity) {
  const std::size_t n = trace.size();
  constexpr std::size_t kNever = SIZE_MAX;
  std::vector<std::size_t> next_use(n);
  {
    std::unordered_map<std::uint32_t, std::size_t> seen;
    for (std::size_t i = n; i-- > 0;) {
      const auto it = seen.find(trace[i]);
      next_use[i] = it == seen.end() ? kNever : it->second;
      seen[trace[i]] = i;
    }
  }
  std::unordered_map<std::uint32_t, std::size_t> cached;  // key -> its next use
  std::priority_queue<std::pair<std::size_t, std::uint32_t>> heap;
  std::size_t hits = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t k = trace[i];
    if (const auto it = cached.find(k); it != cached.end()) {
      ++hits;
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
  return static_cast<double>(hits) / static_cast<double>(n);
}

}  // namespace

int main() {
  struct Named {
    std::string name;
    Trace trace;
  };
  std::vector<Named> traces;
  for (const double skew : {0.6, 0.8, 0.9, 1.0, 1.2}) {
    char name[32];
    std::snprintf(name, sizeof name, "zipf %.1f", skew);
    traces.push_back({name, zipf_trace(skew, 1)});
  }
  traces.push_back({"zipf 0.9 + scan bursts", scan_trace(2)});
  traces.push_back({"zipf 0.9 + interleaved scan", interleaved_scan_trace(4)});
  traces.push_back({"shifting zipf 0.9", shifting_trace(3)});

  const EvictionPolicyKind kinds[] = {EvictionPolicyKind::lru, EvictionPolicyKind::fifo,
                                      EvictionPolicyKind::lfu, EvictionPolicyKind::s3fifo,
                                      EvictionPolicyKind::tinylfu};
  std::printf("Hit ratio %% (%zu requests per trace over %u keys; cache size in %% of the keys)\n\n",
              kRequests, kKeys);
  std::printf("| trace | cache |");
  for (const auto kind : kinds) std::printf(" %s |", std::string(to_string(kind)).c_str());
  std::printf(" static top | OPT |\n|---|---|");
  for (std::size_t i = 0; i <= std::size(kinds) + 1; ++i) std::printf("---|");
  std::printf("\n");
  for (const auto& [name, trace] : traces) {
    for (const int percent : {1, 10}) {
      const std::size_t capacity = kKeys * static_cast<std::size_t>(percent) / 100;
      std::printf("| %s | %d%% |", name.c_str(), percent);
      for (const auto kind : kinds) std::printf(" %.1f |", 100 * hit_ratio(kind, trace, capacity));
      std::printf(" %.1f | %.1f |\n", 100 * static_top_hit_ratio(trace, capacity),
                  100 * belady_hit_ratio(trace, capacity));
      std::fflush(stdout);
    }
  }
  return 0;
}
