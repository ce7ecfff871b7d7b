#include "lab/cgroups.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
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
// cpu is there for a per-host CPU quota later (cpu.cfs_quota_us); cpuacct counts the time.
constexpr const char* kControllers[] = {"cpu", "cpuacct", "memory", "blkio"};

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

std::vector<std::string> host_cgroups(const std::string& host) {
  std::vector<std::string> procs;
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
    if (made) procs.push_back(group + "/cgroup.procs");
  }
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
