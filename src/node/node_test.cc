// The composition root builds the production graph from a Config: the services see the metered
// database, L2 exists exactly when configured, bad backend names are start-up errors.
#include "node/node.h"

#include <gtest/gtest.h>

#include "cache/redis/redis_cache_tier.h"
#include "node/backends.h"
#include "storage/metered_store.h"
#include "tests/support/http_client.h"
#include "tests/support/metric_value.h"
#include "tests/support/redis_instance.h"
#include "tests/support/test_server.h"

namespace ztm::node {

using storage::Database;

namespace {

using test::HttpClient;
using test::TestServer;

TEST(Node, TheWebServerReadsThroughTheMeteredDatabase) {
  TestServer server;
  EXPECT_EQ(&server.node().database(), static_cast<Database*>(&server.node().metered_database()));
  EXPECT_EQ(&server.node().metered_database().target(), static_cast<Database*>(&server.gate()))
      << "the test's seam sits below the metering, as the backend does in production";
  EXPECT_NE(server.node().l1_cache(), nullptr);
  EXPECT_EQ(server.node().l2_cache(), nullptr) << "no cache.l2_nodes, no L2";

  const double before =
      test::metric_value(server.metrics(), R"(ztm_storage_seconds_count{op="get_user"})");
  HttpClient c(server.port());
  ASSERT_EQ(c.request("GET", "/users/12").status, 200u);
  EXPECT_EQ(test::metric_value(server.metrics(), R"(ztm_storage_seconds_count{op="get_user"})"),
            before + 1)
      << "an HTTP read is measured by the metering decorator";
  ASSERT_EQ(c.request("GET", "/users/12").status, 200u);
  EXPECT_EQ(test::metric_value(server.metrics(), R"(ztm_storage_seconds_count{op="get_user"})"),
            before + 1)
      << "the second read is an L1 hit";
}

TEST(Node, TheCacheOffMeansNoL1) {
  TestServer server([](Config& c) { c.cache.enabled = false; });
  EXPECT_EQ(server.node().l1_cache(), nullptr);
  HttpClient c(server.port());
  ASSERT_EQ(c.request("GET", "/users/12").status, 200u);
  ASSERT_EQ(c.request("GET", "/users/12").status, 200u);
  EXPECT_EQ(test::metric_value(server.metrics(), R"(ztm_storage_seconds_count{op="get_user"})"), 2);
}

TEST(Node, ConfiguredL2NodesMakeAnL2TierInTheGraph) {
  test::RedisInstance a, b;
  TestServer server([&](Config& c) { c.cache.l2_nodes = a.address() + "," + b.address(); });
  ASSERT_NE(server.node().l2_cache(), nullptr);
  HttpClient c(server.port());
  ASSERT_EQ(c.request("GET", "/users/12").status, 200u);
  const std::string text = server.metrics().render();
  EXPECT_NE(text.find("layer=\"l2\""), std::string::npos) << "L2 series are registered";
  // The read filled L2: one of the two nodes holds the user.
  const int keys = std::stoi(a.command({"DBSIZE"})) + std::stoi(b.command({"DBSIZE"}));
  EXPECT_GE(keys, 1);
}

TEST(Node, APhotoWorkerHasTheQueueAndHealthButNoApi) {
  char dir[] = "/tmp/ztm-node-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  auto config = test::test_config(dir);
  config.http.shutdown_timeout_ms = 5000;
  auto worker = node::Node::photo_worker(config);
  EXPECT_EQ(worker->sessions(), nullptr);
  EXPECT_EQ(worker->l1_cache(), nullptr);
  worker->start();
  HttpClient c(worker->port());
  EXPECT_EQ(c.request("GET", "/healthz").status, 200u);
  EXPECT_EQ(c.request("GET", "/users/12").status, 404u);
  const auto metrics = c.request("GET", "/metrics");
  EXPECT_NE(metrics.body.find("ztm_storage_seconds"), std::string::npos);
  EXPECT_EQ(worker->shutdown(), 0) << "the drain closes the idle keep-alive connection";
  worker.reset();
  std::filesystem::remove_all(dir);
}

TEST(Node, UnknownBackendsAreStartUpErrors) {
  char dir[] = "/tmp/ztm-node-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  auto config = test::test_config(dir);
  config.queue.backend = "kafka";
  EXPECT_THROW(node::open_queue(config, Clock::system()), ConfigError);
  config.sessions.backend = "memcached";
  MetricsRegistry metrics;
  EXPECT_THROW(node::open_session_store(config, metrics, Clock::system()), ConfigError);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ztm::node
