#include "storage/sqlite/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "core/run_sync.h"
#include "storage/sqlite/migrations.h"
#include "tests/storage/account_conformance.h"
#include "tests/storage/follow_conformance.h"
#include "tests/storage/lookup_conformance.h"
#include "tests/storage/photo_conformance.h"
#include "tests/support/temp_dir.h"

namespace ztm::storage {
namespace {

using test::errc;
using test::outcome;
using test::sample_user;

using test::TempDir;

std::unique_ptr<SqliteStore> open_migrated(sqlite::Options options) {
  auto store = std::make_unique<SqliteStore>(std::move(options));
  if (auto m = store->migrate(); !m.ok()) throw std::runtime_error(m.error().message);
  return store;
}

// The conformance suite gets a new database file per test, in a directory removed at exit.
struct SqliteFactory {
  static std::unique_ptr<Store> make() {
    static TempDir dir;
    static std::atomic<int> n{0};
    return open_migrated({.path = dir.file("conformance-" + std::to_string(n++) + ".db")});
  }
};

}  // namespace
}  // namespace ztm::storage

namespace ztm::test {
INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, StoreConformance, ::testing::Types<storage::SqliteFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, AccountConformance,
                               ::testing::Types<storage::SqliteFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, PhotoConformance, ::testing::Types<storage::SqliteFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, LookupConformance, ::testing::Types<storage::SqliteFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, FollowConformance, ::testing::Types<storage::SqliteFactory>);
}  // namespace ztm::test

namespace ztm::storage {
namespace {

// The test's own connection to a store's file, as another process would have.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK)
      throw std::runtime_error("cannot open " + path);
  }
  ~RawDb() { sqlite3_close_v2(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  void exec(const std::string& sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
      const std::string message = error ? error : "?";
      sqlite3_free(error);
      throw std::runtime_error(sql + ": " + message);
    }
  }
  // The first column of the first row, as text ("" when there is no row).
  std::string text(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK)
      throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
    std::string out;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

boost::asio::awaitable<void> create_into(Store& store, User u,
                                         std::optional<Result<StoredUser>>& out) {
  out.emplace(co_await store.create_user(std::move(u)));
}

TEST(SqliteStore, MigrateGoesFromZeroToLatestOnceThenIsANoOp) {
  TempDir dir;
  SqliteStore store({.path = dir.file("db/nested/users.db")});  // creates the directories
  auto version = store.schema_version();
  ASSERT_EQ(outcome(version), "ok");
  EXPECT_EQ(*version, 0);

  const auto first = store.migrate();
  ASSERT_EQ(outcome(first), "ok");
  EXPECT_EQ(first->from_version, 0);
  EXPECT_EQ(first->to_version, SqliteStore::latest_schema_version());
  EXPECT_GE(SqliteStore::latest_schema_version(), 1);

  const auto second = store.migrate();
  ASSERT_EQ(outcome(second), "ok");
  EXPECT_EQ(second->from_version, SqliteStore::latest_schema_version());
  EXPECT_EQ(second->to_version, SqliteStore::latest_schema_version());

  RawDb raw(dir.file("db/nested/users.db"));
  EXPECT_EQ(raw.text("SELECT count(*) FROM schema_migrations"),
            std::to_string(SqliteStore::latest_schema_version()));
  EXPECT_EQ(raw.text("SELECT name FROM schema_migrations WHERE version = 1"), "create users");
  EXPECT_NE(raw.text("SELECT applied_at FROM schema_migrations WHERE version = 1"), "");
}

// Migration 10 on follows written with outbox ids for versions: the followers rows start again
// at 0, the messages waiting become their pairs' versions 1..n, and the following rows carry the
// last (a tombstone where it was a remove), so every later change wins on the followee's side.
TEST(SqliteStore, MigrationTenRenumbersTheFollowVersionsOfOutboxIds) {
  TempDir dir;
  const std::string path = dir.file("legacy.db");
  SqliteStore store({.path = path});
  {
    RawDb raw(path);
    raw.exec(
        "CREATE TABLE schema_migrations(version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)");
    for (const Migration& m : sqlite_migrations()) {
      if (m.version > 9) break;
      raw.exec(std::string(m.sql));
      raw.exec("INSERT INTO schema_migrations VALUES(" + std::to_string(m.version) + ", '', '')");
    }
    // As expect_legacy_follows_migrated says.
    raw.exec(
        "INSERT INTO following VALUES(1, 2, 'two', ''), (1, 3, 'three', '');"
        "INSERT INTO followers VALUES(2, 1, 'one', 900, 1, 0), (1, 5, 'five', 950, 0, 1);"
        "INSERT INTO follower_counts VALUES(2, 0, 1);"
        "INSERT INTO outbox(id, topic, payload, created_at) VALUES"
        R"((1000, 'follow', '{"op":"add","follower":1,"followee":3,"follower_name":"one"}', ''),)"
        R"((1001, 'follow', '{"op":"add","follower":1,"followee":4,"follower_name":"one"}', ''),)"
        R"((1002, 'change', '{}', ''),)"
        R"((1003, 'follow', '{"op":"remove","follower":1,"followee":4}', ''))");
  }
  ASSERT_EQ(outcome(store.migrate()), "ok");
  test::expect_legacy_follows_migrated(store);
}

TEST(SqliteStore, DataPersistsAcrossReopening) {
  TempDir dir;
  const std::string path = dir.file("users.db");
  {
    auto store = open_migrated({.path = path});
    ASSERT_EQ(outcome(run_sync(store->create_user(sample_user(1)))), "ok");
    ASSERT_EQ(outcome(run_sync(store->update_user(sample_user(1, "b"), 1))), "ok");
  }
  auto store = open_migrated({.path = path});
  auto version = store->schema_version();
  ASSERT_EQ(outcome(version), "ok");
  EXPECT_EQ(*version, SqliteStore::latest_schema_version());
  const auto got = run_sync(store->get_user(1));
  ASSERT_EQ(outcome(got), "ok");
  EXPECT_EQ(got.value(), (StoredUser{sample_user(1, "b"), 2}));
}

TEST(SqliteStore, UsesWalAndStoresPhonesAsAJsonArray) {
  TempDir dir;
  auto store = open_migrated({.path = dir.file("users.db")});
  ASSERT_EQ(outcome(run_sync(store->create_user(sample_user(1, "x")))), "ok");
  RawDb raw(dir.file("users.db"));
  EXPECT_EQ(raw.text("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.text("SELECT phone_numbers FROM users WHERE id = 1"),
            R"(["+44 20 7946 0000","+44 20 7946 x"])");
  EXPECT_EQ(raw.text("SELECT typeof(postal_code) FROM users WHERE id = 1"), "integer");
  EXPECT_NE(raw.text("SELECT created_at FROM users WHERE id = 1"), "");
}

TEST(SqliteStore, CallsDoNotBlockTheCallingLoop) {
  TempDir dir;
  auto store = open_migrated({.path = dir.file("users.db"), .busy_timeout_ms = 30000});
  RawDb other(dir.file("users.db"));
  other.exec("BEGIN IMMEDIATE");  // another writer holds the lock, so the create has to wait

  boost::asio::io_context io;
  std::optional<Result<StoredUser>> created;
  boost::asio::co_spawn(io, create_into(*store, sample_user(1), created), boost::asio::detached);
  io.poll();  // starts the create; were SQLite called on this thread, this would wait 30 s
  bool loop_is_free = false;
  boost::asio::post(io, [&] { loop_is_free = true; });
  io.poll();
  EXPECT_TRUE(loop_is_free);
  EXPECT_FALSE(created.has_value());

  other.exec("ROLLBACK");
  io.run();  // until the create completes
  ASSERT_TRUE(created.has_value());
  EXPECT_EQ(outcome(*created), "ok");
}

TEST(SqliteStore, WriteLockHeldPastTheBusyTimeoutIsUnavailableButReadsGoOn) {
  TempDir dir;
  auto store = open_migrated({.path = dir.file("users.db"), .busy_timeout_ms = 50});
  ASSERT_EQ(outcome(run_sync(store->create_user(sample_user(1)))), "ok");
  RawDb other(dir.file("users.db"));
  other.exec("BEGIN IMMEDIATE");
  EXPECT_EQ(errc(run_sync(store->create_user(sample_user(2)))), "unavailable");
  EXPECT_EQ(errc(run_sync(store->update_user(sample_user(1, "b"), 1))), "unavailable");
  EXPECT_EQ(errc(run_sync(store->delete_user(1, std::nullopt))), "unavailable");
  EXPECT_EQ(outcome(run_sync(store->get_user(1))), "ok") << "WAL readers do not wait for writers";
  other.exec("ROLLBACK");
  EXPECT_EQ(outcome(run_sync(store->create_user(sample_user(2)))), "ok");
  const auto got = run_sync(store->get_user(1));
  ASSERT_EQ(outcome(got), "ok");
  EXPECT_EQ(got->version, 1) << "the failed update changed nothing";
}

TEST(SqliteStore, CallsBeyondMaxPendingAreOverloaded) {
  TempDir dir;
  auto store = open_migrated(
      {.path = dir.file("users.db"), .threads = 1, .max_pending = 1, .busy_timeout_ms = 30000});
  RawDb other(dir.file("users.db"));
  other.exec("BEGIN IMMEDIATE");  // keeps the one pending call (a create) from finishing

  boost::asio::io_context io;
  std::optional<Result<StoredUser>> created;
  boost::asio::co_spawn(io, create_into(*store, sample_user(1), created), boost::asio::detached);
  io.poll();
  ASSERT_FALSE(created.has_value());
  EXPECT_EQ(errc(run_sync(store->ping())), "overloaded");
  EXPECT_EQ(errc(run_sync(store->get_user(1))), "overloaded");

  other.exec("ROLLBACK");
  io.run();
  ASSERT_TRUE(created.has_value());
  EXPECT_EQ(outcome(*created), "ok");
  EXPECT_EQ(outcome(run_sync(store->ping())), "ok") << "the slot is free again";
}

// The message of the exception `open` throws, or "" when it throws none.
template <class F>
std::string thrown_message(F open) {
  try {
    open();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(SqliteStore, UnusablePathsThrowNamingThePath) {
  TempDir dir;
  std::ofstream(dir.file("plain-file")) << "x";
  // A parent that is a file: the directory cannot be created (holds for root too).
  const std::string under_file = dir.file("plain-file/sub/users.db");
  auto message = thrown_message([&] { SqliteStore s({.path = under_file}); });
  EXPECT_NE(message.find(under_file), std::string::npos) << message;
  EXPECT_NE(message.find("directory"), std::string::npos) << message;
  // A path that is a directory.
  message = thrown_message([&] { SqliteStore s({.path = dir.file("")}); });
  EXPECT_NE(message.find("cannot open"), std::string::npos) << message;
  // A file that is not a database.
  std::ofstream(dir.file("garbage.db")) << std::string(4096, 'g');
  message = thrown_message([&] { SqliteStore s({.path = dir.file("garbage.db")}); });
  EXPECT_NE(message.find(dir.file("garbage.db")), std::string::npos) << message;
  EXPECT_NE(message.find("not a database"), std::string::npos) << message;
  // No path, and nonsense options.
  EXPECT_NE(thrown_message([] { SqliteStore s({}); }), "");
  EXPECT_NE(thrown_message([&] { SqliteStore s({.path = dir.file("a.db"), .threads = 0}); }), "");
}

}  // namespace
}  // namespace ztm::storage
