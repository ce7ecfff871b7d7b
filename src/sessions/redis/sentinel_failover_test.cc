// The session store over Sentinel: a primary, a replica and three sentinels (real processes);
// the primary is killed (SIGKILL) and the store must follow the promoted replica by itself.

#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <sstream>

#include "redis/sentinel_client.h"
#include "sessions/redis/redis_session_store.h"
#include "tests/sessions/event_loops.h"
#include "tests/support/eventually.h"
#include "tests/support/redis_instance.h"

namespace ztm::test {

using sessions::RedisSessionOptions;
using sessions::RedisSessionStore;
using sessions::SessionData;

namespace {

constexpr const char* kMaster = "ztm-test";

// SENTINEL MASTER's flat field/value list as a map.
std::map<std::string, std::string> fields(const std::string& lines) {
  std::map<std::string, std::string> out;
  std::istringstream in(lines);
  std::string key, value;
  while (std::getline(in, key) && std::getline(in, value)) out[key] = value;
  return out;
}

// Sentinels can fail over only once each knows the replica and the two other sentinels.
bool sentinels_ready(const std::vector<std::string>& addresses) {
  for (const auto& a : addresses) {
    const int port = std::stoi(a.substr(a.rfind(':') + 1));
    auto f = fields(redis_command(port, {"SENTINEL", "MASTER", kMaster}));
    if (f["num-slaves"] != "1" || f["num-other-sentinels"] != "2") return false;
  }
  return true;
}

std::shared_ptr<redis::SentinelClient> client_for(const SentinelGroup& sentinels) {
  redis::SentinelOptions o;
  o.sentinels = sentinels.addresses();
  o.master_name = kMaster;
  o.connection.timeout = 500ms;
  o.connection.backoff_min = 20ms;
  o.connection.backoff_max = 200ms;
  o.check_interval = 1s;
  return std::make_shared<redis::SentinelClient>(o);
}

TEST(SentinelClient, FindsTheMasterAndChecksItsRole) {
  RedisInstance primary;
  auto replica = RedisInstance::replica_of(primary);
  SentinelGroup sentinels(primary, kMaster, 1);
  auto client = client_for(sentinels);
  RedisSessionStore store(client, RedisSessionOptions{});
  EventLoops loops(2);
  ASSERT_EQ(outcome(loops.run(store.create("k", SessionData{1, "user"}, 60s))), "ok");
  EXPECT_EQ(client->master(), primary.address());
  EXPECT_EQ(primary.command({"GET", "ztm:s:k"}), "1:user");
}

TEST(SentinelClient, NoSentinelAnsweringIsUnavailable) {
  redis::SentinelOptions o;
  o.sentinels = {"127.0.0.1:1"};
  o.master_name = kMaster;
  RedisSessionStore store(std::make_shared<redis::SentinelClient>(o), RedisSessionOptions{});
  EventLoops loops(1);
  EXPECT_EQ(errc(loops.run(store.ping())), "unavailable");
}

TEST(SentinelFailover, TheStoreFollowsThePromotedReplicaAndKeepsEveryAcknowledgedSession) {
  RedisInstance primary;
  auto replica = RedisInstance::replica_of(primary);
  SentinelGroup sentinels(primary, kMaster, 3);
  ASSERT_TRUE(eventually([&] { return sentinels_ready(sentinels.addresses()); }, 20s, 50ms))
      << "the sentinels did not discover the replica and each other";
  auto client = client_for(sentinels);
  RedisSessionStore store(client, RedisSessionOptions{});
  EventLoops loops(2);

  constexpr int kSessions = 100;
  for (int i = 0; i < kSessions; ++i)
    ASSERT_EQ(
        outcome(loops.run(store.create("s" + std::to_string(i), SessionData{i % 7, "user"}, 600s))),
        "ok");
  ASSERT_EQ(client->master(), primary.address());
  // Acknowledged by the replica too, before the primary dies.
  ASSERT_EQ(primary.command({"WAIT", "1", "5000"}), "1");

  primary.kill();
  const auto killed = std::chrono::steady_clock::now();
  // Traffic during the switch: every call returns promptly, and fails only with unavailable.
  std::map<std::string, int> outcomes;
  std::chrono::steady_clock::duration slowest{};
  bool switched = false;
  int i = 0;
  while (std::chrono::steady_clock::now() - killed < 15s) {
    const auto start = std::chrono::steady_clock::now();
    const auto r = loops.run(store.touch("s" + std::to_string(i++ % kSessions), 600s));
    slowest = std::max(slowest, std::chrono::steady_clock::now() - start);
    ++outcomes[errc(r)];
    if (!r.ok()) {
      EXPECT_EQ(errc(r), "unavailable") << r.error().message;
    }
    if (r.ok() && client->master() == replica->address()) {
      switched = true;
      break;
    }
    std::this_thread::sleep_for(20ms);  // pacing, not waiting
  }
  const auto took = std::chrono::steady_clock::now() - killed;
  ASSERT_TRUE(switched) << "the store did not follow within 15 s; unavailable calls: "
                        << outcomes["unavailable"];
  EXPECT_LT(slowest, 3s) << "a call took too long during the switch";
  EXPECT_GT(outcomes["unavailable"], 0);  // the switch was observed, not skipped
  // Sentinel promoted the replica (the sentinels that did not lead learn it a moment later).
  EXPECT_EQ(replica->command({"ROLE"}).substr(0, 6), "master");
  EXPECT_TRUE(eventually([&] { return sentinels.master(0) == replica->address(); }, 10s, 20ms));
  EXPECT_EQ(client->master_switches(), 1u);
  std::cout << "followed the failover in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms, "
            << outcomes["unavailable"] << " calls unavailable meanwhile\n";

  // Every session acknowledged before the kill is still there, on the new master.
  for (int k = 0; k < kSessions; ++k) {
    const auto got = loops.run(store.touch("s" + std::to_string(k), 600s));
    ASSERT_EQ(outcome(got), "ok") << k;
    EXPECT_EQ(got->user_id, k % 7);
  }
  // And it takes writes.
  EXPECT_EQ(outcome(loops.run(store.create("after", SessionData{1, "user"}, 60s))), "ok");
  EXPECT_EQ(outcome(loops.run(store.revoke_user(3))), "ok");
  EXPECT_EQ(errc(loops.run(store.touch("s3", 600s))), "not_found");
}

// A switch nobody failed on (a manual failover: the old master lives on as a replica) is noticed
// by a -READONLY reply or by the periodic check, and followed without an error other than
// unavailable.
TEST(SentinelFailover, FollowsAManualFailoverOfAHealthyMaster) {
  RedisInstance primary;
  auto replica = RedisInstance::replica_of(primary);
  SentinelGroup sentinels(primary, kMaster, 3);
  ASSERT_TRUE(eventually([&] { return sentinels_ready(sentinels.addresses()); }, 20s, 50ms));
  auto client = client_for(sentinels);
  RedisSessionStore store(client, RedisSessionOptions{});
  EventLoops loops(2);
  ASSERT_EQ(outcome(loops.run(store.create("k", SessionData{1, "user"}, 600s))), "ok");
  ASSERT_EQ(primary.command({"WAIT", "1", "5000"}), "1");
  const int port = std::stoi(sentinels.addresses()[0].substr(10));
  ASSERT_EQ(redis_command(port, {"SENTINEL", "FAILOVER", kMaster}), "OK");
  std::map<std::string, int> outcomes;
  int n = 0;
  const bool followed = eventually(
      [&] {
        const auto r =
            loops.run(store.create("m" + std::to_string(n++), SessionData{1, "user"}, 60s));
        ++outcomes[errc(r)];
        return r.ok() && client->master() == replica->address();
      },
      15s, 20ms);
  ASSERT_TRUE(followed);
  EXPECT_EQ(outcomes["conflict"] + outcomes["internal"] + outcomes["not_found"], 0);
  EXPECT_EQ(outcome(loops.run(store.touch("k", 600s))), "ok");
}

}  // namespace
}  // namespace ztm::test
