// etcd::Client against a real etcd 3.4 of its own (tests/support/etcd_instance.h).

#include "etcd/client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "core/run_sync.h"
#include "tests/support/child_process.h"
#include "tests/support/etcd_instance.h"
#include "tests/support/etcd_watch.h"
#include "tests/support/eventually.h"
#include "tests/support/metric_value.h"

namespace ztm::etcd {
namespace {

using namespace std::chrono_literals;
using test::EtcdInstance;

test::EtcdInstance& server() {
  static EtcdInstance instance;
  return instance;
}

ClientOptions options_for(std::vector<std::string> endpoints) {
  ClientOptions o;
  o.endpoints = std::move(endpoints);
  o.timeout = 1s;
  return o;
}

// A key of its own per test: the tests share one etcd.
std::string key_for_test() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string("/ztm/test/") + info->name();
}

TEST(EtcdClient, GetOfAMissingKeyIsNotFound) {
  Client client(options_for({server().endpoint()}));
  const auto got = run_sync(client.get(key_for_test()));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, Errc::not_found);
}

TEST(EtcdClient, CreateOnlyWritesOnce) {
  Client client(options_for({server().endpoint()}));
  const auto key = key_for_test();
  const auto created = run_sync(client.put_if(key, "first", 0));
  ASSERT_TRUE(created.ok()) << created.error().message;
  const auto again = run_sync(client.put_if(key, "second", 0));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Errc::precondition_failed);
  const auto got = run_sync(client.get(key));
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->value, "first");
  EXPECT_EQ(got->mod_revision, *created);
  EXPECT_GE(got->revision, got->mod_revision);
}

TEST(EtcdClient, PutIfComparesTheModRevision) {
  Client client(options_for({server().endpoint()}));
  const auto key = key_for_test();
  const auto v1 = run_sync(client.put_if(key, "v1", 0));
  ASSERT_TRUE(v1.ok()) << v1.error().message;
  const auto v2 = run_sync(client.put_if(key, "v2", *v1));
  ASSERT_TRUE(v2.ok()) << v2.error().message;
  EXPECT_GT(*v2, *v1);
  // A writer still holding v1's revision loses: someone else wrote since.
  const auto stale = run_sync(client.put_if(key, "v2-from-a-stale-writer", *v1));
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, Errc::precondition_failed);
  const auto got = run_sync(client.get(key));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->value, "v2");
  EXPECT_EQ(got->mod_revision, *v2);
  // Binary-safe values, of any size up to the caps.
  const std::string bytes = std::string("a\0b\n\"\xff", 6) + std::string(100000, 'x');
  ASSERT_TRUE(run_sync(client.put_if(key, bytes, *v2)).ok());
  EXPECT_EQ(run_sync(client.get(key))->value, bytes);
}

TEST(EtcdClient, PutOverwritesAndGetPrefixListsTheKeysUnderIt) {
  Client client(options_for({server().endpoint()}));
  MetricsRegistry metrics;
  client.register_metrics(metrics);
  const auto prefix = key_for_test() + "/";
  const auto first = run_sync(client.put(prefix + "a", "1"));
  ASSERT_TRUE(first.ok()) << first.error().message;
  const auto second = run_sync(client.put(prefix + "a", "2"));  // no compare: it overwrites
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_GT(*second, *first);
  ASSERT_TRUE(run_sync(client.put(prefix + "b", "")).ok());
  ASSERT_TRUE(run_sync(client.put(prefix + "c", "3")).ok());
  // Keys beside the prefix, not under it: "<test>0" sorts right after "<test>/".
  ASSERT_TRUE(run_sync(client.put(key_for_test() + "0", "beside")).ok());
  ASSERT_TRUE(run_sync(client.put(key_for_test(), "the prefix itself, no slash")).ok());

  const auto all = run_sync(client.get_prefix(prefix));
  ASSERT_TRUE(all.ok()) << all.error().message;
  ASSERT_EQ(all->kvs.size(), 3u);
  EXPECT_EQ(all->kvs[0].key, prefix + "a");
  EXPECT_EQ(all->kvs[0].value, "2");
  EXPECT_EQ(all->kvs[0].mod_revision, *second);
  EXPECT_EQ(all->kvs[1].value, "");
  EXPECT_EQ(all->kvs[2].key, prefix + "c");
  EXPECT_FALSE(all->more);
  EXPECT_GE(all->revision, *second);
  // Bounded by the limit: the first keys, and `more`.
  const auto two = run_sync(client.get_prefix(prefix, 2));
  ASSERT_TRUE(two.ok()) << two.error().message;
  EXPECT_EQ(two->kvs.size(), 2u);
  EXPECT_TRUE(two->more);
  const auto none = run_sync(client.get_prefix(prefix + "nothing/"));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->kvs.empty());
  // Bounded by the answer's size: past max_response_bytes the answer is refused, not buffered.
  ASSERT_TRUE(run_sync(client.put(prefix + "d", std::string(4000, 'x'))).ok());
  auto small = options_for({server().endpoint()});
  small.max_response_bytes = 2000;
  Client capped(small);
  const auto refused = run_sync(capped.get_prefix(prefix));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::internal);
  // Nonsense asked: refused before anything is sent.
  EXPECT_EQ(run_sync(client.get_prefix("")).error().code, Errc::invalid_argument);
  EXPECT_EQ(run_sync(client.get_prefix(prefix, 0)).error().code, Errc::invalid_argument);
  EXPECT_EQ(run_sync(client.get_prefix(prefix, Client::kMaxPrefixKeys + 1)).error().code,
            Errc::invalid_argument);
  EXPECT_EQ(test::metric_value(metrics, "ztm_etcd_requests_total{call=\"put\"}"), 7);
  EXPECT_EQ(test::metric_value(metrics, "ztm_etcd_requests_total{call=\"get_prefix\"}"), 6);
  EXPECT_EQ(test::metric_value(metrics, "ztm_etcd_failures_total{call=\"get_prefix\"}"), 3);
}

// A key put with a lease goes when the lease expires (nothing keeps it alive); one without
// stays. etcd may lengthen a 1 s lease to its minimum: the wait allows for it.
TEST(EtcdClient, AKeyPutWithALeaseGoesWhenTheLeaseExpires) {
  Client client(options_for({server().endpoint()}));
  MetricsRegistry metrics;
  client.register_metrics(metrics);
  const auto leased = key_for_test() + "/leased";
  const auto kept = key_for_test() + "/kept";
  const auto lease = run_sync(client.grant(std::chrono::seconds(1)));
  ASSERT_TRUE(lease.ok()) << lease.error().message;
  ASSERT_TRUE(run_sync(client.put(leased, "soon gone", *lease)).ok());
  ASSERT_TRUE(run_sync(client.put(kept, "stays")).ok());
  EXPECT_EQ(run_sync(client.get(leased))->value, "soon gone");
  EXPECT_TRUE(test::eventually(
      [&] {
        const auto r = run_sync(client.get(leased));
        return !r.ok() && r.error().code == Errc::not_found;
      },
      10s, 100ms));
  EXPECT_EQ(run_sync(client.get(kept))->value, "stays");
  // A lease that is not etcd's: the put is refused; nonsense TTLs are refused before sending.
  EXPECT_FALSE(run_sync(client.put(leased, "x", *lease)).ok());
  EXPECT_EQ(run_sync(client.grant(std::chrono::seconds(0))).error().code, Errc::invalid_argument);
  EXPECT_EQ(run_sync(client.grant(std::chrono::hours(25))).error().code, Errc::invalid_argument);
  EXPECT_EQ(test::metric_value(metrics, "ztm_etcd_requests_total{call=\"grant\"}"), 3);
}

TEST(EtcdClient, WatchSeesPutsFromItsRevisionOn) {
  Client client(options_for({server().endpoint()}));
  const auto key = key_for_test();
  const auto before = server().put(key, "before");  // already made when the watch starts
  test::WatchThread watch(client, key, before);
  ASSERT_TRUE(test::eventually([&] { return !watch.responses().empty(); }));
  EXPECT_TRUE(watch.responses().front().created);
  server().put(key, "after");
  ASSERT_TRUE(test::eventually([&] { return watch.events().size() == 2; }));
  const auto events = watch.events();
  EXPECT_EQ(events[0].value, "before");
  EXPECT_EQ(events[0].mod_revision, before);
  EXPECT_EQ(events[1].value, "after");
  EXPECT_EQ(events[1].type, WatchEvent::Type::put);
  EXPECT_GT(events[1].mod_revision, before);
  const auto ended = watch.stop();
  ASSERT_FALSE(ended.ok());
  EXPECT_EQ(ended.error().code, Errc::unavailable);
  EXPECT_FALSE(watch.result() && watch.result()->ok());
}

TEST(EtcdClient, WatchFromACompactedRevisionIsAConflict) {
  Client client(options_for({server().endpoint()}));
  const auto key = key_for_test();
  const auto first = server().put(key, "a");
  const auto second = server().put(key, "b");
  server().compact(second);
  test::WatchThread watch(client, key, first);
  ASSERT_TRUE(test::eventually([&] { return watch.result().has_value(); }));
  const auto ended = *watch.result();
  ASSERT_FALSE(ended.ok());
  EXPECT_EQ(ended.error().code, Errc::conflict) << ended.error().message;
  EXPECT_NE(ended.error().message.find(std::to_string(second)), std::string::npos);
}

TEST(EtcdClient, TriesTheNextEndpoint) {
  const std::string dead = "127.0.0.1:" + std::to_string(test::free_port());
  Client client(options_for({dead, server().endpoint()}));
  MetricsRegistry metrics;
  client.register_metrics(metrics);
  const auto key = key_for_test();
  ASSERT_TRUE(run_sync(client.put_if(key, "x", 0)).ok());  // nothing sent to the dead one
  const auto got = run_sync(client.get(key));
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->value, "x");
  test::WatchThread watch(client, key, got->mod_revision);
  ASSERT_TRUE(test::eventually([&] { return watch.events().size() == 1; }));
  (void)watch.stop();
  EXPECT_EQ(test::metric_value(metrics, "ztm_etcd_requests_total{call=\"get\"}"), 1);
  EXPECT_EQ(test::metric_value(metrics, "ztm_etcd_failures_total{call=\"get\"}"), 0);
  EXPECT_EQ(test::metric_value(metrics, "ztm_etcd_failures_total{call=\"watch\"}"), 1);
}

TEST(EtcdClient, NoEndpointAnsweringIsUnavailableNamingEach) {
  const std::string a = "127.0.0.1:" + std::to_string(test::free_port());
  const std::string b = "127.0.0.1:" + std::to_string(test::free_port());
  Client client(options_for({a, b}));
  const auto started = std::chrono::steady_clock::now();
  const auto got = run_sync(client.get("/k"));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, Errc::unavailable);
  EXPECT_NE(got.error().message.find(a), std::string::npos) << got.error().message;
  EXPECT_NE(got.error().message.find(b), std::string::npos) << got.error().message;
  const auto put = run_sync(client.put_if("/k", "v", 0));
  ASSERT_FALSE(put.ok());
  EXPECT_FALSE(put.error().outcome_unknown);  // refused: nothing was sent
  test::WatchThread watch(client, "/k", 1);
  ASSERT_TRUE(test::eventually([&] { return watch.result().has_value(); }));
  EXPECT_EQ(watch.result()->error().code, Errc::unavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

TEST(EtcdClient, AWatchEndsWhenEtcdStops) {
  EtcdInstance own;
  Client client(options_for({own.endpoint()}));
  test::WatchThread watch(client, "/k", 1);
  ASSERT_TRUE(test::eventually([&] { return !watch.responses().empty(); }));
  own.kill();
  ASSERT_TRUE(test::eventually([&] { return watch.result().has_value(); }));
  EXPECT_EQ(watch.result()->error().code, Errc::unavailable);
}

TEST(EtcdClientOptions, RejectsBadOptions) {
  EXPECT_THROW(Client(options_for({})), std::invalid_argument);
  EXPECT_THROW(Client(options_for({"nohost"})), std::invalid_argument);
  EXPECT_THROW(Client(options_for({"127.0.0.1:0"})), std::invalid_argument);
  EXPECT_THROW(Client(options_for({"127.0.0.1:2379/v3"})), std::invalid_argument);
  auto zero = options_for({"127.0.0.1:2379"});
  zero.timeout = 0ms;
  EXPECT_THROW(Client{zero}, std::invalid_argument);
  EXPECT_NO_THROW(Client(options_for({"[::1]:2379", "localhost:2379"})));
}

}  // namespace
}  // namespace ztm::etcd
