// SqliteSessionStore: the conformance suite, plus what only the file backend has.

#include "sessions/sqlite/sqlite_session_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "tests/sessions/session_store_conformance.h"

namespace ztm::test {

using sessions::RateCount;
using sessions::SessionData;
using sessions::SessionStore;
using sessions::SqliteSessionOptions;
using sessions::SqliteSessionStore;

namespace {

// A SqliteSessionStore in a fresh directory, removed with it.
class StoreInTempDir final : public SessionStore {
 public:
  explicit StoreInTempDir(const Clock& clock = Clock::system()) {
    std::string pattern = "/tmp/ztm-sessions-XXXXXX";
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    store_ =
        std::make_unique<SqliteSessionStore>(SqliteSessionOptions{.path = path(), .clock = &clock});
  }
  ~StoreInTempDir() override {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string path() const { return dir_ + "/db/sessions.db"; }

  boost::asio::awaitable<Result<void>> create(std::string key, SessionData data,
                                              std::chrono::milliseconds ttl) override {
    return store_->create(std::move(key), std::move(data), ttl);
  }
  boost::asio::awaitable<Result<SessionData>> touch(std::string key,
                                                    std::chrono::milliseconds ttl) override {
    return store_->touch(std::move(key), ttl);
  }
  boost::asio::awaitable<Result<void>> revoke(std::string key) override {
    return store_->revoke(std::move(key));
  }
  boost::asio::awaitable<Result<void>> revoke_user(UserId user) override {
    return store_->revoke_user(user);
  }
  boost::asio::awaitable<Result<RateCount>> hit(std::string key,
                                                std::chrono::milliseconds window) override {
    return store_->hit(std::move(key), window);
  }
  boost::asio::awaitable<Result<void>> ping() override { return store_->ping(); }

  std::unique_ptr<SqliteSessionStore> store_;

 private:
  std::string dir_;
};

struct SqliteFactory {
  static constexpr bool kUsesClock = true;
  static std::unique_ptr<SessionStore> make(const Clock& clock) {
    return std::make_unique<StoreInTempDir>(clock);
  }
};

INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, SessionStoreConformance, ::testing::Types<SqliteFactory>);

// Sessions outlive the store object: a restarted server finds them in the file.
TEST(SqliteSessionStore, SessionsSurviveReopeningTheFile) {
  StoreInTempDir dir;
  EventLoops loops(1);
  ASSERT_TRUE(loops.run(dir.create("k", SessionData{5, "admin"}, std::chrono::hours(1))).ok());
  dir.store_ = std::make_unique<SqliteSessionStore>(SqliteSessionOptions{.path = dir.path()});
  const auto got = loops.run(dir.touch("k", std::chrono::hours(1)));
  ASSERT_EQ(outcome(got), "ok");
  EXPECT_EQ(got.value(), (SessionData{5, "admin"}));
}

TEST(SqliteSessionStore, AnUnopenablePathIsAStartUpError) {
  EXPECT_THROW(SqliteSessionStore(SqliteSessionOptions{.path = "/proc/no/such/dir/s.db"}),
               std::runtime_error);
}

}  // namespace
}  // namespace ztm::test
