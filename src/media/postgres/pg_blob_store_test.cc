// PgBlobStore against a private PostgreSQL server: the shared conformance suite and migrate().
#include "media/postgres/pg_blob_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <latch>
#include <optional>
#include <thread>

#include "core/run_sync.h"
#include "tests/media/blob_store_conformance.h"
#include "tests/support/postgres_instance.h"

namespace ztm::media {
namespace {

using test::PostgresInstance;

postgres::HostOptions options(const std::string& conninfo) {
  postgres::HostOptions o;
  o.connection.conninfo = conninfo;
  return o;
}

// Every conformance test gets a fresh database, with the table made by migrate().
struct PostgresFactory {
  static std::string fresh() {
    auto& pg = PostgresInstance::shared();
    const std::string conninfo = pg.conninfo(pg.create_database());
    PgBlobStore store(options(conninfo));
    if (auto m = run_sync(store.migrate()); !m.ok()) throw std::runtime_error(m.error().message);
    return conninfo;
  }
  static std::unique_ptr<BlobStore> open(const std::string& conninfo) {
    return std::make_unique<PgBlobStore>(options(conninfo));
  }
  static void backdate(const std::string& conninfo, const std::string& key,
                       std::chrono::seconds by) {
    const auto at = conninfo.find("dbname=") + 7;
    const std::string db = conninfo.substr(at, conninfo.find(' ', at) - at);
    PostgresInstance::shared().query(db, "UPDATE blobs SET put_at = put_at - interval '" +
                                             std::to_string(by.count()) +
                                             " seconds' WHERE key = '" + key + "'");
  }
};

}  // namespace
}  // namespace ztm::media

namespace ztm::test {
INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, BlobStoreConformance,
                               ::testing::Types<media::PostgresFactory>);
}  // namespace ztm::test

namespace ztm::media {
namespace {

TEST(PgBlobStore, MigrateIsIdempotentAndSafeWhenServersStartTogether) {
  constexpr int kServers = 6;
  auto& pg = PostgresInstance::shared();
  const std::string db = pg.create_database();
  std::vector<std::optional<Result<void>>> results(kServers);
  std::latch start(kServers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kServers; ++i)
    threads.emplace_back([&, i] {
      PgBlobStore store(options(pg.conninfo(db)));
      start.arrive_and_wait();
      results[static_cast<std::size_t>(i)].emplace(run_sync(store.migrate()));
    });
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_EQ(test::blob_outcome(*r), "ok");
  EXPECT_EQ(pg.query(db, "SELECT count(*) FROM pg_class WHERE relname = 'blobs'"), "1");
  // Photos do not compress: stored out of line, uncompressed.
  EXPECT_EQ(pg.query(db,
                     "SELECT attstorage FROM pg_attribute WHERE attrelid = 'blobs'::regclass "
                     "AND attname = 'bytes'"),
            "e");
}

// A database whose blobs table an older release made (`columns` after key and bytes), holding
// the blob "old bytes", then migrated twice (the second run finds nothing to do).
std::string migrated_from_table(const std::string& columns) {
  auto& pg = PostgresInstance::shared();
  const std::string db = pg.create_database();
  pg.query(db,
           "CREATE TABLE blobs (key text PRIMARY KEY CHECK (key ~ "
           "'^[0-9a-f]{64}[.](jpg|png|webp)$'), bytes bytea NOT NULL" +
               columns + ")");
  pg.query(db, "INSERT INTO blobs VALUES ('" + blob_key("old bytes", "jpg") + "', 'old bytes')");
  PgBlobStore store(options(pg.conninfo(db)));
  EXPECT_EQ(test::blob_outcome(run_sync(store.migrate())), "ok");
  EXPECT_EQ(test::blob_outcome(run_sync(store.migrate())), "ok");
  return db;
}

// A table made before put_at existed gains it at the next start; the blobs already there count
// as put at the upgrade (kept a grace time longer, never removed early).
TEST(PgBlobStore, MigrateAddsPutAtToATableMadeBeforeIt) {
  auto& pg = PostgresInstance::shared();
  const std::string db = migrated_from_table("");
  const std::string key = blob_key("old bytes", "jpg");
  PgBlobStore store(options(pg.conninfo(db)));
  EXPECT_EQ(pg.query(db, "SELECT count(*) FROM blobs WHERE put_at IS NOT NULL"), "1");
  EXPECT_EQ(run_sync(store.get(key)).value(), "old bytes");
  EXPECT_EQ(run_sync(store.remove(key, std::chrono::minutes(10))).value(), false);
  EXPECT_EQ(run_sync(store.remove(key, std::chrono::seconds(0))).value(), true);
  EXPECT_EQ(test::blob_errc(run_sync(store.get(key))), "not_found");
}

// A table made with put_at but before removal candidates (the release before the collector)
// gains remove_pending and the candidates' index at the next start: its blobs are no candidates,
// and a removal that keeps one marks it.
TEST(PgBlobStore, MigrateAddsRemovalCandidatesToATableMadeBeforeThem) {
  auto& pg = PostgresInstance::shared();
  const std::string db = migrated_from_table(", put_at timestamptz NOT NULL DEFAULT now()");
  const std::string key = blob_key("old bytes", "jpg");
  PgBlobStore store(options(pg.conninfo(db)));
  EXPECT_EQ(pg.query(db, "SELECT count(*) FROM blobs WHERE NOT remove_pending"), "1");
  EXPECT_EQ(pg.query(db,
                     "SELECT count(*) FROM pg_indexes WHERE indexname = "
                     "'blobs_remove_pending'"),
            "1");
  EXPECT_EQ(run_sync(store.removal_candidates(std::chrono::seconds(0), 10)).value(),
            std::vector<std::string>{});
  EXPECT_EQ(run_sync(store.remove(key, std::chrono::minutes(10))).value(), false);
  EXPECT_EQ(run_sync(store.removal_candidates(std::chrono::seconds(0), 10)).value(),
            std::vector<std::string>{key});
}

TEST(PgBlobStore, TheDatabaseRefusesMalformedKeysToo) {
  auto& pg = PostgresInstance::shared();
  const std::string db = pg.create_database();
  PgBlobStore store(options(pg.conninfo(db)));
  ASSERT_TRUE(run_sync(store.migrate()).ok());
  EXPECT_THROW(pg.query(db, "INSERT INTO blobs VALUES ('../x', '\\x00')"), std::runtime_error);
}

TEST(PgBlobStore, AnUnreachableServerIsUnavailable) {
  PgBlobStore store(options("host=/nonexistent-ztm-socket-dir dbname=x"));
  const auto r = run_sync(store.get(blob_key("x", "jpg")));
  EXPECT_EQ(test::blob_errc(r), "unavailable");
}

}  // namespace
}  // namespace ztm::media
