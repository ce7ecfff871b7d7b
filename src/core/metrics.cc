#include "core/metrics.h"

#include <dirent.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace ztm {
namespace {

std::string render_labels(const Labels& labels) {
  if (labels.empty()) return {};
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ',';
    out += labels[i].first;
    out += "=\"";
    for (char ch : labels[i].second) {
      if (ch == '\\' || ch == '"') out += '\\';
      if (ch == '\n') {
        out += "\\n";
        continue;
      }
      out += ch;
    }
    out += '"';
  }
  return out + "}";
}

// Inserts an extra label into a rendered label set: {a="b"} + le="0.1" -> {a="b",le="0.1"}.
std::string with_label(const std::string& rendered, const std::string& extra) {
  if (rendered.empty()) return "{" + extra + "}";
  return rendered.substr(0, rendered.size() - 1) + "," + extra + "}";
}

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  return fmt::format("{}", v);
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      lines_per_shard_((bounds_.size() + 1 + 7) / 8),
      lines_(kMetricShards * lines_per_shard_) {}

void Histogram::observe(double v) {
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  const std::size_t shard = metric_shard();
  count(shard, static_cast<size_t>(it - bounds_.begin())).fetch_add(1, std::memory_order_relaxed);
  sums_[shard].v.fetch_add(v, std::memory_order_relaxed);
}

std::vector<std::uint64_t> Histogram::cumulative() const {
  std::vector<std::uint64_t> out(bounds_.size() + 1);
  std::uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    for (std::size_t shard = 0; shard < kMetricShards; ++shard)
      total += count(shard, i).load(std::memory_order_relaxed);
    out[i] = total;
  }
  return out;
}

double Histogram::sum() const {
  double total = 0;
  for (const auto& s : sums_) total += s.v.load(std::memory_order_relaxed);
  return total;
}

std::vector<double> latency_buckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};
}

MetricsRegistry::Family& MetricsRegistry::family(const std::string& name, const std::string& help,
                                                 const std::string& type) {
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    it->second.help = help;
    it->second.type = type;
  } else if (it->second.type != type) {
    throw std::logic_error("metric " + name + " registered with two types");
  }
  return it->second;
}

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help,
                                  const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& slot = family(name, help, "counter").counters[render_labels(labels)];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help,
                              const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& slot = family(name, help, "gauge").gauges[render_labels(labels)];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                      const Labels& labels, std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  auto& slot = family(name, help, "histogram").histograms[render_labels(labels)];
  if (!slot) slot = std::make_unique<Histogram>(std::move(bounds));
  return *slot;
}

void MetricsRegistry::callback(const std::string& name, const std::string& help,
                               const Labels& labels, std::function<double()> read,
                               const std::string& type) {
  std::lock_guard lock(mu_);
  family(name, help, type).callbacks[render_labels(labels)] = std::move(read);
}

std::string MetricsRegistry::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  out.reserve(16 * 1024);
  for (const auto& [name, f] : families_) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, f.help, name, f.type);
    for (const auto& [labels, c] : f.counters)
      out += fmt::format("{}{} {}\n", name, labels, c->value());
    for (const auto& [labels, g] : f.gauges)
      out += fmt::format("{}{} {}\n", name, labels, number(g->value()));
    for (const auto& [labels, read] : f.callbacks)
      out += fmt::format("{}{} {}\n", name, labels, number(read()));
    for (const auto& [labels, h] : f.histograms) {
      const auto counts = h->cumulative();
      for (size_t i = 0; i < h->bounds().size(); ++i)
        out += fmt::format("{}_bucket{} {}\n", name,
                           with_label(labels, "le=\"" + number(h->bounds()[i]) + "\""), counts[i]);
      out +=
          fmt::format("{}_bucket{} {}\n", name, with_label(labels, "le=\"+Inf\""), counts.back());
      out += fmt::format("{}_sum{} {}\n", name, labels, number(h->sum()));
      out += fmt::format("{}_count{} {}\n", name, labels, counts.back());
    }
  }
  return out;
}

namespace {

// Fields 14 (utime) and 15 (stime) of /proc/self/stat, in clock ticks.
double process_cpu_seconds() {
  std::ifstream in("/proc/self/stat");
  std::string content((std::istreambuf_iterator<char>(in)), {});
  const auto close = content.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(content.substr(close + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double resident_bytes() {
  std::ifstream in("/proc/self/statm");
  unsigned long long size = 0, resident = 0;
  in >> size >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

double open_fds() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d)) ++n;
    closedir(d);
  }
  return n > 2 ? n - 3 : 0;  // ".", ".." and the directory's own fd
}

}  // namespace

void register_process_metrics(MetricsRegistry& registry) {
  const double start = static_cast<double>(time(nullptr));
  registry.callback("process_cpu_seconds_total", "User and system CPU time spent in seconds.", {},
                    process_cpu_seconds, "counter");
  registry.callback("process_resident_memory_bytes", "Resident memory size in bytes.", {},
                    resident_bytes);
  registry.callback("process_open_fds", "Number of open file descriptors.", {}, open_fds);
  registry.callback("process_start_time_seconds", "Start time of the process since unix epoch.", {},
                    [start] { return start; });
}

}  // namespace ztm
