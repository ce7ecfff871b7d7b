// ShardedStore (sharded_store.h): the whole Database contract on 1, 2 and 4 SQLite shards, in
// both map modes, and on two PostgreSQL databases; then what only a sharded store can get wrong:
// where each row lands, keys raced for across shards, outbox ids, commit positions.
#include "storage/sharding/sharded_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <set>

#include "core/run_sync.h"
#include "storage/sqlite/sqlite_store.h"
#include "tests/storage/account_conformance.h"
#include "tests/storage/follow_conformance.h"
#include "tests/storage/lookup_conformance.h"
#include "tests/storage/pg_test_util.h"
#include "tests/storage/photo_conformance.h"
#include "tests/support/memory_store.h"
#include "tests/support/temp_dir.h"

namespace ztm::storage {
namespace {

using test::errc;
using test::outcome;
using test::sample_user;

std::vector<Shard> shard_names(int n) {
  std::vector<Shard> shards;
  for (int i = 0; i < n; ++i) shards.push_back({"s" + std::to_string(i), "unused"});
  return shards;
}

std::unique_ptr<ShardedStore> sqlite_shards(int n, ShardMap::Mode mode = ShardMap::Mode::buckets) {
  static test::TempDir dir;
  static std::atomic<int> files{0};
  std::vector<std::unique_ptr<Database>> shards;
  for (int i = 0; i < n; ++i) {
    auto shard = std::make_unique<SqliteStore>(
        sqlite::Options{.path = dir.file("shard-" + std::to_string(files++) + ".db")});
    if (auto m = shard->migrate(); !m.ok()) throw std::runtime_error(m.error().message);
    shards.push_back(std::move(shard));
  }
  return std::make_unique<ShardedStore>(ShardMap::even(shard_names(n), mode), std::move(shards));
}

template <int N, ShardMap::Mode M = ShardMap::Mode::buckets>
struct SqliteShards {
  static std::unique_ptr<Store> make() { return sqlite_shards(N, M); }
};

// Two databases of the binary's one PostgreSQL server: two shards as far as the store knows.
struct PostgresShards {
  static std::unique_ptr<Store> make() {
    std::vector<std::unique_ptr<Database>> shards;
    for (int i = 0; i < 2; ++i)
      shards.push_back(test::migrated_store(test::PostgresInstance::shared(), {}));
    return std::make_unique<ShardedStore>(ShardMap::even(shard_names(2), ShardMap::Mode::buckets),
                                          std::move(shards));
  }
};

using Factories = ::testing::Types<SqliteShards<1>, SqliteShards<2>, SqliteShards<4>,
                                   SqliteShards<3, ShardMap::Mode::modulo>, PostgresShards>;

// --- routing ----------------------------------------------------------------------------------

// Users 1..400: their rows are on their shard and nowhere else, spread over all four.
TEST(ShardedStore, EveryUsersRowsAreOnItsShardAlone) {
  auto store = sqlite_shards(4);
  std::vector<int> per_shard(4);
  for (UserId id = 1; id <= 400; ++id) {
    const std::string email = "u" + std::to_string(id) + "@example.com";
    ASSERT_EQ(outcome(run_sync(store->create_account(
                  sample_user(id), Account{id, email, "$argon2id$hash", "user"}))),
              "ok");
    Photo photo{id * 1000, id, std::string(64, 'a') + ".jpg", "image/jpeg", 1, 1, 10, 0};
    ASSERT_EQ(outcome(run_sync(store->create_photo(photo))), "ok");
    const auto home = static_cast<std::size_t>(store->map().shard_of(id));
    ++per_shard[home];
    for (std::size_t s = 0; s < 4; ++s) {
      EXPECT_EQ(errc(run_sync(store->shard(s).get_user(id))), s == home ? "ok" : "not_found");
      EXPECT_EQ(errc(run_sync(store->shard(s).get_photo(id * 1000))),
                s == home ? "ok" : "not_found");
    }
    EXPECT_EQ(run_sync(store->find_account(email))->user_id, id);
    EXPECT_EQ(run_sync(store->get_photo(id * 1000))->owner_id, id);
  }
  for (int n : per_shard) EXPECT_GT(n, 60) << "400 users over 4 shards";
  EXPECT_EQ(*run_sync(store->count_users()), 400);
  // A page across shards is in id order, and the cursor walks all of them once.
  std::set<UserId> seen;
  UserId after = 0;
  for (;;) {
    auto page = run_sync(store->list_users(after, 37));
    ASSERT_EQ(outcome(page), "ok");
    for (const auto& u : page->users) {
      EXPECT_GT(u.user.id, after);
      after = u.user.id;
      seen.insert(u.user.id);
    }
    if (!page->more) break;
  }
  EXPECT_EQ(seen.size(), 400u);
}

// A retried POST /users (same key, a new id that lands on another shard) gets the first user,
// and nothing is made under the retry's id.
TEST(ShardedStore, AnIdempotencyKeyRetriedOnAnotherShardAnswersTheFirstUser) {
  auto store = sqlite_shards(4);
  UserId second = 2;
  while (store->map().shard_of(second) == store->map().shard_of(1)) ++second;
  auto first = run_sync(store->create_user(sample_user(1), std::string("key-1")));
  ASSERT_EQ(outcome(first), "ok");
  auto retry = run_sync(store->create_user(sample_user(second, "b"), std::string("key-1")));
  ASSERT_EQ(outcome(retry), "ok");
  EXPECT_EQ(retry->user, sample_user(1));
  EXPECT_EQ(errc(run_sync(store->get_user(second))), "not_found");
  EXPECT_EQ(*run_sync(store->count_users()), 1);
  // A third try, again on the retry's shard (which remembers the key for a deleted user).
  auto third = run_sync(store->create_user(sample_user(second, "c"), std::string("key-1")));
  ASSERT_EQ(outcome(third), "ok");
  EXPECT_EQ(third->user, sample_user(1));
  // Deleted since: not_found, as store.h says.
  ASSERT_EQ(outcome(run_sync(store->delete_user(1, std::nullopt))), "ok");
  EXPECT_EQ(errc(run_sync(store->create_user(sample_user(second, "d"), std::string("key-1")))),
            "not_found");
  EXPECT_EQ(*run_sync(store->count_users()), 0);
}

// Messages of every shard, ids unique over shards; deleting them removes each from its shard.
TEST(ShardedStore, OutboxIdsAreUniqueOverShardsAndDeleteOnTheirShard) {
  auto store = sqlite_shards(4);
  for (UserId id = 1; id <= 40; ++id) {
    ASSERT_EQ(outcome(run_sync(store->create_user(sample_user(id)))), "ok");
    Photo photo{id * 1000, id, std::string(64, 'a') + ".jpg", "image/jpeg", 1, 1, 10, 0};
    ASSERT_EQ(outcome(run_sync(store->create_photo(photo))), "ok");
    ASSERT_EQ(outcome(run_sync(store->create_job(
                  Job{id * 1000 + 1, id * 1000, id, "[]", JobStatus::queued, 0, "", 0}, "job"))),
              "ok");
  }
  std::set<std::int64_t> ids;
  int jobs = 0;
  for (int pass = 0; pass < 100; ++pass) {
    auto batch = run_sync(store->outbox_batch(7));
    ASSERT_EQ(outcome(batch), "ok");
    if (batch->empty()) break;
    std::vector<std::int64_t> done;
    for (const auto& m : *batch) {
      EXPECT_TRUE(ids.insert(m.id).second) << "id " << m.id << " seen twice";
      jobs += m.payload == "job";
      done.push_back(m.id);
    }
    ASSERT_EQ(outcome(run_sync(store->outbox_delete(done))), "ok");
  }
  EXPECT_EQ(jobs, 40);
  for (std::size_t s = 0; s < 4; ++s)
    EXPECT_TRUE(run_sync(store->shard(s).outbox_batch(10))->empty());
  // Ids no shard made (another shard count, negative) are ignored, as ids already gone are.
  EXPECT_EQ(outcome(run_sync(store->outbox_delete({-1, 5 * kMaxShards + 200}))), "ok");
}

// The last photo of a blob on one shard: the blob is still in use while another shard's photo
// holds it.
TEST(ShardedStore, ABlobHeldOnAnotherShardIsStillInUse) {
  auto store = sqlite_shards(2);
  UserId other = 2;
  while (store->map().shard_of(other) == store->map().shard_of(1)) ++other;
  const std::string blob = std::string(64, 'c') + ".jpg";
  for (UserId owner : {UserId{1}, other}) {
    ASSERT_EQ(outcome(run_sync(store->create_user(sample_user(owner)))), "ok");
    ASSERT_EQ(outcome(run_sync(
                  store->create_photo(Photo{owner * 10, owner, blob, "image/jpeg", 1, 1, 10, 0}))),
              "ok");
  }
  auto first = run_sync(store->delete_photo(10));
  ASSERT_EQ(outcome(first), "ok");
  EXPECT_TRUE(first->blob_in_use);
  auto last = run_sync(store->delete_photo(other * 10));
  ASSERT_EQ(outcome(last), "ok");
  EXPECT_FALSE(last->blob_in_use);
}

// Each write's position names its shard; a read applies a position on that shard only.
class PositionedStore final : public DatabaseWrapper {
 public:
  PositionedStore(Database& target, std::string position)
      : DatabaseWrapper(target), position_(std::move(position)) {}
  boost::asio::awaitable<Result<StoredUser>> create_user(User user,
                                                         std::optional<std::string> key) override {
    auto r = co_await target().create_user(std::move(user), std::move(key));
    if (r.ok()) r->position = position_;
    co_return r;
  }
  boost::asio::awaitable<Result<StoredUser>> get_user(UserId id, Consistency c) override {
    asked.push_back(c.min_position);
    co_return co_await target().get_user(id, std::move(c));
  }
  std::vector<std::string> asked;

 private:
  std::string position_;
};

TEST(ShardedStore, APositionIsAppliedOnTheShardThatMadeIt) {
  auto inner = sqlite_shards(2);
  std::vector<std::unique_ptr<Database>> shards;
  std::vector<PositionedStore*> wrappers;
  for (std::size_t s = 0; s < 2; ++s) {
    auto w = std::make_unique<PositionedStore>(inner->shard(s), "0/" + std::to_string(s) + "A");
    wrappers.push_back(w.get());
    shards.push_back(std::move(w));
  }
  ShardedStore store(inner->map(), std::move(shards));
  UserId a = 1, b = 2;
  while (store.map().shard_of(b) == store.map().shard_of(a)) ++b;
  const auto sa = static_cast<std::size_t>(store.map().shard_of(a));
  const auto sb = static_cast<std::size_t>(store.map().shard_of(b));
  auto made = run_sync(store.create_user(sample_user(a)));
  ASSERT_EQ(outcome(made), "ok");
  EXPECT_EQ(made->position, std::to_string(sa) + ":0/" + std::to_string(sa) + "A");
  ASSERT_EQ(outcome(run_sync(store.create_user(sample_user(b)))), "ok");
  const Consistency after_a{.min_position = made->position};
  ASSERT_EQ(outcome(run_sync(store.get_user(a, after_a))), "ok");
  ASSERT_EQ(outcome(run_sync(store.get_user(b, after_a))), "ok");
  EXPECT_EQ(wrappers[sa]->asked.back(), "0/" + std::to_string(sa) + "A");
  EXPECT_EQ(wrappers[sb]->asked.back(), "");  // not its position
  // A hostile position (no shard, another shard's number, garbage) is no position.
  for (const char* bad : {"0/1A", "7:0/1A", ":x", "1x:0/1A", "-1:0/1A"}) {
    const Consistency c{.min_position = bad};
    ASSERT_EQ(outcome(run_sync(store.get_user(b, c))), "ok") << bad;
    EXPECT_EQ(wrappers[sb]->asked.back(), "") << bad;
  }
}

// One shard down: the server stays ready, and the other shards' messages still go out.
TEST(ShardedStore, OneShardDownKeepsReadinessAndTheOthersOutbox) {
  std::vector<std::unique_ptr<Database>> shards;
  std::vector<test::MemoryStore*> memory;
  for (int i = 0; i < 2; ++i) {
    auto m = std::make_unique<test::MemoryStore>();
    memory.push_back(m.get());
    shards.push_back(std::move(m));
  }
  ShardedStore store(ShardMap::even(shard_names(2), ShardMap::Mode::buckets), std::move(shards));
  UserId a = 1, b = 2;
  while (store.map().shard_of(b) == store.map().shard_of(a)) ++b;
  for (UserId id : {a, b}) {
    ASSERT_EQ(outcome(run_sync(store.create_user(sample_user(id)))), "ok");
    Photo photo{id * 10, id, std::string(64, 'a') + ".jpg", "image/jpeg", 1, 1, 10, 0};
    ASSERT_EQ(outcome(run_sync(store.create_photo(photo))), "ok");
    ASSERT_EQ(outcome(run_sync(store.create_job(
                  Job{id * 10 + 1, id * 10, id, "[]", JobStatus::queued, 0, "", 0}, "job"))),
              "ok");
  }
  memory[static_cast<std::size_t>(store.map().shard_of(a))]->fail_with(Errc::unavailable);
  EXPECT_EQ(outcome(run_sync(store.ping())), "ok");
  auto batch = run_sync(store.outbox_batch(100));
  ASSERT_EQ(outcome(batch), "ok");
  EXPECT_EQ(
      std::count_if(batch->begin(), batch->end(), [](const auto& m) { return m.payload == "job"; }),
      1);  // b's job; a's waits for its shard
  memory[static_cast<std::size_t>(store.map().shard_of(b))]->fail_with(Errc::unavailable);
  EXPECT_EQ(errc(run_sync(store.ping())), "unavailable");
  EXPECT_EQ(errc(run_sync(store.outbox_batch(100))), "unavailable");
}

// --- follows across a bucket move -------------------------------------------------------------

std::vector<UserId> ids_of_followers(ShardedStore& store, UserId user) {
  return test::follow_ids(run_sync(store.list_followers(user, 0, 1000)));
}

// A bucket move copies every row of the bucket (sharding/mover.h), the follower's following rows
// with their versions and tombstones among them, to a shard whose outbox ids are behind the old
// one's. The pair's next change must still win on the followee's side: with outbox ids for
// versions the unfollow below would be ignored there, and the edge would stay for ever.
TEST(ShardedStore, APairsVersionsMoveWithTheFollowersBucket) {
  test::TempDir dir;
  const std::vector<std::string> files{dir.file("s0.db"), dir.file("s1.db")};
  auto open = [&files](ShardMap map) {
    std::vector<std::unique_ptr<Database>> shards;
    for (const auto& file : files) {
      auto shard = std::make_unique<SqliteStore>(sqlite::Options{.path = file});
      EXPECT_EQ(outcome(shard->migrate()), "ok");
      shards.push_back(std::move(shard));
    }
    return std::make_unique<ShardedStore>(std::move(map), std::move(shards));
  };
  const ShardMap before = ShardMap::even(shard_names(2), ShardMap::Mode::buckets);
  const UserId follower = 1;
  const auto from = static_cast<std::size_t>(before.shard_of(follower)), to = 1 - from;
  UserId followee = 2;  // on the old shard too: the new one has written no message at all
  while (static_cast<std::size_t>(before.shard_of(followee)) != from) ++followee;
  {
    auto store = open(before);
    ASSERT_EQ(*run_sync(store->follow(follower, followee, "a", "b")), true);
    ASSERT_EQ(*run_sync(store->unfollow(follower, followee)), true);
    ASSERT_EQ(*run_sync(store->follow(follower, followee, "a", "b")), true);
    EXPECT_EQ(test::versions_of(test::relay_follows(*store)), (std::vector<std::int64_t>{1, 2, 3}));
    ASSERT_EQ(ids_of_followers(*store, followee), std::vector<UserId>{follower});
  }

  // The move at the data level: the bucket's following rows, as they are, on the new shard
  // (logical replication copies every column); then the map gives the bucket to it.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(files[to].c_str(), &db), SQLITE_OK);
  const std::string copy = "ATTACH '" + files[from] +
                           "' AS old; INSERT INTO following SELECT * FROM old.following "
                           "WHERE follower = " +
                           std::to_string(follower) + "; DETACH old;";
  const int rc = sqlite3_exec(db, copy.c_str(), nullptr, nullptr, nullptr);
  EXPECT_EQ(rc, SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
  ShardMap after = before;
  after.version = 2;
  after.buckets[static_cast<std::size_t>(bucket_of(follower))] = static_cast<int>(to);

  auto store = open(after);
  ASSERT_EQ(*run_sync(store->unfollow(follower, followee)), true);  // written on the new shard
  EXPECT_EQ(test::versions_of(test::relay_follows(*store)), std::vector<std::int64_t>{4});
  EXPECT_EQ(ids_of_followers(*store, followee), std::vector<UserId>{});
  EXPECT_EQ(run_sync(store->follow_counts(followee))->followers, 0);
  ASSERT_EQ(*run_sync(store->follow(follower, followee, "a", "b")), true);
  EXPECT_EQ(test::versions_of(test::relay_follows(*store)), std::vector<std::int64_t>{5});
  EXPECT_EQ(ids_of_followers(*store, followee), std::vector<UserId>{follower});
  EXPECT_EQ(run_sync(store->follow_counts(followee))->followers, 1);
}

TEST(ShardedStore, AMapAndItsShardsMustAgree) {
  test::TempDir dir;
  std::vector<std::unique_ptr<Database>> one;
  one.push_back(std::make_unique<SqliteStore>(sqlite::Options{.path = dir.file("one.db")}));
  EXPECT_THROW(
      ShardedStore(ShardMap::even(shard_names(2), ShardMap::Mode::buckets), std::move(one)),
      std::invalid_argument);
}

}  // namespace
}  // namespace ztm::storage

namespace ztm::test {
INSTANTIATE_TYPED_TEST_SUITE_P(Sharded, StoreConformance, storage::Factories);
INSTANTIATE_TYPED_TEST_SUITE_P(Sharded, AccountConformance, storage::Factories);
INSTANTIATE_TYPED_TEST_SUITE_P(Sharded, PhotoConformance, storage::Factories);
INSTANTIATE_TYPED_TEST_SUITE_P(Sharded, LookupConformance, storage::Factories);
INSTANTIATE_TYPED_TEST_SUITE_P(Sharded, FollowConformance, storage::Factories);
}  // namespace ztm::test
