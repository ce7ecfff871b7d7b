// ShardedStore on a map that changes under it (sharded_store.h): writes to a fenced bucket held
// until the map moves it, the hold's bounds, a shard's `moved` retried once on a newer map, a
// shard opened when a map first names it, maps that reorder or drop shards refused. Then the
// shard-side fence of a real PostgreSQL (migration 11) under the store (engine).
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <mutex>
#include <set>
#include <tuple>

#include "core/manual_clock.h"
#include "core/run_sync.h"
#include "storage/sharding/map_source.h"
#include "storage/sharding/sharded_store.h"
#include "tests/storage/pg_test_util.h"
#include "tests/storage/store_conformance.h"
#include "tests/support/eventually.h"
#include "tests/support/memory_store.h"
#include "tests/support/metric_value.h"

namespace ztm::storage {
namespace {

using namespace std::chrono_literals;
using test::errc;
using test::eventually;
using test::outcome;
using test::sample_user;

// The first user id after `after` whose bucket is `bucket` (about one id in kBuckets).
UserId next_in_bucket(int bucket, UserId after) {
  UserId id = after + 1;
  while (bucket_of(id) != bucket) ++id;
  return id;
}

std::vector<Shard> named(int n) {
  std::vector<Shard> shards;
  for (int i = 0; i < n; ++i) shards.push_back({"s" + std::to_string(i), "unused"});
  return shards;
}

// `aw` run to its end on a thread of its own: the test goes on meanwhile.
template <class T>
std::future<T> in_background(boost::asio::awaitable<T> aw) {
  return std::async(std::launch::async,
                    [aw = std::move(aw)]() mutable { return run_sync(std::move(aw)); });
}

// A shard that refuses writes to the buckets it disowned with Errc::moved, as PostgreSQL's fence
// does (migration 11): nothing written.
class FencedShard final : public DatabaseWrapper {
 public:
  using Store::create_user;
  explicit FencedShard(std::unique_ptr<Database> inner)
      : DatabaseWrapper(*inner), inner_(std::move(inner)) {}
  void disown(int bucket) {
    std::lock_guard lock(mu_);
    disowned_.insert(bucket);
  }
  int refused() const { return refused_.load(); }

  boost::asio::awaitable<Result<StoredUser>> create_user(User user,
                                                         std::optional<std::string> key) override {
    const int bucket = bucket_of(user.id);
    bool refuse = false;
    {
      std::lock_guard lock(mu_);
      refuse = disowned_.contains(bucket);
    }
    if (refuse) {
      ++refused_;
      co_return Error{Errc::moved, "bucket " + std::to_string(bucket) + " is not on this shard"};
    }
    co_return co_await target().create_user(std::move(user), std::move(key));
  }

 private:
  std::unique_ptr<Database> inner_;
  std::mutex mu_;
  std::set<int> disowned_;
  std::atomic<int> refused_{0};
};

// A store over in-memory shards it opens when it needs them, on a map the test changes as a
// mover would.
class LiveMap {
 public:
  explicit LiveMap(int shards, ShardedStoreOptions options = {.hold = 5s, .max_held = 100})
      : source(std::make_shared<LocalMapSource>(
            ShardMap::even(named(shards), ShardMap::Mode::buckets))),
        store(source, opener(), options) {
    store.register_metrics(metrics);
  }

  // The map the store follows, changed by `change`, offered as the next version.
  void publish(const std::function<void(ShardMap&)>& change) {
    ShardMap map = store.map();
    map.version = source->current()->version + 1;
    change(map);
    source->set(std::move(map));
  }
  FencedShard& shard(std::size_t index) {
    std::lock_guard lock(mu_);
    return *opened_.at(index);
  }
  // The indexes of the shards holding user `id`.
  std::vector<std::size_t> holders(UserId id) {
    std::vector<std::size_t> out;
    for (std::size_t s = 0; s < store.opened_shards(); ++s)
      if (run_sync(shard(s).get_user(id)).ok()) out.push_back(s);
    return out;
  }
  // User `id`'s bucket, its shard by the map followed, and the other one (of two shards).
  std::tuple<int, std::size_t, std::size_t> where(UserId id) {
    const auto from = static_cast<std::size_t>(store.map().shard_of(id));
    return {bucket_of(id), from, 1 - from};
  }
  double metric(const std::string& series) const { return test::metric_value(metrics, series); }
  // Creates user `id` in the background; returns once the write is held, the store having
  // retried `moved_retries` writes refused as moved by then.
  std::future<Result<StoredUser>> create_held(UserId id, int moved_retries = 0) {
    auto write = in_background(store.create_user(sample_user(id)));
    EXPECT_TRUE(eventually([&] {
      return metric("ztm_shard_moved_retries_total") == moved_retries &&
             metric("ztm_shard_holding") == 1;
    })) << "user "
        << id << " was not held";
    return write;
  }

 private:
  std::mutex mu_;
  std::vector<FencedShard*> opened_;

 public:
  MetricsRegistry metrics;
  std::shared_ptr<LocalMapSource> source;
  ShardedStore store;

 private:
  ShardOpener opener() {
    return [this](const Shard&, std::size_t index) -> Result<std::unique_ptr<Database>> {
      auto shard = std::make_unique<FencedShard>(std::make_unique<test::MemoryStore>());
      std::lock_guard lock(mu_);
      if (opened_.size() <= index) opened_.resize(index + 1);
      opened_[index] = shard.get();
      return std::unique_ptr<Database>(std::move(shard));
    };
  }
};

TEST(ShardedStoreMap, AWriteToAFencedBucketWaitsAndLandsWhereTheNextMapSays) {
  LiveMap live(2);
  const UserId a = 1;
  const auto [bucket, from, to] = live.where(a);
  ASSERT_EQ(outcome(run_sync(live.store.create_user(sample_user(a)))), "ok");
  live.publish([&](ShardMap& m) { m.fenced_buckets.insert(bucket); });  // the cutover begins

  const UserId b = next_in_bucket(bucket, a);
  auto held = live.create_held(b);
  // Reads go on, to the bucket's owner until the move; the write waits, written nowhere.
  EXPECT_EQ(outcome(run_sync(live.store.get_user(a))), "ok");
  EXPECT_EQ(held.wait_for(0s), std::future_status::timeout);
  EXPECT_TRUE(live.holders(b).empty());

  live.publish([&](ShardMap& m) {  // the cutover ends: the bucket on its new shard
    m.buckets[bucket] = static_cast<int>(to);
    m.fenced_buckets.clear();
  });
  ASSERT_EQ(held.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(outcome(held.get()), "ok");
  EXPECT_EQ(live.holders(b), std::vector<std::size_t>{to});
  EXPECT_EQ(live.metric("ztm_shard_held_total"), 1);
  EXPECT_EQ(live.metric("ztm_shard_holding"), 0);
  EXPECT_EQ(live.metric("ztm_shard_map_routed_version"), 3);
  // Unfenced, writes and reads of the bucket go to its new shard at once.
  ASSERT_EQ(outcome(run_sync(live.store.update_user(sample_user(b, "moved"), std::nullopt))), "ok");
  EXPECT_EQ(run_sync(live.shard(to).get_user(b))->user, sample_user(b, "moved"));
  EXPECT_EQ(live.metric("ztm_shard_held_total"), 1);
}

TEST(ShardedStoreMap, TheHoldIsBoundedInTimeAndInWaiters) {
  ManualClock clock;  // the hold's deadline; its looks at the map are real 5 ms timers
  LiveMap live(2, {.hold = 1000ms, .max_held = 1, .clock = &clock});
  const int bucket = bucket_of(1);
  live.publish([&](ShardMap& m) { m.fenced_buckets.insert(bucket); });
  auto first = live.create_held(1);

  const UserId other = next_in_bucket(bucket, 1);
  auto second = run_sync(live.store.create_user(sample_user(other)));
  ASSERT_EQ(errc(second), "unavailable");
  EXPECT_NE(second.error().message.find("the hold is full"), std::string::npos)
      << second.error().message;

  clock.advance(999ms);
  EXPECT_EQ(first.wait_for(50ms), std::future_status::timeout) << "a millisecond before its end";
  clock.advance(1ms);
  ASSERT_EQ(first.wait_for(5s), std::future_status::ready) << "at its next look";
  auto timed_out = first.get();
  ASSERT_EQ(errc(timed_out), "unavailable");
  EXPECT_NE(timed_out.error().message.find("after holding the write 1000 ms"), std::string::npos)
      << timed_out.error().message;
  EXPECT_TRUE(live.holders(1).empty());
  EXPECT_TRUE(live.holders(other).empty());
  EXPECT_EQ(live.metric("ztm_shard_hold_overflows_total{reason=\"full\"}"), 1);
  EXPECT_EQ(live.metric("ztm_shard_hold_overflows_total{reason=\"timeout\"}"), 1);
  EXPECT_EQ(live.metric("ztm_shard_holding"), 0);
  // Writes of other buckets were never held.
  UserId elsewhere = 2;
  while (bucket_of(elsewhere) == bucket) ++elsewhere;
  EXPECT_EQ(outcome(run_sync(live.store.create_user(sample_user(elsewhere)))), "ok");
}

TEST(ShardedStoreMap, AMovedWriteWaitsForANewerMapAndIsRetriedOnceOnTheNewOwner) {
  LiveMap live(2);
  const UserId a = 1;
  const auto [bucket, from, to] = live.where(a);
  // The mover fenced the bucket and disowned it on its shard; this server missed the fence.
  live.shard(from).disown(bucket);
  auto moved = live.create_held(a, 1);
  live.publish([&](ShardMap& m) { m.buckets[bucket] = static_cast<int>(to); });
  ASSERT_EQ(moved.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(outcome(moved.get()), "ok");
  EXPECT_EQ(live.holders(a), std::vector<std::size_t>{to});
  EXPECT_EQ(live.shard(from).refused(), 1);

  // A moved that survives the retry (the newer map is wrong too): 503, written nowhere.
  live.shard(to).disown(bucket);
  const UserId b = next_in_bucket(bucket, a);
  auto again = live.create_held(b, 2);
  live.publish([&](ShardMap& m) { m.buckets[bucket] = static_cast<int>(from); });
  ASSERT_EQ(again.wait_for(5s), std::future_status::ready);
  auto refused = again.get();
  ASSERT_EQ(errc(refused), "unavailable");
  EXPECT_NE(refused.error().message.find("answered moved on map version 3 too"), std::string::npos)
      << refused.error().message;
  EXPECT_TRUE(live.holders(b).empty());
  EXPECT_EQ(live.shard(from).refused(), 2);
  EXPECT_EQ(live.shard(to).refused(), 1);
}

TEST(ShardedStoreMap, AMapWithAFifthShardOpensItWhenACallNeedsIt) {
  LiveMap live(4);
  EXPECT_EQ(live.store.opened_shards(), 4u);
  live.publish([](ShardMap& m) {
    m.shards.push_back({"s4", "unused"});
    m = apply_moves(m, plan_rebalance(m, 5));
  });
  const ShardMap map = live.store.map();
  ASSERT_EQ(map.shards.size(), 5u);
  EXPECT_EQ(live.store.opened_shards(), 4u);  // nothing needed it yet
  UserId id = 1;
  while (map.shard_of(id) != 4) ++id;
  ASSERT_EQ(outcome(run_sync(live.store.create_user(sample_user(id)))), "ok");
  EXPECT_EQ(live.store.opened_shards(), 5u);
  EXPECT_EQ(live.holders(id), std::vector<std::size_t>{4});
  EXPECT_EQ(outcome(run_sync(live.store.get_user(id))), "ok");
  EXPECT_EQ(*run_sync(live.store.count_users()), 1);
}

TEST(ShardedStoreMap, AMapThatReordersDropsOrRenamesShardsIsRefused) {
  LiveMap live(3);
  const std::vector<std::function<void(ShardMap&)>> wrong = {
      [](ShardMap& m) { std::swap(m.shards[0], m.shards[1]); },
      [](ShardMap& m) {
        m.shards.pop_back();
        for (int& s : m.buckets) s %= 2;
      },
      [](ShardMap& m) { m.shards[1].conninfo = "postgresql://elsewhere/ztm"; },
      [](ShardMap& m) {
        m.mode = ShardMap::Mode::modulo;
        m.buckets.clear();
      },
  };
  for (std::size_t i = 0; i < wrong.size(); ++i) {
    live.publish(wrong[i]);
    EXPECT_EQ(live.store.map().version, 1) << i;
    EXPECT_EQ(live.metric("ztm_shard_map_refused_total"), static_cast<double>(i + 1)) << i;
  }
  EXPECT_EQ(outcome(run_sync(live.store.create_user(sample_user(1)))), "ok");  // on map 1
  EXPECT_EQ(live.holders(1),
            std::vector<std::size_t>{static_cast<std::size_t>(live.store.map().shard_of(1))});
  // An older version written back is refused too; a shard appended is followed.
  live.source->set(ShardMap::even(named(3), ShardMap::Mode::buckets));
  EXPECT_EQ(live.store.map().version, 1);
  EXPECT_EQ(live.store.map().shards.size(), 3u);
  EXPECT_EQ(live.metric("ztm_shard_map_refused_total"), 5);
  ShardMap appended = ShardMap::even(named(3), ShardMap::Mode::buckets);
  appended.version = 9;
  appended.shards.push_back({"s3", "unused"});
  live.source->set(appended);
  EXPECT_EQ(live.store.map(), appended);
  EXPECT_EQ(live.metric("ztm_shard_map_refused_total"), 5);
}

// The fence of a real PostgreSQL shard: a row in disowned_buckets makes the shard refuse every
// write to the bucket (moved); the store, told by a newer map, writes it on the new owner only.
TEST(ShardedStorePg, AShardRefusesADisownedBucketAndTheStoreWritesOnTheNewOwner) {
  auto& pg = test::PostgresInstance::shared();
  std::string db_a, db_b;
  std::vector<std::unique_ptr<Database>> shards;
  auto a = test::migrated_store(pg, {}, &db_a);
  auto b = test::migrated_store(pg, {}, &db_b);
  PgStore& raw_a = *a;
  PgStore& raw_b = *b;
  shards.push_back(std::move(a));
  shards.push_back(std::move(b));
  auto source = std::make_shared<LocalMapSource>(ShardMap::even(
      {{"a", pg.conninfo(db_a)}, {"b", pg.conninfo(db_b)}}, ShardMap::Mode::buckets));
  ShardOpener open = [&shards](const Shard&, std::size_t i) -> Result<std::unique_ptr<Database>> {
    return std::move(shards.at(i));
  };
  ShardedStore store(source, open, {.hold = 5s, .max_held = 10});
  MetricsRegistry metrics;
  store.register_metrics(metrics);

  UserId user = 1;
  while (store.map().shard_of(user) != 0) ++user;
  const int bucket = bucket_of(user);
  test::Session(pg.conninfo(db_a))
      .exec("INSERT INTO disowned_buckets (bucket, move) VALUES (" + std::to_string(bucket) +
            ", 'test-move')");
  EXPECT_EQ(errc(run_sync(raw_a.create_user(sample_user(user)))), "moved");

  auto write = in_background(store.create_user(sample_user(user)));
  ASSERT_TRUE(eventually(
      [&] { return test::metric_value(metrics, "ztm_shard_moved_retries_total") == 1; }));
  ShardMap moved = store.map();
  ++moved.version;
  moved.buckets[bucket] = 1;
  source->set(moved);
  ASSERT_EQ(write.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(outcome(write.get()), "ok");
  EXPECT_EQ(errc(run_sync(raw_a.get_user(user))), "moved");  // disowned, and no row
  EXPECT_EQ(outcome(run_sync(raw_b.get_user(user))), "ok");
  EXPECT_EQ(outcome(run_sync(store.get_user(user))), "ok");
}

// A server more than a move's finalise_grace behind the map: the bucket's rows are gone from the
// old shard, which still disowns it. Its read, replace and delete of a user there find no row;
// the shard says moved rather than not found, and each call, held until this server's map
// moves on, goes to the new owner.
TEST(ShardedStorePg, AServerBehindAFinalisedMoveReadsReplacesAndDeletesOnTheNewOwner) {
  auto& pg = test::PostgresInstance::shared();
  std::string db_a, db_b;
  auto raw_a = test::migrated_store(pg, {}, &db_a);
  auto raw_b = test::migrated_store(pg, {}, &db_b);
  const ShardMap before =
      ShardMap::even({{"a", pg.conninfo(db_a)}, {"b", pg.conninfo(db_b)}}, ShardMap::Mode::buckets);
  UserId first = 1;
  while (before.shard_of(first) != 0) ++first;
  const int bucket = bucket_of(first);
  const std::vector<UserId> users{first, next_in_bucket(bucket, first),
                                  next_in_bucket(bucket, next_in_bucket(bucket, first))};
  // The move, finalised: the users on b, the bucket disowned by a and its rows purged there.
  for (UserId u : users) ASSERT_EQ(outcome(run_sync(raw_b->create_user(sample_user(u)))), "ok");
  test::Session(pg.conninfo(db_a))
      .exec("INSERT INTO disowned_buckets (bucket, move) VALUES (" + std::to_string(bucket) +
            ", 'test-move')");
  ShardMap after = before;
  ++after.version;
  after.buckets[bucket] = 1;

  // Each call on a server of its own that still routes by `before`.
  auto behind = [&](auto call) {
    auto source = std::make_shared<LocalMapSource>(before);
    ShardOpener open = [](const Shard& shard, std::size_t) -> Result<std::unique_ptr<Database>> {
      return std::unique_ptr<Database>(
          std::make_unique<PgStore>(PgStoreOptions{.conninfo = shard.conninfo}));
    };
    ShardedStore store(source, open, {.hold = 5s, .max_held = 10});
    MetricsRegistry metrics;
    store.register_metrics(metrics);
    auto done = in_background(call(store));
    EXPECT_TRUE(eventually(
        [&] { return test::metric_value(metrics, "ztm_shard_moved_retries_total") == 1; }));
    source->set(after);
    EXPECT_EQ(done.wait_for(10s), std::future_status::ready);
    return done.get();
  };
  auto read = behind([&](ShardedStore& s) { return s.get_user(users[0]); });
  ASSERT_EQ(outcome(read), "ok");
  EXPECT_EQ(read->user, sample_user(users[0]));
  auto replaced = behind(
      [&](ShardedStore& s) { return s.update_user(sample_user(users[1], "Moved"), std::nullopt); });
  EXPECT_EQ(outcome(replaced), "ok");
  EXPECT_EQ(run_sync(raw_b->get_user(users[1]))->user, sample_user(users[1], "Moved"));
  auto deleted = behind([&](ShardedStore& s) { return s.delete_user(users[2], std::nullopt); });
  EXPECT_EQ(outcome(deleted), "ok");
  EXPECT_EQ(errc(run_sync(raw_b->get_user(users[2]))), "not_found");
  // A user that exists nowhere is still not found on a shard that owns its bucket.
  EXPECT_EQ(errc(run_sync(raw_b->get_user(next_in_bucket(bucket, users[2])))), "not_found");
}

}  // namespace
}  // namespace ztm::storage
