#include "lab/stages.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>

#include "lab/engines/engine.h"
#include "lab/observe.h"

namespace ztm::lab {
namespace {

TEST(Stages, SingleIsOneServerAtTheFigureAddress) {
  const Stage* s = find_stage("single");
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(s->hosts.size(), 1u);
  EXPECT_EQ(host_address(s->hosts[0]), "10.77.1.10");
  EXPECT_EQ(s->entry_host, "web1");
}

TEST(Stages, DbStartsTheDatabaseBeforeTheWebServer) {
  const Stage* s = find_stage("db");
  ASSERT_NE(s, nullptr);
  const HostDef* web = nullptr;
  for (const auto& h : s->hosts)
    if (h.name == "web1") web = &h;
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web->processes.at(0).after, std::vector<std::string>{"db1/postgres"});
}

// Every stage, and every stage with its observability (--observe, observe.h).
TEST(Stages, EveryStageIsWellFormed) {
  std::vector<Stage> all;
  for (const auto& name : stage_names()) {
    all.push_back(*find_stage(name));
    all.push_back(observed(*find_stage(name)));
  }
  for (const Stage& stage : all) {
    const Stage* s = &stage;
    const std::string& name = s->name;
    std::set<std::string> addresses, processes;
    for (const auto& h : s->hosts) {
      EXPECT_LE(h.name.size(), 11u) << h.name << ": ztm-<host> must fit an interface name";
      EXPECT_TRUE(addresses.insert(host_address(h)).second) << name << ": duplicate address";
      EXPECT_GE(h.number, 2) << "10.77.<dc>.1 is the bridge";
      for (const auto& p : h.processes) {
        EXPECT_NE(find_engine(p.engine), nullptr) << p.engine;
        processes.insert(process_name(h, p));
      }
    }
    for (const auto& h : s->hosts)
      for (const auto& p : h.processes)
        for (const auto& dep : p.after) EXPECT_TRUE(processes.count(dep)) << dep;
  }
}

TEST(Stages, ReplicationBootstrapsFromDb1AfterEtcd) {
  const Stage* s = find_stage("replication");
  ASSERT_NE(s, nullptr);
  std::map<std::string, std::vector<std::string>> after;
  for (const auto& h : s->hosts)
    for (const auto& p : h.processes) after[process_name(h, p)] = p.after;
  EXPECT_EQ(after.at("db1/patroni"), std::vector<std::string>{"etcd1/etcd"});
  EXPECT_EQ(after.at("db2/patroni"), std::vector<std::string>{"db1/patroni"});
  EXPECT_EQ(after.at("db3/patroni"), std::vector<std::string>{"db1/patroni"});
  EXPECT_EQ(after.at("web2/ztm").size(), 3u);
}

TEST(Stages, SelectHostsKeepsOnlyThoseAndTheirDependencies) {
  const Stage& s = *find_stage("replication");
  EXPECT_EQ(select_hosts(s, "").hosts.size(), s.hosts.size());
  const Stage data = select_hosts(s, "etcd1,db1,db2,db3");
  ASSERT_EQ(data.hosts.size(), 4u);
  EXPECT_EQ(data.hosts[3].name, "db3");
  EXPECT_THROW(select_hosts(s, "db1,db2"), std::invalid_argument);  // db1 starts after etcd1
  EXPECT_THROW(select_hosts(s, "etcd1,nope"), std::invalid_argument);
}

// --cpus: a host's own quota beats its role's; hosts added at runtime get theirs; a name that is
// neither a host nor a role, or a quota out of range, is refused.
TEST(Stages, CpuQuotasByHostAndRole) {
  const Stage& s = *find_stage("queue");
  const Stage q = with_cpu_quotas(s, "web=0.5,web1=1.5,db1=2");
  std::map<std::string, double> cpus;
  for (const auto& h : q.hosts) cpus[h.name] = h.cpus;
  EXPECT_EQ(cpus.at("web1"), 1.5);
  EXPECT_EQ(cpus.at("web2"), 0.5);
  EXPECT_EQ(cpus.at("db1"), 2);
  EXPECT_EQ(cpus.at("lb1"), 0);
  EXPECT_EQ(q.web_host(5).cpus, 0.5);                           // added at runtime: its role's
  EXPECT_EQ(q.worker_host(1).cpus, 0);                          // no quota given
  EXPECT_EQ(with_cpu_quotas(s, "web6=1").web_host(6).cpus, 1);  // a runtime host by name
  EXPECT_EQ(with_cpu_quotas(s, "").hosts.front().cpus, 0);
  for (const char* bad :
       {"nope=1", "web", "web=", "web=x", "web=1x", "web=0.01", "web=65", "=1", "web=nan"})
    EXPECT_THROW(with_cpu_quotas(s, bad), std::invalid_argument) << bad;
}

TEST(Stages, UnknownStageIsNull) {
  EXPECT_EQ(find_stage("nope"), nullptr);
}

// Stages behind a load balancer: clients use the LB's public address; every web host the stage
// can scale to (web1..web<max_web>) has its own private address, clear of the other hosts'.
TEST(Stages, LoadBalancedStagesScaleWithinTheirAddresses) {
  for (const char* name : {"lb", "stateless", "queue", "cdn"}) {
    const Stage* s = find_stage(name);
    ASSERT_NE(s, nullptr) << name;
    EXPECT_EQ(entry_url(*s), "http://10.77.0.10:80") << name;
    ASSERT_GT(s->max_web, 0);
    std::set<std::string> addresses;
    for (const auto& h : s->hosts) {
      if (h.public_number > 0) {
        EXPECT_LE(h.name.size(), 10u) << h.name << ": ztm-<host>p must fit";
      }
      if (h.name.rfind("web", 0) != 0) addresses.insert(host_address(h));
    }
    for (int n = 1; n <= s->max_web; ++n) {
      const HostDef web = s->web_host(n);
      EXPECT_EQ(web.name, "web" + std::to_string(n));
      EXPECT_TRUE(addresses.insert(host_address(web)).second) << name << ": " << web.name;
      ASSERT_EQ(web.processes.size(), 1u);
      EXPECT_EQ(web.processes[0].params.at("lb_host"), "lb1");
    }
  }
  EXPECT_EQ(find_stage("stateless")->web_host(4).processes[0].params.at("sessions"), "redis");
}

// Stage queue: worker hosts work1..work<max_workers> (two at first) run `ztm worker` on the
// NATS host's queue, each at its own address; web servers publish there too.
TEST(Stages, QueueScalesWorkersWithinTheirAddresses) {
  const Stage& s = *find_stage("queue");
  ASSERT_EQ(s.max_workers, 4);
  std::set<std::string> addresses;
  int workers = 0;
  for (const auto& h : s.hosts) {
    if (h.name.rfind("work", 0) == 0)
      ++workers;
    else
      addresses.insert(host_address(h));
  }
  EXPECT_EQ(workers, 2);
  for (int n = 1; n <= s.max_workers; ++n) {
    const HostDef w = s.worker_host(n);
    EXPECT_EQ(w.name, "work" + std::to_string(n));
    EXPECT_TRUE(addresses.insert(host_address(w)).second) << w.name;
    EXPECT_EQ(w.processes.at(0).engine, "worker");
    EXPECT_EQ(w.processes.at(0).params.at("nats_host"), "nats1");
  }
  EXPECT_EQ(s.web_host(1).processes.at(0).params.at("nats_host"), "nats1");
}

// Stage cache: the replication stage's data tier, three cache nodes, web servers on all of them.
TEST(Stages, CacheHasThreeNodesBeforeTheReplicatedDatabase) {
  const Stage& s = *find_stage("cache");
  int nodes = 0;
  for (const auto& h : s.hosts) {
    if (h.name.rfind("cache", 0) == 0) {
      ++nodes;
      EXPECT_EQ(h.processes.at(0).params.at("role"), "cache");
    }
    if (h.name == "web1") {
      EXPECT_EQ(h.processes.at(0).params.at("l2_hosts"), "cache1,cache2,cache3");
      EXPECT_EQ(h.processes.at(0).params.at("db_hosts"), "db1,db2,db3");
    }
  }
  EXPECT_EQ(nodes, 3);
  EXPECT_EQ(entry_url(s), "http://10.77.1.10:8080");
}

// Stage cdn (figure 1-11): the queue stage's hosts plus two edges, each with a private and a
// public address and four processes (Varnish, then its exporter and its TLS front, and the delay
// of its far links); the web tier
// (also when scaled) and lb1 know the edges; the purge lease is 2 s (the web tier syncs the
// edges).
TEST(Stages, CdnIsTheQueueStagePlusTwoEdges) {
  const Stage& cdn = *find_stage("cdn");
  const Stage& queue = *find_stage("queue");
  ASSERT_EQ(cdn.hosts.size(), queue.hosts.size() + 2);
  for (std::size_t i = 0; i < queue.hosts.size(); ++i)
    EXPECT_EQ(cdn.hosts[i].name, queue.hosts[i].name);
  std::map<std::string, const HostDef*> by_name;
  std::set<std::string> public_addresses;
  for (const auto& h : cdn.hosts) {
    by_name[h.name] = &h;
    if (h.public_number > 0) {
      EXPECT_TRUE(public_addresses.insert(public_address(h)).second);
    }
  }
  for (int n : {1, 2}) {
    const HostDef& edge = *by_name.at("edge" + std::to_string(n));
    EXPECT_EQ(host_address(edge), "10.77.1.8" + std::to_string(n));
    EXPECT_EQ(public_address(edge), "10.77.0.2" + std::to_string(n));
    ASSERT_EQ(edge.processes.size(), 4u);
    EXPECT_EQ(edge.processes[0].engine, "varnish");
    EXPECT_EQ(edge.processes[0].params.at("origin_host"), "lb1");
    EXPECT_EQ(edge.processes[0].params.at("lease"), "2s");
    EXPECT_TRUE(edge.processes[0].after.empty()) << "an edge starts with the origin sick";
    EXPECT_EQ(edge.processes[1].engine, "varnish-exporter");
    EXPECT_EQ(edge.processes[1].after,
              std::vector<std::string>{"edge" + std::to_string(n) + "/varnish"});
    EXPECT_EQ(edge.processes[2].engine, "tls");
    EXPECT_EQ(edge.processes[2].after, edge.processes[1].after);
    EXPECT_EQ(edge.processes[3].engine, "delay");
  }
  EXPECT_EQ(by_name.at("lb1")->processes.at(0).params.at("edge_hosts"), "edge1,edge2");
  EXPECT_EQ(by_name.at("web1")->processes.at(0).params.at("edge_hosts"), "edge1,edge2");
  EXPECT_EQ(cdn.web_host(5).processes.at(0).params.at("edge_hosts"), "edge1,edge2");
  EXPECT_EQ(by_name.at("web1")->processes.at(0).params.at("edge_networks"),
            "10.77.0.32/27=edge1,10.77.0.64/27=edge2")
      << "each group's nearer edge is preferred for its subnet";
  EXPECT_EQ(cdn.web_host(5).processes.at(0).params.at("edge_networks"),
            by_name.at("web1")->processes.at(0).params.at("edge_networks"));
  EXPECT_EQ(queue.web_host(1).processes.at(0).params.count("edge_hosts"), 0u);
  EXPECT_EQ(cdn.max_workers, queue.max_workers);
  EXPECT_EQ(entry_url(cdn), "http://10.77.0.10:80");
}

// Distance (docs/lab.md): each edge is far from the other group and from the origin, lb1 far from
// both groups, 40 ms each; no other host delays anything.
TEST(Stages, CdnFarLinksAreDelayed) {
  const Stage& cdn = *find_stage("cdn");
  std::map<std::string, std::string> far;
  for (const auto& h : cdn.hosts)
    for (const auto& p : h.processes)
      if (p.engine == "delay") {
        EXPECT_EQ(p.params.at("ms"), "40") << h.name;
        EXPECT_TRUE(far.emplace(h.name, p.params.at("far")).second) << h.name;
      }
  EXPECT_EQ(far, (std::map<std::string, std::string>{{"edge1", "10.77.0.64/27,10.77.1.2/32"},
                                                     {"edge2", "10.77.0.32/27,10.77.1.2/32"},
                                                     {"lb1", "10.77.0.32/27,10.77.0.64/27"}}));
  for (const auto& h : find_stage("queue")->hosts)
    for (const auto& p : h.processes) EXPECT_NE(p.engine, "delay") << h.name;
}

// The client groups of docs/cdn.md: 10.77.0.32/27 nearer edge1, 10.77.0.64/27 nearer edge2; the
// address of each group's namespace is inside its subnet and clear of every public host.
TEST(Stages, CdnClientGroupsAreNearerOneEdgeEach) {
  const Stage& cdn = *find_stage("cdn");
  ASSERT_EQ(cdn.client_groups.size(), 2u);
  EXPECT_EQ(client_subnet(cdn.client_groups[0]), "10.77.0.32/27");
  EXPECT_EQ(client_address(cdn.client_groups[0]), "10.77.0.33");
  EXPECT_EQ(cdn.client_groups[0].nearer, "edge1");
  EXPECT_EQ(client_subnet(cdn.client_groups[1]), "10.77.0.64/27");
  EXPECT_EQ(client_address(cdn.client_groups[1]), "10.77.0.65");
  EXPECT_EQ(cdn.client_groups[1].nearer, "edge2");
  std::set<std::string> names;
  for (const auto& h : cdn.hosts) names.insert(h.name);
  for (const auto& g : cdn.client_groups) {
    EXPECT_LE(g.name.size(), 11u) << g.name << ": ztm-<name> must fit an interface name";
    EXPECT_TRUE(names.insert(g.name).second) << g.name << ": clashes with a host";
    EXPECT_TRUE(names.count(g.nearer)) << g.nearer;
    const int size = 1 << (32 - g.prefix);
    EXPECT_EQ(g.first % size, 0) << "a subnet starts on its boundary";
    for (const auto& h : cdn.hosts) {
      if (h.public_number > 0) {
        EXPECT_FALSE(h.public_number >= g.first && h.public_number < g.first + size) << h.name;
      }
    }
  }
  for (const char* other : {"single", "lb", "queue"})
    EXPECT_TRUE(find_stage(other)->client_groups.empty()) << other;
}

// Stage sharding: four Patroni clusters of two (each its own scope, logical replication on),
// each bootstrapped by its `a` member after etcd; the web servers name every shard's members and
// start after all of them, behind lb1; a fifth cluster is defined for `scale shards=5` at
// addresses of its own.
TEST(Stages, ShardingHasFourClustersOfTwoBehindTheMap) {
  const Stage& s = *find_stage("sharding");
  std::map<std::string, const HostDef*> by_name;
  for (const auto& h : s.hosts) by_name[h.name] = &h;
  for (int k = 1; k <= 4; ++k) {
    const std::string shard = "s" + std::to_string(k);
    const HostDef& a = *by_name.at(shard + "a");
    const HostDef& b = *by_name.at(shard + "b");
    EXPECT_EQ(host_address(a), "10.77.1." + std::to_string(100 + 10 * k));
    EXPECT_EQ(host_address(b), "10.77.1." + std::to_string(101 + 10 * k));
    for (const HostDef* h : {&a, &b}) {
      EXPECT_EQ(h->processes.at(0).engine, "patroni");
      EXPECT_EQ(h->processes.at(0).params.at("scope"), shard);
      EXPECT_EQ(h->processes.at(0).params.at("logical"), "on");
    }
    EXPECT_EQ(a.processes.at(0).after, std::vector<std::string>{"etcd1/etcd"});
    EXPECT_EQ(b.processes.at(0).after, std::vector<std::string>{shard + "a/patroni"});
  }
  EXPECT_FALSE(by_name.contains("s5a"));
  const auto& web = by_name.at("web2")->processes.at(0);
  EXPECT_EQ(web.params.at("shard_hosts"), "s1=s1a+s1b,s2=s2a+s2b,s3=s3a+s3b,s4=s4a+s4b");
  EXPECT_EQ(web.params.at("etcd_host"), "etcd1");
  EXPECT_EQ(std::count(web.after.begin(), web.after.end(), "s4b/patroni"), 1);
  EXPECT_EQ(entry_url(s), "http://10.77.0.10:80");
  ASSERT_EQ(s.max_shards, 5);
  const auto fifth = s.shard_cluster(5);
  ASSERT_EQ(fifth.size(), 2u);
  EXPECT_EQ(fifth[0].name, "s5a");
  EXPECT_EQ(host_address(fifth[1]), "10.77.1.151");
  EXPECT_EQ(fifth[1].processes.at(0).after, std::vector<std::string>{"s5a/patroni"});
  EXPECT_EQ(find_stage("replication")->max_shards, 0);
}

}  // namespace
}  // namespace ztm::lab
