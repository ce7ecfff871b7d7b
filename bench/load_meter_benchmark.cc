// load_meter_benchmark: what the sharded store's load accounting costs per call
// (storage::LoadMeter: record + record_shard, as ShardedStore::read/write and on_shard do).
//
// Each thread replays its own precomputed calls (user id, shard index, read or write; 30 %
// writes, 4 shards), so the timed loop draws nothing. Users: 1,000,000 ids, drawn Zipf(0.99) or
// uniformly. One LoadMeter per case, shared by the case's threads as a server's threads share
// theirs: with 2 threads the counters' cache lines and the hot-key sketch's call counter and
// mutex are contended. Per call, read the CPU time (the sum over the threads, per call); with 2
// threads the wall time per call is the shared meter's throughput.
//
//   taskset -c 0,1 build-release/bench/load_meter_benchmark --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true        (one line; docs/performance.md)

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/ids.h"
#include "storage/bucket.h"
#include "storage/sharding/load_reporter.h"

namespace {

using ztm::UserId;

constexpr std::uint32_t kUsers = 1'000'000;
constexpr std::size_t kCalls = std::size_t{1} << 20;  // per thread; a power of two
constexpr int kShards = 4;
constexpr int kMaxThreads = 2;

struct Call {
  UserId id;
  std::uint8_t shard;
  bool write;
};
using Trace = std::vector<Call>;

// Snowflake-like ids (a timestamp in the high bits, a sequence in the low ones), one per user.
UserId user_id(std::uint32_t user) {
  return (std::int64_t{1} << 41) + static_cast<std::int64_t>(user) * 4096 + (user % 7);
}

// kCalls calls over kUsers users: rank r drawn with P proportional to 1 / (r + 1)^skew (skew 0:
// uniform), rank r being user perm[r], so popularity does not follow id order. The shard is the
// bucket's (bucket mod kShards, a map's default layout).
Trace make_trace(double skew, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint32_t> perm(kUsers);
  std::iota(perm.begin(), perm.end(), 0u);
  std::shuffle(perm.begin(), perm.end(), std::mt19937_64(42));  // the same for every trace
  std::vector<double> cdf;
  if (skew > 0) {
    cdf.reserve(kUsers);
    double sum = 0;
    for (std::uint32_t r = 0; r < kUsers; ++r) cdf.push_back(sum += 1.0 / std::pow(r + 1.0, skew));
    for (double& c : cdf) c /= sum;
  }
  std::uniform_real_distribution<double> unit(0, 1);
  std::uniform_int_distribution<std::uint32_t> any(0, kUsers - 1);
  Trace trace(kCalls);
  for (Call& call : trace) {
    std::uint32_t rank = 0;
    if (skew > 0) {
      const auto it = std::lower_bound(cdf.begin(), cdf.end(), unit(rng));
      rank = static_cast<std::uint32_t>(std::min<std::size_t>(it - cdf.begin(), kUsers - 1));
    } else {
      rank = any(rng);
    }
    call.id = user_id(perm[rank]);
    call.shard = static_cast<std::uint8_t>(ztm::storage::bucket_of(call.id) % kShards);
    call.write = unit(rng) < 0.3;
  }
  return trace;
}

// One distribution's traces, one per thread (different seeds: the threads' calls interleave, they
// do not march in step).
struct Traces {
  explicit Traces(double skew) {
    for (int t = 0; t < kMaxThreads; ++t)
      per_thread.push_back(make_trace(skew, 1000 + static_cast<std::uint64_t>(t)));
  }
  std::vector<Trace> per_thread;
};

enum class Kind { nothing, user, lookup };

struct Case {
  Kind kind;
  const Traces* traces;
  std::unique_ptr<ztm::storage::LoadMeter> meter;  // shared by the case's threads, all its runs
};

void calls(benchmark::State& state, Case* c) {
  const Trace& trace = c->traces->per_thread[static_cast<std::size_t>(state.thread_index())];
  ztm::storage::LoadMeter& meter = *c->meter;
  std::size_t i = 0;
  for (auto _ : state) {
    const Call& call = trace[i];
    switch (c->kind) {
      case Kind::nothing:  // the loop and the trace's reads alone
        benchmark::DoNotOptimize(call);
        break;
      case Kind::user:
        meter.record(call.id, call.write, true);
        meter.record_shard(call.shard);
        break;
      case Kind::lookup:
        meter.record(call.id, call.write, false);
        meter.record_shard(call.shard);
        break;
    }
    i = (i + 1) & (kCalls - 1);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  // Owned here, for the whole run: the benchmark threads share them.
  const Traces zipf(0.99);
  const Traces uniform(0);
  std::vector<std::unique_ptr<Case>> cases;
  const auto add = [&](const std::string& name, Kind kind, const Traces& traces, int sample_every) {
    ztm::HotKeyOptions users;
    users.sample_every = sample_every;
    cases.push_back(std::make_unique<Case>(
        Case{kind, &traces, std::make_unique<ztm::storage::LoadMeter>(users)}));
    benchmark::RegisterBenchmark(name.c_str(), calls, cases.back().get())
        ->Threads(1)
        ->Threads(2)
        ->UseRealTime();
  };
  add("Baseline/zipf", Kind::nothing, zipf, 8);
  add("User/zipf", Kind::user, zipf, 8);
  add("User/uniform", Kind::user, uniform, 8);
  add("Lookup/zipf", Kind::lookup, zipf, 8);
  add("Lookup/uniform", Kind::lookup, uniform, 8);
  add("User/zipf/sample:32", Kind::user, zipf, 32);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
