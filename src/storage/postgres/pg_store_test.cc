// PgStore against a private PostgreSQL server: the shared conformance suite, migrations, and
// many coroutines sharing one pipelined connection.
#include "storage/postgres/pg_store.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <latch>
#include <thread>

#include "tests/storage/account_conformance.h"
#include "tests/storage/follow_conformance.h"
#include "tests/storage/lookup_conformance.h"
#include "tests/storage/pg_test_util.h"
#include "tests/storage/photo_conformance.h"
#include "tests/support/postgres_instance.h"

namespace ztm::storage {
namespace {

using test::errc;
using test::outcome;
using test::PostgresInstance;
using test::sample_user;

// Every conformance test gets a fresh database on the binary's one server.
struct PostgresFactory {
  static std::unique_ptr<Store> make() {
    return test::migrated_store(PostgresInstance::shared(), {});
  }
};

}  // namespace
}  // namespace ztm::storage

namespace ztm::test {
INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, StoreConformance,
                               ::testing::Types<storage::PostgresFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, AccountConformance,
                               ::testing::Types<storage::PostgresFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, PhotoConformance,
                               ::testing::Types<storage::PostgresFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, LookupConformance,
                               ::testing::Types<storage::PostgresFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, FollowConformance,
                               ::testing::Types<storage::PostgresFactory>);
}  // namespace ztm::test

namespace ztm::storage {
namespace {

TEST(PgStore, MigrateGoesFromZeroToLatestOnceThenIsANoOp) {
  auto& pg = PostgresInstance::shared();
  const std::string db = pg.create_database();
  PgStore store({.conninfo = pg.conninfo(db)});
  auto version = store.schema_version();
  ASSERT_EQ(outcome(version), "ok");
  EXPECT_EQ(*version, 0);

  const auto first = store.migrate();
  ASSERT_EQ(outcome(first), "ok");
  EXPECT_EQ(first->from_version, 0);
  EXPECT_EQ(first->to_version, PgStore::latest_schema_version());
  EXPECT_GE(PgStore::latest_schema_version(), 1);

  const auto second = store.migrate();
  ASSERT_EQ(outcome(second), "ok");
  EXPECT_EQ(second->from_version, PgStore::latest_schema_version());
  EXPECT_EQ(second->to_version, PgStore::latest_schema_version());

  EXPECT_EQ(pg.query(db, "SELECT count(*) FROM schema_migrations"),
            std::to_string(PgStore::latest_schema_version()));
  EXPECT_EQ(pg.query(db, "SELECT name FROM schema_migrations WHERE version = 1"), "create users");
  version = store.schema_version();
  ASSERT_EQ(outcome(version), "ok");
  EXPECT_EQ(*version, PgStore::latest_schema_version());
}

TEST(PgStore, ConcurrentMigratorsApplyEachMigrationOnce) {
  constexpr int kMigrators = 8;
  auto& pg = PostgresInstance::shared();
  const std::string db = pg.create_database();
  std::vector<std::optional<Result<MigrationReport>>> reports(kMigrators);
  std::latch start(kMigrators);
  std::vector<std::thread> threads;
  for (int i = 0; i < kMigrators; ++i)
    threads.emplace_back([&, i] {
      PgStore store({.conninfo = pg.conninfo(db)});  // each its own connection, as servers would
      start.arrive_and_wait();
      reports[static_cast<std::size_t>(i)].emplace(store.migrate());
    });
  for (auto& t : threads) t.join();
  int from_zero = 0;
  for (const auto& r : reports) {
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(outcome(*r), "ok");
    EXPECT_EQ((*r)->to_version, PgStore::latest_schema_version());
    from_zero += (*r)->from_version == 0;
  }
  EXPECT_EQ(from_zero, 1) << "exactly one migrator applies the migrations";
  EXPECT_EQ(pg.query(db, "SELECT count(*) FROM schema_migrations"),
            std::to_string(PgStore::latest_schema_version()));
}

// Migration 12 on follows written with outbox ids for versions (as SQLite's migration 10).
TEST(PgStore, MigrationTwelveRenumbersTheFollowVersionsOfOutboxIds) {
  auto& pg = PostgresInstance::shared();
  const std::string db = pg.create_database();
  {
    test::Session raw(pg.conninfo(db));
    raw.exec(
        "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
        "applied_at timestamptz NOT NULL DEFAULT now())");
    for (const Migration& m : pg_migrations()) {
      if (m.version > 11) break;
      raw.exec(std::string(m.sql));
      raw.exec("INSERT INTO schema_migrations(version, name) VALUES(" + std::to_string(m.version) +
               ", '')");
    }
    // As expect_legacy_follows_migrated says.
    raw.exec(
        "INSERT INTO following(follower, followee, followee_name) VALUES(1, 2, 'two'), "
        "(1, 3, 'three');"
        "INSERT INTO followers(followee, follower, follower_name, version, active, was_active) "
        "VALUES(2, 1, 'one', 900, true, false), (1, 5, 'five', 950, false, true);"
        "INSERT INTO follower_counts(user_id, slot, n) VALUES(2, 0, 1);"
        "INSERT INTO outbox(id, topic, payload) VALUES"
        R"((1000, 'follow', '{"op":"add","follower":1,"followee":3,"follower_name":"one"}'),)"
        R"((1001, 'follow', '{"op":"add","follower":1,"followee":4,"follower_name":"one"}'),)"
        R"((1002, 'change', '{}'),)"
        R"((1003, 'follow', '{"op":"remove","follower":1,"followee":4}'))");
  }
  PgStore store({.conninfo = pg.conninfo(db)});
  ASSERT_EQ(outcome(store.migrate()), "ok");
  test::expect_legacy_follows_migrated(store);
}

TEST(PgStore, SchemaMeansWhatSqlitesDoes) {
  auto& pg = PostgresInstance::shared();
  std::string db;
  auto store = test::migrated_store(pg, {}, &db);
  ASSERT_EQ(outcome(run_sync(store->create_user(sample_user(1, "x")))), "ok");
  EXPECT_EQ(pg.query(db, "SELECT phone_numbers::text FROM users WHERE id = 1"),
            R"(["+44 20 7946 0000", "+44 20 7946 x"])");
  EXPECT_EQ(pg.query(db, "SELECT pg_typeof(postal_code)::text FROM users WHERE id = 1"), "bigint");
  EXPECT_EQ(pg.query(db, "SELECT created_at IS NOT NULL AND updated_at IS NOT NULL FROM users"),
            "t");
}

boost::asio::awaitable<void> get_into(Store& store, UserId id,
                                      std::optional<Result<StoredUser>>& out) {
  out.emplace(co_await store.get_user(id));
}
boost::asio::awaitable<void> update_into(Store& store, User u,
                                         std::optional<Result<StoredUser>>& out) {
  out.emplace(co_await store.update_user(std::move(u), std::nullopt));
}
boost::asio::awaitable<void> create_into(Store& store, User u,
                                         std::optional<Result<StoredUser>>& out) {
  out.emplace(co_await store.create_user(std::move(u)));
}

TEST(PgStore, ManyCoroutinesOnOneLoopShareOnePipelinedConnection) {
  constexpr int kCalls = 200;
  auto& pg = PostgresInstance::shared();
  std::string db;
  auto store = test::migrated_store(pg, {.connections_per_loop = 1}, &db);
  ASSERT_EQ(outcome(run_sync(store->create_user(sample_user(1)))), "ok");

  boost::asio::io_context io;
  std::vector<std::optional<Result<StoredUser>>> results(kCalls);
  for (int i = 0; i < kCalls; ++i)
    boost::asio::co_spawn(io, get_into(*store, 1, results[static_cast<std::size_t>(i)]),
                          boost::asio::detached);
  const auto started = std::chrono::steady_clock::now();
  io.run();  // all 200 are in flight at once: one loop, one connection
  const auto ms = test::elapsed_ms(started);
  for (const auto& r : results) {
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(outcome(*r), "ok");
    EXPECT_EQ(r->value(), (StoredUser{sample_user(1), 1}));
  }
  // The loop's pool is still open (io is alive): exactly one backend served all the calls.
  EXPECT_EQ(pg.query("postgres", "SELECT count(*) FROM pg_stat_activity WHERE datname = '" + db +
                                     "' AND backend_type = 'client backend'"),
            "1");
  RecordProperty("calls_ms", static_cast<int>(ms));
}

TEST(PgStore, AFailingRequestDoesNotAbortOthersInThePipeline) {
  constexpr int kCalls = 100;
  auto& pg = PostgresInstance::shared();
  auto store =
      test::migrated_store(pg, {.connections_per_loop = 1, .write_connections_per_loop = 1});
  ASSERT_EQ(outcome(run_sync(store->create_user(sample_user(1)))), "ok");
  boost::asio::io_context io;
  std::vector<std::optional<Result<StoredUser>>> creates(kCalls), others(kCalls), gets(kCalls);
  for (std::size_t i = 0; i < kCalls; ++i) {  // interleaved on one write connection: every other
                                              // create fails (the same id)
    boost::asio::co_spawn(io, create_into(*store, sample_user(2), creates[i]),
                          boost::asio::detached);
    boost::asio::co_spawn(io,
                          create_into(*store, sample_user(static_cast<UserId>(100 + i)), others[i]),
                          boost::asio::detached);
    boost::asio::co_spawn(io, get_into(*store, 1, gets[i]), boost::asio::detached);
  }
  io.run();
  int created = 0;
  for (std::size_t i = 0; i < kCalls; ++i) {
    ASSERT_TRUE(creates[i].has_value() && others[i].has_value() && gets[i].has_value());
    created += creates[i]->ok();
    if (!creates[i]->ok()) {
      EXPECT_EQ(errc(*creates[i]), "conflict");
    }
    EXPECT_EQ(outcome(*others[i]), "ok");
    EXPECT_EQ(outcome(*gets[i]), "ok");
  }
  EXPECT_EQ(created, 1);
}

// How many of the store's backends on `db` each lane has, and what they ran last.
std::string backends_by_lane(PostgresInstance& pg, const std::string& db) {
  return pg.query("postgres",
                  "SELECT string_agg(application_name || ':' || n || ':' || queries, ' ' ORDER BY "
                  "application_name) FROM (SELECT application_name, count(*) AS n, "
                  "string_agg(DISTINCT split_part(query, ' ', 1), ',') AS queries "
                  "FROM pg_stat_activity WHERE datname = '" +
                      db +
                      "' AND backend_type = 'client backend' AND pid <> pg_backend_pid() "
                      "GROUP BY application_name) lanes");
}

TEST(PgStore, ReadsAndWritesTakeTheirOwnPipelinedConnections) {
  constexpr int kCalls = 64;
  auto& pg = PostgresInstance::shared();
  std::string db;
  auto store =
      test::migrated_store(pg, {.connections_per_loop = 1, .write_connections_per_loop = 4}, &db);
  for (UserId id = 1; id <= 8; ++id) {
    ASSERT_EQ(outcome(run_sync(store->create_user(sample_user(id)))), "ok");
  }
  boost::asio::io_context io;  // kept alive: its pool's connections stay open to be counted
  std::vector<std::optional<Result<StoredUser>>> gets(kCalls), updates(kCalls);
  for (std::size_t i = 0; i < kCalls; ++i) {
    boost::asio::co_spawn(io, get_into(*store, static_cast<UserId>(1 + i % 8), gets[i]),
                          boost::asio::detached);
    boost::asio::co_spawn(
        io, update_into(*store, sample_user(static_cast<UserId>(1 + i % 8)), updates[i]),
        boost::asio::detached);
  }
  io.run();
  for (std::size_t i = 0; i < kCalls; ++i) {
    ASSERT_TRUE(gets[i].has_value() && updates[i].has_value());
    EXPECT_EQ(outcome(*gets[i]), "ok");
    EXPECT_EQ(outcome(*updates[i]), "ok");
  }
  // 64 reads pipelined on one connection; 64 concurrent writes spread over all four write
  // connections (each opened while the others were busy), and no statement on the wrong lane.
  EXPECT_EQ(backends_by_lane(pg, db), "ztm-read:1:SELECT ztm-write:4:UPDATE");
}

// Calls beyond max_pending on a loop are refused at once, reads and writes counted together,
// those still waiting for their connection included.
TEST(PgStore, MaxPendingBoundsReadsAndWritesTogether) {
  constexpr int kCalls = 15;
  auto& pg = PostgresInstance::shared();
  auto store = test::migrated_store(pg, {.max_pending = 10});
  ASSERT_EQ(outcome(run_sync(store->create_user(sample_user(1)))), "ok");
  boost::asio::io_context io;  // a fresh loop: every call below starts before any connect ends
  std::vector<std::optional<Result<StoredUser>>> gets(kCalls), updates(kCalls);
  for (std::size_t i = 0; i < kCalls; ++i) {
    boost::asio::co_spawn(io, get_into(*store, 1, gets[i]), boost::asio::detached);
    boost::asio::co_spawn(io, update_into(*store, sample_user(1), updates[i]),
                          boost::asio::detached);
  }
  io.run();
  int ok = 0, overloaded = 0;
  for (const auto* results : {&gets, &updates})
    for (const auto& r : *results) {
      ASSERT_TRUE(r.has_value());
      ok += r->ok();
      overloaded += errc(*r) == "overloaded";
    }
  EXPECT_EQ(ok, 10);
  EXPECT_EQ(overloaded, 2 * kCalls - 10);
  // Once those are done the loop takes calls again.
  EXPECT_EQ(outcome(test::run_on(io, store->get_user(1))), "ok");
}

TEST(PgStore, AnUnmigratedDatabaseFailsAndWorksOnceMigrated) {
  auto& pg = PostgresInstance::shared();
  PgStore store({.conninfo = pg.conninfo(pg.create_database())});
  boost::asio::io_context io;  // one loop throughout: the same connection sees both states
  EXPECT_EQ(errc(test::run_on(io, store.get_user(1))), "internal");  // no table "users"
  ASSERT_EQ(outcome(store.migrate()), "ok");
  EXPECT_EQ(errc(test::run_on(io, store.get_user(1))), "not_found");  // prepared again
}

TEST(PgStore, InvalidTextIsInvalidArgument) {
  auto store = test::migrated_store(PostgresInstance::shared(), {});
  User u = sample_user(1);
  u.first_name = std::string("a\0b", 3);
  EXPECT_EQ(errc(run_sync(store->create_user(u))), "invalid_argument");
  u = sample_user(1);
  u.last_name = "\xff\xfe";  // not UTF-8
  EXPECT_EQ(errc(run_sync(store->create_user(u))), "invalid_argument");
  EXPECT_EQ(outcome(run_sync(store->create_user(sample_user(1)))), "ok");
}

TEST(PgStore, NonsenseOptionsThrow) {
  EXPECT_THROW(PgStore({.conninfo = ""}), std::invalid_argument);
  EXPECT_THROW(PgStore({.connections_per_loop = 0}), std::invalid_argument);
  EXPECT_THROW(PgStore({.write_connections_per_loop = 0}), std::invalid_argument);
  EXPECT_THROW(PgStore({.timeout_ms = 0}), std::invalid_argument);
}

}  // namespace
}  // namespace ztm::storage
