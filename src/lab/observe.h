#pragma once
// `ztm lab up --stage X --observe` (docs/observability.md): the stage plus what watches it.
//   - a host `obs` (dc1, .3) running Prometheus (deploy/prometheus/prometheus.yml and
//     rules.yml), Alertmanager, the hosts' exporter (`ztm lab host-exporter`: every lab host's
//     CPU, memory and I/O from its own cgroups), node-exporter (the filesystems: one machine's,
//     so one exporter) and the dashboard (`ztm lab dashboard`, dashboard.h; port 3000);
//   - beside each engine without metrics of its own, its exporter on the same host: PostgreSQL
//     (also under Patroni) and Redis. ztm, Patroni, etcd and HAProxy serve /metrics themselves;
//     the edges already have theirs;
//   - the logs in one place: the log host (engine `logs` on obs) and a shipper on every host,
//     runtime hosts (`ztm lab scale`) included (engines/logs.cc).
// What Prometheus scrapes is written by the supervisor, one file per job, into the obs host's
// directory (file_sd), every time a host comes or goes (`ztm lab scale`).

#include <string>
#include <vector>

#include "lab/engines/engine.h"
#include "lab/stages.h"

namespace ztm::lab {

inline constexpr const char* kObsHost = kObsHostName;

// `stage` with the obs host and the exporters. Idempotent.
Stage observed(Stage stage);

struct ScrapeTarget {
  std::string job;       // "ztm-web", as deploy/prometheus/rules.yml names it
  std::string address;   // "10.77.1.10:8080"
  std::string instance;  // "web1:8080": what alerts and dashboards show
};

// Every target of the hosts' processes (none for processes that serve no metrics).
std::vector<ScrapeTarget> scrape_targets(const std::vector<const HostDef*>& hosts);

// The jobs Prometheus has a scrape config for: scrape_targets() names no other.
const std::vector<std::string>& scrape_jobs();

// Writes <obs_dir>/targets/<job>.json for every job (an empty list for a job without targets),
// each atomically (Prometheus re-reads them on change). Throws std::runtime_error.
void write_scrape_targets(const std::string& obs_dir, const std::vector<ScrapeTarget>& targets);

}  // namespace ztm::lab
