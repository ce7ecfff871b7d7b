#include "lab/stages.h"

#include <algorithm>
#include <sstream>
#include <stdexcept>

namespace ztm::lab {

namespace {

// Figure 1-1: the web app, the database (SQLite) and the cache (in-process) on one server.
Stage single() {
  return {.name = "single",
          .figure = "1-1 single server",
          .hosts = {{.name = "web1", .dc = "dc1", .number = 10, .roles = {"web", "db", "cache"},
                     .processes = {{.engine = "ztm", .params = {{"storage", "sqlite"}}}}}},
          .entry_host = "web1"};
}

// Figure 1-3: the web tier and the data tier on separate servers.
Stage db() {
  return {.name = "db",
          .figure = "1-3 web tier and data tier",
          .hosts = {{.name = "db1", .dc = "dc1", .number = 20, .roles = {"db"},
                     .processes = {{.engine = "postgres"}}},
                    {.name = "web1", .dc = "dc1", .number = 10, .roles = {"web", "cache"},
                     .processes = {{.engine = "ztm",
                                    .params = {{"storage", "postgres"}, {"db_host", "db1"}},
                                    .after = {"db1/postgres"}}}}},
          .entry_host = "web1"};
}

// Figures 1-5/1-6: a primary and two replicas, failover by Patroni (leader key in etcd), the
// web tier reading from replicas. db1 starts first so that it bootstraps the cluster (the first
// primary is predictable); db2 and db3 clone it. The web servers' URL names every db host.
Stage replication() {
  auto member = [](const char* name, int number, std::vector<std::string> after) {
    return HostDef{.name = name, .dc = "dc1", .number = number, .roles = {"db"},
                   .processes = {{.engine = "patroni", .params = {{"etcd_host", "etcd1"}},
                                  .after = std::move(after)}}};
  };
  auto web = [](const char* name, int number) {
    return HostDef{.name = name, .dc = "dc1", .number = number, .roles = {"web", "cache"},
                   .processes = {{.engine = "ztm",
                                  .params = {{"storage", "postgres"}, {"db_hosts", "db1,db2,db3"}},
                                  .after = {"db1/patroni", "db2/patroni", "db3/patroni"}}}};
  };
  return {.name = "replication",
          .figure = "1-5/1-6 primary, replicas, failover",
          .hosts = {{.name = "etcd1", .dc = "dc1", .number = 5, .roles = {"dcs"},
                     .processes = {{.engine = "etcd"}}},
                    member("db1", 20, {"etcd1/etcd"}),
                    member("db2", 21, {"db1/patroni"}),
                    member("db3", 22, {"db1/patroni"}),
                    web("web1", 10),
                    web("web2", 11)},
          .entry_host = "web1"};
}

const std::vector<Stage>& stages() {
  static const std::vector<Stage> all = {single(), db(), replication()};
  return all;
}

}  // namespace

int dc_index(const std::string& dc) {
  if (dc.rfind("dc", 0) != 0) throw std::invalid_argument("bad data center name " + dc);
  const int n = std::stoi(dc.substr(2));
  if (n < 1 || n > 254) throw std::invalid_argument("bad data center name " + dc);
  return n;
}

std::string host_address(const HostDef& host) {
  return "10.77." + std::to_string(dc_index(host.dc)) + "." + std::to_string(host.number);
}

std::string dc_gateway(const std::string& dc) {
  return "10.77." + std::to_string(dc_index(dc)) + ".1";
}

std::string process_name(const HostDef& host, const ProcessDef& process) {
  return host.name + "/" + process.engine;
}

Stage select_hosts(const Stage& stage, const std::string& hosts) {
  if (hosts.empty()) return stage;
  Stage out = stage;
  out.hosts.clear();
  std::stringstream names(hosts);
  for (std::string name; std::getline(names, name, ',');) {
    auto it = std::find_if(stage.hosts.begin(), stage.hosts.end(),
                           [&](const HostDef& h) { return h.name == name; });
    if (it == stage.hosts.end())
      throw std::invalid_argument("no host " + name + " in stage " + stage.name);
    out.hosts.push_back(*it);
  }
  for (const auto& h : out.hosts)
    for (const auto& p : h.processes)
      for (const auto& dep : p.after)
        if (std::none_of(out.hosts.begin(), out.hosts.end(),
                         [&](const HostDef& o) { return dep.rfind(o.name + "/", 0) == 0; }))
          throw std::invalid_argument(process_name(h, p) + " starts after " + dep + ": add its host");
  return out;
}

const Stage* find_stage(const std::string& name) {
  for (const auto& s : stages())
    if (s.name == name) return &s;
  return nullptr;
}

std::vector<std::string> stage_names() {
  std::vector<std::string> names;
  for (const auto& s : stages()) names.push_back(s.name);
  return names;
}

}  // namespace ztm::lab
