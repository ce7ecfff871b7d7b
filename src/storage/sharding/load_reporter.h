#pragma once
// What a sharded server counts of its own calls, and the task that publishes it to etcd
// (docs/sharding.md, "Load: hot buckets and hot users"; the report's format is load_report.h).
//
// LoadMeter: the sharded store's counts. Per bucket, reads and writes (relaxed atomic counters,
// 2 x 1024); per shard index, the calls sent to it; and the hot users, by a HotKeyDetector
// (core/hot_keys.h) that samples about 1 call in 8. Cost per call: three relaxed atomic adds
// (bucket, shard, the detector's call number) and, for 1 call in 8, the detector's hashing and
// top-k under its mutex: bench/load_meter_benchmark.cc measures 42 ns a call in all and 13.5 ns
// without the user on one thread, 130-170 ns with two threads on one meter (its shard counters
// share a cache line, and so does the sketch's call number; docs/performance.md). Any thread.
//
// LoadReporter: every `interval`, takes the meter's counts since the last report and writes them
// with an unconditional put to `key` (one writer per key: this server), under a lease of its own
// (lease_ttl: three intervals, at least 3 s), so a stopped server's report leaves etcd by itself
// and the prefix holds only live servers' reports. The task runs on a
// thread of its own (a TaskGroup) and is stopped, by cancellation, when the reporter is
// destroyed. A failed put is logged once per streak of failures (and once when they end),
// counted in ztm_shard_load_reports_failed_total (a failed grant too), and never touches a request:
// the counts of a failed interval are simply not published (the next report covers its own
// interval).

#include <array>
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "core/clock.h"
#include "core/hot_keys.h"
#include "core/metrics.h"
#include "core/task_group.h"
#include "etcd/client.h"
#include "storage/bucket.h"
#include "storage/sharding/load_report.h"
#include "storage/sharding/shard_map.h"

namespace ztm::storage {

class LoadMeter {
 public:
  // Throws std::invalid_argument on nonsense detector options (HotKeyDetector's).
  explicit LoadMeter(HotKeyOptions users = {});

  // One call routed by `placement`'s bucket. `user`: the placement is a user id (not a lookup
  // key's placement), so it feeds the hot users too.
  void record(UserId placement, bool write, bool user) {
    const int bucket = bucket_of(placement);
    (write ? writes_ : reads_)[static_cast<std::size_t>(bucket)].fetch_add(
        1, std::memory_order_relaxed);
    if (user) record_user(placement);
  }
  // One call sent to shard `index` (< kMaxShards).
  void record_shard(std::size_t index) {
    shard_calls_[index].fetch_add(1, std::memory_order_relaxed);
  }
  // Calls sent to shard `index` since the start (ztm_shard_requests_total).
  std::uint64_t shard_calls(std::size_t index) const {
    return shard_calls_[index].load(std::memory_order_relaxed);
  }

  // The counts since the previous take() (since construction, at first): requests, shards (the
  // map's, by name), the busiest kReportedBuckets buckets, and the hot users now. The caller
  // fills in the rest. Any thread (takes are serialised).
  LoadReport take(const ShardMap& map);

 private:
  void record_user(UserId id);

  std::array<std::atomic<std::uint64_t>, kBuckets> reads_{};
  std::array<std::atomic<std::uint64_t>, kBuckets> writes_{};
  std::array<std::atomic<std::uint64_t>, kMaxShards> shard_calls_{};
  HotKeyDetector users_;

  std::mutex take_mu_;  // held by take(): the totals it last reported
  std::array<std::uint64_t, kBuckets> taken_reads_{};
  std::array<std::uint64_t, kBuckets> taken_writes_{};
  std::array<std::uint64_t, kMaxShards> taken_shards_{};
};

struct LoadReporterOptions {
  std::string key;                           // where the report goes (load_report_key)
  int node = 0;                              // Config::node_id
  std::string host;                          // this machine's name, [A-Za-z0-9.-]{1,64}
  std::chrono::milliseconds interval{5000};  // between reports (> 0)
};

// How long a report outlives its server: three intervals (a report or two may fail without the
// key vanishing under a live server), at least 3 s, in whole seconds (etcd's unit).
std::chrono::seconds lease_ttl(std::chrono::milliseconds interval);

class LoadReporter {
 public:
  // The interval's report: a LoadMeter::take() with map_version set (node, host, at_ms and
  // interval_ms are the reporter's). Called on the reporter's thread.
  using Take = std::function<LoadReport()>;

  // Starts the task. REQUIRES: `client` outlives this. Throws std::invalid_argument on an empty
  // key, a bad host or node, or an interval <= 0.
  LoadReporter(etcd::Client& client, LoadReporterOptions options, Take take,
               const Clock& clock = Clock::system());
  ~LoadReporter();  // cancels the task (a wait or a put in flight) and joins it
  LoadReporter(const LoadReporter&) = delete;
  LoadReporter& operator=(const LoadReporter&) = delete;

  // ztm_shard_load_reports_total, ztm_shard_load_reports_failed_total. Once per registry.
  void register_metrics(MetricsRegistry& registry) const;

 private:
  struct Stats;
  boost::asio::awaitable<void> run();

  etcd::Client& client_;
  const LoadReporterOptions options_;
  const Take take_;
  const Clock& clock_;
  std::shared_ptr<Stats> stats_;
  TaskGroup tasks_;  // last: stopped first
};

}  // namespace ztm::storage
