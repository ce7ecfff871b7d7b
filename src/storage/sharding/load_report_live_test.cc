// The load report end to end (engine): a sharded store over two SQLite shards following its map
// in a real etcd (tests/support/etcd_instance.h) publishes its counts there; one user far hotter
// than the rest is named, with its bucket, by the report and by the status summary; etcd down
// costs reports (counted), never requests; the reporter stops with the store.
#include <gtest/gtest.h>

#include <chrono>

#include "core/run_sync.h"
#include "storage/sharding/load_report.h"
#include "storage/sharding/map_source.h"
#include "storage/sharding/sharded_store.h"
#include "storage/sqlite/sqlite_store.h"
#include "tests/storage/store_conformance.h"
#include "tests/support/etcd_instance.h"
#include "tests/support/eventually.h"
#include "tests/support/metric_value.h"
#include "tests/support/temp_dir.h"

namespace ztm::test {
// Only sample_user and outcome are used from the conformance header here.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformance);
}  // namespace ztm::test

namespace ztm::storage {
namespace {

using namespace std::chrono_literals;
using test::eventually;
using test::metric_value;

constexpr const char* kMapKey = "/ztm/test/load/map";

class ShardLoadLive : public ::testing::Test {
 protected:
  ShardLoadLive() {
    map_ = ShardMap::even({{"s1", "unused"}, {"s2", "unused"}}, ShardMap::Mode::buckets);
    etcd_.put(kMapKey, to_json(map_));
    etcd::ClientOptions client;
    client.endpoints = {etcd_.endpoint()};
    client.timeout = 500ms;
    auto source =
        std::make_shared<WatchedMapSource>(client, ShardMapWatcherOptions{.key = kMapKey});
    if (auto started = source->start(); !started) throw std::runtime_error(started.error().message);
    ShardOpener open = [this](const Shard& shard,
                              std::size_t) -> Result<std::unique_ptr<Database>> {
      auto db =
          std::make_unique<SqliteStore>(sqlite::Options{.path = dir_.file(shard.name + ".db")});
      if (auto m = db->migrate(); !m.ok()) return std::move(m).error();
      return std::unique_ptr<Database>(std::move(db));
    };
    store_ = std::make_unique<ShardedStore>(
        source, std::move(open),
        ShardedStoreOptions{.load_report = 50ms, .node = 5, .host = "loadtest"});
    store_->register_metrics(metrics_);
    reader_ = std::make_unique<etcd::Client>(client);
  }

  // The store's report as it is in etcd now, if there is one that parses.
  std::optional<LoadReport> report() {
    auto got = run_sync(reader_->get(load_report_key("loadtest", 5)));
    if (!got) return std::nullopt;
    auto parsed = parse_load_report(got->value);
    if (!parsed) return std::nullopt;
    return std::move(*parsed);
  }

  test::TempDir dir_;
  test::EtcdInstance etcd_;
  ShardMap map_;
  MetricsRegistry metrics_;
  std::unique_ptr<ShardedStore> store_;
  std::unique_ptr<etcd::Client> reader_;
};

TEST_F(ShardLoadLive, TheReportNamesTheHotUserAndItsBucket) {
  const UserId hot = 4'000'037;
  std::vector<UserId> others;
  for (UserId id = 100; id < 160; ++id)
    if (bucket_of(id) != bucket_of(hot)) others.push_back(id);
  ASSERT_EQ(test::outcome(run_sync(store_->create_user(test::sample_user(hot)))), "ok");
  for (UserId id : others)
    ASSERT_EQ(test::outcome(run_sync(store_->create_user(test::sample_user(id)))), "ok");

  // Load as a celebrity makes it: the hot user read 20 times for every read of another. Driven
  // while polling, so whichever interval the poll reads has load in it.
  auto drive = [&] {
    for (int round = 0; round < 4; ++round) {
      for (int i = 0; i < 20; ++i) (void)run_sync(store_->get_user(hot));
      for (UserId id : others) (void)run_sync(store_->get_user(id));
    }
  };
  std::optional<LoadReport> seen;
  ASSERT_TRUE(eventually(
      [&] {
        drive();
        seen = report();
        return seen && !seen->buckets.empty() && seen->buckets[0].bucket == bucket_of(hot) &&
               !seen->users.empty() && seen->users[0].user == hot;
      },
      20s))
      << (seen ? to_json(*seen) : "no report");
  EXPECT_EQ(seen->node, 5);
  EXPECT_EQ(seen->host, "loadtest");
  EXPECT_EQ(seen->map_version, map_.version);
  EXPECT_GT(seen->requests, seen->buckets[0].requests);  // the others' reads are counted too
  EXPECT_GT(seen->users[0].share, 0.1);
  ASSERT_EQ(seen->shards.size(), 2u);
  EXPECT_GT(seen->shards[0].second + seen->shards[1].second, 0u);

  // What `ztm shard status` shows: the prefix read back and summed.
  auto all = run_sync(reader_->get_prefix(std::string(kLoadReportPrefix)));
  ASSERT_TRUE(all.ok()) << all.error().message;
  const auto summary = summarize_load(all->kvs, map_, unix_ms(std::chrono::system_clock::now()));
  ASSERT_EQ(summary.servers.size(), 1u);
  EXPECT_EQ(summary.servers[0].host, "loadtest");
  EXPECT_FALSE(summary.servers[0].behind);
  EXPECT_EQ(summary.invalid, 0);
  ASSERT_FALSE(summary.users.empty());
  EXPECT_EQ(summary.users[0].user, hot);
  // A newer map in etcd: the summary sees the server behind it until it routes by it.
  ShardMap next = map_;
  next.version = map_.version + 1;
  EXPECT_TRUE(
      summarize_load(all->kvs, next, unix_ms(std::chrono::system_clock::now())).servers[0].behind);

  EXPECT_GE(metric_value(metrics_, R"(ztm_shard_requests_total{shard="s1"})") +
                metric_value(metrics_, R"(ztm_shard_requests_total{shard="s2"})"),
            static_cast<double>(others.size() + 1));
  // Most reports got through (a put may time out on a loaded machine: counted, not fatal).
  EXPECT_GT(metric_value(metrics_, "ztm_shard_load_reports_total"),
            metric_value(metrics_, "ztm_shard_load_reports_failed_total"));
}

TEST_F(ShardLoadLive, EtcdDownCostsReportsNotRequests) {
  ASSERT_EQ(test::outcome(run_sync(store_->create_user(test::sample_user(77)))), "ok");
  ASSERT_TRUE(eventually([&] { return report().has_value(); }, 10s));
  etcd_.kill();
  ASSERT_TRUE(eventually(
      [&] { return metric_value(metrics_, "ztm_shard_load_reports_failed_total") >= 2; }, 10s));
  EXPECT_EQ(test::outcome(run_sync(store_->get_user(77))), "ok");  // the shards answer as before
  etcd_.start();
  const double written = metric_value(metrics_, "ztm_shard_load_reports_total");
  EXPECT_TRUE(eventually(
      [&] { return metric_value(metrics_, "ztm_shard_load_reports_total") > written; }, 10s));
  // Stopped by cancellation with the store, whatever the reporter was doing (a hang check: the
  // bound leaves room for a loaded machine, not for a reporter that ignores cancellation).
  const auto start = std::chrono::steady_clock::now();
  store_.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  // Its report leaves etcd with its lease (3 s here: three 50 ms intervals, at least 3 s).
  const std::string key = load_report_key("loadtest", 5);
  EXPECT_TRUE(run_sync(reader_->get(key)).ok()) << "the report is there right after the stop";
  EXPECT_TRUE(eventually(
      [&] {
        const auto r = run_sync(reader_->get(key));
        return !r.ok() && r.error().code == Errc::not_found;
      },
      15s, 100ms));
}

}  // namespace
}  // namespace ztm::storage
