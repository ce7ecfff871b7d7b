#include "lab/shards.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <stdexcept>

namespace ztm::lab {
namespace {

namespace json = boost::json;

TEST(LabShards, ParsesShardHosts) {
  const auto shards = parse_shard_hosts("s1=s1a+s1b,s2=s2a");
  ASSERT_EQ(shards.size(), 2u);
  EXPECT_EQ(shards[0].name, "s1");
  EXPECT_EQ(shards[0].hosts, (std::vector<std::string>{"s1a", "s1b"}));
  EXPECT_EQ(shards[1].hosts, std::vector<std::string>{"s2a"});
  EXPECT_THROW(parse_shard_hosts("s1"), std::invalid_argument);
  EXPECT_THROW(parse_shard_hosts("s1="), std::invalid_argument);
}

TEST(LabShards, ConninfoNamesEveryMemberReadWrite) {
  EXPECT_EQ(shard_conninfo("pw", {"10.77.1.110", "10.77.1.111"}),
            "postgresql://ztm:pw@10.77.1.110:5432,10.77.1.111:5432/ztm"
            "?target_session_attrs=read-write");
}

// The map storage/sharding/shard_map.h reads, as ShardMap::even makes it: bucket b on b % N.
TEST(LabShards, EvenMapSpreadsBucketsRoundRobin) {
  const json::value map = json::parse(even_shard_map({{"s1", "c1"}, {"s2", "c2"}, {"s3", "c3"}}));
  EXPECT_EQ(map.at("version"), 1);
  EXPECT_EQ(map.at("mode"), "buckets");
  EXPECT_EQ(map.at("shards").at(1).at("conninfo"), "c2");
  const auto& buckets = map.at("buckets").as_array();
  ASSERT_EQ(buckets.size(), static_cast<std::size_t>(kShardBuckets));
  EXPECT_EQ(buckets[0], "s1");
  EXPECT_EQ(buckets[4], "s2");
  EXPECT_EQ(buckets[1023], "s1");  // 1023 = 3 * 341
}

TEST(LabShards, AddingAShardBumpsTheVersionAndKeepsTheBuckets) {
  const std::string before = even_shard_map({{"s1", "c1"}, {"s2", "c2"}});
  const json::value after = json::parse(map_with_shard(before, {"s3", "c3"}));
  EXPECT_EQ(after.at("version"), 2);
  EXPECT_EQ(after.at("shards").as_array().size(), 3u);
  EXPECT_EQ(after.at("shards").at(2).at("name"), "s3");
  EXPECT_EQ(after.at("buckets"), json::parse(before).at("buckets"));
  EXPECT_THROW(map_with_shard(before, {"s2", "c"}), std::invalid_argument);
  EXPECT_THROW(map_with_shard("not json", {"s3", "c3"}), std::invalid_argument);
}

TEST(LabShards, SummaryCountsBucketsPerShard) {
  const std::string map =
      map_with_shard(even_shard_map({{"s1", "c1"}, {"s2", "c2"}}), {"s3", "c3"});
  const json::object summary = summarize_shard_map(map);
  EXPECT_EQ(summary.at("version"), 2);
  EXPECT_EQ(summary.at("fenced"), 0);
  const auto& shards = summary.at("shards").as_array();
  ASSERT_EQ(shards.size(), 3u);
  EXPECT_EQ(shards[0].at("buckets"), 512);
  EXPECT_EQ(shards[1].at("conninfo"), "c2");
  EXPECT_EQ(shards[2].at("buckets"), 0);
  EXPECT_TRUE(summarize_shard_map("[1]").contains("error"));
  EXPECT_TRUE(summarize_shard_map(R"({"shards":[{"conninfo":"c"}]})").contains("error"));
}

}  // namespace
}  // namespace ztm::lab
