// Engine `delay`: makes a host's links to far destinations long (docs/lab.md "Distance"). The
// kernel here has no netem, so packets wait in user space: prepare puts the rules in the host's
// namespace (Debian `iptables`), a chain ZTM_DELAY in filter/OUTPUT sending each far destination
// to NFQUEUE kDelayQueue with no --queue-bypass; the process is `ztm lab delay` (delay.h), which
// holds each packet `ms` and accepts it. If it dies, far packets are dropped, not let through
// undelayed. The rules are made once (prepare) and stay until `down` deletes the namespace.
//
// params: ms = the delay added to every packet the host sends to a far destination (its RTT
// grows by as much: replies are not delayed elsewhere); far = comma-separated IPv4 CIDRs.
// Health: the program's stats.json, written every 250 ms once bound to its queue, is at most 2 s
// old. Describe: "delay" with ms, far and the counters (held, released, dropped).
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "lab/engines/engine.h"

namespace ztm::lab {

namespace {

namespace json = boost::json;

constexpr const char* kIptables = "/usr/sbin/iptables";
constexpr const char* kChain = "ZTM_DELAY";
constexpr int kDelayQueue = 7;
constexpr int kMaxHeld = 4096;

std::string param(const EngineContext& c, const std::string& key) {
  auto it = c.params.find(key);
  if (it == c.params.end() || it->second.empty())
    throw std::runtime_error("delay: needs the param " + key);
  return it->second;
}

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

// Runs iptables in the host's namespace; the exit status (nullopt: it hung).
std::optional<int> iptables(const EngineContext& c, std::vector<std::string> args) {
  args.insert(args.begin(), {kIptables, "-w", "5"});
  return run({.argv = std::move(args),
              .netns = c.netns,
              .workdir = c.workdir,
              .log = c.workdir + "/iptables.log"},
             std::chrono::seconds(10));
}

void install_rules(const EngineContext& c, const std::vector<std::string>& far) {
  if (!std::filesystem::exists(kIptables))
    throw std::runtime_error("delay: iptables not found (Debian package iptables)");
  iptables(c, {"-N", kChain});  // already there after a restart: fine, flushed next
  if (iptables(c, {"-F", kChain}) != 0)
    throw std::runtime_error("delay: iptables -F failed: see " + c.workdir + "/iptables.log");
  for (const auto& cidr : far)
    if (iptables(c, {"-A", kChain, "-d", cidr, "-j", "NFQUEUE", "--queue-num",
                     std::to_string(kDelayQueue)}) != 0)
      throw std::runtime_error("delay: iptables NFQUEUE rule for " + cidr + " failed: see " +
                               c.workdir + "/iptables.log");
  if (iptables(c, {"-C", "OUTPUT", "-j", kChain}) != 0 &&
      iptables(c, {"-A", "OUTPUT", "-j", kChain}) != 0)
    throw std::runtime_error("delay: iptables -A OUTPUT failed: see " + c.workdir +
                             "/iptables.log");
}

// The program's last stats.json, or an empty object.
json::object read_stats(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  boost::system::error_code ec;
  json::value v = json::parse(text.str(), ec);
  return !ec && v.is_object() ? v.as_object() : json::object();
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

ProcessSpec prepare_delay(const EngineContext& c) {
  const std::string ms = param(c, "ms");
  const std::vector<std::string> far = split(param(c, "far"));
  install_rules(c, far);
  const std::string stats = c.workdir + "/stats.json";
  std::filesystem::remove(stats);
  ProcessSpec spec;
  spec.launch = {.argv = {self_exe(), "lab", "delay", "--queue", std::to_string(kDelayQueue),
                          "--ms", ms, "--max-held", std::to_string(kMaxHeld), "--stats", stats},
                 .netns = c.netns,
                 .workdir = c.workdir,
                 .log = c.workdir + "/delay.log",
                 .exe = kThisBinary};
  spec.stop_signal = SIGTERM;
  spec.healthy = [stats](std::chrono::milliseconds) {
    const json::object s = read_stats(stats);
    const auto* at = s.if_contains("at_ms");
    return at && at->is_int64() && now_ms() - at->as_int64() <= 2000;
  };
  spec.describe = [stats, ms, far](json::object& host) {
    json::object d = read_stats(stats);
    d.erase("at_ms");
    d.erase("delay_ms");
    d["ms"] = std::stoi(ms);
    d["far"] = json::array(far.begin(), far.end());
    host["delay"] = std::move(d);
  };
  return spec;
}

}  // namespace ztm::lab
