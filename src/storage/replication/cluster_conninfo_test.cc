// Splitting libpq multi-host connection strings, without a server.
#include "storage/replication/cluster_conninfo.h"

#include <gtest/gtest.h>

namespace ztm::storage {
namespace {

TEST(ClusterConninfo, SplitsAUriIntoOneConnectionStringPerHost) {
  auto c = split_cluster_conninfo(
      "postgresql://app:se'cret@h1:5432,h2:5433,h3:5434/ztm?sslmode=disable");
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_EQ(c->hosts.size(), 3u);
  EXPECT_EQ(c->names, (std::vector<std::string>{"h1:5432", "h2:5433", "h3:5434"}));
  for (const auto& h : c->hosts) {
    EXPECT_NE(h.find("user='app'"), std::string::npos) << h;
    EXPECT_NE(h.find("password='se\\'cret'"), std::string::npos) << h;
    EXPECT_NE(h.find("dbname='ztm'"), std::string::npos) << h;
    EXPECT_NE(h.find("sslmode='disable'"), std::string::npos) << h;
    EXPECT_NE(h.find("target_session_attrs='any'"), std::string::npos) << h;
  }
  EXPECT_NE(c->hosts[1].find("host='h2' port='5433'"), std::string::npos) << c->hosts[1];
  EXPECT_NE(c->primary.find("host='h1,h2,h3'"), std::string::npos) << c->primary;
  EXPECT_NE(c->primary.find("target_session_attrs='read-write'"), std::string::npos);
}

TEST(ClusterConninfo, OnePortAppliesToEveryHostAndOneHostIsOne) {
  auto c = split_cluster_conninfo("host=/tmp/a,/tmp/b port=5432 dbname=d user=postgres");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->names, (std::vector<std::string>{"/tmp/a:5432", "/tmp/b:5432"}));
  auto one = split_cluster_conninfo("postgresql:///ztm");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->hosts.size(), 1u);
}

TEST(ClusterConninfo, RejectsWhatLibpqRejectsAndMismatchedLists) {
  EXPECT_FALSE(split_cluster_conninfo("host=a,b port=1,2,3").ok());
  EXPECT_FALSE(split_cluster_conninfo("nonsense_keyword=1").ok());
  EXPECT_FALSE(split_cluster_conninfo("postgresql://[::1").ok());
}

}  // namespace
}  // namespace ztm::storage
