#pragma once
// A small Prometheus metrics registry: counters, gauges, histograms and gauges read at scrape
// time. Metric objects are created once (under a lock) and then updated lock-free; references
// returned by the registry stay valid for its lifetime.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/thread_ordinal.h"

namespace ztm {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Counters and histograms are sharded by thread: each of the first kMetricShards threads that
// update metrics writes cache lines of its own (later threads share them), and a read sums the
// shards. Two event loops counting requests on one route then never write the same line, so a
// count is an uncontended add where one shared atomic bounced between the cores (issue 12).
inline constexpr std::size_t kMetricShards = 8;
inline constexpr std::size_t kCacheLine = 64;
// This thread's shard, in [0, kMetricShards).
inline std::size_t metric_shard() {
  return thread_ordinal() % kMetricShards;
}

class Counter {
 public:
  void inc(std::uint64_t n = 1) {
    shards_[metric_shard()].v.fetch_add(n, std::memory_order_relaxed);
  }
  std::uint64_t value() const {
    std::uint64_t sum = 0;
    for (const auto& s : shards_) sum += s.v.load(std::memory_order_relaxed);
    return sum;
  }

 private:
  struct alignas(kCacheLine) Shard {
    std::atomic<std::uint64_t> v{0};
  };
  std::array<Shard, kMetricShards> shards_;
};

class Gauge {
 public:
  void set(double v) { v_.store(v, std::memory_order_relaxed); }
  void add(double d) { v_.fetch_add(d, std::memory_order_relaxed); }
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class Histogram {
 public:
  // REQUIRES: bounds sorted ascending.
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative counts per bound, then +Inf; and the sum.
  std::vector<std::uint64_t> cumulative() const;
  double sum() const;

 private:
  // One shard's bucket counts (bounds_.size() + 1) in whole cache lines, then its sum.
  struct alignas(kCacheLine) Line {
    std::atomic<std::uint64_t> words[kCacheLine / sizeof(std::uint64_t)];
  };
  struct alignas(kCacheLine) Sum {
    std::atomic<double> v{0};
  };
  std::atomic<std::uint64_t>& count(std::size_t shard, std::size_t bucket) {
    return lines_[shard * lines_per_shard_ + bucket / 8].words[bucket % 8];
  }
  const std::atomic<std::uint64_t>& count(std::size_t shard, std::size_t bucket) const {
    return lines_[shard * lines_per_shard_ + bucket / 8].words[bucket % 8];
  }

  std::vector<double> bounds_;
  std::size_t lines_per_shard_;
  std::vector<Line> lines_;  // kMetricShards * lines_per_shard_
  std::array<Sum, kMetricShards> sums_;
};

// Default latency buckets in seconds: 50 µs .. 10 s.
std::vector<double> latency_buckets();

class MetricsRegistry {
 public:
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help, const Labels& labels = {},
                       std::vector<double> bounds = latency_buckets());
  // A gauge (or counter, with type "counter") whose value is read when /metrics is scraped.
  void callback(const std::string& name, const std::string& help, const Labels& labels,
                std::function<double()> read, const std::string& type = "gauge");

  // The Prometheus text exposition format (version 0.0.4).
  std::string render() const;

 private:
  struct Family {
    std::string help;
    std::string type;
    // rendered label set ("{a=\"b\"}") -> metric
    std::map<std::string, std::unique_ptr<Counter>> counters;
    std::map<std::string, std::unique_ptr<Gauge>> gauges;
    std::map<std::string, std::unique_ptr<Histogram>> histograms;
    std::map<std::string, std::function<double()>> callbacks;
  };
  Family& family(const std::string& name, const std::string& help, const std::string& type);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
};

// Registers process_* metrics (CPU seconds, resident memory, open fds, start time) read from
// /proc at scrape time.
void register_process_metrics(MetricsRegistry& registry);

}  // namespace ztm
