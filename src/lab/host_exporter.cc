#include "lab/host_exporter.h"

#include <fmt/format.h>

#include <functional>
#include <optional>

#include "lab/http_listener.h"

namespace ztm::lab {

namespace {

HttpReply answer(const std::string& line) {
  if (line.rfind("GET /metrics ", 0) != 0) return {.status = 404, .body = "not found\n"};
  std::vector<std::pair<std::string, HostUsage>> usage;
  for (const auto& host : lab_cgroup_hosts()) usage.emplace_back(host, host_usage(host));
  return {.content_type = "text/plain; version=0.0.4", .body = host_metrics(usage)};
}

}  // namespace

std::string host_metrics(const std::vector<std::pair<std::string, HostUsage>>& usage) {
  using Figure = std::function<std::optional<double>(const HostUsage&)>;
  struct Series {
    const char* labels;  // after host's: ",direction=\"read\""
    Figure figure;
  };
  std::string out;
  // One metric: its header, then a sample per series and host that has the figure.
  auto metric = [&](const char* name, const char* type, const char* help,
                    std::initializer_list<Series> series) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    for (const auto& one : series)
      for (const auto& [host, u] : usage)
        if (const auto value = one.figure(u))
          out += fmt::format("{}{{host=\"{}\"{}}} {}\n", name, host, one.labels, *value);
  };
  auto figure = [](auto HostUsage::*field) -> Figure {
    return [field](const HostUsage& u) -> std::optional<double> {
      if (!(u.*field)) return std::nullopt;
      return static_cast<double>(*(u.*field));
    };
  };
  metric("ztm_host_cpu_seconds_total", "counter",
         "CPU time used by the lab host's processes (its cgroup).",
         {{"", figure(&HostUsage::cpu_seconds)}});
  metric("ztm_host_cpu_quota_cores", "gauge",
         "The lab host's CPU quota in cores (`ztm lab up --cpus`); absent: none.",
         {{"", figure(&HostUsage::cpu_quota_cores)}});
  metric("ztm_host_cpu_throttled_seconds_total", "counter",
         "Time the lab host's processes were runnable but held back by its CPU quota.",
         {{"", figure(&HostUsage::cpu_throttled_seconds)}});
  metric("ztm_host_memory_bytes", "gauge",
         "Memory the lab host's processes hold (resident and page cache).",
         {{"", figure(&HostUsage::memory_bytes)}});
  metric("ztm_host_io_bytes_total", "counter",
         "Bytes the lab host's processes read and wrote on block devices.",
         {{",direction=\"read\"", figure(&HostUsage::io_read_bytes)},
          {",direction=\"write\"", figure(&HostUsage::io_write_bytes)}});
  return out;
}

int serve_host_metrics(const std::string& address, int port) {
  return serve_http("host-exporter", address, port, {}, answer);
}

}  // namespace ztm::lab
