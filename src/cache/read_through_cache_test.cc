#include "cache/read_through_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cache/local/local_cache.h"
#include "core/run_sync.h"
#include "tests/support/eventually_async.h"
#include "tests/support/fake_shared_cache.h"

namespace ztm::cache {
namespace {

namespace asio = boost::asio;
using test::eventually_async;

constexpr std::string_view kKey = "user:1";

// The source of truth: one value whose version a "write" bumps. Loads count, and may be held in
// flight (`gated`) until the test opens them, so what overlaps is decided by the test.
struct Source {
  std::atomic<std::int64_t> version{1};
  std::atomic<int> loads{0};
  std::atomic<bool> gated{false};
  std::atomic<bool> open{false};
  std::optional<Error> failure;

  ReadThroughCache::Loader loader() {
    return [this] { return load(); };
  }
  asio::awaitable<Result<CachedPtr>> load() {
    const std::int64_t v = version.load();  // read before waiting: a slow reader's old row
    loads.fetch_add(1);
    if (gated) co_await eventually_async([this] { return open.load(); });
    if (failure) co_return *failure;
    co_return std::make_shared<const CachedValue>(CachedValue{"v" + std::to_string(v), v});
  }
};

std::int64_t version_of(const Result<CachedPtr>& r) {
  return r ? (*r)->version : -1;
}

class ReadThroughCacheTest : public ::testing::Test {
 protected:
  Result<CachedPtr> get(ReadThroughCache& c) { return run_sync(c.get(kKey, source.loader())); }
  // Runs body() as a coroutine on io (one thread: spawned coroutines start in spawn order, each
  // running until it first waits).
  template <class Body>
  void spawn(Body body) {
    asio::co_spawn(io, std::move(body), asio::detached);
  }

  Source source;
  LocalCache l1{LocalCacheOptions{}};
  test::FakeSharedCache l2;
  ReadThroughCache cache{&l1, &l2};
  asio::io_context io;
};

TEST_F(ReadThroughCacheTest, AHitInL1DoesNotLoad) {
  ASSERT_EQ(version_of(get(cache)), 1);
  ASSERT_EQ(source.loads, 1);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(version_of(get(cache)), 1);
  EXPECT_EQ(source.loads, 1);
  EXPECT_EQ(l1.stats().hits, 3u);
  EXPECT_EQ(l2.accesses, 4) << "every read counts for hot-key detection, L1 hits included";
}

// hit() then miss() is get() in two steps (the cached read of a user uses it, issue 12): a hit
// is L1's alone, counted once for hot keys; a miss loads once and fills both layers.
TEST_F(ReadThroughCacheTest, HitThenMissIsGetInTwoSteps) {
  EXPECT_EQ(cache.hit(kKey), nullptr);
  EXPECT_EQ(l2.accesses, 1);
  EXPECT_EQ(version_of(run_sync(cache.miss(kKey, source.loader()))), 1);
  EXPECT_EQ(l2.accesses, 1) << "miss() does not count the access hit() counted";
  EXPECT_EQ(source.loads, 1);
  EXPECT_EQ(l2.log, std::vector<std::string>{"fill user:1"});
  const CachedPtr hit = cache.hit(kKey);
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->version, 1);
  EXPECT_EQ(source.loads, 1);
  EXPECT_EQ(l2.accesses, 2);
  ReadThroughCache l2_only{nullptr, &l2};
  EXPECT_EQ(l2_only.hit(kKey), nullptr) << "without L1, every read goes on to miss()";
  EXPECT_EQ(l2.accesses, 3);
}

TEST_F(ReadThroughCacheTest, AMissFillsL2AndL1) {
  ASSERT_EQ(version_of(get(cache)), 1);
  EXPECT_EQ(l2.log, std::vector<std::string>{"fill user:1"});
  EXPECT_EQ(l1.stats().inserts, 1u);
  // Another process (its own L1) reads the value from L2, not from the source.
  LocalCache other_l1{LocalCacheOptions{}};
  ReadThroughCache other{&other_l1, &l2};
  ASSERT_EQ(version_of(get(other)), 1);
  EXPECT_EQ(source.loads, 1);
  EXPECT_EQ(other_l1.stats().inserts, 1u) << "filled back into its L1";
}

TEST_F(ReadThroughCacheTest, WithoutAnyLayerEveryReadLoads) {
  ReadThroughCache off{nullptr, nullptr};
  for (int i = 0; i < 3; ++i) ASSERT_EQ(version_of(get(off)), 1);
  EXPECT_EQ(source.loads, 3);
}

TEST_F(ReadThroughCacheTest, ConcurrentMissesShareOneLoad) {
  source.gated = true;
  int ok = 0, started = 0;
  for (int i = 0; i < 100; ++i) {
    spawn([&]() -> asio::awaitable<void> {
      ++started;
      auto read = cache.get(kKey, source.loader());
      ok += version_of(co_await std::move(read)) == 1;
    });
  }
  spawn([&]() -> asio::awaitable<void> {
    EXPECT_EQ(started, 100);  // every reader waits: the first in the loader, the rest for it
    source.open = true;
    co_return;
  });
  io.run();
  EXPECT_EQ(ok, 100);
  EXPECT_EQ(source.loads, 1);
  EXPECT_EQ(cache.coalesced_reads(), 99u);
}

TEST_F(ReadThroughCacheTest, AnInvalidateDuringALoadRefusesTheStaleFill) {
  source.gated = true;
  std::int64_t slow = 0;
  spawn([&]() -> asio::awaitable<void> {  // reads version 1, stays in flight
    auto read = cache.get(kKey, source.loader());
    slow = version_of(co_await std::move(read));
  });
  spawn([&]() -> asio::awaitable<void> {  // the write: commits version 2, then invalidates
    co_await eventually_async([&] { return source.loads == 1; });
    source.version = 2;
    auto erase = cache.invalidate(kKey);
    co_await std::move(erase);
    source.open = true;
  });
  io.run();
  EXPECT_EQ(slow, 1) << "concurrent with the write: either version is right";
  EXPECT_EQ(l2.log, (std::vector<std::string>{"erase user:1", "refused user:1"}));
  EXPECT_EQ(l1.stats().stale_sets_refused, 1u);
  EXPECT_EQ(version_of(get(cache)), 2) << "a stale value was cached";
  EXPECT_EQ(source.loads, 2);
}

TEST_F(ReadThroughCacheTest, AnUnavailableOrBusyL2FallsBackToTheLoaderWithoutFilling) {
  for (auto mode : {SharedLookup::Kind::unavailable, SharedLookup::Kind::busy}) {
    l2.mode = mode;
    const int loads = source.loads;
    ASSERT_EQ(version_of(get(cache)), 1);
    EXPECT_EQ(source.loads, loads + 1);
    EXPECT_EQ(l1.stats().inserts, mode == SharedLookup::Kind::unavailable ? 1u : 2u)
        << "L1 is still filled";
    l1.erase(kKey);
  }
  EXPECT_TRUE(l2.log.empty());
  ReadThroughCache l2_only{nullptr, &l2};
  EXPECT_EQ(version_of(get(l2_only)), 1);
}

TEST_F(ReadThroughCacheTest, AFailedLoadReturnsItsErrorGivesTheLeaseBackAndCachesNothing) {
  source.failure = Error{Errc::not_found, "no such user"};
  auto r = get(cache);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::not_found);
  EXPECT_EQ(l2.log, std::vector<std::string>{"release user:1"});
  EXPECT_EQ(l1.stats().inserts, 0u);
  source.failure.reset();
  ASSERT_EQ(version_of(get(cache)), 1);  // not busy: the lease is gone
  EXPECT_EQ(l2.log.back(), "fill user:1");
}

TEST_F(ReadThroughCacheTest, InvalidateDeletesInL2ThenL1) {
  ASSERT_EQ(version_of(get(cache)), 1);
  source.version = 2;
  run_sync(cache.invalidate(kKey));
  EXPECT_EQ(l2.log.back(), "erase user:1");
  EXPECT_EQ(l1.get(kKey), nullptr);
  EXPECT_EQ(version_of(get(cache)), 2);
}

// An L2 whose lookups and erases can be held in flight, to line up a read against a write.
class GatedSharedCache : public test::FakeSharedCache {
 public:
  std::atomic<bool> lookups_open{true}, erases_open{true};
  std::atomic<int> lookups{0}, erases{0};
  asio::awaitable<SharedLookup> get_or_lease(std::string_view key) override {
    auto lookup = FakeSharedCache::get_or_lease(key);
    SharedLookup r = co_await std::move(lookup);  // what the node had when asked
    lookups.fetch_add(1);
    co_await eventually_async([this] { return lookups_open.load(); });
    co_return r;
  }
  asio::awaitable<void> erase(std::string_view key) override {
    erases.fetch_add(1);
    co_await eventually_async([this] { return erases_open.load(); });
    auto erase = FakeSharedCache::erase(key);
    co_await std::move(erase);
  }
};

// A read that starts while a write is deleting may join or start a load that sees the old L2
// value (it is concurrent with the write); a read that starts after the write returned must not
// receive that load's value.
TEST_F(ReadThroughCacheTest, AReadAfterInvalidateNeverJoinsALoadFromBeforeTheL2Delete) {
  GatedSharedCache gated_l2;
  ReadThroughCache two{&l1, &gated_l2};
  ASSERT_EQ(version_of(run_sync(two.get(kKey, source.loader()))), 1);  // L2 holds version 1
  l1.erase(kKey);
  gated_l2.erases_open = false;
  gated_l2.lookups_open = false;
  std::int64_t during = 0, after = 0;
  bool written = false;
  spawn([&]() -> asio::awaitable<void> {  // the write: commits version 2, then invalidates
    source.version = 2;
    auto erase = two.invalidate(kKey);
    co_await std::move(erase);
    written = true;
  });
  spawn([&]() -> asio::awaitable<void> {  // starts while the L2 delete is held: finds version 1
    co_await eventually_async([&] { return gated_l2.erases == 1; });
    auto read = two.get(kKey, source.loader());
    during = version_of(co_await std::move(read));
  });
  spawn([&]() -> asio::awaitable<void> {
    co_await eventually_async([&] { return gated_l2.lookups == 2; });  // the one above is in L2
    gated_l2.erases_open = true;
    co_await eventually_async([&] { return written; });
    auto read = two.get(kKey, source.loader());  // starts after the write returned
    after = version_of(co_await std::move(read));
  });
  spawn([&]() -> asio::awaitable<void> {
    co_await eventually_async([&] { return written && gated_l2.lookups == 3; });
    gated_l2.lookups_open = true;
  });
  io.run();
  EXPECT_EQ(during, 1) << "concurrent with the write: either version is right";
  EXPECT_EQ(after, 2) << "got the value of a load from before the write";
}

}  // namespace
}  // namespace ztm::cache
