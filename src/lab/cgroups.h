#pragma once
// Each lab host's own control groups, so that a host's CPU, memory and I/O are its own: the hosts
// share one kernel, and /proc shows the whole machine to all of them (docs/lab.md, "Hosts' own
// metrics"; issue 16). Cgroup v1, one hierarchy per controller, as this machine mounts them:
// /sys/fs/cgroup/<controller>/ztm-lab/<host> for cpuacct (CPU time), memory (resident and page
// cache) and blkio (bytes read and written). Every process the supervisor starts on a host joins
// that host's groups in the forked child, before it execs, so everything it forks (PostgreSQL's
// backends under Patroni) is counted there too.
//
// A host may have a CPU quota (`ztm lab up --cpus`): cpu.cfs_quota_us over a 100 ms period, so it
// runs at most that many cores' worth of time per period and is throttled beyond.
//
// Failure: a controller that is not mounted, or mounted read-only or not writable by us (a
// container), is skipped: its figures are null in host_usage(). Any other failure to create a
// group is an error (thrown).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ztm::lab {

// The cgroup.procs files of `host`'s groups, creating the groups first and setting its CPU
// quota, `cpus` cores (0: none). Idempotent. Throws when a quota is asked for and no writable
// cgroup v1 cpu controller is there to hold it (the process is then not started: say so).
std::vector<std::string> host_cgroups(const std::string& host, double cpus = 0);

// Removes `host`'s groups (and the lab's, after the last host). REQUIRES: no process runs in
// them. Returns the errors, if any.
std::vector<std::string> remove_host_cgroups(const std::string& host);

// The hosts that have groups, by name.
std::vector<std::string> lab_cgroup_hosts();

// `ztm lab down`: removes every host's groups and the lab's own. Returns the errors, if any
// (a group whose killed processes are not reaped yet is busy: retry).
std::vector<std::string> remove_lab_cgroups();

struct HostUsage {
  std::optional<double> cpu_seconds;            // cpuacct.usage
  std::optional<double> cpu_quota_cores;        // cpu.cfs_quota_us / cpu.cfs_period_us, if set
  std::optional<double> cpu_throttled_seconds;  // cpu.stat throttled_time: runnable, held back
  std::optional<std::uint64_t> memory_bytes;    // memory.usage_in_bytes (rss + page cache)
  std::optional<std::uint64_t> io_read_bytes;   // blkio.throttle.io_service_bytes, Read
  std::optional<std::uint64_t> io_write_bytes;  // ..., Write
};

// What `host`'s processes have used (CPU, I/O: since the group was made; memory: now).
HostUsage host_usage(const std::string& host);

}  // namespace ztm::lab
