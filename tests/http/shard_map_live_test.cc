// The web tier on a bucket map kept in etcd (storage.shard_map = etcd://HOST:PORT/KEY), built by
// the composition root as `ztm serve` builds it: the server starts on the map it reads, and
// follows a change written later — a shard the new map appends is opened, and users of the
// buckets moved to it are written there and nowhere else. Real etcd and PostgreSQL (engine).
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <memory>
#include <set>
#include <string>

#include "core/run_sync.h"
#include "storage/sharding/shard_map.h"
#include "tests/support/etcd_instance.h"
#include "tests/support/eventually.h"
#include "tests/support/metric_value.h"
#include "tests/support/postgres_instance.h"
#include "tests/support/test_server.h"

namespace ztm::test {
namespace {

constexpr const char* kKey = "/ztm/shards/map";

storage::User a_user(UserId id) {
  return storage::User{
      id, "Ada", "Lovelace", storage::Address{"1 Main St", "Albany", "NY", 12207}, {}};
}

template <class R>
std::string outcome(const R& r) {
  return r.ok() ? "ok" : r.error().message;
}

// How many rows of `table` in database `conninfo` have `id`.
long long rows_with_id(const std::string& conninfo, const std::string& table, UserId id) {
  std::unique_ptr<PGconn, decltype(&PQfinish)> c(PQconnectdb(conninfo.c_str()), &PQfinish);
  if (PQstatus(c.get()) != CONNECTION_OK) throw std::runtime_error(PQerrorMessage(c.get()));
  const std::string sql = "SELECT count(*) FROM " + table + " WHERE id = " + std::to_string(id);
  std::unique_ptr<PGresult, decltype(&PQclear)> r(PQexec(c.get(), sql.c_str()), &PQclear);
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) throw std::runtime_error(PQerrorMessage(c.get()));
  return std::stoll(PQgetvalue(r.get(), 0, 0));
}

TEST(ShardMapInEtcd, TheServerStartsOnItAndFollowsAChange) {
  auto& pg = PostgresInstance::shared();
  EtcdInstance etcd;
  std::vector<storage::Shard> shards;
  for (int i = 0; i < 3; ++i)
    shards.push_back({"s" + std::to_string(i), pg.conninfo(pg.create_database())});
  const auto first =
      storage::ShardMap::even({shards[0], shards[1]}, storage::ShardMap::Mode::buckets);
  etcd.put(kKey, storage::to_json(first));

  TestServer server([&](Config& config) {
    config.storage.backend = "postgres";
    config.storage.shard_map = "etcd://" + etcd.endpoint() + kKey;
  });
  EXPECT_EQ(metric_value(server.metrics(), "ztm_shard_map_version"), 1);
  EXPECT_EQ(metric_value(server.metrics(), "ztm_shard_map_routed_version"), 1);

  // The next map appends s2 and moves to it every bucket the demo data does not use.
  std::set<int> used;
  auto page = run_sync(server.store().list_users(0, 1000));
  ASSERT_TRUE(page.ok());
  for (const auto& u : page->users) used.insert(storage::bucket_of(u.user.id));
  storage::ShardMap next = first;
  next.shards.push_back(shards[2]);
  std::vector<storage::Move> moves;
  for (const auto& move : storage::plan_rebalance(next, 3))
    if (!used.contains(move.bucket)) moves.push_back(move);
  next = storage::apply_moves(next, moves);
  ASSERT_EQ(next.version, 2);
  etcd.put(kKey, storage::to_json(next));
  ASSERT_TRUE(eventually([&] {
    return metric_value(server.metrics(), "ztm_shard_map_version") == 2;
  })) << "the watcher did not take version 2";

  UserId id = 1'000'000;
  while (next.shard_of(id) != 2) ++id;
  ASSERT_EQ(outcome(run_sync(server.store().create_user(a_user(id)))), "ok");
  EXPECT_EQ(metric_value(server.metrics(), "ztm_shard_map_routed_version"), 2);
  EXPECT_EQ(rows_with_id(shards[2].conninfo, "users", id), 1);
  EXPECT_EQ(rows_with_id(shards[0].conninfo, "users", id), 0);
  EXPECT_EQ(rows_with_id(shards[1].conninfo, "users", id), 0);
  // The demo data stays where it was, and is found.
  EXPECT_EQ(outcome(run_sync(server.store().get_user(12))), "ok");
  EXPECT_EQ(*run_sync(server.store().count_users()), static_cast<long long>(used.size()) + 1);
}

// No map, no server: etcd unreachable, or the key missing, fails the start naming why.
TEST(ShardMapInEtcd, TheServerDoesNotStartWithoutTheMap) {
  EtcdInstance etcd;
  const auto refused = [](const std::string& address) -> std::string {
    try {
      TestServer server([&](Config& config) {
        config.storage.backend = "postgres";
        config.storage.shard_map = address;
      });
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "started";
  };
  const std::string missing = refused("etcd://" + etcd.endpoint() + "/ztm/no/such/map");
  EXPECT_NE(missing.find("cannot load the map from etcd"), std::string::npos) << missing;
  EXPECT_NE(missing.find("no shard map in etcd at /ztm/no/such/map"), std::string::npos) << missing;
  etcd.kill();
  const std::string unreachable = refused("etcd://" + etcd.endpoint() + kKey);
  EXPECT_NE(unreachable.find("cannot load the map from etcd"), std::string::npos) << unreachable;
  EXPECT_NE(unreachable.find("cannot read the shard map at " + std::string(kKey)),
            std::string::npos)
      << unreachable;
}

}  // namespace
}  // namespace ztm::test
