#pragma once
// A stage of the chapter as data: hosts, each a network namespace with an address on its data
// center's bridge, running processes of named engines. Every stage (single ... queue) is an
// entry in the table in stages.cc.

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace ztm::lab {

struct ProcessDef {
  std::string engine;                         // "ztm", "postgres" (see engines/engine.h)
  std::map<std::string, std::string> params;  // engine-specific, e.g. {"storage","postgres"}
  std::vector<std::string> after;             // processes ("db1/postgres") healthy before start
};

struct HostDef {
  std::string name;  // at most 11 characters: "ztm-<name>" must fit an interface name
  std::string dc;    // "dc1": bridge ztm-dc1, subnet 10.77.1.0/24
  int number = 0;    // the host part of its address: 10.77.<dc>.<number>
  // > 0: the host also has a public address, 10.77.0.<public_number> on the bridge ztm-public
  // (the load balancer's: the only address clients use). Its name is at most 10 characters.
  int public_number = 0;
  std::vector<std::string> roles;
  std::vector<ProcessDef> processes;
  // > 0: the host may use at most this many cores (its cgroup's cpu.cfs_quota_us), so that a
  // "server" is as big as configured (`ztm lab up --cpus`); 0: no quota.
  double cpus = 0;
};

// A group of clients on the public network (figure 1-11: each group nearer one edge). The lab
// gives each group a namespace, ztm-<name>, holding one address of the group on ztm-public and
// nothing else (no route to the private network), so a test or an operator sends requests from
// inside the group: `ip netns exec ztm-clients1 curl http://10.77.0.21/users/12`. Distance is
// made by the servers, not here: the stage gives the far edge and the origin a `delay` process
// (engines/delay.cc) that holds their packets to this group, so the round trip from the group to
// them is longer than to its nearer edge (docs/lab.md "Distance").
struct ClientGroup {
  std::string name;  // at most 11 characters, as a host's
  int first = 0;     // the group is 10.77.0.<first>/<prefix>; its namespace has <first + 1>
  int prefix = 27;
  // The edge host that serves this group: the web servers' GET /cdn.json prefers it for the
  // group's subnet (cdn.edge_networks, stage cdn).
  std::string nearer;
};

struct Stage {
  std::string name;
  std::string figure;  // the chapter's figure, for the table
  std::vector<HostDef> hosts;
  std::string entry_host;  // where clients send requests (its public address when it has one)
  int entry_port = 8080;
  int entry_tls_port = 0;  // > 0: HTTPS on the entry host's public address too
  // Stages with a load balancer: the web tier can be scaled at runtime (`ztm lab scale web=N`)
  // to web1..web<max_web>; web_host(n) is the definition of web<n> (n >= 1).
  int max_web = 0;
  std::function<HostDef(int n)> web_host;
  // Stages with workers (queue): `ztm lab scale workers=N` and the worker autoscaler add
  // work1..work<max_workers>; worker_host(n) is the definition of work<n> (n >= 1).
  int max_workers = 0;
  std::function<HostDef(int n)> worker_host;
  // Stages with shards (sharding): `ztm lab scale shards=N` adds shard clusters up to
  // s<max_shards>; shard_cluster(k) is the definition of shard s<k>'s hosts (k >= 1), its first
  // host the one that bootstraps the cluster.
  int max_shards = 0;
  std::function<std::vector<HostDef>(int k)> shard_cluster;
  // Stages with edges (cdn): where clients are, on the public network.
  std::vector<ClientGroup> client_groups;
};

// REQUIRES: dc is "dc<N>" with N in 1..254.
int dc_index(const std::string& dc);
std::string host_address(const HostDef& host);  // "10.77.1.10"
std::string dc_gateway(const std::string& dc);  // "10.77.1.1"
// The public network (bridge ztm-public, 10.77.0.0/24): only load balancers have an address there.
inline constexpr const char* kPublicNet = "public";
std::string public_address(const HostDef& host);  // "10.77.0.10"; REQUIRES: public_number > 0
std::string public_gateway();                     // "10.77.0.1"
// A client group's subnet ("10.77.0.32/27") and its namespace's address ("10.77.0.33").
std::string client_subnet(const ClientGroup& group);
std::string client_address(const ClientGroup& group);
// "http://10.77.0.10:80" for the entry host (its public address when it has one).
std::string entry_url(const Stage& stage);
std::string process_name(const HostDef& host, const ProcessDef& process);  // "web1/ztm"

// `stage` with only the hosts named in `hosts` ("etcd1,db1"; "" = all of them). Throws
// std::invalid_argument for a host not in the stage or a process whose `after` was left out.
Stage select_hosts(const Stage& stage, const std::string& hosts);

// `stage` with CPU quotas. `spec` is "NAME=CORES[,NAME=CORES...]" ("" = none); NAME is a host
// (web1, also one added at runtime) or a role (web, db, cache), and a host's own entry beats its
// roles'. Hosts added at runtime get theirs too. Throws std::invalid_argument for a name that is
// neither, a malformed entry, or CORES outside [kMinCpus, kMaxCpus].
inline constexpr double kMinCpus = 0.05;
inline constexpr double kMaxCpus = 64;
Stage with_cpu_quotas(Stage stage, const std::string& spec);

// nullptr when there is no such stage.
const Stage* find_stage(const std::string& name);
std::vector<std::string> stage_names();

}  // namespace ztm::lab
