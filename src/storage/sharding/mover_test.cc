// Bucket moves against real engines: two PostgreSQL 15 servers (tests/support/postgres_instance.h,
// wal_level=logical) as two shards, the map in a real etcd (tests/support/etcd_instance.h).
// Writers run while a bucket moves; a ledger of acknowledged writes is audited on the shards
// afterwards: every one present, once, where the map says, none left behind.

#include "storage/sharding/mover.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "core/clock.h"
#include "core/run_sync.h"
#include "postgres/session.h"
#include "storage/lookup_store.h"
#include "storage/postgres/pg_migrations.h"
#include "storage/sharding/bucket_copy.h"
#include "storage/sharding/load_report.h"
#include "tests/support/etcd_instance.h"
#include "tests/support/eventually.h"
#include "tests/support/postgres_instance.h"

namespace ztm::storage {
namespace {

using namespace std::chrono_literals;
using test::EtcdInstance;
using test::PostgresInstance;

constexpr int kBucket = 77;

postgres::Session session(const std::string& conninfo) {
  auto s = postgres::Session::open(conninfo, 5s, 10s);
  if (!s.ok()) throw std::runtime_error(s.error().message);
  return std::move(*s);
}

std::string scalar(const std::string& conninfo, const std::string& sql) {
  auto s = session(conninfo);
  auto r = s.scalar(sql, "test");
  if (!r.ok()) throw std::runtime_error(r.error().message);
  return *r;
}

std::string migrated(PostgresInstance& pg) {
  const std::string conninfo = pg.conninfo(pg.create_database());
  if (auto m = pg_migrate(conninfo, 10s); !m.ok()) throw std::runtime_error(m.error().message);
  return conninfo;
}

// `n` user ids whose bucket is `bucket`, from `from` up.
std::vector<UserId> ids_in(int bucket, std::size_t n, UserId from = 1000) {
  std::vector<UserId> ids;
  for (UserId id = from; ids.size() < n; ++id)
    if (bucket_of(id) == bucket) ids.push_back(id);
  return ids;
}

std::string insert_user(UserId id, const std::string& name) {
  return fmt::format(
      "INSERT INTO users(id, first_name, last_name, street_address, city, state, postal_code, "
      "phone_numbers, version) VALUES ({}, '{}', 'L', 's', 'c', 'st', 1, '[]', 1)",
      id, name);
}

// ztm_bucket (SQL) is bucket_of (C++), on edge values and many others.
TEST(BucketSql, IsBucketOf) {
  const std::string db = migrated(PostgresInstance::shared());
  std::vector<UserId> ids = {0,
                             1,
                             -1,
                             12,
                             std::numeric_limits<UserId>::min(),
                             std::numeric_limits<UserId>::max(),
                             (UserId{1} << 53) - 1};
  std::mt19937_64 rng(7);
  for (int i = 0; i < 3000; ++i) ids.push_back(static_cast<UserId>(rng()));
  std::string list, expected;
  for (UserId id : ids) {
    list += (list.empty() ? "" : ",") + std::to_string(id);
    expected += (expected.empty() ? "" : ",") + std::to_string(bucket_of(id));
  }
  EXPECT_EQ(scalar(db,
                   "SELECT string_agg(ztm_bucket(x)::text, ',' ORDER BY n) FROM "
                   "unnest('{" +
                       list + "}'::bigint[]) WITH ORDINALITY AS u(x, n)"),
            expected);
}

// Every table with a `bucket` column is one the mover moves, and every row there carries its
// owner's bucket (lookups: their key's placement), set by the trigger whatever the writer says.
TEST(BucketSql, EveryOwnedRowCarriesItsBucket) {
  const std::string db = migrated(PostgresInstance::shared());
  EXPECT_EQ(scalar(db,
                   "SELECT string_agg(table_name::text, ',' ORDER BY table_name) FROM "
                   "information_schema.columns WHERE column_name = 'bucket' AND "
                   "table_schema = 'public' AND table_name <> 'disowned_buckets'"),
            [] {
              auto names = bucket_tables();
              std::sort(names.begin(), names.end());
              std::string out;
              for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
              return out;
            }());
  const UserId a = 4242, b = 977;
  const std::string key = "someone@example.com";
  const UserId placed = lookup_placement(LookupKind::email, key);
  auto s = session(db);
  for (const std::string& sql : {
           insert_user(a, "a"),
           insert_user(b, "b"),
           fmt::format("INSERT INTO idempotency_keys(key, user_id) VALUES ('k', {})", a),
           fmt::format("INSERT INTO accounts(user_id, email, password_hash, role) "
                       "VALUES ({}, 'x@y', 'h', 'user')",
                       a),
           fmt::format("INSERT INTO photos(id, owner_id, blob_key, content_type, width, height, "
                       "bytes, source_id) VALUES (5, {}, 'k.png', 'image/png', 1, 1, 1, 0)",
                       a),
           fmt::format("INSERT INTO jobs(id, photo_id, owner_id, operations, status) "
                       "VALUES (6, 5, {}, '[]', 'queued')",
                       a),
           fmt::format("INSERT INTO purchases(id, user_id, plan, price_cents, currency) "
                       "VALUES (7, {}, 'pro', 100, 'EUR')",
                       a),
           fmt::format("INSERT INTO activity(day, user_id) VALUES (1, {})", a),
           fmt::format("INSERT INTO lookups(kind, key, user_id, placement, bucket) "
                       "VALUES (1, '{}', {}, {}, 3)",
                       key, a, placed),
           fmt::format("INSERT INTO following(follower, followee, followee_name) "
                       "VALUES ({}, {}, 'b')",
                       a, b),
           fmt::format("INSERT INTO followers(followee, follower, follower_name, version, active, "
                       "was_active) VALUES ({}, {}, 'a', 1, true, false)",
                       b, a),
           fmt::format("INSERT INTO follower_counts(user_id, slot, n) VALUES ({}, 0, 1)", b),
       }) {
    auto r = s.exec(sql, "insert");
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  const std::map<std::string, int> expect = {
      {"users", -1},
      {"idempotency_keys", bucket_of(a)},
      {"accounts", bucket_of(a)},
      {"photos", bucket_of(a)},
      {"jobs", bucket_of(a)},
      {"purchases", bucket_of(a)},
      {"activity", bucket_of(a)},
      {"lookups", bucket_of(placed)},
      {"following", bucket_of(a)},
      {"followers", bucket_of(b)},
      {"follower_counts", bucket_of(b)},
  };
  for (const auto& [table, bucket] : expect) {
    if (bucket < 0) continue;
    EXPECT_EQ(scalar(db, "SELECT string_agg(bucket::text, ',') FROM " + table),
              std::to_string(bucket))
        << table;
  }
  EXPECT_EQ(scalar(db, "SELECT string_agg(bucket::text, ',' ORDER BY id) FROM users"),
            fmt::format("{},{}", bucket_of(b), bucket_of(a)));
}

// The shard-side fence: a disowned bucket's rows refuse every write (Errc::moved, nothing
// written); other buckets are untouched.
TEST(BucketFence, RefusesWritesToADisownedBucketOnly) {
  const std::string db = migrated(PostgresInstance::shared());
  const auto in = ids_in(kBucket, 2);
  const auto out = ids_in(kBucket + 1, 1);
  auto s = session(db);
  ASSERT_TRUE(s.exec(insert_user(in[0], "before"), "insert").ok());
  BucketCopy fence({kBucket}, db, db);
  ASSERT_TRUE(fence.fence_source().ok());
  ASSERT_TRUE(fence.fence_source().ok());  // idempotent
  for (const std::string& sql :
       {insert_user(in[1], "x"), fmt::format("UPDATE users SET city = 'z' WHERE id = {}", in[0]),
        fmt::format("DELETE FROM users WHERE id = {}", in[0])}) {
    auto r = s.exec(sql, "write");
    ASSERT_FALSE(r.ok()) << sql;
    EXPECT_EQ(r.error().code, Errc::moved) << r.error().message;
  }
  EXPECT_TRUE(s.exec(insert_user(out[0], "other"), "insert").ok());
  EXPECT_EQ(scalar(db, fmt::format("SELECT count(*) FROM users WHERE bucket = {}", kBucket)), "1");
  EXPECT_EQ(scalar(db, fmt::format("SELECT city FROM users WHERE id = {}", in[0])), "c");
  ASSERT_TRUE(fence.unfence_source().ok());
  EXPECT_TRUE(s.exec(insert_user(in[1], "x"), "insert").ok());
}

TEST(MoveRecord, ParsesWhatItWritesAndRefusesTheRest) {
  for (const MoveRecord& r : {MoveRecord{{12}, "s1", "s5", MoveStep::cutover},
                              MoveRecord{{0, 3, 1023}, "s1", "s5", MoveStep::switched}}) {
    auto back = parse_move_record(to_json(r));
    ASSERT_TRUE(back.ok()) << to_json(r);
    EXPECT_EQ(*back, r);
  }
  EXPECT_EQ(to_json(MoveRecord{{3, 7}, "a", "b", MoveStep::copy}),
            R"({"buckets":[3,7],"from":"a","to":"b","step":"copy"})");
  for (const char* bad : {"", "[]", "{}", R"({"buckets":[1],"from":"a","to":"b"})",
                          R"({"bucket":1,"from":"a","to":"b","step":"copy"})",
                          R"({"buckets":[],"from":"a","to":"b","step":"copy"})",
                          R"({"buckets":1,"from":"a","to":"b","step":"copy"})",
                          R"({"buckets":[1024],"from":"a","to":"b","step":"copy"})",
                          R"({"buckets":[-1],"from":"a","to":"b","step":"copy"})",
                          R"({"buckets":[3,2],"from":"a","to":"b","step":"copy"})",
                          R"({"buckets":[2,2],"from":"a","to":"b","step":"copy"})",
                          R"({"buckets":[1],"from":"a","to":"b","step":"done"})",
                          R"({"buckets":["1"],"from":"a","to":"b","step":"copy"})",
                          R"({"buckets":[1],"from":"a","to":"b","step":"copy","x":1})"})
    EXPECT_FALSE(parse_move_record(bad).ok()) << bad;
}

TEST(DescribeBuckets, NamesOneAndCutsALongList) {
  EXPECT_EQ(describe_buckets({17}), "bucket 17");
  EXPECT_EQ(describe_buckets({3, 7}), "2 buckets 3,7");
  EXPECT_EQ(describe_buckets({3, 7, 11, 15}), "4 buckets 3,7,11,…");
}

// Two shards on two servers, the map in etcd with every bucket on s1.
class MoverTest : public ::testing::Test {
 public:  // the Writer reads the map too
  MoverTest()
      : s1(migrated(PostgresInstance::shared())), s2(migrated(second())), client(options()) {
    ShardMap map = ShardMap::even({{"s1", s1}, {"s2", s2}}, ShardMap::Mode::buckets);
    for (int& b : map.buckets) b = 0;
    etcd.put("/ztm/shards/map", to_json(map));
  }

  static PostgresInstance& second() {
    static PostgresInstance pg;
    return pg;
  }
  etcd::ClientOptions options() const {
    etcd::ClientOptions o;
    o.endpoints = {etcd.endpoint()};
    return o;
  }
  MoverOptions mover_options() const {
    MoverOptions o;
    o.progress = [start = std::chrono::steady_clock::now()](const std::string& line) {
      std::printf("%6lld ms  %s\n",
                  static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::steady_clock::now() - start)
                                             .count()),
                  line.c_str());
    };
    o.copy_wait = 60s;
    o.cutover_wait = 10s;
    return o;
  }
  ShardMap map() {
    auto kv = run_sync(client.get("/ztm/shards/map"));
    if (!kv.ok()) throw std::runtime_error(kv.error().message);
    auto m = parse_shard_map(kv->value);
    if (!m.ok()) throw std::runtime_error(m.error().message);
    return *m;
  }

  EtcdInstance etcd;
  std::string s1, s2;
  etcd::Client client;
};

// Writes users of one bucket where the map says, as a web server would: on a fenced bucket or
// a refusal (Errc::moved) it re-reads the map and goes again (bounded). Records each write a
// shard acknowledged: the id and the name written last.
class Writer {
 public:
  Writer(MoverTest& t, std::vector<UserId> ids) : t_(t), ids_(std::move(ids)) {
    thread_ = std::thread([this] { run(); });
  }
  ~Writer() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::size_t acknowledged() const { return acks_.load(); }
  const std::map<UserId, std::string>& ledger() const { return ledger_; }
  std::map<std::string, int> per_shard() const { return per_shard_; }
  int failures() const { return failures_; }
  std::string last_error() const { return last_error_; }

 private:
  void run() {
    ShardMap map = t_.map();
    std::map<std::string, postgres::Session> sessions;
    const auto until = std::chrono::steady_clock::now() + 120s;
    for (std::size_t n = 0; !stop_ && n < 200'000 && std::chrono::steady_clock::now() < until;
         ++n) {
      const UserId id = ids_[n % ids_.size()];
      const std::string name = fmt::format("w{}", n);
      const bool create = n < ids_.size();
      const std::string sql =
          create ? insert_user(id, name)
                 : fmt::format("UPDATE users SET first_name = '{}' WHERE id = {}", name, id);
      bool done = false;
      for (int attempt = 0; attempt < 2000 && !done && !stop_; ++attempt) {
        if (map.fenced(bucket_of(id))) {  // held, as the web tier holds it, until unfenced
          test::eventually(
              [&] {
                map = t_.map();
                return !map.fenced(bucket_of(id));
              },
              15s);
          continue;
        }
        const Shard& shard = map.shards[map.shard_of(id)];
        auto it = sessions.find(shard.name);
        if (it == sessions.end()) it = sessions.emplace(shard.name, session(shard.conninfo)).first;
        auto r = it->second.exec(sql, "write");
        if (r.ok()) {
          std::lock_guard lock(mu_);
          ledger_[id] = name;
          ++per_shard_[shard.name];
          done = true;
        } else if (r.error().code == Errc::moved) {  // a newer map says where it is now
          test::eventually(
              [&] {
                ShardMap next = t_.map();
                if (next.version <= map.version) return false;
                map = std::move(next);
                return true;
              },
              15s);
        } else {
          last_error_ = r.error().message;
          break;
        }
      }
      if (!done && !stop_) ++failures_;
      if (done) ++acks_;
    }
  }

  MoverTest& t_;
  std::vector<UserId> ids_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> acks_{0};
  mutable std::mutex mu_;
  std::map<UserId, std::string> ledger_;
  std::map<std::string, int> per_shard_;
  int failures_ = 0;
  std::string last_error_;
};

// Every acknowledged write is on `where` exactly once with the value written last, and the
// buckets have no row elsewhere.
void audit(const Writer& w, const std::string& where, const std::string& elsewhere,
           const std::vector<int>& buckets = {kBucket}) {
  std::size_t checked = 0;
  auto s = session(where);
  for (const auto& [id, name] : w.ledger()) {
    auto r = s.scalar(fmt::format("SELECT count(*) || ':' || max(first_name) FROM users "
                                  "WHERE id = {}",
                                  id),
                      "audit");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, "1:" + name) << "user " << id;
    ++checked;
  }
  EXPECT_GT(checked, 0u);
  for (const int b : buckets)
    EXPECT_EQ(scalar(elsewhere, fmt::format("SELECT count(*) FROM users WHERE bucket = {}", b)),
              "0")
        << "bucket " << b;
}

// After a finalise: writes go on (100 more), the writer stops with no failure, having written on
// both shards, and every write is on `where` (audit).
void finish_and_audit(Writer& w, const std::string& where, const std::string& elsewhere,
                      const std::vector<int>& buckets = {kBucket}) {
  const std::size_t at_finalise = w.acknowledged();
  ASSERT_TRUE(test::eventually([&] { return w.acknowledged() >= at_finalise + 100; }, 30s));
  w.stop();
  EXPECT_EQ(w.failures(), 0) << w.last_error();
  EXPECT_GT(w.per_shard()["s1"], 0);
  EXPECT_GT(w.per_shard()["s2"], 0);
  audit(w, where, elsewhere, buckets);
}

TEST_F(MoverTest, MovesABucketUnderWritesAndLosesNothing) {
  // Other buckets' rows stay where they are.
  auto seed = session(s1);
  for (UserId id : ids_in(kBucket + 1, 20)) ASSERT_TRUE(seed.exec(insert_user(id, "o"), "s").ok());
  Writer w(*this, ids_in(kBucket, 300));
  ASSERT_TRUE(test::eventually([&] { return w.acknowledged() >= 400; }, 30s));
  Mover mover(client, mover_options());
  auto moved = mover.move({kBucket}, "s2");
  ASSERT_TRUE(moved.ok()) << moved.error().message;
  EXPECT_EQ(moved->record.step, MoveStep::switched);
  EXPECT_EQ(map().shards[map().buckets[kBucket]].name, "s2");
  EXPECT_FALSE(map().fenced(kBucket));
  const std::size_t at_switch = w.acknowledged();
  ASSERT_TRUE(test::eventually([&] { return w.acknowledged() >= at_switch + 300; }, 30s));
  // Reverse replication keeps the old copy current until the move is finalised.
  const UserId extra = ids_in(kBucket, 1, 1'000'000).front();
  ASSERT_TRUE(session(s2).exec(insert_user(extra, "reverse"), "insert").ok());
  const std::string find = fmt::format("SELECT count(*) FROM users WHERE id = {}", extra);
  EXPECT_TRUE(test::eventually([&] { return scalar(s1, find) == "1"; }, 10s));
  ASSERT_TRUE(mover.finalise(kBucket).ok());
  EXPECT_EQ(scalar(s2, find), "1");
  finish_and_audit(w, s2, s1);
  EXPECT_EQ(scalar(s1, fmt::format("SELECT count(*) FROM users WHERE bucket = {}", kBucket + 1)),
            "20");
  EXPECT_TRUE(mover.moves().value().empty());
  EXPECT_EQ(scalar(s1, "SELECT count(*) FROM pg_replication_slots"), "0");
  EXPECT_EQ(scalar(s2, "SELECT count(*) FROM pg_replication_slots"), "0");
  std::printf("moved %lld rows; writes held %lld ms (catch-up %lld ms)\n",
              static_cast<long long>(moved->rows), static_cast<long long>(moved->fenced.count()),
              static_cast<long long>(moved->catch_up.count()));
}

TEST_F(MoverTest, RollbackAfterTheSwitchLosesNothingWrittenInBetween) {
  Writer w(*this, ids_in(kBucket, 200));
  ASSERT_TRUE(test::eventually([&] { return w.acknowledged() >= 300; }, 30s));
  Mover mover(client, mover_options());
  ASSERT_TRUE(mover.move({kBucket}, "s2").ok());
  const std::size_t at_switch = w.acknowledged();
  ASSERT_TRUE(test::eventually([&] { return w.acknowledged() >= at_switch + 300; }, 30s));
  auto back = mover.rollback(kBucket);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(map().shards[map().buckets[kBucket]].name, "s1");
  const std::size_t at_rollback = w.acknowledged();
  ASSERT_TRUE(test::eventually([&] { return w.acknowledged() >= at_rollback + 100; }, 30s));
  w.stop();
  EXPECT_EQ(w.failures(), 0) << w.last_error();
  EXPECT_GT(w.per_shard()["s2"], 0);  // writes made on the target, then rolled back
  audit(w, s1, s2);
  EXPECT_TRUE(mover.moves().value().empty());
}

// A mover that stops right after recording a step (as if killed) is finished by the next run.
TEST_F(MoverTest, AMoverStoppedAtAnyStepIsFinishedByTheNextRun) {
  Writer w(*this, ids_in(kBucket, 100));
  ASSERT_TRUE(test::eventually([&] { return w.acknowledged() >= 150; }, 30s));
  for (MoveStep step : {MoveStep::copy, MoveStep::cutover}) {
    MoverOptions o = mover_options();
    o.crash_after_recording = step;
    Mover crashing(client, o);
    auto r = crashing.move({kBucket}, "s2");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(crashing.moves().value().at(0).step, step);
  }
  Mover mover(client, mover_options());
  auto moved = mover.move({kBucket}, "s2");
  ASSERT_TRUE(moved.ok()) << moved.error().message;
  // Stopped once finalising is recorded: the source's copy may be half purged, so neither a
  // rollback nor an abort may hand the bucket back to it; finalise run again finishes.
  MoverOptions o = mover_options();
  o.crash_after_recording = MoveStep::finalising;
  ASSERT_FALSE(Mover(client, o).finalise(kBucket).ok());
  EXPECT_EQ(mover.moves().value().at(0).step, MoveStep::finalising);
  EXPECT_EQ(mover.rollback(kBucket).error().code, Errc::conflict);
  EXPECT_EQ(mover.abort(kBucket).error().code, Errc::conflict);
  auto finalised = mover.finalise(kBucket);
  ASSERT_TRUE(finalised.ok()) << finalised.error().message;
  const std::size_t at_finalise = w.acknowledged();
  ASSERT_TRUE(test::eventually([&] { return w.acknowledged() >= at_finalise + 100; }, 30s));
  w.stop();
  EXPECT_EQ(w.failures(), 0) << w.last_error();
  audit(w, s2, s1);
}

// finalise deletes the source's copy only when the map agrees the target has the bucket; a
// rollback is recorded first, so a rollback stopped half-way blocks move and finalise and is
// finished by running it again.
TEST_F(MoverTest, FinaliseFollowsTheMapAndAStoppedRollbackIsFinishedByItsRerun) {
  auto seed = session(s1);
  const auto ids = ids_in(kBucket, 30);
  for (UserId id : ids) ASSERT_TRUE(seed.exec(insert_user(id, "r"), "seed").ok());
  Mover mover(client, mover_options());
  ASSERT_TRUE(mover.move({kBucket}, "s2").ok());
  ShardMap back = map();  // someone hands the bucket back to s1 behind the mover's back
  back.buckets[kBucket] = 0;
  back.version += 1;
  etcd.put("/ztm/shards/map", to_json(back));
  auto refused = mover.finalise(kBucket);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::conflict);
  const std::string count = fmt::format("SELECT count(*) FROM users WHERE bucket = {}", kBucket);
  EXPECT_EQ(scalar(s1, count), "30");  // nothing deleted
  back.buckets[kBucket] = 1;
  back.version += 1;
  etcd.put("/ztm/shards/map", to_json(back));

  MoverOptions o = mover_options();
  o.crash_after_recording = MoveStep::rollback;
  ASSERT_FALSE(Mover(client, o).rollback(kBucket).ok());
  EXPECT_EQ(mover.moves().value().at(0).step, MoveStep::rollback);
  EXPECT_EQ(mover.move({kBucket}, "s2").error().code, Errc::conflict);
  EXPECT_EQ(mover.finalise(kBucket).error().code, Errc::invalid_argument);
  auto rolled = mover.rollback(kBucket);
  ASSERT_TRUE(rolled.ok()) << rolled.error().message;
  EXPECT_EQ(map().shards[map().buckets[kBucket]].name, "s1");
  EXPECT_EQ(scalar(s1, count), "30");
  EXPECT_EQ(scalar(s2, count), "0");
  EXPECT_TRUE(mover.moves().value().empty());
}

// `ztm migrate` run on the target and not yet on the source: the copy would stall on a column
// one side lacks. Refused before anything is recorded; once both are at one version it goes.
TEST_F(MoverTest, RefusesToMoveBetweenShardsAtDifferentSchemaVersions) {
  auto target = session(s2);
  ASSERT_TRUE(
      target.exec("INSERT INTO schema_migrations(version, name) VALUES (999, 'ahead')", "ahead")
          .ok());
  Mover mover(client, mover_options());
  auto refused = mover.move({kBucket}, "s2");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::conflict);
  EXPECT_NE(refused.error().message.find("s2 at 999"), std::string::npos)
      << refused.error().message;
  EXPECT_TRUE(mover.moves().value().empty());
  EXPECT_EQ(scalar(s2, "SELECT count(*) FROM pg_subscription"), "0");
  ASSERT_TRUE(target.exec("DELETE FROM schema_migrations WHERE version = 999", "back").ok());
  auto moved = mover.move({kBucket}, "s2");
  ASSERT_TRUE(moved.ok()) << moved.error().message;
  ASSERT_TRUE(mover.finalise(kBucket).ok());
}

// The map's role is the web tier's, which should be no superuser (security.md, finding 9): it
// cannot create a subscription, so the mover logs in as MoverOptions::admin_user instead, and
// the map it writes keeps the web tier's conninfo.
TEST_F(MoverTest, LogsInAsTheAdminRoleWhenTheMapsRoleIsNoSuperuser) {
  for (PostgresInstance* pg : {&PostgresInstance::shared(), &second()})
    pg->query("postgres",
              "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ztm_web') THEN "
              "CREATE ROLE ztm_web LOGIN NOSUPERUSER; END IF; END $$");
  ShardMap web = map();
  for (Shard& shard : web.shards) shard.conninfo += " user=ztm_web";
  etcd.put("/ztm/shards/map", to_json(web));
  auto seed = session(s1);
  for (UserId id : ids_in(kBucket, 5)) ASSERT_TRUE(seed.exec(insert_user(id, "a"), "s").ok());

  Mover as_web(client, mover_options());
  auto refused = as_web.move({kBucket}, "s2");
  ASSERT_FALSE(refused.ok());
  std::printf("as the web tier's role: %s\n", refused.error().message.c_str());

  MoverOptions admin = mover_options();
  admin.admin_user = "postgres";
  Mover as_admin(client, admin);
  if (!as_admin.moves().value().empty()) {
    ASSERT_TRUE(as_admin.abort(kBucket).ok());
  }
  auto moved = as_admin.move({kBucket}, "s2");
  ASSERT_TRUE(moved.ok()) << moved.error().message;
  ASSERT_TRUE(as_admin.finalise(kBucket).ok());
  EXPECT_EQ(scalar(s2, fmt::format("SELECT count(*) FROM users WHERE bucket = {}", kBucket)), "5");
  for (const Shard& shard : map().shards)
    EXPECT_NE(shard.conninfo.find("user=ztm_web"), std::string::npos) << shard.conninfo;
}

TEST(WithLogin, ReplacesTheRoleAndPasswordOfAUriOrKeywords) {
  auto uri = with_login("postgresql://ztm:pw@a:5432,b:5432/ztm?target_session_attrs=read-write",
                        "postgres", "s'cret");
  ASSERT_TRUE(uri.ok()) << uri.error().message;
  EXPECT_NE(uri->find("user='postgres'"), std::string::npos) << *uri;
  EXPECT_NE(uri->find("password='s\\'cret'"), std::string::npos) << *uri;
  EXPECT_NE(uri->find("host='a,b'"), std::string::npos) << *uri;
  EXPECT_EQ(uri->find("'pw'"), std::string::npos) << *uri;
  EXPECT_EQ(uri->find("user='ztm'"), std::string::npos) << *uri;
  auto keywords = with_login("host=/tmp dbname=x user=web", "admin", "p");
  ASSERT_TRUE(keywords.ok());
  EXPECT_NE(keywords->find("user='admin'"), std::string::npos) << *keywords;
  EXPECT_FALSE(with_login("host='unclosed", "a", "b").ok());
}

TEST_F(MoverTest, RefusesNonsense) {
  Mover mover(client, mover_options());
  EXPECT_EQ(mover.move({kBucket}, "s9").error().code, Errc::invalid_argument);
  EXPECT_EQ(mover.move({kBucket}, "s1").error().code, Errc::invalid_argument);
  EXPECT_EQ(mover.move({kBuckets}, "s2").error().code, Errc::invalid_argument);
  EXPECT_EQ(mover.move({}, "s2").error().code, Errc::invalid_argument);
  EXPECT_EQ(mover.move({kBucket, 3, kBucket}, "s2").error().code, Errc::invalid_argument);
  EXPECT_EQ(mover.finalise(kBucket).error().code, Errc::invalid_argument);
  EXPECT_EQ(mover.rollback(kBucket).error().code, Errc::invalid_argument);
  EXPECT_EQ(mover.abort(kBucket).error().code, Errc::invalid_argument);
  EXPECT_EQ(mover.rebalance({.shards = 2, .batch = 0}).error().code, Errc::invalid_argument);
  EXPECT_EQ(mover.rebalance({.shards = 3}).error().code, Errc::invalid_argument);
  ShardMap split = map();  // a move has one source
  split.buckets[3] = 1;
  split.version += 1;
  etcd.put("/ztm/shards/map", to_json(split));
  auto mixed = mover.move({3, kBucket}, "s2");
  ASSERT_FALSE(mixed.ok());
  EXPECT_EQ(mixed.error().code, Errc::invalid_argument);
  EXPECT_NE(mixed.error().message.find("different shards"), std::string::npos);
  EXPECT_TRUE(mover.moves().value().empty());
  // A record that does not fit the map (written by hand) is refused before any step runs.
  const std::string owner = map().shards[map().buckets[17]].name;
  const std::string other = owner == "s1" ? "s2" : "s1";
  const auto record = [](const std::string& from, const std::string& to) {
    return fmt::format(R"({{"moves":[{{"buckets":[17],"from":"{}","to":"{}","step":"copy"}}]}})",
                       from, to);
  };
  // An unknown source; a source that is its target; a copy whose bucket is on its target. Each
  // refused by the move resumed, its rollback and a rebalance, and nothing fenced anywhere.
  const std::vector<std::pair<std::string, std::string>> bad{
      {"s9", other}, {other, other}, {other, owner}};
  for (const auto& from_to : bad) {
    const std::string text = record(from_to.first, from_to.second);
    etcd.put("/ztm/shards/moves", text);
    EXPECT_FALSE(mover.move({17}, from_to.second).ok()) << text;
    EXPECT_FALSE(mover.rollback(17).ok()) << text;
    EXPECT_FALSE(mover.rebalance({.shards = 2}).ok()) << text;
  }
  EXPECT_EQ(scalar(s1, "SELECT count(*) FROM disowned_buckets WHERE bucket = 17"), "0");
  EXPECT_EQ(scalar(s2, "SELECT count(*) FROM disowned_buckets WHERE bucket = 17"), "0");
  EXPECT_FALSE(map().fenced(17));
}

// Several buckets move as one: one publication, one fence, one map version to fence them all
// and one to switch them all, under writes to each of them.
TEST_F(MoverTest, MovesSeveralBucketsAtOnceUnderWritesAndLosesNothing) {
  const std::vector<int> set = {kBucket, kBucket + 1, 300};
  auto seed = session(s1);
  for (UserId id : ids_in(kBucket + 2, 20)) ASSERT_TRUE(seed.exec(insert_user(id, "o"), "s").ok());
  std::vector<UserId> ids;
  for (const int b : set)
    for (UserId id : ids_in(b, 100)) ids.push_back(id);
  std::shuffle(ids.begin(), ids.end(), std::mt19937(5));
  Writer w(*this, ids);
  ASSERT_TRUE(test::eventually([&] { return w.acknowledged() >= 400; }, 30s));
  Mover mover(client, mover_options());
  const std::int64_t version = map().version;
  const auto t0 = std::chrono::steady_clock::now();
  auto moved = mover.move({300, kBucket, kBucket + 1}, "s2");
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(moved.ok()) << moved.error().message;
  EXPECT_EQ(moved->record.buckets, set);
  EXPECT_EQ(moved->record.step, MoveStep::switched);
  EXPECT_EQ(map().version, version + 2);  // fenced in one version, switched in the next
  for (const int b : set) {
    EXPECT_EQ(map().buckets[b], 1) << b;
    EXPECT_FALSE(map().fenced(b)) << b;
  }
  EXPECT_EQ(map().buckets[kBucket + 2], 0);
  const std::size_t at_switch = w.acknowledged();
  ASSERT_TRUE(test::eventually([&] { return w.acknowledged() >= at_switch + 300; }, 30s));
  auto finalised = mover.finalise(kBucket + 1);  // any bucket of the move names it
  ASSERT_TRUE(finalised.ok()) << finalised.error().message;
  finish_and_audit(w, s2, s1, set);
  EXPECT_EQ(scalar(s1, fmt::format("SELECT count(*) FROM users WHERE bucket = {}", kBucket + 2)),
            "20");
  EXPECT_TRUE(mover.moves().value().empty());
  EXPECT_EQ(scalar(s1, "SELECT count(*) FROM pg_replication_slots"), "0");
  EXPECT_EQ(scalar(s2, "SELECT count(*) FROM pg_replication_slots"), "0");
  std::printf(
      "moved 3 buckets, %lld rows in %lld ms; writes held %lld ms (catch-up %lld ms)\n",
      static_cast<long long>(moved->rows),
      static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()),
      static_cast<long long>(moved->fenced.count()),
      static_cast<long long>(moved->catch_up.count()));
}

// A bucket is in at most one move: a set overlapping a recorded move is refused, naming it;
// the same set again resumes it. abort undoes a move before its switch and refuses after.
TEST_F(MoverTest, AnOverlappingMoveIsAConflictAndAbortStopsAtTheSwitch) {
  MoverOptions o = mover_options();
  o.crash_after_recording = MoveStep::copy;
  ASSERT_FALSE(Mover(client, o).move({kBucket, kBucket + 1}, "s2").ok());
  Mover mover(client, mover_options());
  auto overlap = mover.move({kBucket + 1, kBucket + 2}, "s2");
  ASSERT_FALSE(overlap.ok());
  EXPECT_EQ(overlap.error().code, Errc::conflict);
  EXPECT_NE(overlap.error().message.find(fmt::format("{},{}", kBucket, kBucket + 1)),
            std::string::npos)
      << overlap.error().message;
  EXPECT_EQ(mover.move({kBucket}, "s2").error().code, Errc::conflict);
  auto aborted = mover.abort(kBucket + 1);
  ASSERT_TRUE(aborted.ok()) << aborted.error().message;
  EXPECT_TRUE(mover.moves().value().empty());
  EXPECT_EQ(map().buckets[kBucket], 0);
  EXPECT_TRUE(map().fenced_buckets.empty());

  ASSERT_TRUE(Mover(client, o).move({kBucket, kBucket + 1}, "s2").error().code == Errc::internal);
  auto resumed = mover.move({kBucket + 1, kBucket}, "s2");  // the same set, in any order
  ASSERT_TRUE(resumed.ok()) << resumed.error().message;
  auto refused = mover.abort(kBucket);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::conflict);
  EXPECT_NE(refused.error().message.find("rollback"), std::string::npos);
  EXPECT_EQ(map().buckets[kBucket + 1], 1);
  ASSERT_TRUE(mover.finalise(kBucket).ok());
  EXPECT_TRUE(mover.moves().value().empty());
}

// Buckets 0..514 on s1, the rest on s2, and `per_bucket` users in each of buckets 508..519 on
// the shard the map gives them: plan_rebalance onto 2 shards moves 512, 513 and 514 to s2.
std::size_t make_uneven(MoverTest& t, std::size_t per_bucket) {
  ShardMap m = t.map();
  for (int b = 0; b < kBuckets; ++b) m.buckets[b] = b < 515 ? 0 : 1;
  m.version += 1;
  t.etcd.put("/ztm/shards/map", to_json(m));
  std::size_t users = 0;
  for (int b = 508; b < 520; ++b) {
    auto s = session(b < 515 ? t.s1 : t.s2);
    for (UserId id : ids_in(b, per_bucket)) {
      if (!s.exec(insert_user(id, "u"), "seed").ok()) throw std::runtime_error("seed");
      ++users;
    }
  }
  return users;
}

// After the rebalance: s1 holds 0..511, s2 the rest, nothing fenced or in flight, and every
// user row is on the shard its bucket maps to, none lost.
void expect_rebalanced(MoverTest& t, Mover& mover, std::size_t users) {
  const ShardMap m = t.map();
  for (int b = 0; b < kBuckets; ++b) ASSERT_EQ(m.buckets[b], b < 512 ? 0 : 1) << b;
  EXPECT_TRUE(m.fenced_buckets.empty());
  EXPECT_TRUE(mover.moves().value().empty());
  std::size_t found = 0;
  for (std::size_t i = 0; i < m.shards.size(); ++i) {
    auto s = session(m.shards[i].conninfo);
    auto r = s.exec("SELECT bucket, count(*) FROM users GROUP BY bucket", "where");
    ASSERT_TRUE(r.ok());
    for (int row = 0; row < PQntuples(r->get()); ++row) {
      const int b = std::atoi(PQgetvalue(r->get(), row, 0));
      EXPECT_EQ(m.buckets[b], static_cast<int>(i)) << "bucket " << b << " on " << m.shards[i].name;
      found += static_cast<std::size_t>(std::atoll(PQgetvalue(r->get(), row, 1)));
    }
    EXPECT_EQ(scalar(m.shards[i].conninfo, "SELECT count(*) FROM pg_replication_slots"), "0");
  }
  EXPECT_EQ(found, users);
}

MoverOptions quick_grace(MoverOptions o, std::vector<std::string>& lines) {
  o.finalise_grace = 200ms;
  o.progress = [&lines, say = o.progress](const std::string& line) {
    say(line);
    lines.push_back(line);
  };
  return o;
}

bool said(const std::vector<std::string>& lines, const std::string& part) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return l.find(part) != std::string::npos; });
}

// A group of 3 buckets (s1 -> s2) cut into moves of at most 2.
TEST_F(MoverTest, RebalanceCutsAGroupIntoBatchesAndEveryRowIsWhereItsBucketMaps) {
  const std::size_t users = make_uneven(*this, 5);
  std::vector<std::string> lines;
  Mover mover(client, quick_grace(mover_options(), lines));
  const auto t0 = std::chrono::steady_clock::now();
  auto r = mover.rebalance({.shards = 2, .batch = 2});
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, 3);
  expect_rebalanced(*this, mover, users);
  EXPECT_TRUE(said(lines, "move 1 of 2: 2 buckets 512,513 s1 -> s2: copy")) << lines.size();
  EXPECT_TRUE(said(lines, "move 2 of 2: bucket 514 s1 -> s2: cutover:"));
  std::printf(
      "rebalanced 3 buckets in 2 moves in %lld ms\n",
      static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
  auto again = mover.rebalance({.shards = 2, .batch = 2});  // nothing left to move
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(*again, 0);
}

// Buckets 508..514 hold 35 users on s1, 515..519 25 on s2: evening out rows moves one
// bucket's 5 users (the lowest of the buckets nearest half the difference), and nothing more.
TEST_F(MoverTest, RebalanceByRowsMovesTheBucketThatEvensTheRowsOut) {
  const std::size_t users = make_uneven(*this, 5);
  std::vector<std::string> lines;
  Mover mover(client, quick_grace(mover_options(), lines));
  auto dry = mover.rebalance({.shards = 2, .by = Balance::rows, .dry_run = true});
  ASSERT_TRUE(dry.ok()) << dry.error().message;
  EXPECT_EQ(*dry, 1);
  EXPECT_TRUE(said(lines, "s1: 35.0 -> 30.0 rows"));
  EXPECT_TRUE(said(lines, "would move bucket 508: s1 -> s2"));
  EXPECT_EQ(map().buckets[508], 0);  // a dry run moves nothing
  auto r = mover.rebalance({.shards = 2, .by = Balance::rows});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, 1);
  const ShardMap m = map();
  for (int b = 0; b < kBuckets; ++b) ASSERT_EQ(m.buckets[b], b < 515 && b != 508 ? 0 : 1) << b;
  EXPECT_EQ(scalar(s1, "SELECT count(*) FROM users"), "30");
  EXPECT_EQ(scalar(s2, "SELECT count(*) FROM users"), std::to_string(users - 30));
  EXPECT_EQ(mover.rebalance({.shards = 2, .by = Balance::rows}).value(), 0);
}

// The servers' load reports in etcd (written here as a server's LoadReporter writes them): 600
// requests/s to bucket 510 and 500 to 509, both on s1, none to s2. Evening out the load moves
// 509 to s2 (each shard then within 10 % of the mean), with its users.
TEST_F(MoverTest, RebalanceByLoadMovesAHotBucketByTheServersReports) {
  make_uneven(*this, 5);
  std::vector<std::string> lines;
  Mover mover(client, quick_grace(mover_options(), lines));
  auto none = mover.rebalance({.shards = 2, .by = Balance::load});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, Errc::unavailable);
  EXPECT_NE(none.error().message.find("no server reported"), std::string::npos);

  LoadReport report;
  report.node = 1;
  report.host = "web1";
  report.map_version = map().version;
  report.at_ms = unix_ms(std::chrono::system_clock::now());
  report.interval_ms = 1000;
  report.requests = 1100;
  report.buckets = {{510, 600, 0}, {509, 500, 100}};
  etcd.put(load_report_key(report.host, report.node), to_json(report));
  auto r = mover.rebalance({.shards = 2, .by = Balance::load});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, 1);
  EXPECT_TRUE(said(lines, "s1: 1100.0 -> 600.0 requests/s"));
  EXPECT_TRUE(said(lines, "s2: 0.0 -> 500.0 requests/s"));
  EXPECT_EQ(map().buckets[509], 1);
  EXPECT_EQ(map().buckets[510], 0);
  EXPECT_EQ(scalar(s2, "SELECT count(*) FROM users WHERE bucket = 509"), "5");
  EXPECT_EQ(scalar(s1, "SELECT count(*) FROM users WHERE bucket = 509"), "0");
}

// A mover killed in a multi-bucket move's cutover (the map fenced): rebalance run again
// finishes that move, then plans and moves the rest.
TEST_F(MoverTest, ARebalanceRunAgainFinishesAMultiBucketMoveStoppedInItsCutover) {
  const std::size_t users = make_uneven(*this, 5);
  MoverOptions o = mover_options();
  o.crash_after_recording = MoveStep::cutover;
  ASSERT_FALSE(Mover(client, o).move({512, 513}, "s2").ok());
  ASSERT_EQ(Mover(client, o).moves().value().at(0).step, MoveStep::cutover);
  std::vector<std::string> lines;
  Mover mover(client, quick_grace(mover_options(), lines));
  auto r = mover.rebalance({.shards = 2, .batch = 2});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, 3);
  EXPECT_TRUE(said(lines, "recorded move 1 of 1: 2 buckets 512,513 s1 -> s2"));
  EXPECT_TRUE(said(lines, "move 1 of 1: bucket 514 s1 -> s2"));
  expect_rebalanced(*this, mover, users);
}

}  // namespace
}  // namespace ztm::storage
