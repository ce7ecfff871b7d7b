#include "lab/network.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdexcept>

#include "lab/process.h"

namespace ztm::lab {

namespace {

bool has_prefix(const std::string& name) {
  return name.rfind(kPrefix, 0) == 0;
}

// Runs `ip ARGS...` (iproute2, found on the usual sbin paths) and returns its exit status and
// its stderr. Throws only when it cannot be started.
std::pair<int, std::string> ip(std::vector<std::string> args) {
  static const char* const kCandidates[] = {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"};
  std::string binary;
  for (const char* c : kCandidates)
    if (::access(c, X_OK) == 0) {
      binary = c;
      break;
    }
  if (binary.empty()) throw std::runtime_error("`ip` not found: install iproute2");
  char tmpl[] = "/tmp/ztm-lab-ip-XXXXXX";
  const int fd = ::mkstemp(tmpl);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  ::close(fd);
  args.insert(args.begin(), binary);
  auto status = run({.argv = args, .workdir = "/", .log = tmpl}, std::chrono::seconds(10));
  std::string err = tail(tmpl, 5);
  ::unlink(tmpl);
  while (!err.empty() && err.back() == '\n') err.pop_back();
  return {status.value_or(-1), err};
}

void must(std::vector<std::string> args) {
  std::string cmd = "ip";
  for (const auto& a : args) cmd += " " + a;
  auto [status, err] = ip(std::move(args));
  if (status != 0) throw std::runtime_error(cmd + ": " + err);
}

std::vector<std::string> entries(const char* dir) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir)) {
    while (auto* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (has_prefix(name)) names.push_back(name);
    }
    ::closedir(d);
  }
  return names;
}

}  // namespace

std::string netns_name(const std::string& host) {
  return kPrefix + host;
}
std::string bridge_name(const std::string& dc) {
  return kPrefix + dc;
}
std::string netns_path(const std::string& netns) {
  return "/run/netns/" + netns;
}

void create_bridge(const std::string& bridge, const std::string& cidr) {
  must({"link", "add", bridge, "type", "bridge"});
  must({"addr", "add", cidr, "dev", bridge});
  must({"link", "set", bridge, "up"});
}

void create_client(const std::string& name, const std::string& bridge, const std::string& cidr) {
  const std::string ns = netns_name(name);
  must({"netns", "add", ns});
  must({"-n", ns, "link", "set", "lo", "up"});
  must({"link", "add", ns, "type", "veth", "peer", "name", "eth0", "netns", ns});
  must({"link", "set", ns, "master", bridge, "up"});
  must({"-n", ns, "addr", "add", cidr, "dev", "eth0"});
  must({"-n", ns, "link", "set", "eth0", "up"});
}

void create_host(const std::string& host, const std::string& bridge, const std::string& cidr,
                 const std::string& gateway) {
  create_client(host, bridge, cidr);
  const std::string ns = netns_name(host);
  // Only the lab's own address space is routable: a host can never reach beyond the lab, even
  // on a machine that forwards packets.
  must({"-n", ns, "route", "add", "10.77.0.0/16", "via", gateway});
}

std::string public_link_name(const std::string& host) {
  return kPrefix + host + "p";
}

void add_public_link(const std::string& host, const std::string& bridge, const std::string& cidr) {
  const std::string ns = netns_name(host);
  const std::string link = public_link_name(host);
  must({"link", "add", link, "type", "veth", "peer", "name", "eth1", "netns", ns});
  must({"link", "set", link, "master", bridge, "up"});
  must({"-n", ns, "addr", "add", cidr, "dev", "eth1"});
  must({"-n", ns, "link", "set", "eth1", "up"});
}

bool is_bridge(const std::string& link) {
  struct stat st {};
  return ::stat(("/sys/class/net/" + link + "/bridge").c_str(), &st) == 0;
}

std::vector<std::string> list_lab_netns() {
  return entries("/run/netns");
}
std::vector<std::string> list_lab_links() {
  return entries("/sys/class/net");
}

std::vector<pid_t> pids_in_netns(const std::string& netns) {
  std::vector<pid_t> pids;
  struct stat target {};
  if (::stat(netns_path(netns).c_str(), &target) != 0) return pids;
  DIR* d = ::opendir("/proc");
  if (!d) return pids;
  while (auto* e = ::readdir(d)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    struct stat ns {};
    const std::string path = std::string("/proc/") + e->d_name + "/ns/net";
    if (::stat(path.c_str(), &ns) == 0 && ns.st_ino == target.st_ino && ns.st_dev == target.st_dev)
      pids.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(d);
  return pids;
}

std::string delete_link(const std::string& name) {
  if (!has_prefix(name)) return "refusing to delete " + name + ": not a lab link";
  struct stat st {};
  if (::stat(("/sys/class/net/" + name).c_str(), &st) != 0) return "";
  auto [status, err] = ip({"link", "del", name});
  return status == 0 ? "" : "ip link del " + name + ": " + err;
}

std::string delete_netns(const std::string& name) {
  if (!has_prefix(name)) return "refusing to delete " + name + ": not a lab namespace";
  struct stat st {};
  if (::stat(netns_path(name).c_str(), &st) != 0) return "";
  auto [status, err] = ip({"netns", "del", name});
  return status == 0 ? "" : "ip netns del " + name + ": " + err;
}

std::string cut_routes(const std::string& host, const std::vector<std::string>& addresses) {
  for (const auto& a : addresses) {
    auto [status, err] = ip({"-n", netns_name(host), "route", "replace", "blackhole", a + "/32"});
    if (status != 0)
      return "ip -n " + netns_name(host) + " route replace blackhole " + a + ": " + err;
  }
  return "";
}

std::string heal_routes(const std::string& host, const std::vector<std::string>& addresses) {
  for (const auto& a : addresses) {
    auto [status, err] = ip({"-n", netns_name(host), "route", "del", "blackhole", a + "/32"});
    if (status != 0 && err.find("No such process") == std::string::npos)
      return "ip -n " + netns_name(host) + " route del blackhole " + a + ": " + err;
  }
  return "";
}

bool enter_netns(const char* path) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::setns(fd, CLONE_NEWNET) == 0;
  ::close(fd);
  return ok;
}

}  // namespace ztm::lab
