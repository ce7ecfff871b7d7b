#include "lab/stages.h"

#include <fmt/format.h>

#include <algorithm>
#include <sstream>
#include <stdexcept>

namespace ztm::lab {

namespace {

// Figure 1-1: the web app, the database (SQLite) and the cache (in-process) on one server.
Stage single() {
  return {.name = "single",
          .figure = "1-1 single server",
          .hosts = {{.name = "web1",
                     .dc = "dc1",
                     .number = 10,
                     .roles = {"web", "db", "cache"},
                     .processes = {{.engine = "ztm", .params = {{"storage", "sqlite"}}}}}},
          .entry_host = "web1"};
}

// Figure 1-3: the web tier and the data tier on separate servers.
Stage db() {
  return {.name = "db",
          .figure = "1-3 web tier and data tier",
          .hosts = {{.name = "db1",
                     .dc = "dc1",
                     .number = 20,
                     .roles = {"db"},
                     .processes = {{.engine = "postgres"}}},
                    {.name = "web1",
                     .dc = "dc1",
                     .number = 10,
                     .roles = {"web", "cache"},
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
    return HostDef{
        .name = name,
        .dc = "dc1",
        .number = number,
        .roles = {"db"},
        .processes = {
            {.engine = "patroni", .params = {{"etcd_host", "etcd1"}}, .after = std::move(after)}}};
  };
  auto web = [](const char* name, int number) {
    return HostDef{.name = name,
                   .dc = "dc1",
                   .number = number,
                   .roles = {"web", "cache"},
                   .processes = {{.engine = "ztm",
                                  .params = {{"storage", "postgres"}, {"db_hosts", "db1,db2,db3"}},
                                  .after = {"db1/patroni", "db2/patroni", "db3/patroni"}}}};
  };
  return {.name = "replication",
          .figure = "1-5/1-6 primary, replicas, failover",
          .hosts = {{.name = "etcd1",
                     .dc = "dc1",
                     .number = 5,
                     .roles = {"dcs"},
                     .processes = {{.engine = "etcd"}}},
                    member("db1", 20, {"etcd1/etcd"}),
                    member("db2", 21, {"db1/patroni"}),
                    member("db3", 22, {"db1/patroni"}),
                    web("web1", 10),
                    web("web2", 11)},
          .entry_host = "web1"};
}

// Figure 1-4: clients reach only the load balancer's public address (HTTP :80, HTTPS :443, TLS
// ends there); web servers and the database are on the private network. HAProxy checks /readyz
// and balances round-robin. Sessions stay on each web server (SQLite): logging in through the LB
// works only for the server that created the session — what stage `stateless` fixes.
// web1..web3 at first; `ztm lab scale web=N` adds web4..web6 or removes servers at runtime.
constexpr int kInitialWeb = 3;
constexpr int kMaxWeb = 6;

Stage behind_lb(std::string name, std::string figure, std::map<std::string, std::string> web_params,
                std::vector<std::string> web_after, std::vector<HostDef> more_hosts) {
  web_params.insert({{"storage", "postgres"}, {"db_host", "db1"}, {"lb_host", "lb1"}});
  web_after.push_back("db1/postgres");
  auto web = [web_params, web_after](int n) {
    return HostDef{.name = "web" + std::to_string(n),
                   .dc = "dc1",
                   .number = 9 + n,
                   .roles = {"web"},
                   .processes = {{.engine = "ztm", .params = web_params, .after = web_after}}};
  };
  std::string backends;
  std::vector<std::string> lb_after;
  for (int n = 1; n <= kInitialWeb; ++n) {
    backends += (n > 1 ? "," : "") + web(n).name;
    lb_after.push_back(web(n).name + "/ztm");
  }
  Stage stage{.name = std::move(name),
              .figure = std::move(figure),
              .hosts = {{.name = "db1",
                         .dc = "dc1",
                         .number = 20,
                         .roles = {"db"},
                         .processes = {{.engine = "postgres"}}}},
              .entry_host = "lb1",
              .entry_port = 80,
              .entry_tls_port = 443,
              .max_web = kMaxWeb,
              .web_host = web};
  for (auto& h : more_hosts) stage.hosts.push_back(std::move(h));
  for (int n = 1; n <= kInitialWeb; ++n) stage.hosts.push_back(web(n));
  stage.hosts.push_back(
      {.name = "lb1",
       .dc = "dc1",
       .number = 2,
       .public_number = 10,
       .roles = {"lb"},
       .processes = {
           {.engine = "haproxy", .params = {{"backends", backends}}, .after = lb_after}}});
  return stage;
}

Stage lb() {
  return behind_lb("lb", "1-4 load balancer", {{"sessions", "sqlite"}}, {}, {});
}

// Figure 1-14: the web tier keeps no state. Sessions live in Redis (redis1 primary, redis2 its
// replica), found through three Sentinels that promote the replica when the primary dies; any
// web server serves any request, so the load balancer needs no sticky sessions.
Stage stateless() {
  auto redis = [](const char* name, int number, const char* role, std::vector<std::string> after) {
    return HostDef{.name = name,
                   .dc = "dc1",
                   .number = number,
                   .roles = {"sessions"},
                   .processes = {{.engine = "redis",
                                  .params = {{"role", role}, {"primary_host", "redis1"}},
                                  .after = std::move(after)}}};
  };
  auto sentinel = [](const char* name, int number) {
    return HostDef{.name = name,
                   .dc = "dc1",
                   .number = number,
                   .roles = {"sentinel"},
                   .processes = {{.engine = "sentinel",
                                  .params = {{"primary_host", "redis1"}},
                                  .after = {"redis1/redis", "redis2/redis"}}}};
  };
  return behind_lb(
      "stateless", "1-14 stateless web tier",
      {{"sessions", "redis"}, {"sentinel_hosts", "sen1,sen2,sen3"}},
      {"sen1/sentinel", "sen2/sentinel", "sen3/sentinel"},
      {redis("redis1", 40, "primary", {}), redis("redis2", 41, "replica", {"redis1/redis"}),
       sentinel("sen1", 31), sentinel("sen2", 32), sentinel("sen3", 33)});
}

// Figures 1-18/1-19: a message queue between the web tier and the workers. The web servers
// (behind HAProxy as in `lb`) write an edit job and its outbox row in one transaction and
// publish it to NATS JetStream (nats1); worker hosts (work1, work2, runtime: up to work4) take
// jobs from it. Photo bytes live in the database (media.backend = postgres), so any web or
// worker host may die. Sessions are in one Redis (redis1) so a login holds through the LB.
constexpr int kInitialWorkers = 2;
constexpr int kMaxWorkers = 4;

Stage queue_stage(std::string name, std::string figure,
                  std::map<std::string, std::string> more_web_params) {
  auto worker = [](int n) {
    return HostDef{.name = "work" + std::to_string(n),
                   .dc = "dc1",
                   .number = 70 + n,
                   .roles = {"worker"},
                   .processes = {{.engine = "worker",
                                  .params = {{"db_host", "db1"}, {"nats_host", "nats1"}},
                                  .after = {"nats1/nats", "web1/ztm"}}}};
  };
  more_web_params.insert({{"sessions", "redis"}, {"redis_host", "redis1"}, {"nats_host", "nats1"}});
  Stage stage = behind_lb(std::move(name), std::move(figure), std::move(more_web_params),
                          {"redis1/redis", "nats1/nats"},
                          {{.name = "redis1",
                            .dc = "dc1",
                            .number = 40,
                            .roles = {"sessions"},
                            .processes = {{.engine = "redis", .params = {{"role", "primary"}}}}},
                           {.name = "nats1",
                            .dc = "dc1",
                            .number = 60,
                            .roles = {"queue"},
                            .processes = {{.engine = "nats"}}}});
  for (int n = 1; n <= kInitialWorkers; ++n) stage.hosts.push_back(worker(n));
  stage.max_workers = kMaxWorkers;
  stage.worker_host = worker;
  return stage;
}

Stage queue() {
  return queue_stage("queue", "1-18/1-19 message queue and workers", {});
}

// Figure 1-11: CDN edges in front of the origin (the queue stage: lb1, the web tier, its data
// and workers). edge1 and edge2 run Varnish 7.1 (deploy/varnish/edge.vcl) on a public address,
// fetch misses from lb1's private address, take purges on their private admin listener, and
// each has its metrics exporter. Clients come in two groups, each nearer one edge (docs/cdn.md).
// The web servers name the edges (cdn.edges, cdn.edge_admins) and trust them as proxies.
//
// The purge lease (docs/cdn.md): an edge passes mutable reads to the origin unless its purge
// stream synced within it. Every web server's outbox relay syncs each edge's purge queue every
// 250 ms and its purgers deliver the syncs, so an edge that stops hearing from them (cut off,
// frozen, the queue down) stops serving what a purge may have missed within 2 s.
constexpr const char* kEdgeLease = "2s";
constexpr int kEdges = 2;
// Distance (docs/lab.md "Distance"): the round trip a far link adds. Each edge holds its packets
// to the other client group and to the origin (lb1's private address) this long, lb1 its packets
// to every client group; a group and its own edge are near (nothing added).
constexpr const char* kFarMs = "40";

Stage cdn() {
  std::string edges;
  for (int n = 1; n <= kEdges; ++n) edges += (n > 1 ? ",edge" : "edge") + std::to_string(n);
  const std::vector<ClientGroup> groups = {
      {.name = "clients1", .first = 32, .prefix = 27, .nearer = "edge1"},
      {.name = "clients2", .first = 64, .prefix = 27, .nearer = "edge2"}};
  // Request routing (docs/cdn.md): the web servers' GET /cdn.json prefers each group's nearer
  // edge for its subnet (cdn.edge_networks).
  std::string edge_networks;
  for (const auto& g : groups)
    edge_networks += (edge_networks.empty() ? "" : ",") + client_subnet(g) + "=" + g.nearer;
  Stage stage = queue_stage("cdn", "1-11 CDN edges",
                            {{"edge_hosts", edges}, {"edge_networks", edge_networks}});
  for (auto& h : stage.hosts)
    for (auto& p : h.processes)
      if (p.engine == "haproxy") p.params["edge_hosts"] = edges;
  for (int n = 1; n <= kEdges; ++n) {
    const std::string name = "edge" + std::to_string(n);
    // No `after`: an edge starts with the origin down (its probe says sick until lb1 answers)
    // and answers its own /.ztm/ping at once, so the edges start alongside everything else.
    stage.hosts.push_back(
        {.name = name,
         .dc = "dc1",
         .number = 80 + n,
         .public_number = 20 + n,
         .roles = {"edge"},
         .processes = {
             {.engine = "varnish", .params = {{"origin_host", "lb1"}, {"lease", kEdgeLease}}},
             {.engine = "varnish-exporter", .after = {name + "/varnish"}},
             {.engine = "tls", .after = {name + "/varnish"}}}});
  }
  stage.client_groups = groups;
  std::string origin, all_groups;
  for (const auto& h : stage.hosts)
    if (h.name == "lb1") origin = host_address(h) + "/32";
  for (const auto& g : stage.client_groups)
    all_groups += (all_groups.empty() ? "" : ",") + client_subnet(g);
  for (auto& h : stage.hosts) {
    std::string far;
    if (h.name == "lb1") far = all_groups;
    for (const auto& g : stage.client_groups)
      if (h.roles == std::vector<std::string>{"edge"} && g.nearer != h.name)
        far += client_subnet(g) + ",";
    if (h.roles == std::vector<std::string>{"edge"}) far += origin;
    if (!far.empty())
      h.processes.push_back({.engine = "delay", .params = {{"ms", kFarMs}, {"far", far}}});
  }
  return stage;
}

// Figure 1-7: a cache tier between the web servers and the replicated database (the data tier of
// `replication`). Three Redis cache nodes (no persistence, allkeys-lru) on every web server's
// consistent-hash ring (cache.l2_nodes); a dead node's keys are read from the database.
Stage cache() {
  Stage stage = replication();
  stage.name = "cache";
  stage.figure = "1-7 cache tier";
  std::erase_if(stage.hosts, [](const HostDef& h) { return h.name.rfind("web", 0) == 0; });
  std::vector<std::string> web_after = {"db1/patroni", "db2/patroni", "db3/patroni"};
  for (int n = 1; n <= 3; ++n) {
    const std::string name = "cache" + std::to_string(n);
    stage.hosts.push_back({.name = name,
                           .dc = "dc1",
                           .number = 49 + n,
                           .roles = {"cache"},
                           .processes = {{.engine = "redis", .params = {{"role", "cache"}}}}});
    web_after.push_back(name + "/redis");
  }
  for (int n = 1; n <= 2; ++n)
    stage.hosts.push_back({.name = "web" + std::to_string(n),
                           .dc = "dc1",
                           .number = 9 + n,
                           .roles = {"web"},
                           .processes = {{.engine = "ztm",
                                          .params = {{"storage", "postgres"},
                                                     {"db_hosts", "db1,db2,db3"},
                                                     {"l2_hosts", "cache1,cache2,cache3"}},
                                          .after = web_after}}});
  return stage;
}

// docs/sharding.md: users' rows spread over shard clusters by a bucket map. Each shard s<k> is
// a Patroni cluster of its own (scope s<k>: a primary s<k>a 10.77.1.<100+10k> that bootstraps
// it and a replica s<k>b, +1) ready for logical replication between shards (bucket moves); the
// map is in etcd1 (/ztm/shards/map, written by the first web server to start) beside Patroni's
// keys. web1, web2 behind lb1 (as `lb`) with sessions in redis1 and the cache tier of `cache`.
// `ztm lab scale shards=N` adds s5 (and registers it in the map, with no bucket yet).
constexpr int kInitialShards = 4;
constexpr int kMaxShards = 5;

std::vector<HostDef> shard_cluster(int k) {
  const std::string shard = "s" + std::to_string(k);
  auto member = [&](const char* letter, std::vector<std::string> after) {
    return HostDef{
        .name = shard + letter,
        .dc = "dc1",
        .number = 100 + 10 * k + (letter[0] - 'a'),
        .roles = {"db", "shard"},
        .processes = {{.engine = "patroni",
                       .params = {{"etcd_host", "etcd1"}, {"scope", shard}, {"logical", "on"}},
                       .after = std::move(after)}}};
  };
  return {member("a", {"etcd1/etcd"}), member("b", {shard + "a/patroni"})};
}

Stage sharding() {
  std::string shard_hosts;
  std::vector<std::string> web_after = {"redis1/redis"};
  std::vector<HostDef> hosts = {{.name = "etcd1",
                                 .dc = "dc1",
                                 .number = 5,
                                 .roles = {"dcs"},
                                 .processes = {{.engine = "etcd"}}}};
  for (int k = 1; k <= kInitialShards; ++k) {
    const std::string shard = "s" + std::to_string(k);
    shard_hosts += fmt::format("{}{}={}a+{}b", k > 1 ? "," : "", shard, shard, shard);
    for (auto& h : shard_cluster(k)) {
      web_after.push_back(h.name + "/patroni");
      hosts.push_back(std::move(h));
    }
  }
  hosts.push_back({.name = "redis1",
                   .dc = "dc1",
                   .number = 40,
                   .roles = {"sessions"},
                   .processes = {{.engine = "redis", .params = {{"role", "primary"}}}}});
  for (int n = 1; n <= 3; ++n) {
    const std::string name = "cache" + std::to_string(n);
    hosts.push_back({.name = name,
                     .dc = "dc1",
                     .number = 49 + n,
                     .roles = {"cache"},
                     .processes = {{.engine = "redis", .params = {{"role", "cache"}}}}});
    web_after.push_back(name + "/redis");
  }
  auto web = [shard_hosts, web_after](int n) {
    return HostDef{.name = "web" + std::to_string(n),
                   .dc = "dc1",
                   .number = 9 + n,
                   .roles = {"web"},
                   .processes = {{.engine = "ztm",
                                  .params = {{"storage", "postgres"},
                                             {"shard_hosts", shard_hosts},
                                             {"etcd_host", "etcd1"},
                                             {"lb_host", "lb1"},
                                             {"sessions", "redis"},
                                             {"redis_host", "redis1"},
                                             {"l2_hosts", "cache1,cache2,cache3"}},
                                  .after = web_after}}};
  };
  hosts.push_back(web(1));
  hosts.push_back(web(2));
  hosts.push_back({.name = "lb1",
                   .dc = "dc1",
                   .number = 2,
                   .public_number = 10,
                   .roles = {"lb"},
                   .processes = {{.engine = "haproxy",
                                  .params = {{"backends", "web1,web2"}},
                                  .after = {"web1/ztm", "web2/ztm"}}}});
  return {.name = "sharding",
          .figure = "sharding: a bucket map over shard clusters",
          .hosts = std::move(hosts),
          .entry_host = "lb1",
          .entry_port = 80,
          .entry_tls_port = 443,
          .max_web = kMaxWeb,
          .web_host = web,
          .max_shards = kMaxShards,
          .shard_cluster = shard_cluster};
}

const std::vector<Stage>& stages() {
  static const std::vector<Stage> all = {single(), db(),    replication(), lb(),      stateless(),
                                         cache(),  queue(), cdn(),         sharding()};
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

std::string public_address(const HostDef& host) {
  return "10.77.0." + std::to_string(host.public_number);
}

std::string public_gateway() {
  return "10.77.0.1";
}

std::string client_subnet(const ClientGroup& group) {
  return "10.77.0." + std::to_string(group.first) + "/" + std::to_string(group.prefix);
}

std::string client_address(const ClientGroup& group) {
  return "10.77.0." + std::to_string(group.first + 1);
}

std::string entry_url(const Stage& stage) {
  for (const auto& h : stage.hosts)
    if (h.name == stage.entry_host)
      return "http://" + (h.public_number > 0 ? public_address(h) : host_address(h)) + ":" +
             std::to_string(stage.entry_port);
  return "";
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
          throw std::invalid_argument(process_name(h, p) + " starts after " + dep +
                                      ": add its host");
  return out;
}

namespace {

// The quota `quotas` gives `host`: its own entry, else its first role's that has one, else 0.
double quota_for(const HostDef& host, const std::map<std::string, double>& quotas) {
  if (auto it = quotas.find(host.name); it != quotas.end()) return it->second;
  for (const auto& role : host.roles)
    if (auto it = quotas.find(role); it != quotas.end()) return it->second;
  return 0;
}

// Wraps a runtime host's definition (web_host, worker_host) so that it carries its quota.
void add_quota(std::function<HostDef(int)>& make, const std::map<std::string, double>& quotas) {
  if (!make) return;
  make = [inner = std::move(make), quotas](int n) {
    HostDef h = inner(n);
    h.cpus = quota_for(h, quotas);
    return h;
  };
}

}  // namespace

Stage with_cpu_quotas(Stage stage, const std::string& spec) {
  if (spec.empty()) return stage;
  // What a NAME may be: a host of the stage, one it adds at runtime, or a role of either.
  std::vector<HostDef> all = stage.hosts;
  for (int n = 1; n <= stage.max_web; ++n) all.push_back(stage.web_host(n));
  for (int n = 1; n <= stage.max_workers; ++n) all.push_back(stage.worker_host(n));
  for (int k = 1; k <= stage.max_shards; ++k)
    for (auto& h : stage.shard_cluster(k)) all.push_back(std::move(h));
  const auto known = [&](const std::string& name) {
    return std::any_of(all.begin(), all.end(), [&](const HostDef& h) {
      return h.name == name || std::find(h.roles.begin(), h.roles.end(), name) != h.roles.end();
    });
  };
  std::map<std::string, double> quotas;
  std::stringstream entries(spec);
  for (std::string entry; std::getline(entries, entry, ',');) {
    const auto eq = entry.find('=');
    const std::string name = entry.substr(0, eq);
    double cores = 0;
    std::size_t used = 0;
    try {
      if (eq != std::string::npos) cores = std::stod(entry.substr(eq + 1), &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (eq == std::string::npos || used == 0 || used != entry.size() - eq - 1)
      throw std::invalid_argument("--cpus: '" + entry + "' is not NAME=CORES (web1=0.5)");
    if (!known(name))
      throw std::invalid_argument("--cpus: no host or role " + name + " in stage " + stage.name);
    if (!(cores >= kMinCpus && cores <= kMaxCpus))
      throw std::invalid_argument(
          fmt::format("--cpus: {} must be within {}..{} cores", entry, kMinCpus, kMaxCpus));
    quotas[name] = cores;
  }
  for (auto& h : stage.hosts) h.cpus = quota_for(h, quotas);
  add_quota(stage.web_host, quotas);
  add_quota(stage.worker_host, quotas);
  if (stage.shard_cluster)
    stage.shard_cluster = [inner = std::move(stage.shard_cluster), quotas](int k) {
      auto hosts = inner(k);
      for (auto& h : hosts) h.cpus = quota_for(h, quotas);
      return hosts;
    };
  return stage;
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
