// The KPI conformance suite (kpi_population.h) on every backend — the in-memory fake, SQLite, a
// real PostgreSQL 15 and the cluster's router over it (started by the test, labelled engine) — and
// the live sketches against the exact SQL count for 20,000 users active on one day: the in-process
// HyperLogLog, and Redis's (a redis-server started by the test, engine).

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <cmath>
#include <filesystem>

#include "kpi/redis/redis_sketch.h"
#include "storage/replication/replica_router.h"
#include "storage/sqlite/sqlite_store.h"
#include "tests/kpi/kpi_population.h"
#include "tests/storage/pg_test_util.h"
#include "tests/support/memory_store.h"
#include "tests/support/redis_instance.h"

namespace ztm::test {

// A database and the one event loop every call runs on (PostgreSQL keeps a pool per loop).
class Backend {
 public:
  virtual ~Backend() = default;
  virtual storage::Database& db() = 0;
  template <class T>
  T run(boost::asio::awaitable<T> aw) {
    return run_on(io_, std::move(aw));
  }

 private:
  boost::asio::io_context io_;
};

class MemoryBackend final : public Backend {
 public:
  storage::Database& db() override { return store_; }

 private:
  MemoryStore store_;
};

class SqliteBackend final : public Backend {
 public:
  SqliteBackend() {
    char dir[] = "/tmp/ztm-kpi-XXXXXX";
    dir_ = mkdtemp(dir);
    store_ = std::make_unique<storage::SqliteStore>(
        sqlite::Options{.path = dir_ + "/ztm.db", .threads = 2, .durable_commits = false});
    if (auto m = store_->migrate(); !m.ok()) throw std::runtime_error(m.error().message);
  }
  ~SqliteBackend() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  storage::Database& db() override { return *store_; }

 private:
  std::string dir_;
  std::unique_ptr<storage::SqliteStore> store_;
};

class PgBackend final : public Backend {
 public:
  PgBackend() : store_(migrated_store(PostgresInstance::shared(), {})) {}
  storage::Database& db() override { return *store_; }

 private:
  std::unique_ptr<storage::PgStore> store_;
};

// The cluster's router over one host: every KPI call goes to the primary.
class RouterBackend final : public Backend {
 public:
  RouterBackend() {
    auto& pg = PostgresInstance::shared();
    storage::ReplicaRouterOptions o;
    o.conninfo = pg.conninfo(pg.create_database());
    store_ = std::make_unique<storage::ReplicaRouter>(o);
    if (auto m = store_->migrate(); !m.ok()) throw std::runtime_error(m.error().message);
  }
  storage::Database& db() override { return *store_; }

 private:
  std::unique_ptr<storage::ReplicaRouter> store_;
};

struct MemoryFactory {
  static std::unique_ptr<Backend> make() { return std::make_unique<MemoryBackend>(); }
};
struct SqliteFactory {
  static std::unique_ptr<Backend> make() { return std::make_unique<SqliteBackend>(); }
};
struct PgFactory {
  static std::unique_ptr<Backend> make() { return std::make_unique<PgBackend>(); }
};
struct RouterFactory {
  static std::unique_ptr<Backend> make() { return std::make_unique<RouterBackend>(); }
};

INSTANTIATE_TYPED_TEST_SUITE_P(Memory, KpiPopulation, ::testing::Types<MemoryFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, KpiPopulation, ::testing::Types<SqliteFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, KpiPopulation, ::testing::Types<PgFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Router, KpiPopulation, ::testing::Types<RouterFactory>);

namespace {

// 20,000 users active on one day, through the tracker: the exact DAU (SQL) is 20,000 and the
// sketch's is within 3 standard errors (3 x 0.81 %) of it.
void expect_sketch_within_error(kpi::ActiveUserSketch& sketch, Backend& backend) {
  ManualClock clock;
  app::ActivityTracker tracker(backend.db(), sketch, app::ActivityOptions{.clock = &clock});
  IdGenerator ids(5, clock);
  for (int i = 0; i < 20'000; ++i) tracker.seen(ids.next());
  ASSERT_TRUE(backend.run(tracker.flush()).ok());
  const UtcDay day = utc_day(clock.now());
  app::KpiService kpis(backend.db(), sketch, clock);
  const auto r = backend.run(kpis.report(day));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->exact.dau, 20'000);
  ASSERT_TRUE(r->sketch.dau) << r->sketch.error;
  const double error = std::abs(static_cast<double>(*r->sketch.dau) - 20'000);
  EXPECT_LE(error, 3 * kpi::HyperLogLog::kStandardError * 20'000) << *r->sketch.dau;
  EXPECT_EQ(r->exact.mau, 20'000);
  EXPECT_LE(std::abs(static_cast<double>(*r->sketch.mau) - 20'000),
            3 * kpi::HyperLogLog::kStandardError * 20'000);
}

TEST(KpiSketchLocal, DauOf20000UsersWithinItsErrorOfTheExactCount) {
  SqliteBackend backend;
  kpi::LocalActiveUserSketch sketch;
  expect_sketch_within_error(sketch, backend);
}

TEST(KpiSketchRedis, DauOf20000UsersWithinItsErrorOfTheExactCount) {
  RedisInstance redis;
  redis::ConnectionOptions o;
  o.address = redis.address();
  o.timeout = std::chrono::seconds(2);
  kpi::RedisActiveUserSketch sketch(std::make_shared<redis::Client>(o), {});
  SqliteBackend backend;
  expect_sketch_within_error(sketch, backend);
}

}  // namespace
}  // namespace ztm::test
