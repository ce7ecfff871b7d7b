#include "app/users.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <chrono>
#include <functional>

#include "app/user_json.h"
#include "cache/local/local_cache.h"
#include "core/manual_clock.h"
#include "core/run_sync.h"
#include "tests/support/eventually_async.h"
#include "tests/support/fake_shared_cache.h"
#include "tests/support/memory_store.h"

namespace ztm::app {

using cache::LocalCache;
using cache::LocalCacheOptions;
using cache::SharedLookup;
using storage::Consistency;
using storage::Store;
using storage::StoredUser;
using storage::User;

namespace {

// Runs `before_get` once, inside the next get_user, after the store has read the row: a write
// that lands while a read is in flight, to provoke a stale cache fill.
class RacingStore : public test::MemoryStore {
 public:
  using Store::create_user;
  using Store::get_user;
  using Store::list_users;
  std::function<void()> before_return;
  boost::asio::awaitable<Result<StoredUser>> get_user(UserId id, Consistency c) override {
    auto r = co_await MemoryStore::get_user(id, std::move(c));
    if (auto hook = std::exchange(before_return, nullptr)) hook();
    co_return r;
  }
};

User john() {
  return User{12, "John", "Smith", {"21 2nd Street", "New York", "NY", 10021}, {"212 555-1234"}};
}

class UserServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(run_sync(store.create_user(john()))); }

  RacingStore store;
  LocalCache cache{LocalCacheOptions{}};
  ManualClock clock;
  IdGenerator ids{1, clock};
  UserService users{store, store, &cache, ids};
};

TEST_F(UserServiceTest, GetReadsThroughTheCache) {
  auto first = run_sync(users.get(12));
  ASSERT_TRUE(first);
  EXPECT_EQ((*first)->version, 1);
  EXPECT_EQ((*first)->data, serialize_user_document(john(), {}));
  const int reads = store.reads();
  auto second = run_sync(users.get(12));
  ASSERT_TRUE(second);
  EXPECT_EQ(store.reads(), reads);  // served from the cache
  EXPECT_EQ((*second)->data, (*first)->data);
}

// The counts are cached with the document: a change of them is seen once whoever changed them
// invalidated the document (FollowService, the outbox relay), never by reading them per request.
TEST_F(UserServiceTest, TheCachedDocumentKeepsItsCountsUntilInvalidated) {
  ASSERT_TRUE(run_sync(users.get(12)));  // cached now
  ASSERT_TRUE(*run_sync(store.follow(12, 13, "John Smith", "Someone")));
  const auto stale = run_sync(users.get(12));
  ASSERT_TRUE(stale);
  EXPECT_EQ((*stale)->data, serialize_user_document(john(), {}));
  const int reads = store.reads();
  run_sync(users.invalidate(12));
  const auto fresh = run_sync(users.get(12));
  ASSERT_TRUE(fresh);
  EXPECT_EQ((*fresh)->data, serialize_user_document(john(), {.followers = 0, .following = 1}));
  EXPECT_EQ((*fresh)->version, 1);  // the same version: the ETag must cover the bytes
  EXPECT_EQ(store.reads(), reads + 1);
}

TEST_F(UserServiceTest, AReadWithAPositionBypassesTheCache) {
  ASSERT_TRUE(run_sync(users.get(12)));  // cached now
  const int reads = store.reads();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(run_sync(users.get(12, Consistency{"0/16B3748"})));
  EXPECT_EQ(store.reads(), reads + 3);  // every one from the store
  ASSERT_TRUE(run_sync(users.get(12)));
  EXPECT_EQ(store.reads(), reads + 3);  // and the cached entry is still used without one
}

TEST_F(UserServiceTest, CreateWithAnIdempotencyKeyReturnsTheFirstUserOnARepeat) {
  auto first = run_sync(users.create(john(), std::string("k")));
  ASSERT_TRUE(first);
  auto again = run_sync(users.create(john(), std::string("k")));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->user.id, first->user.id);
  EXPECT_EQ(run_sync(store.count_users()).value(), 2);  // john from SetUp, and this one
}

TEST_F(UserServiceTest, WritesInvalidateSoReadsSeeThem) {
  ASSERT_TRUE(run_sync(users.get(12)));
  User changed = john();
  changed.first_name = "Johnny";
  ASSERT_TRUE(run_sync(users.replace(changed, {})));
  auto after = run_sync(users.get(12));
  ASSERT_TRUE(after);
  EXPECT_EQ((*after)->version, 2);
  EXPECT_NE((*after)->data.find("Johnny"), std::string::npos);

  ASSERT_TRUE(run_sync(users.patch(12, boost::json::parse(R"({"lastName":"Smythe"})"), {})));
  EXPECT_NE((*run_sync(users.get(12)))->data.find("Smythe"), std::string::npos);

  ASSERT_TRUE(run_sync(users.remove(12, {})));
  auto gone = run_sync(users.get(12));
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, Errc::not_found);
}

TEST_F(UserServiceTest, AWriteDuringASlowReadNeverLeavesTheOldValueCached) {
  User changed = john();
  changed.first_name = "Racer";
  store.before_return = [&] { ASSERT_TRUE(run_sync(users.replace(changed, {}))); };
  auto stale_read = run_sync(users.get(12));  // read version 1, then the write committed
  ASSERT_TRUE(stale_read);
  EXPECT_EQ((*stale_read)->version, 1);
  auto next = run_sync(users.get(12));
  ASSERT_TRUE(next);
  EXPECT_EQ((*next)->version, 2) << "the in-flight read filled the cache with a stale value";
  EXPECT_EQ(cache.stats().stale_sets_refused, 1u);
}

TEST_F(UserServiceTest, IfMatchIsCompareAndSet) {
  Precondition wrong{false, {7}};
  auto r = run_sync(users.replace(john(), wrong));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::precondition_failed);
  EXPECT_EQ((*run_sync(store.get_user(12))).version, 1);

  Precondition list{false, {5, 1}};
  auto ok = run_sync(users.replace(john(), list));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->version, 2);

  Precondition any{true, {}};
  EXPECT_TRUE(run_sync(users.remove(12, any)));
  auto missing = run_sync(users.remove(12, any));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
}

TEST_F(UserServiceTest, PatchValidatesTheMergedDocument) {
  auto r = run_sync(users.patch(12, boost::json::parse(R"({"firstName":null})"), {}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_EQ(r.error().message, "firstName: is required");
  auto id = run_sync(users.patch(12, boost::json::parse(R"({"id":13})"), {}));
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().code, Errc::invalid_argument);
  auto stale = run_sync(
      users.patch(12, boost::json::parse(R"({"firstName":"X"})"), Precondition{false, {9}}));
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, Errc::precondition_failed);
  auto phones = run_sync(
      users.patch(12, boost::json::parse(R"({"phoneNumbers":[]})"), Precondition{false, {1}}));
  ASSERT_TRUE(phones);
  EXPECT_TRUE(phones->user.phone_numbers.empty());
  EXPECT_EQ(phones->user.address, john().address);
}

TEST_F(UserServiceTest, CreateAssignsFreshIds) {
  auto a = run_sync(users.create(john()));
  auto b = run_sync(users.create(john()));
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->user.id, 12);
  EXPECT_NE(a->user.id, b->user.id);
  EXPECT_EQ(IdGenerator::decode(a->user.id).node, 1);
}

TEST_F(UserServiceTest, StoreFailuresPropagateAndAreNotCached) {
  store.fail_with(Errc::unavailable);
  auto r = run_sync(users.get(12));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unavailable);
  store.fail_with(std::nullopt);
  EXPECT_TRUE(run_sync(users.get(12)));
}

// A store whose reads read the row, then wait (polling every ms, at most 10 s) until `open`:
// reads stay in flight while the test lines up more readers or a write.
class GatedStore : public test::MemoryStore {
 public:
  using Store::get_user;
  std::atomic<bool> open{false};
  boost::asio::awaitable<Result<StoredUser>> get_user(UserId id, Consistency c) override {
    auto row = co_await MemoryStore::get_user(id, std::move(c));
    co_await test::eventually_async([this] { return open.load(); });
    co_return row;
  }
};

class UserServiceHerdTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(run_sync(store.create_user(john()))); }
  // Runs body() as a coroutine on io (one thread: spawned coroutines start in spawn order, each
  // running until it first waits).
  template <class Body>
  void spawn(Body body) {
    boost::asio::co_spawn(io, std::move(body), boost::asio::detached);
  }

  GatedStore store;
  LocalCache cache{LocalCacheOptions{}};
  IdGenerator ids{1};
  UserService users{store, store, &cache, ids};
  boost::asio::io_context io;
};

TEST_F(UserServiceHerdTest, ConcurrentMissesOfOneKeyReadTheStoreOnce) {
  const int before = store.reads();
  int ok = 0, started = 0;
  for (int i = 0; i < 500; ++i) {
    spawn([&]() -> boost::asio::awaitable<void> {
      ++started;
      auto r = co_await users.get(12);
      ok += r && (*r)->version == 1;
    });
  }
  spawn([&]() -> boost::asio::awaitable<void> {
    EXPECT_EQ(started, 500);  // every reader waits: the first in the store, the rest for it
    store.open = true;
    co_return;
  });
  io.run();
  EXPECT_EQ(ok, 500);
  EXPECT_EQ(store.reads() - before, 1);
  EXPECT_EQ(users.coalesced_reads(), 499u);
}

TEST_F(UserServiceHerdTest, AReadThatStartsAfterAWriteDoesNotGetTheLoadFromBeforeIt) {
  User changed = john();
  changed.first_name = "Changed";
  std::int64_t early = 0, late = 0;
  bool written = false;
  spawn([&]() -> boost::asio::awaitable<void> {  // reads version 1, stays in flight
    auto r = co_await users.get(12);
    early = r ? (*r)->version : -1;
  });
  spawn([&]() -> boost::asio::awaitable<void> {  // commits version 2 meanwhile
    written = static_cast<bool>(co_await users.replace(changed, {}));
  });
  spawn([&]() -> boost::asio::awaitable<void> {  // then reads
    co_await test::eventually_async([&] { return written; });
    auto r = co_await users.get(12);
    late = r ? (*r)->version : -1;
  });
  spawn([&]() -> boost::asio::awaitable<void> {
    co_await test::eventually_async([&] { return store.reads() == 2; });  // both reads in flight
    store.open = true;
  });
  io.run();
  ASSERT_TRUE(written);
  EXPECT_EQ(early, 1) << "concurrent with the write: either version is right";
  EXPECT_EQ(late, 2) << "joined the load from before the write";
  EXPECT_EQ(users.coalesced_reads(), 0u);
  auto cached = run_sync(users.get(12));  // and the early read's fill was refused
  ASSERT_TRUE(cached);
  EXPECT_EQ((*cached)->version, 2);
}

// Two web servers: each its own L1, both on one L2 and one store.
class TwoLayerTest : public UserServiceTest {
 protected:
  LocalCacheOptions short_ttl() const {
    return {.ttl = std::chrono::milliseconds(1000), .clock = &clock};
  }
  test::FakeSharedCache l2;
  LocalCache l1_a{short_ttl()};
  LocalCache l1_b{short_ttl()};
  UserService a{store, store, &l1_a, &l2, ids};
  UserService b{store, store, &l1_b, &l2, ids};
};

TEST_F(TwoLayerTest, AMissFillsL2AndL1SoTheOtherServerReadsL2NotTheStore) {
  const int reads = store.reads();
  ASSERT_TRUE(run_sync(a.get(12)));
  EXPECT_EQ(store.reads(), reads + 1);
  EXPECT_EQ(l2.log, std::vector<std::string>{"fill user:12"});
  auto from_b = run_sync(b.get(12));  // b's L1 is cold: L2 serves it
  ASSERT_TRUE(from_b);
  EXPECT_EQ((*from_b)->version, 1);
  EXPECT_EQ(store.reads(), reads + 1);
  EXPECT_EQ(l1_b.stats().inserts, 1u);  // filled back into b's L1
  ASSERT_TRUE(run_sync(b.get(12)));
  EXPECT_EQ(l1_b.stats().hits, 1u);
  EXPECT_EQ(l2.accesses, 3);  // every read is counted for hot-key detection, L1 hits included
}

TEST_F(TwoLayerTest, AWriteDeletesInL2AndL1AndASlowReadersFillIsRefused) {
  User changed = john();
  changed.first_name = "Racer";
  // a reads version 1 under its L2 lease; b's write commits and deletes before a fills.
  store.before_return = [&] { ASSERT_TRUE(run_sync(b.replace(changed, {}))); };
  auto stale_read = run_sync(a.get(12));
  ASSERT_TRUE(stale_read);
  EXPECT_EQ((*stale_read)->version, 1);
  EXPECT_EQ(l2.log, (std::vector<std::string>{"erase user:12", "refused user:12"}));
  auto at_b = run_sync(b.get(12));  // the writer's server, and L2, have the new version at once
  ASSERT_TRUE(at_b);
  EXPECT_EQ((*at_b)->version, 2) << "a stale value was cached";
  // a's own L1 took the old value (its L1 lease predates nothing a's process erased): another
  // server's L1 is stale for at most its TTL (+10% jitter), never longer.
  clock.advance(std::chrono::milliseconds(1100));
  auto at_a = run_sync(a.get(12));
  ASSERT_TRUE(at_a);
  EXPECT_EQ((*at_a)->version, 2) << "L1 stale beyond its TTL";
}

TEST_F(TwoLayerTest, AnUnavailableOrBusyL2FallsBackToTheStoreWithoutFilling) {
  for (auto mode : {SharedLookup::Kind::unavailable, SharedLookup::Kind::busy}) {
    l2.mode = mode;
    const int reads = store.reads();
    auto r = run_sync(b.get(12));
    ASSERT_TRUE(r);
    EXPECT_EQ((*r)->version, 1);
    EXPECT_EQ(store.reads(), reads + 1);
    l1_b.erase("user:12");
  }
  EXPECT_TRUE(l2.log.empty());
}

TEST_F(TwoLayerTest, AFailedStoreReadGivesTheLeaseBack) {
  store.fail_with(Errc::unavailable);
  auto r = run_sync(a.get(12));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unavailable);
  EXPECT_EQ(l2.log, std::vector<std::string>{"release user:12"});
  store.fail_with(std::nullopt);
  ASSERT_TRUE(run_sync(b.get(12)));  // not busy: the lease is gone
  EXPECT_EQ(l2.log.back(), "fill user:12");
}

TEST_F(TwoLayerTest, WorksWithL2AloneAndDeletesOnRemove) {
  UserService l2_only(store, store, nullptr, &l2, ids);
  ASSERT_TRUE(run_sync(l2_only.get(12)));
  ASSERT_TRUE(run_sync(l2_only.remove(12, {})));
  auto gone = run_sync(l2_only.get(12));
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, Errc::not_found);
  EXPECT_EQ(l2.log, (std::vector<std::string>{"fill user:12", "erase user:12", "release user:12"}));
}

}  // namespace
}  // namespace ztm::app
