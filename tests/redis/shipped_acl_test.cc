// The lab's Redis ACL users (deploy/redis/*.conf, rendered as the lab renders them) against what
// the service really sends: as the service user, the cache tier (lease, fill, erase, the FLUSHDB
// of a node coming back), the session store, the KPI sketch and the Sentinel client work; what
// the service never sends is refused; the monitor user reads server state only; replication and
// Sentinel work with their own users; nobody gets in without a password.

#include <gtest/gtest.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "cache/redis/redis_cache_tier.h"
#include "core/faults.h"
#include "core/run_sync.h"
#include "kpi/redis/redis_sketch.h"
#include "redis/sentinel_client.h"
#include "sessions/redis/redis_session_store.h"
#include "tests/support/eventually.h"
#include "tests/support/redis_instance.h"

namespace ztm::test {
namespace {

using namespace std::chrono_literals;

// The templates' users, each named after its role: {{service_user}} = "service", its password
// {{service_password}} = "service-secret", and so on.
const std::vector<std::string> kRoles = {"service", "replica", "sentinel", "monitor"};

RedisLogin login(const std::string& role) {
  return {role, role + "-secret"};
}

std::map<std::string, std::string> users() {
  std::map<std::string, std::string> vars;
  for (const auto& role : kRoles) {
    vars[role + "_user"] = role;
    vars[role + "_password"] = role + "-secret";
  }
  return vars;
}

std::string deployed(const std::string& file) {
  return std::string(ZTM_DEPLOY_DIR) + "/redis/" + file;
}

// A node from deploy/redis/<file> (cache.conf, or redis.conf for the sessions' primary and
// replica); its command() logs in as the monitor user.
std::unique_ptr<RedisInstance> node(const std::string& file, const std::string& replicaof = "") {
  auto vars = users();
  vars["replicaof"] = replicaof;
  return RedisInstance::from_template(deployed(file), vars, login("monitor"), false);
}

redis::Credentials service() {
  return {"service", "service-secret"};
}

// The reply as text, or the error Redis answered ("NOPERM ...", "NOAUTH ...").
std::string reply_as(const RedisInstance& server, const RedisLogin& who,
                     const std::vector<std::string>& args) {
  try {
    return server.command_as(who, args);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
}

// Refused by the ACL (DEBUG is refused before the ACL is asked: enable-debug-command no).
bool refused(const std::string& reply) {
  return reply.find("NOPERM") != std::string::npos ||
         reply.find("ERR DEBUG command not allowed") != std::string::npos;
}

// What the service never sends: the server's configuration, its life, every key at once.
const std::vector<std::vector<std::string>> kNeverSent = {{"FLUSHALL"},
                                                          {"CONFIG", "GET", "*"},
                                                          {"CONFIG", "SET", "maxmemory", "1"},
                                                          {"KEYS", "*"},
                                                          {"DEBUG", "SLEEP", "0"},
                                                          {"SHUTDOWN", "NOSAVE"},
                                                          {"MODULE", "LIST"},
                                                          {"ACL", "LIST"},
                                                          {"REPLICAOF", "NO", "ONE"},
                                                          {"SCRIPT", "FLUSH"},
                                                          {"SAVE"},
                                                          {"CLIENT", "LIST"}};

void expect_refused(const RedisInstance& server, const RedisLogin& who,
                    const std::vector<std::vector<std::string>>& commands) {
  for (const auto& args : commands) {
    const std::string reply = reply_as(server, who, args);
    EXPECT_TRUE(refused(reply)) << who.user << " " << args[0] << ": " << reply;
  }
}

TEST(ShippedRedisAcl, NobodyGetsInWithoutAPassword) {
  const auto cache = node("cache.conf");
  EXPECT_NE(reply_as(*cache, {}, {"PING"}).find("NOAUTH"), std::string::npos);
  EXPECT_NE(reply_as(*cache, {"service", "wrong"}, {"PING"}).find("WRONGPASS"), std::string::npos);
  EXPECT_NE(reply_as(*cache, {"default", ""}, {"PING"}).find("NOAUTH"), std::string::npos);
}

TEST(ShippedRedisAcl, ACacheNodeServesTheCacheTierAndNothingMore) {
  const auto server = node("cache.conf");
  Faults faults;
  cache::RedisCacheTierOptions o;
  o.nodes = {server->address()};
  o.timeout = 300ms;
  o.lease_wait = 30ms;
  o.failure_threshold = 1;
  o.cooldown = 20ms;
  o.auth = service();
  o.faults = &faults;
  cache::RedisCacheTier tier(o);
  using Kind = cache::SharedLookup::Kind;
  auto first = run_sync(tier.get_or_lease("k"));
  ASSERT_EQ(first.kind, Kind::lease);
  auto value = std::make_shared<const cache::CachedValue>(cache::CachedValue{"v", 1});
  ASSERT_TRUE(run_sync(tier.fill("k", value, first.lease)));
  EXPECT_EQ(run_sync(tier.get_or_lease("k")).kind, Kind::hit);
  run_sync(tier.erase("k"));
  EXPECT_EQ(run_sync(tier.get_or_lease("k")).kind, Kind::lease);
  run_sync(tier.refresh_stats());  // INFO stats

  // The node stops answering, its breaker opens; back in service it is emptied first (FLUSHDB).
  server->pause();
  EXPECT_EQ(run_sync(tier.get_or_lease("other")).kind, Kind::unavailable);
  server->resume();
  EXPECT_TRUE(eventually(
      [&] {
        run_sync(tier.get_or_lease("k"));
        return tier.ring_stats().flushes == 1;
      },
      5s, 10ms));
  EXPECT_EQ(faults.first(), "");

  expect_refused(*server, login("service"), kNeverSent);
  EXPECT_TRUE(refused(reply_as(*server, login("service"), {"SET", "not-a-cache-key", "x"})));
  EXPECT_EQ(reply_as(*server, login("monitor"), {"DBSIZE"}), "1");  // k's lease
  EXPECT_NE(reply_as(*server, login("monitor"), {"INFO", "memory"}).find("allkeys-lru"),
            std::string::npos);
  expect_refused(*server, login("monitor"), kNeverSent);
  expect_refused(*server, login("monitor"), {{"GET", "c:k"}, {"DEL", "l:k"}});
}

TEST(ShippedRedisAcl, ASessionNodeServesTheSessionsAndTheSketchAndNothingMore) {
  const auto server = node("redis.conf");
  Faults faults;
  redis::ConnectionOptions o;
  o.address = server->address();
  o.timeout = 2s;
  o.auth = service();
  o.faults = &faults;
  auto client = std::make_shared<redis::Client>(o);
  sessions::RedisSessionStore store(client, sessions::RedisSessionOptions{});
  EXPECT_TRUE(run_sync(store.ping()).ok());
  ASSERT_TRUE(run_sync(store.create("s1", sessions::SessionData{42, "user"}, 60s)).ok());
  ASSERT_TRUE(run_sync(store.create("s2", sessions::SessionData{42, "user"}, 60s)).ok());
  const auto touched = run_sync(store.touch("s1", 60s));
  ASSERT_TRUE(touched.ok()) << touched.error().message;
  EXPECT_EQ(touched->user_id, 42);
  const auto hit = run_sync(store.hit("login:42", 60s));
  ASSERT_TRUE(hit.ok()) << hit.error().message;
  EXPECT_TRUE(run_sync(store.revoke("s1")).ok());
  EXPECT_TRUE(run_sync(store.revoke_user(42)).ok());
  EXPECT_FALSE(run_sync(store.touch("s2", 60s)).ok());

  kpi::RedisActiveUserSketch sketch(client, kpi::RedisSketchOptions{});
  ASSERT_TRUE(run_sync(sketch.add(20'000, {1, 2, 3})).ok());
  const auto count = run_sync(sketch.count(20'000, 20'000));
  ASSERT_TRUE(count.ok()) << count.error().message;
  EXPECT_EQ(*count, 3);
  EXPECT_EQ(faults.first(), "");

  expect_refused(*server, login("service"), kNeverSent);
  expect_refused(*server, login("service"), {{"FLUSHDB"}, {"GET", "elsewhere"}});
  expect_refused(*server, login("replica"), {{"GET", "ztm:kpi:x"}, {"FLUSHALL"}, {"INFO"}});
  expect_refused(*server, login("sentinel"), {{"GET", "ztm:kpi:x"}, {"FLUSHALL"}, {"KEYS", "*"}});
}

// A replica follows its primary as the replica user; a Sentinel watches both as the sentinel
// user; the service finds the primary through the Sentinel and may ask it nothing else.
TEST(ShippedRedisAcl, ReplicationAndSentinelWorkWithTheirOwnUsers) {
  const auto primary = node("redis.conf");
  const auto replica = node("redis.conf", "replicaof 127.0.0.1 " + std::to_string(primary->port()));
  EXPECT_TRUE(eventually(
      [&] {
        return replica->command({"INFO", "replication"}).find("master_link_status:up") !=
               std::string::npos;
      },
      10s, 20ms));
  auto vars = users();
  vars["master_name"] = "ztm-sessions";
  vars["primary_address"] = "127.0.0.1";
  vars["redis_port"] = std::to_string(primary->port());
  vars["quorum"] = "1";
  const auto sentinel =
      RedisInstance::from_template(deployed("sentinel.conf"), vars, login("monitor"), true);
  // The Sentinel logged in to the primary and learned the replica from it (INFO).
  EXPECT_TRUE(eventually(
      [&] {
        const std::string master = sentinel->command({"SENTINEL", "MASTER", "ztm-sessions"});
        return master.find("num-slaves\n1\n") != std::string::npos &&
               master.find("disconnected") == std::string::npos;
      },
      10s, 50ms));

  redis::SentinelOptions o{.sentinels = {sentinel->address()}, .master_name = "ztm-sessions"};
  o.connection.timeout = 2s;
  o.connection.auth = service();
  o.sentinel_auth = service();
  redis::SentinelClient client(o);
  std::vector<std::string> set{"SET", "ztm:k", "v"};
  const auto reply = run_sync(client.command(std::move(set)));
  ASSERT_TRUE(reply.ok()) << reply.error().message;
  EXPECT_EQ(client.master(), primary->address());

  expect_refused(*sentinel, login("service"),
                 {{"SENTINEL", "SET", "ztm-sessions", "quorum", "2"},
                  {"SENTINEL", "FAILOVER", "ztm-sessions"},
                  {"SENTINEL", "RESET", "*"},
                  {"SENTINEL", "MASTERS"},
                  {"SHUTDOWN"},
                  {"ACL", "LIST"}});
  expect_refused(*sentinel, login("sentinel"), {{"SENTINEL", "FAILOVER", "ztm-sessions"}});
}

}  // namespace
}  // namespace ztm::test
