#include "storage/metered_store.h"

#include <gtest/gtest.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <string>

#include "core/run_sync.h"
#include "tests/support/memory_store.h"
#include "tests/support/metric_value.h"

namespace ztm::storage {
namespace {

User ada(UserId id) {
  User u;
  u.id = id;
  u.first_name = "Ada";
  return u;
}

// Answers every Store call with `error` when set, else success; get_user takes `delay` to
// answer. Photo calls go to the memory store.
class ScriptedStore final : public test::MemoryStore {
 public:
  using Store::create_user;
  using Store::get_user;
  using Store::list_users;
  std::optional<Error> error;
  std::chrono::milliseconds delay{0};

  boost::asio::awaitable<Result<StoredUser>> get_user(UserId id, Consistency) override {
    if (delay.count() > 0) {
      boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, delay);
      co_await timer.async_wait(boost::asio::use_awaitable);
    }
    if (error) co_return *error;
    co_return StoredUser{ada(id), 3};
  }
  boost::asio::awaitable<Result<UserPage>> list_users(UserId, int, Consistency) override {
    if (error) co_return *error;
    co_return UserPage{};
  }
  boost::asio::awaitable<Result<StoredUser>> create_user(User user,
                                                         std::optional<std::string>) override {
    if (error) co_return *error;
    co_return StoredUser{std::move(user), 1};
  }
  boost::asio::awaitable<Result<StoredUser>> update_user(User user,
                                                         std::optional<std::int64_t>) override {
    if (error) co_return *error;
    co_return StoredUser{std::move(user), 2};
  }
  boost::asio::awaitable<Result<Committed>> delete_user(UserId,
                                                        std::optional<std::int64_t>) override {
    if (error) co_return *error;
    co_return Committed{};
  }
  boost::asio::awaitable<Result<std::int64_t>> count_users() override {
    if (error) co_return *error;
    co_return std::int64_t{5};
  }
  boost::asio::awaitable<Result<StoredUser>> create_account(User u, Account) override {
    if (error) co_return *error;
    co_return StoredUser{std::move(u), 1};
  }
  boost::asio::awaitable<Result<Account>> find_account(std::string email) override {
    if (error) co_return *error;
    co_return Account{12, std::move(email), "hash", "user"};
  }
  boost::asio::awaitable<Result<void>> ping() override {
    if (error) co_return *error;
    co_return Result<void>{};
  }
};

TEST(MeteredStore, CreatesALatencyHistogramPerOpUpFront) {
  ScriptedStore inner;
  MetricsRegistry registry;
  MeteredStore store(inner, registry);
  for (const char* op : {"get_user", "list_users", "create_user", "update_user", "delete_user",
                         "count_users", "create_account", "find_account", "ping"})
    EXPECT_EQ(
        test::metric_value(registry, std::string("ztm_storage_seconds_count{op=\"") + op + "\"}"),
        0)
        << op;
  EXPECT_EQ(registry.render().find("ztm_storage_errors_total"), std::string::npos);
}

TEST(MeteredStore, PassesResultsThroughAndCountsEachOp) {
  ScriptedStore inner;
  MetricsRegistry registry;
  MeteredStore store(inner, registry);
  const auto got = run_sync(store.get_user(12));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got.value(), (StoredUser{ada(12), 3}));
  EXPECT_EQ(run_sync(store.count_users()).value(), 5);
  EXPECT_TRUE(run_sync(store.list_users(0, 10)).ok());
  EXPECT_EQ(run_sync(store.create_user(ada(1))).value().version, 1);
  EXPECT_EQ(run_sync(store.update_user(ada(1), 1)).value().version, 2);
  EXPECT_TRUE(run_sync(store.delete_user(1, std::nullopt)).ok());
  EXPECT_TRUE(run_sync(store.ping()).ok());
  EXPECT_EQ(
      run_sync(store.create_account(ada(2), Account{2, "a@b.c", "h", "user"})).value().version, 1);
  EXPECT_EQ(run_sync(store.find_account("a@b.c")).value().user_id, 12);
  for (const char* op : {"get_user", "list_users", "create_user", "update_user", "delete_user",
                         "count_users", "create_account", "find_account", "ping"})
    EXPECT_EQ(
        test::metric_value(registry, std::string("ztm_storage_seconds_count{op=\"") + op + "\"}"),
        1)
        << op;
  EXPECT_EQ(registry.render().find("ztm_storage_errors_total"), std::string::npos);
}

TEST(MeteredStore, CountsErrorsByOpAndCode) {
  ScriptedStore inner;
  MetricsRegistry registry;
  MeteredStore store(inner, registry);
  inner.error = Error{Errc::not_found, "user 12 not found"};
  const auto got = run_sync(store.get_user(12));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, Errc::not_found);
  EXPECT_EQ(got.error().message, "user 12 not found");
  (void)run_sync(store.get_user(13));
  inner.error = Error{Errc::unavailable, "down"};
  EXPECT_EQ(run_sync(store.ping()).error().code, Errc::unavailable);
  EXPECT_EQ(
      test::metric_value(registry, R"(ztm_storage_errors_total{op="get_user",code="not_found"})"),
      2);
  EXPECT_EQ(
      test::metric_value(registry, R"(ztm_storage_errors_total{op="ping",code="unavailable"})"), 1);
  EXPECT_EQ(test::metric_value(registry, R"(ztm_storage_seconds_count{op="get_user"})"), 2)
      << "failed calls are timed too";
}

TEST(MeteredStore, TimesTheWholeAwaitedCall) {
  ScriptedStore inner;
  inner.delay = std::chrono::milliseconds(30);
  MetricsRegistry registry;
  MeteredStore store(inner, registry);
  ASSERT_TRUE(run_sync(store.get_user(1)).ok());
  EXPECT_GE(test::metric_value(registry, R"(ztm_storage_seconds_sum{op="get_user"})"), 0.030);
}

TEST(MeteredStore, MeasuresPhotoStoreCalls) {
  test::MemoryStore inner;
  MetricsRegistry registry;
  MeteredStore store(inner, registry);
  ASSERT_TRUE(run_sync(store.create_user(ada(1))).ok());
  const Photo photo{10, 1, std::string(64, 'a') + ".jpg", "image/jpeg", 40, 30, 100, 0};
  ASSERT_TRUE(run_sync(store.create_photo(photo)).ok());
  EXPECT_EQ(run_sync(store.get_photo(10)).value(), photo);
  EXPECT_EQ(run_sync(store.get_photo(99)).error().code, Errc::not_found);
  EXPECT_TRUE(run_sync(store.outbox_batch(10)).ok());
  EXPECT_EQ(test::metric_value(registry, R"(ztm_storage_seconds_count{op="create_photo"})"), 1);
  EXPECT_EQ(test::metric_value(registry, R"(ztm_storage_seconds_count{op="get_photo"})"), 2);
  EXPECT_EQ(test::metric_value(registry, R"(ztm_storage_seconds_count{op="outbox_batch"})"), 1);
  EXPECT_EQ(
      test::metric_value(registry, R"(ztm_storage_errors_total{op="get_photo",code="not_found"})"),
      1);
}

TEST(MeteredStore, MeasuresKpiStoreCalls) {
  test::MemoryStore inner;
  MetricsRegistry registry;
  MeteredStore store(inner, registry);
  ASSERT_TRUE(run_sync(store.create_purchase(Purchase{1, 2, "p", 199, "USD"}, "k")).ok());
  ASSERT_TRUE(run_sync(store.list_purchases(2, 10)).ok());
  ASSERT_TRUE(run_sync(store.record_activity(100, std::vector<UserId>{2})).ok());
  EXPECT_EQ(run_sync(store.daily_kpis(100)).value().dau, 1);
  ASSERT_TRUE(run_sync(store.cohorts(90, 100)).ok());
  for (const char* op :
       {"create_purchase", "list_purchases", "record_activity", "daily_kpis", "cohorts"})
    EXPECT_EQ(
        test::metric_value(registry, std::string("ztm_storage_seconds_count{op=\"") + op + "\"}"),
        1)
        << op;
}

}  // namespace
}  // namespace ztm::storage
