#pragma once
// A stage of the chapter as data: hosts, each a network namespace with an address on its data
// center's bridge, running processes of named engines. Later stages (replication, lb, cache,
// queue, data centers) are more entries in the table in stages.cc.

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
  std::vector<std::string> roles;
  std::vector<ProcessDef> processes;
};

struct Stage {
  std::string name;
  std::string figure;  // the chapter's figure, for the table
  std::vector<HostDef> hosts;
  std::string entry_host;  // where clients send requests
  int entry_port = 8080;
};

// REQUIRES: dc is "dc<N>" with N in 1..254.
int dc_index(const std::string& dc);
std::string host_address(const HostDef& host);  // "10.77.1.10"
std::string dc_gateway(const std::string& dc);  // "10.77.1.1"
std::string process_name(const HostDef& host, const ProcessDef& process);  // "web1/ztm"

// `stage` with only the hosts named in `hosts` ("etcd1,db1"; "" = all of them). Throws
// std::invalid_argument for a host not in the stage or a process whose `after` was left out.
Stage select_hosts(const Stage& stage, const std::string& hosts);

// nullptr when there is no such stage.
const Stage* find_stage(const std::string& name);
std::vector<std::string> stage_names();

}  // namespace ztm::lab
