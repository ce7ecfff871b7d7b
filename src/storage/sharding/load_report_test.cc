// The load report (load_report.h): its JSON both ways, hostile values refused, and what
// `ztm shard status` adds up from many servers' reports; the LoadMeter's counts (unit).
#include "storage/sharding/load_report.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "storage/sharding/load_reporter.h"

namespace ztm::storage {
namespace {

constexpr std::int64_t kNow = 1'764'979'200'000;

std::vector<Shard> named(int n) {
  std::vector<Shard> shards;
  for (int i = 0; i < n; ++i) shards.push_back({"s" + std::to_string(i + 1), "unused"});
  return shards;
}

LoadReport sample(std::string host, int node) {
  LoadReport r;
  r.node = node;
  r.host = std::move(host);
  r.map_version = 7;
  r.at_ms = kNow - 1000;
  r.interval_ms = 5000;
  r.requests = 5000;
  r.shards = {{"s1", 3000}, {"s2", 2000}};
  r.buckets = {{17, 1000, 10}, {3, 500, 0}};
  r.users = {{123456789, 0.25}};
  return r;
}

etcd::KeyedValue stored(const LoadReport& r) {
  return {load_report_key(r.host, r.node), to_json(r), 1};
}

TEST(LoadReport, RoundTripsThroughJson) {
  const auto r = sample("web1", 3);
  EXPECT_EQ(load_report_key("web1", 3), "/ztm/shards/load/web1-3");
  const auto text = to_json(r);
  EXPECT_NE(text.find(R"("buckets":[[17,1000,10],[3,500,0]])"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("shards":{"s1":3000,"s2":2000})"), std::string::npos) << text;
  const auto back = parse_load_report(text);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, r);
  // Empty counts are a report too (an idle server), and unknown fields are ignored.
  LoadReport idle = sample("idle.example", 0);
  idle.requests = 0;
  idle.shards.clear();
  idle.buckets.clear();
  idle.users.clear();
  EXPECT_EQ(*parse_load_report(to_json(idle)), idle);
  auto extended = to_json(idle);
  extended.insert(1, R"("from_a_newer_server":{"x":1},)");
  EXPECT_EQ(*parse_load_report(extended), idle);
}

TEST(LoadReport, HostileValuesAreRefusedCleanly) {
  const std::string good = to_json(sample("web1", 3));
  auto with = [&](const std::string& field, const std::string& value) {
    const auto at = good.find("\"" + field + "\":");
    EXPECT_NE(at, std::string::npos) << field;
    const auto start = at + field.size() + 3;
    std::size_t end = start;
    for (int depth = 0; end < good.size(); ++end) {
      const char c = good[end];
      if (c == '[' || c == '{') ++depth;
      if (c == ']' || c == '}') --depth;
      if (depth < 0 || (depth == 0 && c == ',')) break;
      if (depth == 0 && (c == ']' || c == '}')) {
        ++end;
        break;
      }
    }
    return good.substr(0, start) + value + good.substr(end);
  };
  ASSERT_TRUE(parse_load_report(with("node", "4")).ok());  // the helper edits what it should
  const std::vector<std::string> bad = {
      "",
      "not json",
      "[]",
      "{}",
      R"({"node":1})",
      std::string(kMaxLoadReportBytes + 1, ' '),
      good + "x",
      with("node", "128"),
      with("node", "-1"),
      with("node", "1.5"),
      with("node", "\"3\""),
      with("host", "\"\""),
      with("host", "\"web 1\""),
      with("host", "\"" + std::string(65, 'a') + "\""),
      with("host", "7"),
      with("map_version", "0"),
      with("map_version", "18446744073709551615"),
      with("at_ms", "-5"),
      with("interval_ms", "0"),
      with("interval_ms", "3600001"),
      with("requests", "-1"),
      with("requests", "1e3"),
      with("shards", "[]"),
      with("shards", R"({"S1":1})"),
      with("shards", R"({"s1":-1})"),
      with("buckets", "{}"),
      with("buckets", "[[1024,1,0]]"),
      with("buckets", "[[-1,1,0]]"),
      with("buckets", "[[1,1]]"),
      with("buckets", "[[1,1,2]]"),  // more writes than requests
      with("buckets", "[[1,1,0],[1,2,0]]"),
      with("buckets", "[[1,[1],0]]"),  // deeper than a report
      with("users", "[[0,0.5]]"),
      with("users", "[[9007199254740992,0.5]]"),  // past a 53-bit id
      with("users", "[[5,0]]"),
      with("users", "[[5,1.5]]"),
      with("users", "[[5,\"0.5\"]]"),
      with("users", "[5]"),
  };
  for (const auto& text : bad) {
    const auto r = parse_load_report(text);
    EXPECT_FALSE(r.ok()) << text.substr(0, 200);
    if (!r.ok()) {
      EXPECT_TRUE(r.error().code == Errc::invalid_argument || r.error().code == Errc::invalid_json)
          << r.error().message;
    }
  }
  std::string seventeen = "[";
  for (int b = 0; b < 17; ++b) seventeen += (b ? "," : "") + fmt::format("[{},1,0]", b);
  EXPECT_FALSE(parse_load_report(with("buckets", seventeen + "]")).ok());
}

TEST(LoadSummary, SumsFreshReportsRanksBucketsAndSeesServersBehind) {
  ShardMap map = ShardMap::even(named(3), ShardMap::Mode::buckets);
  map.version = 8;
  auto a = sample("web1", 1);  // on map 7: behind
  auto b = sample("web2", 2);
  b.map_version = 8;
  b.interval_ms = 1000;  // 1 s of counts: its rates are 5x a's for the same counts
  b.requests = 1000;
  b.shards = {{"s2", 600}, {"s9", 400}};  // a shard the map does not have (yet)
  b.buckets = {{3, 400, 400}, {99, 50, 0}};
  b.users = {{123456789, 0.5}, {42, 0.1}};
  auto old = sample("web3", 3);
  old.at_ms = kNow - 31'000;  // a stopped server's last report
  old.buckets = {{5, 1'000'000, 0}};
  const std::vector<etcd::KeyedValue> values = {
      stored(b), stored(a), stored(old), {"/ztm/shards/load/junk", "{\"node\":", 1}};

  const auto s = summarize_load(values, map, kNow);
  EXPECT_EQ(s.invalid, 1);
  EXPECT_EQ(s.stale, 1);
  EXPECT_DOUBLE_EQ(s.per_second, 5000 / 5.0 + 1000 / 1.0);
  ASSERT_EQ(s.shards.size(), 4u);
  EXPECT_EQ(s.shards[0].shard, "s1");
  EXPECT_DOUBLE_EQ(s.shards[0].per_second, 600);  // 3000 over a's 5 s
  EXPECT_EQ(s.shards[1].shard, "s2");
  EXPECT_DOUBLE_EQ(s.shards[1].per_second, 400 + 600);
  EXPECT_EQ(s.shards[2].shard, "s3");
  EXPECT_DOUBLE_EQ(s.shards[2].per_second, 0);
  EXPECT_EQ(s.shards[3].shard, "s9");
  // Bucket 3: 500 over 5 s plus 400 over 1 s; bucket 17: 1000 over 5 s; the stale 5 is absent.
  ASSERT_EQ(s.buckets.size(), 3u);
  EXPECT_EQ(s.buckets[0].bucket, 3);
  EXPECT_DOUBLE_EQ(s.buckets[0].per_second, 100 + 400);
  EXPECT_DOUBLE_EQ(s.buckets[0].share, 500 / 2000.0);
  EXPECT_EQ(s.buckets[0].shard, map.shards[static_cast<std::size_t>(map.buckets[3])].name);
  EXPECT_EQ(s.buckets[1].bucket, 17);
  EXPECT_DOUBLE_EQ(s.buckets[1].per_second, 200);
  EXPECT_EQ(s.buckets[2].bucket, 99);
  // Users: the largest share any server saw, hottest first.
  ASSERT_EQ(s.users.size(), 2u);
  EXPECT_EQ(s.users[0].user, 123456789);
  EXPECT_DOUBLE_EQ(s.users[0].share, 0.5);
  EXPECT_EQ(s.users[0].host, "web2");
  EXPECT_EQ(s.users[1].user, 42);
  // Servers by key, the one on map 7 behind the map's 8.
  ASSERT_EQ(s.servers.size(), 2u);
  EXPECT_EQ(s.servers[0].host, "web1");
  EXPECT_TRUE(s.servers[0].behind);
  EXPECT_EQ(s.servers[0].age_ms, 1000);
  EXPECT_EQ(s.servers[1].host, "web2");
  EXPECT_FALSE(s.servers[1].behind);
  // The top N only; a report from a clock a little ahead still counts.
  b.at_ms = kNow + 2000;
  const auto top = summarize_load({stored(a), stored(b)}, map, kNow, std::chrono::seconds(30), 1);
  ASSERT_EQ(top.buckets.size(), 1u);
  EXPECT_EQ(top.buckets[0].bucket, 3);
  EXPECT_EQ(top.servers.size(), 2u);
  EXPECT_EQ(top.servers[1].age_ms, 0);
  // Nothing fresh: zeros, no division by zero.
  const auto none = summarize_load({stored(old)}, map, kNow);
  EXPECT_EQ(none.per_second, 0);
  EXPECT_TRUE(none.buckets.empty());
  EXPECT_EQ(none.shards.size(), 3u);
  const auto json = to_json(s);
  EXPECT_NE(json.find(R"("stale_reports":1)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("behind":true)"), std::string::npos) << json;
}

// What rebalance --by load weighs buckets by: the listed buckets at their rates, each server's
// unlisted requests spread over the buckets it does not list, and the total kept.
TEST(LoadSummary, EstimatesEveryBucketsRate) {
  const ShardMap map = ShardMap::even(named(2), ShardMap::Mode::buckets);
  auto a = sample("web1", 1);  // 5000 over 5 s: buckets 17 (1000) and 3 (500), 3500 unlisted
  auto b = sample("web2", 2);
  b.interval_ms = 1000;
  b.requests = 1000;
  b.buckets = {{3, 1000, 0}};  // all of its requests
  auto hostile = sample("web3", 3);
  hostile.requests = 10;  // lists more than it counts: no negative rest
  hostile.buckets = {{4, 100, 0}};
  const auto s = summarize_load({stored(a), stored(b), stored(hostile)}, map, kNow);
  ASSERT_EQ(s.bucket_rates.size(), std::size_t{kBuckets});
  const double rest = 3500 / 5.0 / (kBuckets - 2);
  EXPECT_DOUBLE_EQ(s.bucket_rates[17], 200 + 0 + 0);
  EXPECT_DOUBLE_EQ(s.bucket_rates[3], 100 + 1000 + 0);
  EXPECT_DOUBLE_EQ(s.bucket_rates[4], rest + 100 / 5.0);
  EXPECT_DOUBLE_EQ(s.bucket_rates[0], rest);
  double total = 0;
  for (double r : s.bucket_rates) total += r;
  EXPECT_NEAR(total, 1000 + 1000 + 100 / 5.0, 1e-6);
  EXPECT_EQ(summarize_load({}, map, kNow).bucket_rates, std::vector<double>(kBuckets, 0.0));
}

TEST(LoadReporter, ALeaseOutlivesThreeIntervalsAndAtLeastThreeSeconds) {
  EXPECT_EQ(lease_ttl(std::chrono::milliseconds(50)), std::chrono::seconds(3));
  EXPECT_EQ(lease_ttl(std::chrono::milliseconds(5000)), std::chrono::seconds(15));
  EXPECT_EQ(lease_ttl(std::chrono::milliseconds(1001)), std::chrono::seconds(4));
}

TEST(LoadMeter, CountsBucketsShardsAndHotUsersPerInterval) {
  const ShardMap map = ShardMap::even(named(2), ShardMap::Mode::buckets);
  LoadMeter meter(HotKeyOptions{.sample_every = 1, .min_count = 4});
  const UserId hot = 1'000'003, cold = 2'000'029;
  ASSERT_EQ(std::set<int>({bucket_of(hot), bucket_of(cold), bucket_of(7)}).size(), 3u);
  for (int i = 0; i < 90; ++i) meter.record(hot, i % 3 == 0, true);
  for (int i = 0; i < 10; ++i) meter.record(cold, false, true);
  for (int i = 0; i < 50; ++i) meter.record(7, true, false);  // a lookup key's placement
  meter.record_shard(1);
  meter.record_shard(1);
  auto r = meter.take(map);
  EXPECT_EQ(r.requests, 150u);
  ASSERT_GE(r.buckets.size(), 2u);
  EXPECT_EQ(r.buckets[0], (BucketLoad{bucket_of(hot), 90, 30}));
  EXPECT_EQ(r.buckets[1], (BucketLoad{bucket_of(7), 50, 50}));
  EXPECT_EQ(r.shards, (std::vector<std::pair<std::string, std::uint64_t>>{{"s1", 0}, {"s2", 2}}));
  EXPECT_EQ(meter.shard_calls(1), 2u);
  ASSERT_FALSE(r.users.empty());
  EXPECT_EQ(r.users[0].user, hot);  // the lookup placement is no user
  EXPECT_GT(r.users[0].share, 0.8);
  // The next interval counts only what came after.
  meter.record(cold, false, true);
  r = meter.take(map);
  EXPECT_EQ(r.requests, 1u);
  EXPECT_EQ(r.buckets, (std::vector<BucketLoad>{{bucket_of(cold), 1, 0}}));
  EXPECT_EQ(meter.shard_calls(1), 2u);  // totals stay totals
  // At most kReportedBuckets, the busiest.
  for (UserId id = 1; id <= 5000; ++id) meter.record(id, false, false);
  r = meter.take(map);
  EXPECT_EQ(r.buckets.size(), kReportedBuckets);
  EXPECT_TRUE(parse_load_report([&] {
                r.host = "h";
                r.map_version = 1;
                r.interval_ms = 1;
                return to_json(r);
              }())
                  .ok());
}

}  // namespace
}  // namespace ztm::storage
