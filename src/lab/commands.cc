// ztm lab up | status | chaos: the client side, talking to the supervisor (control.h).
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "lab/control.h"
#include "lab/lab.h"
#include "lab/network.h"
#include "lab/process.h"
#include "lab/stages.h"
#include "lab/state.h"
#include "lab/supervisor.h"
#include "lab/template.h"

namespace ztm::lab {

namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr auto kUpTimeout = std::chrono::seconds(60);
constexpr auto kStartTimeout = std::chrono::seconds(30);

std::string str(const json::value& v) {
  return std::string(v.as_string());
}

// "  [primary, writes sync (db2)]", "  [replica, lag 0 B, replay paused]"; "" for non-db hosts.
std::string replication_summary(const json::object& h) {
  if (!h.contains("role")) return "";
  std::string out = "  [" + str(h.at("role"));
  if (const auto* lag = h.if_contains("lag_bytes");
      lag && lag->is_number() && str(h.at("role")) != "primary")
    out += fmt::format(", lag {} B", lag->to_number<std::int64_t>());
  if (const auto* paused = h.if_contains("replay_paused"); paused && paused->as_bool())
    out += ", replay paused";
  if (const auto* writes = h.if_contains("writes")) {
    out += ", writes " + str(*writes);
    if (const auto* sync = h.if_contains("sync_standby"); sync && sync->is_string())
      out += " (" + str(*sync) + ")";
  }
  return out + "]";
}

// "  [edge: origin healthy, hit ratio 67% (2/3)]" for an edge host; "" for others.
std::string edge_summary(const json::object& h) {
  const auto* e = h.if_contains("edge");
  if (!e) return "";
  const auto& o = e->as_object();
  const auto& origin = o.at("origin_healthy");
  std::string out =
      "  [edge: origin " +
      std::string(origin.is_bool() ? (origin.as_bool() ? "healthy" : "sick") : "unknown");
  if (const auto& fenced = o.at("fenced"); fenced.is_bool() && fenced.as_bool())
    out += ", fenced (purge lease lapsed)";
  if (const auto& ratio = o.at("hit_ratio"); ratio.is_number())
    out += fmt::format(
        ", hit ratio {:.0f}% ({}/{})", 100 * ratio.to_number<double>(),
        o.at("hits").to_number<std::int64_t>(),
        o.at("hits").to_number<std::int64_t>() + o.at("misses").to_number<std::int64_t>());
  return out + "]";
}

// "  [delay +40 ms to 10.77.0.64/27,10.77.1.2/32, 0 dropped]" for a host with far links (stage
// cdn), "  [delay DOWN: far links cut]" while its delay process is not running; "" for others.
std::string delay_summary(const json::object& h) {
  const auto* d = h.if_contains("delay");
  if (!d || !d->is_object()) return "";
  const auto& o = d->as_object();
  if (o.contains("down")) return "  [delay DOWN: far links cut]";
  std::string far;
  if (const auto* f = o.if_contains("far"); f && f->is_array())
    for (const auto& v : f->as_array()) far += (far.empty() ? "" : ",") + str(v);
  std::string out = fmt::format("  [delay +{} ms to {}", o.at("ms").to_number<int>(), far);
  if (const auto* dropped = o.if_contains("dropped"); dropped && dropped->is_number())
    out += fmt::format(", {} dropped", dropped->to_number<std::int64_t>());
  return out + "]";
}

// The host's own CPU time and memory (its cgroups): "12.3s", "45.6M"; "-" when unknown.
std::pair<std::string, std::string> usage_summary(const json::object& h) {
  std::pair<std::string, std::string> out{"-", "-"};
  const auto* u = h.if_contains("usage");
  if (!u || !u->is_object()) return out;
  if (const auto& cpu = u->as_object().at("cpu_seconds"); cpu.is_number())
    out.first = fmt::format("{:.1f}s", cpu.to_number<double>());
  if (const auto& mem = u->as_object().at("memory_bytes"); mem.is_number())
    out.second = fmt::format("{:.1f}M", mem.to_number<double>() / (1 << 20));
  return out;
}

void print_table(const json::object& s) {
  fmt::print("stage {} (figure {})\n", str(s.at("stage")), str(s.at("figure")));
  fmt::print("{:<8} {:<4} {:<12} {:<16} {:>7} {:>8}  {}\n", "HOST", "DC", "ADDRESS", "ROLES", "CPU",
             "MEMORY", "PROCESSES");
  for (const auto& hv : s.at("hosts").as_array()) {
    const auto& h = hv.as_object();
    std::string roles;
    for (const auto& r : h.at("roles").as_array()) roles += (roles.empty() ? "" : ",") + str(r);
    std::string procs;
    for (const auto& pv : h.at("processes").as_array()) {
      const auto& p = pv.as_object();
      procs += fmt::format("{}{} ({}, pid {}{})", procs.empty() ? "" : "  ", str(p.at("name")),
                           str(p.at("state")), p.at("pid").to_number<int>(),
                           p.at("healthy").as_bool() ? ", healthy" : "");
    }
    const auto [cpu, memory] = usage_summary(h);
    fmt::print("{:<8} {:<4} {:<12} {:<16} {:>7} {:>8}  {}{}{}{}\n", str(h.at("name")),
               str(h.at("dc")), str(h.at("address")), roles, cpu, memory, procs,
               replication_summary(h), edge_summary(h), delay_summary(h));
  }
  fmt::print("clients: {}{}\n", str(s.at("url")),
             s.contains("https_url") ? " and " + str(s.at("https_url")) : "");
  if (const auto* groups = s.if_contains("client_groups")) {
    for (const auto& gv : groups->as_array()) {
      const auto& g = gv.as_object();
      std::string edge_url;
      for (const auto& hv : s.at("hosts").as_array())
        if (str(hv.at("name")) == str(g.at("nearer")) && hv.as_object().contains("public_address"))
          edge_url = " http://" + str(hv.at("public_address"));
      fmt::print("client group {} {} nearer {}{} (ip netns exec {} curl ...: from {})\n",
                 str(g.at("name")), str(g.at("subnet")), str(g.at("nearer")), edge_url,
                 str(g.at("netns")), str(g.at("address")));
    }
  }
  for (const auto& hv : s.at("hosts").as_array()) {
    if (const auto* pool = hv.as_object().if_contains("pool")) {
      std::string servers;
      for (const auto& sv : pool->as_array())
        servers += fmt::format(" {} {} ({} in flight)", str(sv.at("name")), str(sv.at("status")),
                               sv.at("sessions").to_number<int>());
      fmt::print("pool ({}):{}\n", str(hv.at("name")), servers);
    }
  }
  if (const auto* m = s.if_contains("shard_map")) {  // stage sharding
    const auto& o = m->as_object();
    std::string shards;
    if (const auto* list = o.if_contains("shards"))
      for (const auto& sv : list->as_array())
        shards += fmt::format(" {} {} buckets", str(sv.at("name")),
                              sv.at("buckets").to_number<std::int64_t>());
    if (o.contains("error"))
      fmt::print("shard map: {}\n", str(o.at("error")));
    else
      fmt::print("shard map v{}:{}{}\n", o.at("version").to_number<std::int64_t>(), shards,
                 o.at("fenced").to_number<std::int64_t>() > 0
                     ? fmt::format(", {} fenced", o.at("fenced").to_number<std::int64_t>())
                     : "");
  }
  if (const auto* a = s.if_contains("autoscale")) {
    const auto& o = a->as_object();
    const auto& load = o.at("load_rps_per_server");
    fmt::print("autoscale: {} (min {}, max {}, up above {} rps/server, down below {}), load {}\n",
               o.at("enabled").as_bool() ? "on" : "off", o.at("min").to_number<int>(),
               o.at("max").to_number<int>(), o.at("up_rps").to_number<double>(),
               o.at("down_rps").to_number<double>(),
               load.is_null() ? std::string("unknown")
                              : fmt::format("{:.0f} rps/server", load.to_number<double>()));
    if (const auto* w = s.if_contains("worker_autoscale")) {  // stage queue; decisions: below
      const auto& ow = w->as_object();
      const auto& pending = ow.at("pending");
      fmt::print(
          "autoscale workers: {} (min {}, max {}, up above {} jobs pending, down when empty), {} "
          "workers, "
          "pending {}\n",
          ow.at("enabled").as_bool() ? "on" : "off", ow.at("min").to_number<int>(),
          ow.at("max").to_number<int>(), ow.at("up_pending").to_number<std::int64_t>(),
          ow.at("workers").to_number<int>(),
          pending.is_null() ? std::string("unknown")
                            : std::to_string(pending.to_number<std::int64_t>()));
    }
    for (const auto& d : o.at("decisions").as_array())
      fmt::print("  {}: {}\n", str(d.at("action")), str(d.at("reason")));
  }
}

// Processes of `s` named by `targets` (host or process names; empty = all).
std::vector<json::object> processes(const json::object& s,
                                    const std::vector<std::string>& targets) {
  std::vector<json::object> out;
  for (const auto& hv : s.at("hosts").as_array())
    for (const auto& pv : hv.at("processes").as_array()) {
      const auto& p = pv.as_object();
      bool wanted = targets.empty();
      for (const auto& t : targets)
        wanted = wanted || t == str(hv.at("name")) || t == str(p.at("name"));
      if (wanted) out.push_back(p);
    }
  return out;
}

// Prints a failed process's error and log tail.
void explain(const json::object& p) {
  fmt::print(stderr, "{} {}{}\n", str(p.at("name")), str(p.at("state")),
             p.contains("exit") ? " (" + str(p.at("exit")) + ")" : "");
  if (p.contains("error")) fmt::print(stderr, "{}\n", str(p.at("error")));
  if (p.contains("log"))
    fmt::print(stderr, "--- {} ---\n{}", str(p.at("log")), tail(str(p.at("log")), 15));
}

enum class Wait { healthy, failed, timeout };

// Polls until every named process is healthy, one of them has exited, or the deadline.
// With a `supervisor` (its parent is us: `up`), new supervisor.log lines are relayed as progress
// and its death ends the wait.
Wait wait_healthy(const std::string& dir, const std::vector<std::string>& targets,
                  Clock::time_point deadline, pid_t supervisor, std::optional<json::object>& last) {
  std::ifstream log;
  if (supervisor > 0) log.open(dir + "/supervisor.log");
  auto relay = [&log] {
    if (!log.is_open()) return;
    for (std::string line; std::getline(log, line);) fmt::print("  {}\n", line);
    log.clear();
    std::fflush(stdout);
  };
  for (;;) {
    relay();
    if (supervisor > 0 && ::waitpid(supervisor, nullptr, WNOHANG) == supervisor) {
      relay();
      return Wait::failed;
    }
    if (auto s = live_status(dir)) {
      last = s;
      bool all = true;
      for (const auto& p : processes(*s, targets)) {
        const std::string state = str(p.at("state"));
        if (state == "exited" || state == "stopped") {
          relay();
          return Wait::failed;
        }
        all = all && p.at("healthy").as_bool();
      }
      if (all) {
        relay();
        return Wait::healthy;
      }
    }
    if (Clock::now() > deadline) return Wait::timeout;
    std::this_thread::sleep_for(milliseconds(100));
  }
}

}  // namespace

std::string default_dir() {
  if (const char* dir = std::getenv("ZTM_LAB_DIR"); dir && *dir) return dir;
  return "/run/ztm-lab";
}

int up(const std::string& dir, const UpOptions& options) {
  try {
    planned_stage(options);
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "ztm lab up: {}\n", e.what());
    return 2;
  }
  if (::geteuid() != 0) {
    fmt::print(stderr, "ztm lab up: needs root (network namespaces, bridges)\n");
    return 1;
  }
  if (std::filesystem::exists(state_path(dir))) {
    fmt::print(stderr,
               "ztm lab up: a lab is already up in {} (or crashed): run `ztm lab down --dir {}`\n",
               dir, dir);
    return 1;
  }
  auto leftovers = list_lab_netns();
  for (const auto& l : list_lab_links()) leftovers.push_back(l);
  if (!leftovers.empty()) {
    fmt::print(stderr,
               "ztm lab up: {} exists: another lab is up on this machine (one at a time): "
               "run `ztm lab down --dir` with its directory\n",
               leftovers.front());
    return 1;
  }
  std::filesystem::create_directories(dir);
  ::chmod(dir.c_str(), 0755);  // engines that run as their own user (postgres) reach their dirs
  write_file(marker_path(dir), "ztm lab\n");
  const auto started = Clock::now();
  fmt::print("bringing up stage {} in {}\n", options.stage, dir);
  std::vector<std::string> argv = {self_exe(), "lab",     "supervise",  "--dir",
                                   dir,        "--stage", options.stage};
  if (!options.hosts.empty()) argv.insert(argv.end(), {"--hosts", options.hosts});
  if (options.observe) argv.push_back("--observe");
  if (!options.cpus.empty()) argv.insert(argv.end(), {"--cpus", options.cpus});
  const pid_t supervisor = spawn({.argv = argv,
                                  .workdir = dir,
                                  .log = dir + "/supervisor.log",
                                  .new_session = true,
                                  .inherit_env = true});
  std::optional<json::object> last;
  const Wait result = wait_healthy(dir, {}, started + kUpTimeout, supervisor, last);
  if (result == Wait::healthy && last) {
    print_table(*last);
    fmt::print("up in {} ms; `ztm lab down` removes everything\n",
               std::chrono::duration_cast<milliseconds>(Clock::now() - started).count());
    return 0;
  }
  fmt::print(stderr, "ztm lab up: stage {} did not come up ({})\n", options.stage,
             result == Wait::timeout ? "timed out" : "a process failed");
  if (last) {
    for (const auto& p : processes(*last, {}))
      if (!p.at("healthy").as_bool()) explain(p);
  } else {
    fmt::print(stderr, "--- supervisor.log ---\n{}", tail(dir + "/supervisor.log", 15));
  }
  fmt::print(stderr, "tearing down\n");
  down(dir);
  return 1;
}

int status(const std::string& dir, bool as_json) {
  auto s = live_status(dir);
  if (!s) {
    fmt::print(stderr, "ztm lab status: no lab is up in {}{}\n", dir,
               std::filesystem::exists(state_path(dir))
                   ? " (its supervisor is gone: run `ztm lab down`)"
                   : "");
    return 1;
  }
  if (as_json)
    fmt::print("{}\n", json::serialize(*s));
  else
    print_table(*s);
  return 0;
}

namespace {

// Sends a long operation to the supervisor and prints its answer; bounded by `timeout`.
int operation(const std::string& dir, const char* what, const json::object& request,
              std::chrono::seconds timeout) {
  auto answer = call_supervisor(dir, request, timeout);
  if (!answer) {
    fmt::print(stderr, "ztm lab {}: no lab is up in {} (or no answer within {} s)\n", what, dir,
               timeout.count());
    return 1;
  }
  if (!answer->at("ok").as_bool()) {
    fmt::print(stderr, "ztm lab {}: {}\n", what, str(answer->at("error")));
    return 1;
  }
  answer->erase("ok");
  if (answer->contains("status"))
    print_table(answer->at("status").as_object());
  else
    fmt::print("{}\n", json::serialize(*answer));
  return 0;
}

}  // namespace

int scale(const std::string& dir, const std::string& tier, int n) {
  return operation(dir, "scale", {{"op", "scale"}, {tier, n}}, std::chrono::seconds(300));
}

int deploy(const std::string& dir, const DeploySettings& s) {
  std::error_code ec;
  const auto binary = std::filesystem::absolute(s.binary, ec).string();
  return operation(dir, "deploy",
                   {{"op", "deploy"},
                    {"binary", binary},
                    {"canary_ms", s.canary_ms},
                    {"max_error_ratio", s.max_error_ratio},
                    {"min_requests", s.min_requests}},
                   std::chrono::seconds(600));
}

int restart(const std::string& dir, const std::string& tier) {
  return operation(dir, "restart", {{"op", "restart"}, {"tier", tier}}, std::chrono::seconds(300));
}

int autoscale(const std::string& dir, const AutoscaleSettings& a) {
  if (a.tier == "workers")
    return operation(dir, "autoscale",
                     {{"op", "autoscale"},
                      {"tier", "workers"},
                      {"enabled", a.enabled},
                      {"min", a.min_given ? a.min : 1},
                      {"max", a.max_given ? a.max : 4},
                      {"up_pending", a.up_pending}},
                     std::chrono::seconds(30));
  return operation(dir, "autoscale",
                   {{"op", "autoscale"},
                    {"enabled", a.enabled},
                    {"min", a.min},
                    {"max", a.max},
                    {"up_rps", a.up_rps},
                    {"down_rps", a.down_rps}},
                   std::chrono::seconds(30));
}

int chaos(const std::string& dir, const std::string& action, const std::string& target,
          const std::string& peer) {
  const bool link = action == "cut" || action == "heal";
  if (link == peer.empty()) {
    fmt::print(stderr, "ztm lab chaos {}: {}\n", action,
               link ? "needs two hosts (cut db2 db1)" : "takes one host or process");
    return 2;
  }
  auto answer = call_supervisor(dir, {{"op", action}, {"target", target}, {"peer", peer}},
                                milliseconds(30'000));
  if (!answer) {
    fmt::print(stderr, "ztm lab chaos: no lab is up in {}\n", dir);
    return 1;
  }
  if (!answer->at("ok").as_bool()) {
    fmt::print(stderr, "ztm lab chaos {}: {}\n", action, str(answer->at("error")));
    return 1;
  }
  if (link) {
    fmt::print("{} <-> {}: {}\n", target, peer, action == "cut" ? "cut" : "healed");
    return 0;
  }
  std::vector<std::string> names;
  for (const auto& n : answer->at("processes").as_array()) names.push_back(str(n));
  for (const auto& n : names)
    fmt::print("{}: {}\n", n,
               action == "kill"    ? "killed"
               : action == "stop"  ? "stopped"
               : action == "start" ? "started"
                                   : action + ": done");
  if (action != "start") return 0;
  std::optional<json::object> last;
  const auto result = wait_healthy(dir, names, Clock::now() + kStartTimeout, 0, last);
  if (result == Wait::healthy) {
    fmt::print("healthy: {}\n", target);
    return 0;
  }
  fmt::print(stderr, "ztm lab chaos start: {} did not become healthy\n", target);
  if (last)
    for (const auto& p : processes(*last, names)) explain(p);
  return 1;
}

}  // namespace ztm::lab
