#include "lab/stages.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <stdexcept>

#include "lab/engines/engine.h"

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

TEST(Stages, EveryStageIsWellFormed) {
  for (const auto& name : stage_names()) {
    const Stage* s = find_stage(name);
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

TEST(Stages, UnknownStageIsNull) {
  EXPECT_EQ(find_stage("nope"), nullptr);
}

// Stages behind a load balancer: clients use the LB's public address; every web host the stage
// can scale to (web1..web<max_web>) has its own private address, clear of the other hosts'.
TEST(Stages, LoadBalancedStagesScaleWithinTheirAddresses) {
  for (const char* name : {"lb", "stateless", "queue"}) {
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

}  // namespace
}  // namespace ztm::lab
