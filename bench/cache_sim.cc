// cache_sim: replays synthetic key traces through every L1 eviction policy (the same policy
// classes LocalCache uses, driven by EntryCountCache with unit-size entries) and through
// two references: Belady's OPT (sees the future) and A0 (the best a policy without foresight can
// do when requests are independent), and prints the hit ratios as a Markdown table.
//
// Traces are generated from fixed seeds, so every run prints the same table. Each trace has
// kRequests requests over kKeys keys; the whole trace counts, cold misses included. Traces with
// a scan get a second row: the same runs, counting only the users' (non-scan) requests.
//
//   ./build/bench/cache_sim            (about 10 s on one core)

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "bench/belady.h"
#include "cache/local/entry_count_cache.h"
#include "cache/local/eviction_policy.h"

namespace {

using ztm::cache::EvictionPolicyKind;
// One request: the key, its popularity rank in the distribution it was drawn from at that moment
// (0 = most popular; UINT32_MAX for a scan's one-time read), and whether a scan made it.
struct Request {
  std::uint32_t key;
  std::uint32_t rank;
  bool scan;
};
using Trace = std::vector<Request>;

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
  // A request drawn from the distribution, with popularity moved `shift` places along the
  // permutation (rank r is then key perm[(r + shift) % n]).
  Request draw(std::uint32_t shift = 0) {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng_);
    const auto it = std::lower_bound(cdf_.begin(), cdf_.end(), u);
    const auto rank =
        static_cast<std::uint32_t>(std::min<std::size_t>(it - cdf_.begin(), cdf_.size() - 1));
    return {perm_[(rank + shift) % perm_.size()], rank, false};
  }

 private:
  std::mt19937_64 rng_;
  std::vector<double> cdf_;
  std::vector<std::uint32_t> perm_;
};

Trace zipf_trace(double skew, std::uint64_t seed) {
  ZipfKeys z(kKeys, skew, seed);
  Trace t(kRequests);
  for (auto& r : t) r = z.draw();
  return t;
}

// A scan's request: a key read once and never again (a scan is a sequence of one-time reads,
// here a batch job exporting rows no user reads). Its keys lie outside the Zipf key space, so no
// policy, OPT included, can ever hit one; what a scan can do is push the users' keys out.
Request one_time_read(std::uint32_t n) {
  return {kKeys + n, UINT32_MAX, true};
}

// Zipf 0.9 with scan bursts: after every 50,000 Zipf requests, 25,000 one-time reads (2.5 x the
// larger cache). Scan requests are a third of the trace.
Trace scan_trace(std::uint64_t seed) {
  ZipfKeys z(kKeys, 0.9, seed);
  Trace t;
  t.reserve(kRequests);
  std::uint32_t scanned = 0;
  while (t.size() < kRequests) {
    for (int i = 0; i < 50'000 && t.size() < kRequests; ++i) t.push_back(z.draw());
    for (int i = 0; i < 25'000 && t.size() < kRequests; ++i) t.push_back(one_time_read(scanned++));
  }
  return t;
}

// Zipf 0.9 with a scan interleaved: every third request is a one-time read (a background job
// streaming a table while users read).
Trace interleaved_scan_trace(std::uint64_t seed) {
  ZipfKeys z(kKeys, 0.9, seed);
  Trace t(kRequests);
  std::uint32_t scanned = 0;
  for (std::size_t i = 0; i < t.size(); ++i)
    t[i] = i % 3 == 2 ? one_time_read(scanned++) : z.draw();
  return t;
}

// Zipf 0.9 whose popular keys drift: every 10,000 requests, popularity moves 1,000 places along
// the key permutation, so the top 10,000 keys are replaced entirely every 100,000 requests.
Trace shifting_trace(std::uint64_t seed) {
  ZipfKeys z(kKeys, 0.9, seed);
  Trace t(kRequests);
  for (std::size_t i = 0; i < t.size(); ++i)
    t[i] = z.draw(static_cast<std::uint32_t>(i / 10'000 * 1'000));
  return t;
}

// Hits over the whole trace and over the users' requests (those no scan made).
struct Hits {
  std::size_t all = 0;
  std::size_t users = 0;
  void count(const Request& r) {
    ++all;
    if (!r.scan) ++users;
  }
};

Hits replay(EvictionPolicyKind kind, const Trace& trace, std::size_t capacity) {
  ztm::cache::EntryCountCache cache(ztm::cache::make_eviction_policy(kind), capacity);
  Hits hits;
  for (const Request& r : trace)
    if (cache.access(r.key)) hits.count(r);
  return hits;
}

// A0 (Aho, Denning and Ullman, 1971): the cache holds the `capacity` keys the generator makes
// most likely at each moment (ranks below capacity) and nothing else. When requests are drawn
// independently from a known distribution, no policy without foresight has a higher expected
// hit ratio, so the gap between A0 and OPT is out of every real policy's reach. Where the
// popularity drifts, A0 follows it at once, which no real policy can.
Hits a0_hits(const Trace& trace, std::size_t capacity) {
  Hits hits;
  for (const Request& r : trace)
    if (r.rank < capacity) hits.count(r);
  return hits;
}

// Belady's OPT (belady.h), counted per request kind.
Hits opt_hits(const Trace& trace, std::size_t capacity) {
  std::vector<std::uint32_t> keys(trace.size());
  std::transform(trace.begin(), trace.end(), keys.begin(), [](const Request& r) { return r.key; });
  const std::vector<bool> hit = ztm::bench::belady_hits(keys, capacity);
  Hits hits;
  for (std::size_t i = 0; i < trace.size(); ++i)
    if (hit[i]) hits.count(trace[i]);
  return hits;
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
  std::printf(
      "Hit ratio %% (%zu requests per trace over %u keys; cache size in %% of the keys)\n\n",
      kRequests, kKeys);
  std::printf("| trace | cache |");
  for (const auto kind : kinds) std::printf(" %s |", std::string(to_string(kind)).c_str());
  std::printf(" A0 | OPT |\n|---|---|");
  for (std::size_t i = 0; i <= std::size(kinds) + 1; ++i) std::printf("---|");
  std::printf("\n");
  for (const auto& [name, trace] : traces) {
    const std::size_t user_requests = static_cast<std::size_t>(
        std::count_if(trace.begin(), trace.end(), [](const Request& r) { return !r.scan; }));
    for (const int percent : {1, 10}) {
      const std::size_t capacity = kKeys * static_cast<std::size_t>(percent) / 100;
      std::vector<Hits> hits;
      for (const auto kind : kinds) hits.push_back(replay(kind, trace, capacity));
      hits.push_back(a0_hits(trace, capacity));
      hits.push_back(opt_hits(trace, capacity));
      std::printf("| %s | %d%% |", name.c_str(), percent);
      for (const Hits& h : hits) std::printf(" %.1f |", 100.0 * h.all / trace.size());
      std::printf("\n");
      if (user_requests == trace.size()) continue;
      // The same runs, counting the users' requests only: what the scan costs them.
      std::printf("| %s, users' requests | %d%% |", name.c_str(), percent);
      for (const Hits& h : hits) std::printf(" %.1f |", 100.0 * h.users / user_requests);
      std::printf("\n");
      std::fflush(stdout);
    }
  }
  return 0;
}
