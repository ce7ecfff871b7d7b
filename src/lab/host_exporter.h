#pragma once
// `ztm lab host-exporter` (engine host-exporter on the obs host, observe.h): every lab host's own
// CPU, memory and I/O from its cgroups (cgroups.h), in Prometheus text for the `host` job:
//   ztm_host_cpu_seconds_total{host}         counter, cpuacct.usage
//   ztm_host_memory_bytes{host}              gauge, resident and page cache
//   ztm_host_io_bytes_total{host,direction}  counter, direction="read"|"write" (blkio)
// A figure the machine does not give (a controller not mounted) has no sample. A node
// exporter on each host would report the whole machine for each (docs/observability.md).

#include <string>
#include <vector>

#include "lab/cgroups.h"

namespace ztm::lab {

// The exposition of `usage` (host name, its figures).
std::string host_metrics(const std::vector<std::pair<std::string, HostUsage>>& usage);

// Serves GET /metrics (every lab host's, read at each scrape) on address:port until killed.
// One connection at a time, each bounded (2 s, 8 KiB of request): one Prometheus scrapes it.
// Returns 1 (with a message on stderr) when it cannot listen.
int serve_host_metrics(const std::string& address, int port);

}  // namespace ztm::lab
