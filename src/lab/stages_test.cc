#include "lab/stages.h"

#include <gtest/gtest.h>
#include <set>

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

TEST(Stages, UnknownStageIsNull) { EXPECT_EQ(find_stage("nope"), nullptr); }

}  // namespace
}  // namespace ztm::lab
