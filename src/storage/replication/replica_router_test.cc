// ReplicaRouter on a real cluster: a primary and two streaming replicas per test
// (tests/support/postgres_instance.h). Every wait polls with a bound; nothing sleeps a fixed time.
#include "storage/replication/replica_router.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <iostream>
#include <thread>

#include "tests/storage/account_conformance.h"
#include "tests/storage/follow_conformance.h"
#include "tests/storage/lookup_conformance.h"
#include "tests/storage/pg_test_util.h"
#include "tests/storage/photo_conformance.h"
#include "tests/support/eventually.h"
#include "tests/support/postgres_instance.h"

namespace ztm::storage {
namespace {

using namespace std::chrono_literals;
using test::eventually;
// Replication settles within seconds; a generous bound, polled every 10 ms.
template <class F>
bool eventually_15s(F done) {
  return eventually(done, 15s, 10ms);
}
using test::errc;
using test::outcome;
using test::PostgresInstance;
using test::run_on;
using test::sample_user;

constexpr std::size_t kPrimary = 0, kReplicaA = 1, kReplicaB = 2;

class ReplicaRouterTest : public ::testing::Test {
 protected:
  ReplicaRouterTest() : a_(primary_, "replica_a"), b_(primary_, "replica_b") {
    db_ = primary_.create_database();
  }

  // A migrated router over the three servers (in the order primary, a, b).
  std::unique_ptr<ReplicaRouter> make_router(int max_lag_ms = 1000, int interval_ms = 100,
                                             int hold_ms = 15'000, int max_held = 1000,
                                             int timeout_ms = 2000) {
    ReplicaRouterOptions o;
    o.hold_ms = hold_ms;
    o.max_held = max_held;
    o.conninfo = "host=" + primary_.dir() + "," + a_.dir() + "," + b_.dir() +
                 " port=5432 user=postgres dbname=" + db_;
    o.timeout_ms = timeout_ms;
    o.max_replica_lag_ms = max_lag_ms;
    o.discovery_interval_ms = interval_ms;
    auto router = std::make_unique<ReplicaRouter>(o);
    auto m = router->migrate();
    EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message);
    return router;
  }

  static bool serves_reads(const ReplicaRouter& r, std::size_t host, double max_lag = 1.0) {
    const auto stale = r.staleness(host);
    return r.host_status(host).role == HostRole::replica && stale && stale->count() <= max_lag;
  }
  // Discovery has seen the roles and both replicas are within the lag bound.
  static bool settled(const ReplicaRouter& r, double max_lag = 1.0) {
    return r.host_status(kPrimary).role == HostRole::primary &&
           serves_reads(r, kReplicaA, max_lag) && serves_reads(r, kReplicaB, max_lag);
  }
  // `id` has been replayed on `server` (false too while the database itself is not there yet).
  bool has_user(const PostgresInstance& server, UserId id) {
    try {
      return server.query(db_, "SELECT count(*) FROM users WHERE id = " + std::to_string(id)) ==
             "1";
    } catch (const std::runtime_error&) {
      return false;
    }
  }
  // How many of the router's connections to `server` are in the pool lane `application_name`.
  std::string lane_backends(const PostgresInstance& server, const std::string& application_name) {
    return server.query("postgres", "SELECT count(*) FROM pg_stat_activity WHERE datname = '" +
                                        db_ + "' AND application_name = '" + application_name +
                                        "'");
  }
  Result<StoredUser> get(ReplicaRouter& r, UserId id) { return run_on(io_, r.get_user(id)); }
  Result<StoredUser> create(ReplicaRouter& r, UserId id) {
    return run_on(io_, r.create_user(sample_user(id)));
  }

  PostgresInstance primary_;
  PostgresInstance a_, b_;
  std::string db_;
  boost::asio::io_context io_;
};

TEST_F(ReplicaRouterTest, DiscoversRolesSpreadsReadsOverReplicasAndWritesToThePrimary) {
  auto router = make_router();
  ASSERT_TRUE(eventually_15s([&] { return settled(*router); }));
  ASSERT_EQ(outcome(create(*router, 1)), "ok");
  EXPECT_EQ(router->writes(kPrimary), 1u);
  EXPECT_EQ(router->writes(kReplicaA) + router->writes(kReplicaB), 0u);
  ASSERT_TRUE(eventually_15s([&] { return has_user(a_, 1) && has_user(b_, 1); }));
  for (int i = 0; i < 100; ++i) ASSERT_EQ(outcome(get(*router, 1)), "ok");
  EXPECT_EQ(router->reads(kPrimary), 0u);
  EXPECT_EQ(router->reads(kReplicaA), 50u);
  EXPECT_EQ(router->reads(kReplicaB), 50u);
  // The write took a write connection of the primary's pool (postgres/host.h); the replicas'
  // pools opened read connections only.
  EXPECT_EQ(lane_backends(primary_, "ztm-write"), "1");
  for (const PostgresInstance* replica : {&a_, &b_}) {
    EXPECT_EQ(lane_backends(*replica, "ztm-write"), "0");
    EXPECT_NE(lane_backends(*replica, "ztm-read"), "0");
  }
  // Metrics name each host with its role.
  MetricsRegistry registry;
  router->register_metrics(registry);
  const std::string text = registry.render();
  EXPECT_NE(text.find("ztm_pg_host_role{host=\"" + router->host_name(kPrimary) + "\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("ztm_pg_queries_total{host=\"" + router->host_name(kReplicaA) +
                      "\",kind=\"read\"} 50"),
            std::string::npos)
      << text;
  // A sharded store's routers share the names: each series carries its shard first.
  MetricsRegistry sharded;
  router->register_metrics(sharded, {{"shard", "s1"}});
  const std::string labelled = sharded.render();
  EXPECT_NE(labelled.find("ztm_pg_queries_total{shard=\"s1\",host=\"" +
                          router->host_name(kReplicaA) + "\",kind=\"read\"} 50"),
            std::string::npos)
      << labelled;
  EXPECT_NE(labelled.find("ztm_pg_held_total{shard=\"s1\"} 0"), std::string::npos) << labelled;
  EXPECT_NE(labelled.find("ztm_pg_hold_overflows_total{shard=\"s1\",reason=\"full\"} 0"),
            std::string::npos)
      << labelled;
}

TEST_F(ReplicaRouterTest, ReplicasStoppingUnderReadLoadFailNoReadAndReadsComeBackToThem) {
  auto router = make_router();
  ASSERT_TRUE(eventually_15s([&] { return settled(*router); }));
  ASSERT_EQ(outcome(create(*router, 7)), "ok");
  ASSERT_TRUE(eventually_15s([&] { return has_user(a_, 7) && has_user(b_, 7); }));

  // One replica stops while 2000 reads run: every read succeeds (on the other hosts).
  std::atomic<int> done{0};
  std::thread stopper([&] {
    eventually_15s([&] { return done.load() >= 300; });
    a_.stop();
  });
  const auto start = std::chrono::steady_clock::now();
  int failed = 0;
  for (int i = 0; i < 2000; ++i, ++done) {
    auto r = get(*router, 7);
    if (!r.ok()) ADD_FAILURE() << "read " << i << ": " << outcome(r), ++failed;
  }
  stopper.join();
  EXPECT_EQ(failed, 0);
  EXPECT_LT(test::elapsed_ms(start), 30'000);
  EXPECT_GT(router->reads(kReplicaB), 1000u);

  // Both replicas down: the primary serves every read.
  b_.stop();
  const auto primary_reads = router->reads(kPrimary);
  for (int i = 0; i < 200; ++i) ASSERT_EQ(outcome(get(*router, 7)), "ok") << i;
  EXPECT_GE(router->reads(kPrimary), primary_reads + 200);

  // Back again: discovery finds them and reads return to them.
  a_.start();
  b_.start();
  ASSERT_TRUE(eventually_15s([&] { return settled(*router); }));
  const auto before = router->reads(kPrimary);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(outcome(get(*router, 7)), "ok") << i;
  EXPECT_EQ(router->reads(kPrimary), before);
  EXPECT_GT(router->reads(kReplicaA), 0u);
}

TEST_F(ReplicaRouterTest, ReadYourWritesHoldsWhileReplicasReplayNothing) {
  auto router = make_router(/*max_lag_ms=*/600'000);  // paused replicas still take plain reads
  ASSERT_TRUE(eventually_15s([&] { return settled(*router, 600); }));
  ASSERT_EQ(outcome(create(*router, 1)), "ok");
  ASSERT_EQ(outcome(create(*router, 2)), "ok");
  ASSERT_TRUE(eventually_15s([&] { return has_user(a_, 2) && has_user(b_, 2); }));
  a_.query(db_, "SELECT pg_wal_replay_pause()");
  b_.query(db_, "SELECT pg_wal_replay_pause()");

  const auto updated = run_on(io_, router->update_user(sample_user(1, "new"), std::nullopt));
  ASSERT_EQ(outcome(updated), "ok");
  ASSERT_TRUE(parse_lsn(updated->position)) << updated->position;
  const auto deleted = run_on(io_, router->delete_user(2, std::nullopt));
  ASSERT_EQ(outcome(deleted), "ok");
  ASSERT_TRUE(parse_lsn(deleted->position)) << deleted->position;

  // Without a position a replica serves the read (it may be stale: that is allowed).
  auto replica_reads = [&] { return router->reads(kReplicaA) + router->reads(kReplicaB); };
  const auto replicas_before = replica_reads(), primary_before = router->reads(kPrimary);
  ASSERT_EQ(outcome(get(*router, 1)), "ok");
  EXPECT_EQ(replica_reads(), replicas_before + 1);
  // With the write's position the primary serves it, and the write is there.
  const auto fresh = run_on(io_, router->get_user(1, Consistency{updated->position}));
  ASSERT_EQ(outcome(fresh), "ok");
  EXPECT_EQ(fresh.value(), (StoredUser{sample_user(1, "new"), 2}));
  EXPECT_EQ(errc(run_on(io_, router->get_user(2, Consistency{deleted->position}))), "not_found");
  EXPECT_EQ(router->reads(kPrimary), primary_before + 2);
  EXPECT_EQ(replica_reads(), replicas_before + 1);

  // Replay resumes: once a replica has replayed the position, it serves such reads again.
  a_.query(db_, "SELECT pg_wal_replay_resume()");
  b_.query(db_, "SELECT pg_wal_replay_resume()");
  ASSERT_TRUE(eventually_15s([&] {
    const auto before = replica_reads();
    auto r = run_on(io_, router->get_user(1, Consistency{deleted->position}));
    EXPECT_EQ(outcome(r), "ok");
    if (!r.ok()) return false;
    EXPECT_EQ(r->version, 2);
    return replica_reads() > before;
  }));
}

TEST_F(ReplicaRouterTest, ReplicasLaggingBeyondTheBoundTakeNoReads) {
  auto router = make_router(/*max_lag_ms=*/300);
  ASSERT_TRUE(eventually_15s([&] { return settled(*router, 0.3); }));
  ASSERT_EQ(outcome(create(*router, 1)), "ok");
  ASSERT_TRUE(eventually_15s([&] { return has_user(a_, 1) && has_user(b_, 1); }));
  a_.query(db_, "SELECT pg_wal_replay_pause()");
  b_.query(db_, "SELECT pg_wal_replay_pause()");
  // Writes continue; the replicas receive them but replay none, so their lag grows.
  UserId next = 100;
  ASSERT_TRUE(eventually_15s([&] {
    EXPECT_EQ(outcome(create(*router, ++next)), "ok");
    return !serves_reads(*router, kReplicaA, 0.3) && !serves_reads(*router, kReplicaB, 0.3);
  }));
  const auto a_reads = router->reads(kReplicaA), b_reads = router->reads(kReplicaB);
  for (int i = 0; i < 50; ++i) ASSERT_EQ(outcome(get(*router, next)), "ok") << i;
  EXPECT_EQ(router->reads(kReplicaA), a_reads);
  EXPECT_EQ(router->reads(kReplicaB), b_reads);
  // Replay resumes: they catch up and take reads again.
  a_.query(db_, "SELECT pg_wal_replay_resume()");
  b_.query(db_, "SELECT pg_wal_replay_resume()");
  ASSERT_TRUE(eventually_15s([&] { return settled(*router, 0.3); }));
}

TEST_F(ReplicaRouterTest, FollowsAPromotedReplicaAndNeverReportsAnUncommittedWrite) {
  // Discovery is only woken by failures here, so the first write after the switch surely goes to
  // the old primary.
  // No hold: writes without a primary fail at once (the hold's own tests are below).
  auto router = make_router(/*max_lag_ms=*/0, /*interval_ms=*/60'000, /*hold_ms=*/0);
  ASSERT_EQ(router->host_status(kPrimary).role, HostRole::primary);
  ASSERT_EQ(outcome(create(*router, 1)), "ok");
  ASSERT_TRUE(eventually_15s([&] { return has_user(a_, 1); }));
  a_.query("postgres", "SELECT pg_promote()");  // waits until promoted
  primary_.stop();
  // Writes fail with unavailable until the router follows the new primary, then succeed; every
  // success is committed on the new primary.
  UserId id = 1000;
  int unavailable = 0;
  bool written = eventually_15s([&] {
    auto r = create(*router, ++id);
    if (r.ok()) return true;
    EXPECT_EQ(errc(r), "unavailable") << outcome(r);
    ++unavailable;
    return false;
  });
  ASSERT_TRUE(written);
  EXPECT_GE(unavailable, 1) << "the write during the switch";
  EXPECT_EQ(router->held(), 0u) << "hold_ms 0: nothing is held";
  EXPECT_TRUE(has_user(a_, id));
  EXPECT_EQ(router->host_status(kReplicaA).role, HostRole::primary);
  EXPECT_GT(router->writes(kReplicaA), 0u);
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(outcome(create(*router, ++id)), "ok");
    EXPECT_TRUE(has_user(a_, id));
  }
}

// The primary dies: the replicas have replayed all they received and, by their own view, lag 0.
// Nothing proves them fresh any more, so within the bound they stop taking reads, and with no
// primary a read fails (503) rather than be answered staler than the bound.
TEST_F(ReplicaRouterTest, WithThePrimaryGoneReplicasStopTakingReadsWithinTheBound) {
  // No hold: such reads fail at once (with it they would wait for a primary; tested below).
  auto router = make_router(/*max_lag_ms=*/500, /*interval_ms=*/100, /*hold_ms=*/0);
  ASSERT_TRUE(eventually_15s([&] { return settled(*router, 0.5); }));
  ASSERT_EQ(outcome(create(*router, 1)), "ok");
  ASSERT_TRUE(eventually_15s([&] { return has_user(a_, 1) && has_user(b_, 1); }));
  ASSERT_TRUE(eventually_15s([&] { return get(*router, 1).ok(); }));
  primary_.stop();
  const auto stopped = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually_15s([&] { return errc(get(*router, 1)) == "unavailable"; }))
      << "reads kept going to replicas nothing proves fresh";
  const auto after = std::chrono::steady_clock::now() - stopped;
  EXPECT_GT(router->staleness(kReplicaA).value_or(std::chrono::seconds(9)),
            std::chrono::milliseconds(500));
  for (int i = 0; i < 20; ++i) EXPECT_EQ(errc(get(*router, 1)), "unavailable") << i;
  std::cout << "reads refused " << std::chrono::duration<double>(after).count()
            << " s after the primary stopped (bound 0.5 s + one discovery interval)\n";
}

// A replica whose WAL receiver stops (its primary_conninfo emptied: cut off from the primary)
// takes no reads, though it calls itself caught up; streaming again, it takes them again.
TEST_F(ReplicaRouterTest, AReplicaThatStopsStreamingTakesNoReads) {
  auto router = make_router(/*max_lag_ms=*/500, /*interval_ms=*/100);
  ASSERT_TRUE(eventually_15s([&] { return settled(*router, 0.5); }));
  ASSERT_EQ(outcome(create(*router, 1)), "ok");
  ASSERT_TRUE(eventually_15s([&] { return has_user(a_, 1) && has_user(b_, 1); }));
  const std::string conninfo = a_.query("postgres", "SHOW primary_conninfo");
  a_.query("postgres", "ALTER SYSTEM SET primary_conninfo = ''");
  a_.query("postgres", "SELECT pg_reload_conf()");
  ASSERT_TRUE(eventually_15s([&] { return !router->host_status(kReplicaA).streaming; }));
  const auto a_reads = router->reads(kReplicaA);
  for (int i = 0; i < 50; ++i) ASSERT_EQ(outcome(get(*router, 1)), "ok") << i;
  EXPECT_EQ(router->reads(kReplicaA), a_reads) << "not streaming: no reads";
  std::string quoted;  // as an SQL literal
  for (char ch : conninfo) quoted += ch == '\'' ? std::string("''") : std::string(1, ch);
  a_.query("postgres", "ALTER SYSTEM SET primary_conninfo = '" + quoted + "'");
  a_.query("postgres", "SELECT pg_reload_conf()");
  ASSERT_TRUE(eventually_15s([&] { return settled(*router, 0.5); }));
  ASSERT_TRUE(eventually_15s([&] {
    EXPECT_EQ(outcome(get(*router, 1)), "ok");
    return router->reads(kReplicaA) > a_reads;
  }));
}

// The primary is gone and no replica is promoted yet: writes wait in the hold (none was sent,
// so none needs a key), and so do reads once no replica is proven fresh; the server stays ready.
// Once a replica is promoted, every write lands on it and every read is answered: none failed.
TEST_F(ReplicaRouterTest, WritesAndReadsWithoutAPrimaryAreHeldUntilAReplicaIsPromoted) {
  // A query timeout of 10 s: the first commits on a just promoted server took over 2 s once, on
  // a loaded 2-core machine; what is tested is the hold, not the promotion's speed.
  auto router = make_router(/*max_lag_ms=*/1000, /*interval_ms=*/100, /*hold_ms=*/30'000,
                            /*max_held=*/1000, /*timeout_ms=*/10'000);
  ASSERT_TRUE(eventually_15s([&] { return settled(*router); }));
  ASSERT_EQ(outcome(create(*router, 50)), "ok");
  ASSERT_TRUE(eventually_15s([&] { return has_user(a_, 50) && has_user(b_, 50); }));
  MetricsRegistry registry;
  router->register_metrics(registry);
  primary_.stop();
  ASSERT_TRUE(eventually_15s([&] {
    return router->host_status(kPrimary).role == HostRole::down &&
           !serves_reads(*router, kReplicaA) && !serves_reads(*router, kReplicaB);
  }));
  EXPECT_EQ(outcome(run_on(io_, router->ping())), "ok") << "ready while the hold rides it out";

  constexpr int kWrites = 20, kReads = 5;
  std::vector<std::optional<Result<StoredUser>>> results(kWrites + kReads);
  for (int i = 0; i < kWrites + kReads; ++i)
    boost::asio::co_spawn(
        io_,
        [&router, &results, i]() -> boost::asio::awaitable<void> {
          auto& into = results[static_cast<std::size_t>(i)];
          if (i < kWrites)
            into = co_await router->create_user(sample_user(100 + i));
          else
            into = co_await router->get_user(50);
        },
        boost::asio::detached);
  io_.restart();
  std::thread loop([&] { io_.run(); });
  EXPECT_TRUE(eventually_15s([&] { return router->holding() == kWrites + kReads; }));
  const auto promoted = std::chrono::steady_clock::now();
  a_.query("postgres", "SELECT pg_promote()");
  loop.join();  // every call has returned
  std::cout << "held calls answered " << test::elapsed_ms(promoted) << " ms after pg_promote()\n";
  for (int i = 0; i < kWrites + kReads; ++i) {
    ASSERT_TRUE(results[static_cast<std::size_t>(i)].has_value());
    EXPECT_EQ(outcome(*results[static_cast<std::size_t>(i)]), "ok") << i;
    if (i < kWrites) {
      EXPECT_TRUE(has_user(a_, 100 + i)) << i;
    }
  }
  EXPECT_EQ(router->held(), static_cast<std::uint64_t>(kWrites + kReads));
  EXPECT_EQ(router->holding(), 0);
  const std::string text = registry.render();
  EXPECT_NE(text.find("ztm_pg_held_total 25"), std::string::npos) << text;
  EXPECT_NE(text.find("ztm_pg_hold_overflows_total{reason=\"timeout\"} 0"), std::string::npos);
}

// The hold is bounded in time (then 503) and in size (beyond it, 503 at once).
TEST_F(ReplicaRouterTest, TheHoldIsBoundedInTimeAndInSize) {
  auto router = make_router(/*max_lag_ms=*/1000, /*interval_ms=*/100, /*hold_ms=*/600,
                            /*max_held=*/1);
  ASSERT_TRUE(eventually_15s([&] { return settled(*router); }));
  MetricsRegistry registry;
  router->register_metrics(registry);
  primary_.stop();
  ASSERT_TRUE(eventually_15s([&] { return router->host_status(kPrimary).role == HostRole::down; }));
  auto started = std::chrono::steady_clock::now();
  const auto late = create(*router, 1);
  EXPECT_EQ(errc(late), "unavailable");
  EXPECT_GE(test::elapsed_ms(started), 600) << "held for the whole bound";
  EXPECT_LT(test::elapsed_ms(started), 5000);
  EXPECT_EQ(errc(run_on(io_, router->ping())), "unavailable") << "no primary for the whole hold";

  std::optional<Result<StoredUser>> held;
  io_.restart();  // create() ran it
  boost::asio::co_spawn(
      io_,
      [&]() -> boost::asio::awaitable<void> {
        held = co_await router->create_user(sample_user(2));
      },
      boost::asio::detached);
  std::thread loop([&] { io_.run(); });
  EXPECT_TRUE(eventually_15s([&] { return router->holding() == 1; }));
  boost::asio::io_context other;
  started = std::chrono::steady_clock::now();
  const auto refused = run_on(other, router->create_user(sample_user(3)));
  EXPECT_EQ(errc(refused), "unavailable");
  EXPECT_LT(test::elapsed_ms(started), 300) << "the hold is full: refused at once";
  loop.join();
  ASSERT_TRUE(held.has_value());
  EXPECT_EQ(errc(*held), "unavailable");
  const std::string text = registry.render();
  EXPECT_NE(text.find("ztm_pg_hold_overflows_total{reason=\"full\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("ztm_pg_hold_overflows_total{reason=\"timeout\"} 2"), std::string::npos)
      << text;
}

// A call that keeps failing on a primary discovery still sees (each attempt times out on a
// lock) is sent again after each probe, but ends at the hold's deadline, never later than one
// attempt past it.
TEST_F(ReplicaRouterTest, ACallThatKeepsFailingOnALivePrimaryEndsAtTheHoldsDeadline) {
  auto router = make_router(/*max_lag_ms=*/1000, /*interval_ms=*/100, /*hold_ms=*/3000);
  ASSERT_TRUE(eventually_15s([&] { return settled(*router); }));
  test::Session locker("host=" + primary_.dir() + " port=5432 user=postgres dbname=" + db_);
  locker.exec("BEGIN");
  locker.exec("LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE");  // logins wait on it
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(errc(run_on(io_, router->find_account("a@example.com"))), "unavailable");
  const auto ms = test::elapsed_ms(started);
  EXPECT_GE(ms, 3000) << "held, and sent again, until the deadline";
  EXPECT_LT(ms, 3000 + 2000 + 1500) << "at most one attempt (timeout_ms 2000) past it";
  EXPECT_EQ(router->held(), 1u);
  locker.exec("ROLLBACK");
}

// A write sent, then cut off (its backend terminated while it waited on a lock): whether it
// committed is unknown. Without an idempotency key it fails unavailable at once and is never
// sent again; with one, it is held and sent again, and the user exists exactly once.
TEST_F(ReplicaRouterTest, AWriteCutOffAfterItWasSentIsSentAgainOnlyWithAKey) {
  auto router = make_router();
  ASSERT_TRUE(eventually_15s([&] { return settled(*router); }));
  ASSERT_EQ(outcome(create(*router, 1)), "ok");
  test::Session locker("host=" + primary_.dir() + " port=5432 user=postgres dbname=" + db_);
  locker.exec("BEGIN");
  locker.exec("LOCK TABLE users IN SHARE MODE");  // inserts wait on it
  const std::string waiting =
      "FROM pg_stat_activity WHERE datname = '" + db_ + "' AND wait_event_type = 'Lock'";
  auto cut_off_the_waiting_write = [&] {
    EXPECT_TRUE(eventually_15s(
        [&] { return primary_.query("postgres", "SELECT count(*) " + waiting) == "1"; }));
    primary_.query("postgres", "SELECT pg_terminate_backend(pid) " + waiting);
  };
  auto spawn_create = [&](UserId id, std::optional<std::string> key,
                          std::optional<Result<StoredUser>>& into) {
    io_.restart();
    boost::asio::co_spawn(
        io_,
        [&router, &into, id, key]() -> boost::asio::awaitable<void> {
          into = co_await router->create_user(sample_user(id), key);
        },
        boost::asio::detached);
    return std::thread([this] { io_.run(); });
  };

  std::optional<Result<StoredUser>> unkeyed;
  std::thread loop = spawn_create(11, std::nullopt, unkeyed);
  cut_off_the_waiting_write();
  loop.join();
  ASSERT_TRUE(unkeyed.has_value());
  EXPECT_EQ(errc(*unkeyed), "unavailable");
  EXPECT_TRUE(!unkeyed->ok() && unkeyed->error().outcome_unknown);
  EXPECT_EQ(router->held(), 0u) << "not held: sending it again could make a second user";

  std::optional<Result<StoredUser>> keyed;
  loop = spawn_create(10, "key-10", keyed);
  cut_off_the_waiting_write();
  EXPECT_TRUE(eventually_15s([&] { return router->held() == 1; }));
  locker.exec("COMMIT");
  loop.join();
  ASSERT_TRUE(keyed.has_value());
  EXPECT_EQ(outcome(*keyed), "ok");
  EXPECT_EQ(primary_.query(db_, "SELECT count(*) FROM users WHERE id IN (10, 11)"), "1");
  EXPECT_EQ(primary_.query(db_, "SELECT count(*) FROM idempotency_keys WHERE key = 'key-10'"), "1");
}

// The whole store contract through the router, on a one-host "cluster" (every read sees every
// write there; with replicas, reads without a position may be stale by design).
struct OneHostRouterFactory {
  static std::unique_ptr<Store> make() {
    auto& pg = PostgresInstance::shared();
    ReplicaRouterOptions o;
    o.conninfo = pg.conninfo(pg.create_database());
    auto router = std::make_unique<ReplicaRouter>(o);
    if (auto m = router->migrate(); !m.ok()) throw std::runtime_error(m.error().message);
    return router;
  }
};

}  // namespace
}  // namespace ztm::storage

namespace ztm::test {
INSTANTIATE_TYPED_TEST_SUITE_P(OneHostRouter, StoreConformance,
                               ::testing::Types<storage::OneHostRouterFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(OneHostRouter, AccountConformance,
                               ::testing::Types<storage::OneHostRouterFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(OneHostRouter, PhotoConformance,
                               ::testing::Types<storage::OneHostRouterFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(OneHostRouter, LookupConformance,
                               ::testing::Types<storage::OneHostRouterFactory>);
INSTANTIATE_TYPED_TEST_SUITE_P(OneHostRouter, FollowConformance,
                               ::testing::Types<storage::OneHostRouterFactory>);
}  // namespace ztm::test
