#pragma once
// The Supervisor class behind supervise() (supervisor.h), shared by supervisor.cc (the loop,
// status.cc (the status document), scaling.cc (the web tier at runtime: scale, rolling
// restart, autoscale) and worker_scaling.cc (the worker hosts: scale, autoscale by queue depth).
// Not for other code: the public surface is supervisor.h and control.h.
//
// One thread. Long operations (scale, restart) run inside a request and keep the supervisor
// alive through pump_until(): it reaps, health-checks, answers `status` and refuses other
// requests as busy, so `ztm lab status` works while servers are added or drained.

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lab/autoscaler.h"
#include "lab/engines/engine.h"
#include "lab/load_balancer.h"
#include "lab/stages.h"
#include "lab/state.h"

namespace ztm::lab {

using Clock = std::chrono::steady_clock;

void progress(const std::string& line);  // a line in supervisor.log (relayed by `up`)

// The number of a runtime-scaled host: "web4" -> 4, "work2" -> 2.
inline int host_number(const std::string& host) {
  return std::stoi(host.substr(host.find_first_of("0123456789")));
}

// One process of the stage and its live state.
struct Proc {
  const HostDef* host;  // into Supervisor::hosts_ (a list: stable while hosts come and go)
  const ProcessDef* def;
  std::string name;                 // "web1/ztm"
  std::optional<ProcessSpec> spec;  // set once prepared
  std::string state = "pending";    // pending | starting | running | exited | stopped
  pid_t pid = 0;
  std::uint64_t start_time = 0;
  bool healthy = false;
  std::string exit;   // "status 1", "signal 9"
  std::string error;  // a failed prepare or spawn
  Clock::time_point next_check{};
};

class Supervisor {
 public:
  Supervisor(std::string dir, Stage stage);
  int run();

 private:
  // supervisor.cc: the network, processes, requests, lab.json.
  void build_network();
  void add_host_network(const HostDef& h);
  void remove_host_network(const std::string& host);
  Proc* find(const std::string& name);
  const HostDef* host(const std::string& name) const;  // nullptr: no such host
  void start_ready();
  void start(Proc& p);
  void reap();
  void exited(Proc& p, int status, const char* state);
  void check_health();
  void stop(Proc& p, int sig, const char* state);
  void stop_all();
  std::vector<Proc*> targets(const std::string& target);
  void handle(int client);
  void handle_busy(int client);
  void engine_action(int client, const std::string& op, const std::string& target,
                     const std::vector<Proc*>& procs);
  void housekeeping();
  bool poll_once(bool busy);
  void save();

  // status.cc
  boost::json::object status() const;

  // scaling.cc: each returns the answer to the request.
  struct Tier {          // a tier scaled at runtime: web servers or workers
    std::string tier;    // "web", "workers": the answer's key
    std::string prefix;  // its hosts' names: "web" -> web1, web2...
    int want = 0, max = 0;
    std::function<std::vector<Proc*>()> members;  // by number
    std::function<std::string(int n)> add;        // "" or what went wrong
    std::function<std::string(const std::string& host)> remove;
  };
  boost::json::object resize(const Tier& tier);
  boost::json::object scale(int web);
  boost::json::object restart(const std::string& tier);
  // chaos cut / heal: drop (or let through again) all traffic between hosts a and b, both ways.
  boost::json::object partition(const std::string& op, const std::string& a, const std::string& b);
  boost::json::object set_autoscale(const boost::json::object& request);
  void autoscale_tick();
  bool pump_until(const std::function<bool()>& done, std::chrono::milliseconds bound);
  std::optional<LoadBalancerApi> load_balancer();
  // The processes `pick` chooses, by their host's number (web4 -> 4, s2a -> 2).
  std::vector<Proc*> numbered_procs(const std::function<bool(const Proc&)>& pick);
  std::vector<Proc*> web_procs();
  void stop_gracefully(const std::string& name);
  std::string add_runtime_host(HostDef def);
  void remove_runtime_host(const std::string& host);
  std::string add_web(int n);
  std::string remove_web(const std::string& host);
  std::string restart_web(const std::string& name);
  std::string wait_in_pool(const std::string& host, const std::string& want,
                           std::chrono::milliseconds bound);
  void decide(const std::string& action, const std::string& reason);
  void sync_pool();

  // deploy.cc: `ztm lab deploy` (a canary, then a rolling replacement; rollback on failure).
  struct DeployPolicy {
    std::chrono::milliseconds canary{20'000};  // how long the canary is watched
    double max_error_ratio = 0.05;             // of its responses through HAProxy, 5xx
    std::int64_t min_requests = 0;             // it must have served this many to be judged
  };
  struct Binary {
    std::string path;  // argv[0]
    std::string exe;   // Launch::exe
  };
  boost::json::object deploy(const boost::json::object& request);
  std::string restart_web_as(const std::string& name, const Binary& binary);
  std::string watch_canary(const std::string& name, const DeployPolicy& policy,
                           boost::json::object& seen);

  // worker_scaling.cc: the worker hosts at runtime (stage queue): scale workers=N, autoscale
  // by the queue's depth.
  boost::json::object scale_workers(int workers);
  boost::json::object set_worker_autoscale(const boost::json::object& request);
  void worker_autoscale_tick();
  std::vector<Proc*> worker_procs();
  boost::json::object worker_autoscale_status() const;

  // shard_scaling.cc: the shard clusters at runtime (stage sharding): scale shards=N.
  boost::json::object scale_shards(int shards);
  std::vector<Proc*> shard_procs();
  std::string add_shard(int k);
  // The bucket map in etcd as `status` shows it (lab/shards.h), or {"error"}. Bounded (300 ms).
  boost::json::object shard_map_status() const;

  std::string dir_;
  const Stage stage_;
  std::list<HostDef> hosts_;  // the stage's, then web hosts added at runtime
  std::vector<Proc> procs_;
  LabState state_;
  bool done_ = false;
  bool signalled_ = false;  // SIGTERM/SIGINT or `down` during a long operation: abort it
  int listen_fd_ = -1;
  int signal_fd_ = -1;
  int down_client_ = -1;     // a `down` that came during a long operation, answered after it
  std::string busy_;         // the long operation in progress ("scale web=4"), "" when idle
  bool pool_stale_ = false;  // HAProxy (re)started: its pool is the config file's, not the live one
  AutoscalePolicy autoscale_;
  Autoscaler autoscaler_;
  Clock::time_point last_autoscale_{};
  WorkerAutoscalePolicy worker_autoscale_;
  WorkerAutoscaler worker_autoscaler_;
  Clock::time_point last_worker_autoscale_{};
  std::deque<boost::json::object>
      decisions_;      // the last autoscale and scale decisions (both tiers)
  Binary web_binary_;  // the web servers' binary after a deploy (path "": this one)
  int deploys_ = 0;
};

}  // namespace ztm::lab
