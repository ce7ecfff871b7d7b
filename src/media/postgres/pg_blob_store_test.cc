// PgBlobStore against a private PostgreSQL server: the shared conformance suite and migrate().
#include "media/postgres/pg_blob_store.h"

#include <gtest/gtest.h>

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
