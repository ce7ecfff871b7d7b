// ShardMapWatcher against a real etcd of its own (tests/support/etcd_instance.h): the map is
// loaded at start, newer versions replace it, anything else is ignored, and the watch survives
// etcd's restart.

#include "storage/sharding/map_watcher.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "core/run_sync.h"
#include "tests/support/child_process.h"
#include "tests/support/etcd_instance.h"
#include "tests/support/eventually.h"
#include "tests/support/metric_value.h"

namespace ztm::storage {
namespace {

using namespace std::chrono_literals;
using test::EtcdInstance;

constexpr const char* kKey = "/ztm/shards/map";

ShardMap map_version(std::int64_t version, int shards = 2) {
  std::vector<Shard> list;
  for (int i = 1; i <= shards; ++i)
    list.push_back({"s" + std::to_string(i), "postgresql://10.0.0." + std::to_string(i) + "/ztm"});
  auto map = ShardMap::even(std::move(list), ShardMap::Mode::buckets);
  map.version = version;
  return map;
}

etcd::ClientOptions client_options(const std::string& endpoint,
                                   std::chrono::milliseconds timeout = 500ms) {
  etcd::ClientOptions o;
  o.endpoints = {endpoint};
  o.timeout = timeout;
  return o;
}

ShardMapWatcherOptions fast() {
  ShardMapWatcherOptions o;
  o.backoff_min = 20ms;
  o.backoff_max = 200ms;
  return o;
}

// The versions on_change was called with, from the watcher's thread.
class Changes {
 public:
  ShardMapWatcher::OnChange callback() {
    return [this](const std::shared_ptr<const ShardMap>& map) {
      std::lock_guard lock(mu_);
      versions_.push_back(map->version);
    };
  }
  std::vector<std::int64_t> versions() const {
    std::lock_guard lock(mu_);
    return versions_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::int64_t> versions_;
};

// An etcd of its own holding map `version` at kKey, a client of it, and watchers of the map.
// `metrics` holds the client's metrics and the first watcher's.
class MapInEtcd {
 public:
  explicit MapInEtcd(std::int64_t version, std::chrono::milliseconds timeout = 500ms)
      : written(etcd.put(kKey, to_json(map_version(version)))),
        client(client_options(etcd.endpoint(), timeout)) {
    client.register_metrics(metrics);
  }

  // A watcher of the map, started (throws if it does not start).
  std::unique_ptr<ShardMapWatcher> watcher(ShardMapWatcherOptions options = fast()) {
    auto watcher = std::make_unique<ShardMapWatcher>(client, options, changes.callback());
    if (!registered_) watcher->register_metrics(metrics);
    registered_ = true;
    if (auto started = watcher->start(); !started)
      throw std::runtime_error(started.error().message);
    return watcher;
  }
  double metric(const std::string& series) const { return test::metric_value(metrics, series); }
  // Waits (bounded) until `series` is at least `value`.
  bool metric_reaches(const std::string& series, double value) const {
    return test::eventually([&] { return metric(series) >= value; });
  }

  EtcdInstance etcd;
  const std::int64_t written;  // the map's mod_revision
  etcd::Client client;
  MetricsRegistry metrics;
  Changes changes;

 private:
  bool registered_ = false;
};

bool reaches(const ShardMapWatcher& watcher, std::int64_t version) {
  return test::eventually([&] { return watcher.current()->version == version; });
}

TEST(ShardMapWatcher, LoadsTheMapAtStart) {
  MapInEtcd map(3);
  const auto watcher = map.watcher();
  EXPECT_EQ(*watcher->current(), map_version(3));
  EXPECT_EQ(watcher->mod_revision(), map.written);
  EXPECT_EQ(map.metric("ztm_shard_map_version"), 3);
  EXPECT_EQ(map.metric("ztm_shard_map_updates_total"), 0);
}

TEST(ShardMapWatcher, StartFailsSayingWhy) {
  EtcdInstance etcd;
  etcd::Client client(client_options(etcd.endpoint()));
  {
    ShardMapWatcher watcher(client, fast());
    const auto missing = watcher.start();
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, Errc::not_found);
    EXPECT_EQ(missing.error().message, "no shard map in etcd at /ztm/shards/map");
  }
  {
    etcd.put(kKey, R"({"version": 1, "mode": "buckets"})");
    ShardMapWatcher watcher(client, fast());
    const auto invalid = watcher.start();
    ASSERT_FALSE(invalid.ok());
    EXPECT_EQ(invalid.error().code, Errc::invalid_argument);
    EXPECT_NE(invalid.error().message.find("is not valid"), std::string::npos);
  }
  {
    etcd::Client nowhere(client_options("127.0.0.1:" + std::to_string(test::free_port())));
    ShardMapWatcher watcher(nowhere, fast());
    const auto begun = std::chrono::steady_clock::now();
    const auto unreachable = watcher.start();
    ASSERT_FALSE(unreachable.ok());
    EXPECT_EQ(unreachable.error().code, Errc::unavailable);
    EXPECT_NE(unreachable.error().message.find("cannot read the shard map"), std::string::npos);
    EXPECT_LT(std::chrono::steady_clock::now() - begun, 2s);
  }
}

TEST(ShardMapWatcher, TakesEveryNewerVersion) {
  MapInEtcd map(1);
  const auto started = map.watcher();
  auto& watcher = *started;
  auto& etcd = map.etcd;
  const auto before = watcher.current();

  const auto written = etcd.put(kKey, to_json(map_version(2, 3)));  // as etcdctl would
  ASSERT_TRUE(reaches(watcher, 2));
  EXPECT_EQ(*watcher.current(), map_version(2, 3));
  EXPECT_EQ(watcher.mod_revision(), written);
  EXPECT_EQ(before->version, 1);  // a snapshot taken earlier stays as it was

  // publish(): a compare-and-swap on the mod_revision the watcher holds.
  const auto published = run_sync(watcher.publish(map_version(3, 4), watcher.mod_revision()));
  ASSERT_TRUE(published.ok()) << published.error().message;
  ASSERT_TRUE(reaches(watcher, 3));
  EXPECT_EQ(watcher.mod_revision(), *published);
  const auto stale = run_sync(watcher.publish(map_version(4), written));
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, Errc::precondition_failed);
  auto broken = map_version(4);
  broken.buckets.pop_back();
  const auto invalid = run_sync(watcher.publish(broken, watcher.mod_revision()));
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.error().code, Errc::invalid_argument);

  // on_change runs just after current() changes.
  EXPECT_TRUE(test::eventually([&] { return map.changes.versions().size() == 2; }));
  EXPECT_EQ(map.changes.versions(), (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(map.metric("ztm_shard_map_version"), 3);
  EXPECT_EQ(map.metric("ztm_shard_map_updates_total"), 2);
  EXPECT_EQ(map.metric("ztm_shard_map_rejected_total"), 0);
}

TEST(ShardMapWatcher, IgnoresWhatIsNotAValidNewerMap) {
  MapInEtcd map(5);
  const auto watcher = map.watcher();
  auto& etcd = map.etcd;
  auto rejected = [&](double n) { return map.metric_reaches("ztm_shard_map_rejected_total", n); };

  etcd.put(kKey, "{not json");
  ASSERT_TRUE(rejected(1));
  etcd.put(kKey, R"({"version": 9, "mode": "buckets", "shards": []})");  // newer, but invalid
  ASSERT_TRUE(rejected(2));
  etcd.put(kKey, to_json(map_version(4)));  // older
  ASSERT_TRUE(rejected(3));
  etcd.put(kKey, to_json(map_version(5, 3)));  // the same version, other content
  ASSERT_TRUE(rejected(4));
  etcd.remove(kKey);  // logged, not counted; the map stays
  EXPECT_EQ(*watcher->current(), map_version(5));
  EXPECT_TRUE(map.changes.versions().empty());

  etcd.put(kKey, to_json(map_version(6)));  // the watch is still there
  ASSERT_TRUE(reaches(*watcher, 6));
  EXPECT_EQ(map.metric("ztm_shard_map_rejected_total"), 4);
  EXPECT_TRUE(test::eventually([&] { return !map.changes.versions().empty(); }));
  EXPECT_EQ(map.changes.versions(), (std::vector<std::int64_t>{6}));
}

TEST(ShardMapWatcher, FollowsTheMapAcrossARestartOfEtcd) {
  MapInEtcd map(1);
  const auto watcher = map.watcher();
  map.etcd.put(kKey, to_json(map_version(2)));
  ASSERT_TRUE(reaches(*watcher, 2));

  map.etcd.kill();
  // The watch ended and re-reads fail: the watcher is backing off, keeping version 2.
  ASSERT_TRUE(map.metric_reaches("ztm_etcd_failures_total{call=\"get\"}", 2));
  EXPECT_EQ(watcher->current()->version, 2);
  map.etcd.start();
  map.etcd.put(kKey, to_json(map_version(3)));  // maybe before the watcher is back: the re-read
  ASSERT_TRUE(reaches(*watcher, 3));
  map.etcd.put(kKey, to_json(map_version(4)));  // and after it: the watch
  ASSERT_TRUE(reaches(*watcher, 4));
}

TEST(ShardMapWatcher, StopsPromptly) {
  MapInEtcd map(1);
  {
    const auto watching = map.watcher();  // stopped while its watch is open
    map.etcd.put(kKey, to_json(map_version(2)));
    ASSERT_TRUE(reaches(*watching, 2));
    const auto begun = std::chrono::steady_clock::now();
    watching->stop();
    EXPECT_LT(std::chrono::steady_clock::now() - begun, 500ms);
  }
  ShardMapWatcherOptions slow = fast();
  slow.backoff_min = 10s;  // stopped in the middle of a long wait
  slow.backoff_max = 10s;
  const auto waiting = map.watcher(slow);
  map.etcd.kill();
  ASSERT_TRUE(map.metric_reaches("ztm_etcd_failures_total{call=\"watch\"}", 2));
  const auto begun = std::chrono::steady_clock::now();
  waiting->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - begun, 500ms);
  EXPECT_EQ(waiting->current()->version, 2);
}

TEST(ShardMapWatcher, StopsPromptlyWhileEtcdHangs) {
  MapInEtcd map(1, 10s);  // calls time out after the test: only cancellation ends them in time
  const auto watcher = map.watcher();
  map.etcd.pause();  // the port accepts, nothing answers
  const auto begun = std::chrono::steady_clock::now();
  watcher->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - begun, 500ms);
  map.etcd.resume();
}

}  // namespace
}  // namespace ztm::storage
