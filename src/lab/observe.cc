#include "lab/observe.h"

#include <sys/stat.h>

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <stdexcept>

#include "lab/engines/engine.h"
#include "lab/template.h"

namespace ztm::lab {

namespace {

// The job and port of a process's metrics; an empty job for a process that has none.
std::pair<std::string, int> metrics_of(const ProcessDef& p) {
  static const std::map<std::string, std::pair<std::string, int>> by_engine = {
      {"ztm", {"ztm-web", kWebPort}},
      {"worker", {"ztm-worker", kWorkerPort}},
      {"patroni", {"patroni", kPatroniApiPort}},
      {"etcd", {"etcd", kEtcdClientPort}},
      {"haproxy", {"haproxy", kHaproxyMetricsPort}},
      {"varnish-exporter", {"varnish", kEdgeExporterPort}},
      {"postgres-exporter", {"postgres", kPostgresExporterPort}},
      {"redis-exporter", {"redis", kRedisExporterPort}},
      {"host-exporter", {"host", kHostExporterPort}},
      {"node-exporter", {"node", kNodeExporterPort}},
      {"prometheus", {"prometheus", kPrometheusPort}},
      {"alertmanager", {"alertmanager", kAlertmanagerPort}}};
  auto it = by_engine.find(p.engine);
  return it == by_engine.end() ? std::pair<std::string, int>{} : it->second;
}

}  // namespace

namespace {

const ProcessDef kShipper{.engine = "log-shipper", .after = {std::string(kObsHost) + "/logs"}};

// A runtime host (web4, work3) ships its logs too.
std::function<HostDef(int)> with_shipper(std::function<HostDef(int)> make) {
  if (!make) return make;
  return [make = std::move(make)](int n) {
    HostDef h = make(n);
    h.processes.push_back(kShipper);
    return h;
  };
}

// Beside each PostgreSQL and Redis its exporter, and the host's log shipper.
void add_exporters(HostDef& h) {
  std::vector<ProcessDef> added;
  for (const auto& p : h.processes) {
    const std::string after = process_name(h, p);
    if (p.engine == "postgres" || p.engine == "patroni")
      added.push_back({.engine = "postgres-exporter", .after = {after}});
    else if (p.engine == "redis")
      added.push_back({.engine = "redis-exporter", .after = {after}});
  }
  added.push_back(kShipper);
  for (auto& e : added) h.processes.push_back(std::move(e));
}

}  // namespace

Stage observed(Stage stage) {
  if (std::any_of(stage.hosts.begin(), stage.hosts.end(),
                  [](const HostDef& h) { return h.name == kObsHost; }))
    return stage;
  for (auto& h : stage.hosts) add_exporters(h);
  stage.hosts.push_back({.name = kObsHost,
                         .dc = "dc1",
                         .number = 3,
                         .roles = {"obs"},
                         .processes = {{.engine = "logs"},
                                       {.engine = "host-exporter"},
                                       {.engine = "node-exporter"},
                                       {.engine = "alertmanager"},
                                       {.engine = "prometheus"},
                                       {.engine = "dashboard"},
                                       kShipper}});
  stage.web_host = with_shipper(std::move(stage.web_host));
  stage.worker_host = with_shipper(std::move(stage.worker_host));
  if (stage.shard_cluster)  // a shard cluster added at runtime (s5a, s5b), as the first four
    stage.shard_cluster = [make = std::move(stage.shard_cluster)](int k) {
      auto hosts = make(k);
      for (auto& h : hosts) add_exporters(h);
      return hosts;
    };
  return stage;
}

std::vector<ScrapeTarget> scrape_targets(const std::vector<const HostDef*>& hosts) {
  std::vector<ScrapeTarget> out;
  for (const HostDef* h : hosts)
    for (const auto& p : h->processes)
      if (auto [job, port] = metrics_of(p); !job.empty())
        out.push_back({.job = job,
                       .address = host_address(*h) + ":" + std::to_string(port),
                       .instance = h->name + ":" + std::to_string(port)});
  return out;
}

const std::vector<std::string>& scrape_jobs() {
  static const std::vector<std::string> jobs = {
      "ztm-web",  "ztm-worker", "patroni", "etcd", "haproxy",    "varnish",
      "postgres", "redis",      "host",    "node", "prometheus", "alertmanager"};
  return jobs;
}

void write_scrape_targets(const std::string& obs_dir, const std::vector<ScrapeTarget>& targets) {
  const std::string dir = obs_dir + "/targets";
  std::filesystem::create_directories(dir);
  ::chmod(dir.c_str(), 0755);  // Prometheus runs as user prometheus
  for (const auto& job : scrape_jobs()) {
    boost::json::array groups;
    for (const auto& t : targets)
      if (t.job == job)
        groups.push_back(
            {{"targets", boost::json::array{t.address}}, {"labels", {{"instance", t.instance}}}});
    const std::string path = dir + "/" + job + ".json";
    write_file(path + ".tmp", boost::json::serialize(groups) + "\n");
    ::chmod((path + ".tmp").c_str(), 0644);
    std::filesystem::rename(path + ".tmp", path);  // never a half-written file
  }
}

}  // namespace ztm::lab
