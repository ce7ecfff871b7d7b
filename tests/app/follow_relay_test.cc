// The outbox relay writes the second copy of a follow edge (storage/follow_store.h) on the
// followee's shard: over a sharded store of two in-memory shards, with the follower and the
// followee on different shards, a relay that fails or stops between the first copy and the apply
// (or between the apply and the delete) leaves the copies to converge on the next pass, and a
// message applied twice changes nothing; each apply refreshes both users' documents (the counts)
// in the caches and at the edges.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "app/outbox_relay.h"
#include "app/users.h"
#include "cache/local/local_cache.h"
#include "core/manual_clock.h"
#include "core/run_sync.h"
#include "queue/embedded/embedded_queue.h"
#include "storage/sharding/sharded_store.h"
#include "tests/support/fake_shared_cache.h"
#include "tests/support/memory_store.h"
#include "tests/support/temp_dir.h"

namespace ztm {
namespace {

using storage::FollowCounts;
using Ids = std::vector<UserId>;

// Fails apply_follow (the relay stopped before the apply) or outbox_delete (stopped after it) on
// demand, and records what each apply answered.
class FaultyDatabase final : public storage::DatabaseWrapper {
 public:
  using storage::DatabaseWrapper::DatabaseWrapper;
  bool fail_applies = false;
  bool fail_deletes = false;
  std::vector<bool> applied;  // each successful apply's "changed"

  boost::asio::awaitable<Result<bool>> apply_follow(storage::FollowChange change) override {
    if (fail_applies) co_return Error{Errc::unavailable, "injected: apply"};
    auto r = co_await target().apply_follow(std::move(change));
    if (r.ok()) applied.push_back(*r);
    co_return r;
  }
  boost::asio::awaitable<Result<void>> outbox_delete(std::vector<std::int64_t> ids) override {
    if (fail_deletes) co_return Error{Errc::unavailable, "injected: delete"};
    co_return co_await target().outbox_delete(std::move(ids));
  }
};

std::unique_ptr<storage::ShardedStore> two_memory_shards() {
  std::vector<std::unique_ptr<storage::Database>> shards;
  shards.push_back(std::make_unique<test::MemoryStore>());
  shards.push_back(std::make_unique<test::MemoryStore>());
  return std::make_unique<storage::ShardedStore>(
      storage::ShardMap::even({{"s0", "unused"}, {"s1", "unused"}},
                              storage::ShardMap::Mode::modulo),
      std::move(shards));
}

class FollowRelayTest : public ::testing::Test {
 protected:
  // Modulo mode: odd ids on shard 1, even ones on shard 0.
  static constexpr UserId kAda = 11, kBea = 22, kCyd = 33;

  app::OutboxRelay relay() { return app::OutboxRelay(db, db, queue, {}); }
  Ids ids(Result<storage::FollowPage> page) {
    EXPECT_TRUE(page.ok());
    Ids out;
    if (page.ok())
      for (const auto& e : page->users) out.push_back(e.user);
    return out;
  }
  Ids followers(UserId u) { return ids(run_sync(db.list_followers(u, 0, 100))); }
  Ids following(UserId u) { return ids(run_sync(db.list_following(u, 0, 100))); }
  FollowCounts counts(UserId u) { return *run_sync(db.follow_counts(u)); }
  // One pass of a relay that then stops (is destroyed), as a crash would; its error.
  Errc pass_then_stop() {
    auto stopping = relay();
    auto r = run_sync(stopping.relay_once());
    return r.ok() ? Errc::internal : r.error().code;
  }
  std::size_t pending() { return run_sync(db.outbox_batch(100))->size(); }

  test::TempDir dir;
  queue::EmbeddedQueue queue{queue::EmbeddedQueueOptions{.path = dir.file("jobs.db")}};
  std::unique_ptr<storage::ShardedStore> sharded = two_memory_shards();
  FaultyDatabase db{*sharded};
};

TEST_F(FollowRelayTest, TheFollowersCopyIsWrittenOnTheFolloweesShard) {
  ASSERT_NE(sharded->map().shard_of(kAda), sharded->map().shard_of(kBea));
  ASSERT_TRUE(*run_sync(db.follow(kAda, kBea, "Ada", "Bea")));
  EXPECT_EQ(followers(kBea), Ids{});  // not yet: the relay writes it
  auto running = relay();
  EXPECT_EQ(*run_sync(running.relay_once()), 1);
  EXPECT_EQ(followers(kBea), Ids{kAda});
  EXPECT_EQ(following(kAda), Ids{kBea});
  EXPECT_EQ(counts(kBea), (FollowCounts{1, 0}));
  EXPECT_EQ(counts(kAda), (FollowCounts{0, 1}));
  EXPECT_EQ(pending(), 0u);
  // The copy is a row of the followee's shard, not the follower's.
  auto& beas_shard = sharded->shard(static_cast<std::size_t>(sharded->map().shard_of(kBea)));
  EXPECT_EQ(ids(run_sync(beas_shard.list_followers(kBea, 0, 9))), Ids{kAda});
}

// The relay stops (its apply fails, it is destroyed) between the first copy and the second: the
// messages stay in the outbox, none overtakes another, and a new relay makes the copies agree.
TEST_F(FollowRelayTest, CopiesConvergeAfterTheRelayStopsBeforeTheApply) {
  ASSERT_TRUE(*run_sync(db.follow(kAda, kBea, "Ada", "Bea")));
  ASSERT_TRUE(*run_sync(db.follow(kCyd, kBea, "Cyd", "Bea")));
  ASSERT_TRUE(*run_sync(db.unfollow(kAda, kBea)));
  db.fail_applies = true;
  EXPECT_EQ(pass_then_stop(), Errc::unavailable);
  EXPECT_EQ(pending(), 3u);  // nothing applied, nothing deleted
  EXPECT_EQ(followers(kBea), Ids{});
  EXPECT_EQ(following(kCyd), Ids{kBea});  // the first copies are there: they diverge until...

  db.fail_applies = false;
  auto recovered = relay();
  EXPECT_EQ(*run_sync(recovered.relay_once()), 3);
  EXPECT_EQ(pending(), 0u);
  EXPECT_EQ(followers(kBea), Ids{kCyd});  // ...they converge
  EXPECT_EQ(following(kAda), Ids{});
  EXPECT_EQ(counts(kBea), (FollowCounts{1, 0}));
  EXPECT_EQ(counts(kAda), (FollowCounts{0, 0}));
  EXPECT_EQ(counts(kCyd), (FollowCounts{0, 1}));
}

// The relay stops after the apply, before the delete: the next pass applies the same messages
// again, and they change nothing (no second count, no resurrected edge).
TEST_F(FollowRelayTest, AMessageAppliedTwiceChangesNothing) {
  ASSERT_TRUE(*run_sync(db.follow(kAda, kBea, "Ada", "Bea")));
  ASSERT_TRUE(*run_sync(db.follow(kCyd, kBea, "Cyd", "Bea")));
  ASSERT_TRUE(*run_sync(db.unfollow(kCyd, kBea)));
  db.fail_deletes = true;
  EXPECT_EQ(pass_then_stop(), Errc::unavailable);
  EXPECT_EQ(db.applied, (std::vector<bool>{true, true, true}));
  EXPECT_EQ(pending(), 3u);
  EXPECT_EQ(followers(kBea), Ids{kAda});
  EXPECT_EQ(counts(kBea), (FollowCounts{1, 0}));

  db.fail_deletes = false;
  auto recovered = relay();
  EXPECT_EQ(*run_sync(recovered.relay_once()), 3);
  EXPECT_EQ(db.applied, (std::vector<bool>{true, true, true, false, false, false}));
  EXPECT_EQ(pending(), 0u);
  EXPECT_EQ(followers(kBea), Ids{kAda});  // Cyd's replayed add did not bring them back
  EXPECT_EQ(counts(kBea), (FollowCounts{1, 0}));
}

// The counts are in the user documents, cached in L1 and L2: the apply changes the followee's
// followers count (and the follower's document may be cached from before its follow), so the
// relay invalidates both documents and purges both users' keys at the edges (with the follow
// pages that changed: tests/cdn/purge_test.cc).
TEST_F(FollowRelayTest, AnApplyRefreshesBothUsersCachedDocumentsAndPurgesThemAtTheEdges) {
  for (UserId id : {kAda, kBea})
    ASSERT_TRUE(run_sync(db.create_user(storage::User{id, "A", "B", {"s", "c", "st", 1}, {}})));
  ASSERT_EQ(*run_sync(relay().relay_once()), 2);  // the creates' changes: out of the way
  cache::LocalCache l1{cache::LocalCacheOptions{}};
  test::FakeSharedCache l2;
  ManualClock clock;
  IdGenerator ids{1, clock};
  app::UserService users{db, db, &l1, &l2, ids};
  auto counts_in = [&](UserId id) {
    auto doc = run_sync(users.get(id));
    EXPECT_TRUE(doc.ok());
    if (!doc.ok()) return FollowCounts{-1, -1};
    auto v = boost::json::parse((*doc)->data);
    return FollowCounts{v.at("followers").as_int64(), v.at("following").as_int64()};
  };
  EXPECT_EQ(counts_in(kAda), (FollowCounts{0, 0}));  // both cached now
  EXPECT_EQ(counts_in(kBea), (FollowCounts{0, 0}));
  ASSERT_TRUE(*run_sync(db.follow(kAda, kBea, "Ada", "Bea")));  // past FollowService: no invalidate
  EXPECT_EQ(counts_in(kAda), (FollowCounts{0, 0}));             // the cached copy, until...

  queue::EmbeddedQueue edge{queue::EmbeddedQueueOptions{.path = dir.file("edge.db")}};
  app::OutboxRelay running(db, db, queue, {.edges = {{"edge1", &edge}}, .users = &users});
  EXPECT_EQ(*run_sync(running.relay_once()), 1);
  EXPECT_EQ(counts_in(kAda), (FollowCounts{0, 1}));  // ...the relay's pass
  EXPECT_EQ(counts_in(kBea), (FollowCounts{1, 0}));
  auto purges = run_sync(edge.fetch(10, std::chrono::milliseconds(0)));
  ASSERT_TRUE(purges.ok());
  ASSERT_FALSE(purges->empty());
  EXPECT_EQ(purges->front().payload,
            R"({"keys":["followers-22","following-11","user-11","user-22"]})");
  EXPECT_EQ(pending(), 0u);  // deleted once its purge was published
}

}  // namespace
}  // namespace ztm
