// RedisSessionStore over a real redis-server: the conformance suite, plus the key layout.

#include "sessions/redis/redis_session_store.h"

#include <gtest/gtest.h>

#include "tests/sessions/session_store_conformance.h"
#include "tests/support/redis_instance.h"

namespace ztm::test {

using sessions::RedisSessionOptions;
using sessions::RedisSessionStore;
using sessions::SessionData;
using sessions::SessionStore;

namespace {

// One server for the binary; every store gets a prefix of its own, so each starts empty.
RedisInstance& server() {
  static RedisInstance instance;
  return instance;
}

std::unique_ptr<RedisSessionStore> store_with_prefix(const std::string& prefix) {
  redis::ConnectionOptions o;
  o.address = server().address();
  o.timeout = 2s;
  return std::make_unique<RedisSessionStore>(std::make_shared<redis::Client>(o),
                                             RedisSessionOptions{.prefix = prefix});
}

// Expiry and rate windows are Redis's own (PX, PEXPIRE): the suite waits for them in real time.
struct RedisFactory {
  static constexpr bool kUsesClock = false;
  static std::unique_ptr<SessionStore> make(const Clock& /*ignored*/) {
    const std::string n = server().command({"INCR", "test:stores"});
    return store_with_prefix("t" + n + ":");
  }
};

INSTANTIATE_TYPED_TEST_SUITE_P(Redis, SessionStoreConformance, ::testing::Types<RedisFactory>);

// The layout docs/sessions.md describes, which operators read with redis-cli.
TEST(RedisSessionStore, KeysFollowTheDocumentedLayout) {
  auto store = store_with_prefix("layout:");
  EventLoops loops(1);
  ASSERT_TRUE(loops.run(store->create("abc", SessionData{42, "admin"}, 60s)).ok());
  ASSERT_TRUE(loops.run(store->hit("login:42", 60s)).ok());
  EXPECT_EQ(server().command({"GET", "layout:s:abc"}), "42:admin");
  EXPECT_EQ(server().command({"SMEMBERS", "layout:u:42"}), "abc");
  EXPECT_EQ(server().command({"HGET", "layout:rw:login:42", "h"}), "1");
  EXPECT_EQ(server().command({"HGET", "layout:rw:login:42", "p"}), "0");
  const auto ttl = std::stoll(server().command({"PTTL", "layout:s:abc"}));
  EXPECT_GT(ttl, 50'000);
  EXPECT_LE(ttl, 60'000);
  // Kept until the window after this one ends: its hits weigh on that one.
  const auto kept = std::stoll(server().command({"PTTL", "layout:rw:login:42"}));
  EXPECT_GT(kept, 60'000);
  EXPECT_LE(kept, 120'000);
}

// A server that is down: calls fail with unavailable, promptly.
TEST(RedisSessionStore, AnUnreachableServerIsUnavailable) {
  redis::ConnectionOptions o;
  o.address = "127.0.0.1:1";  // nothing listens on port 1
  RedisSessionStore store(std::make_shared<redis::Client>(o), RedisSessionOptions{});
  EventLoops loops(1);
  EXPECT_EQ(errc(loops.run(store.touch("k", 60s))), "unavailable");
  EXPECT_EQ(errc(loops.run(store.ping())), "unavailable");
}

}  // namespace
}  // namespace ztm::test
