#include "lab/cgroups.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

namespace ztm::lab {

namespace {

constexpr const char* kRoot = "/sys/fs/cgroup";
constexpr const char* kLab = "ztm-lab";
// cpu holds a host's quota (cpu.cfs_quota_us); cpuacct counts the time.
constexpr const char* kControllers[] = {"cpu", "cpuacct", "memory", "blkio"};
constexpr long kCpuPeriodUs = 100'000;

bool is_dir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The controllers' mount points, once each: "cpu" and "cpuacct" may be one hierarchy
// ("cpu,cpuacct", both names symlinks to it).
std::vector<std::string> hierarchies() {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const char* c : kControllers) {
    const std::string mount = fmt::format("{}/{}", kRoot, c);
    if (!is_dir(mount)) continue;
    std::error_code ec;
    const auto real = std::filesystem::canonical(mount, ec);
    if (ec || !seen.insert(real.string()).second) continue;
    out.push_back(mount);
  }
  return out;
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.flush();
  if (!out) throw std::runtime_error(fmt::format("cannot write {} to {}", text, path));
}

std::optional<std::uint64_t> read_number(const std::string& path) {
  auto text = read_file(path);
  if (!text) return std::nullopt;
  try {
    return std::stoull(*text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

std::vector<std::string> host_cgroups(const std::string& host, double cpus) {
  std::vector<std::string> procs;
  bool quota_set = false;
  for (const auto& mount : hierarchies()) {
    const std::string lab = fmt::format("{}/{}", mount, kLab);
    const std::string group = fmt::format("{}/{}", lab, host);
    bool made = true;
    for (const auto& dir : {lab, group}) {
      if (::mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) continue;
      if (errno != EROFS && errno != EACCES && errno != EPERM)
        throw std::runtime_error(
            fmt::format("cannot create cgroup {}: {}", dir, std::strerror(errno)));
      made = false;  // not ours to write (a container): no figures from this controller
      break;
    }
    if (!made) continue;
    procs.push_back(group + "/cgroup.procs");
    if (std::filesystem::exists(group + "/cpu.cfs_quota_us")) {  // the cpu hierarchy
      quota_set = true;
      write_file(group + "/cpu.cfs_period_us", std::to_string(kCpuPeriodUs));
      const long quota = cpus > 0 ? std::lround(cpus * kCpuPeriodUs) : -1;  // -1: none
      write_file(group + "/cpu.cfs_quota_us", std::to_string(quota));
    }
  }
  if (cpus > 0 && !quota_set)
    throw std::runtime_error(fmt::format(
        "host {}: no writable cgroup v1 cpu controller here for its CPU quota (--cpus)", host));
  return procs;
}

std::vector<std::string> remove_host_cgroups(const std::string& host) {
  std::vector<std::string> errors;
  for (const auto& mount : hierarchies()) {
    const std::string group = fmt::format("{}/{}/{}", mount, kLab, host);
    if (is_dir(group) && ::rmdir(group.c_str()) != 0)
      errors.push_back(fmt::format("cannot remove cgroup {}: {}", group, std::strerror(errno)));
    ::rmdir(fmt::format("{}/{}", mount, kLab).c_str());  // once the last host's is gone
  }
  return errors;
}

std::vector<std::string> lab_cgroup_hosts() {
  std::set<std::string> hosts;
  for (const auto& mount : hierarchies()) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(mount + "/" + kLab, ec))
      if (entry.is_directory()) hosts.insert(entry.path().filename().string());
  }
  return {hosts.begin(), hosts.end()};
}

std::vector<std::string> remove_lab_cgroups() {
  std::vector<std::string> errors;
  for (const auto& host : lab_cgroup_hosts()) {
    auto e = remove_host_cgroups(host);
    errors.insert(errors.end(), e.begin(), e.end());
  }
  for (const auto& mount : hierarchies()) {  // also when no host group was left
    const std::string lab = fmt::format("{}/{}", mount, kLab);
    if (is_dir(lab) && ::rmdir(lab.c_str()) != 0 && errors.empty())
      errors.push_back(fmt::format("cannot remove cgroup {}: {}", lab, std::strerror(errno)));
  }
  return errors;
}

HostUsage host_usage(const std::string& host) {
  HostUsage u;
  const auto group = [&](const char* controller) {
    return fmt::format("{}/{}/{}/{}", kRoot, controller, kLab, host);
  };
  if (auto ns = read_number(group("cpuacct") + "/cpuacct.usage")) u.cpu_seconds = *ns / 1e9;
  const auto quota = read_file(group("cpu") + "/cpu.cfs_quota_us");
  const auto period = read_number(group("cpu") + "/cpu.cfs_period_us");
  if (quota && period && *period > 0 && !quota->empty() && quota->front() != '-')  // -1: none
    u.cpu_quota_cores = std::strtod(quota->c_str(), nullptr) / static_cast<double>(*period);
  // cpu.stat: "nr_periods N", "nr_throttled N", "throttled_time NS".
  if (auto text = read_file(group("cpu") + "/cpu.stat")) {
    std::istringstream lines(*text);
    std::string name;
    std::uint64_t n = 0;
    while (lines >> name >> n)
      if (name == "throttled_time") u.cpu_throttled_seconds = static_cast<double>(n) / 1e9;
  }
  u.memory_bytes = read_number(group("memory") + "/memory.usage_in_bytes");
  // Lines "MAJ:MIN Read N", "MAJ:MIN Write N", ..., "Total N": summed over devices.
  if (auto text = read_file(group("blkio") + "/blkio.throttle.io_service_bytes")) {
    std::istringstream lines(*text);
    std::string device, op;
    std::uint64_t n = 0;
    u.io_read_bytes = 0;
    u.io_write_bytes = 0;
    while (lines >> device >> op >> n) {
      if (op == "Read") *u.io_read_bytes += n;
      if (op == "Write") *u.io_write_bytes += n;
    }
  }
  return u;
}

}  // namespace ztm::lab
