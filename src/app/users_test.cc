#include "app/users.h"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <functional>

#include "app/user_json.h"
#include "cache/local/local_cache.h"
#include "core/run_sync.h"
#include "tests/support/memory_store.h"

namespace ztm {
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
  std::int64_t now = IdGenerator::kEpochMs + 1;
  IdGenerator ids{1, [this] { return now; }};
  UserService users{store, &cache, ids};
};

TEST_F(UserServiceTest, GetReadsThroughTheCache) {
  auto first = run_sync(users.get(12));
  ASSERT_TRUE(first);
  EXPECT_EQ((*first)->version, 1);
  EXPECT_EQ((*first)->data, serialize_user(john()));
  const int reads = store.reads();
  auto second = run_sync(users.get(12));
  ASSERT_TRUE(second);
  EXPECT_EQ(store.reads(), reads);  // served from the cache
  EXPECT_EQ((*second)->data, (*first)->data);
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
  auto stale = run_sync(users.patch(12, boost::json::parse(R"({"firstName":"X"})"), Precondition{false, {9}}));
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, Errc::precondition_failed);
  auto phones = run_sync(users.patch(12, boost::json::parse(R"({"phoneNumbers":[]})"), Precondition{false, {1}}));
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

}  // namespace
}  // namespace ztm
