// How PgStore fails and recovers: terminated backends, a stopped server, a server that does not
// answer. Every wait is bounded; nothing sleeps a fixed time.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <thread>

#include "storage/postgres/pg_store.h"
#include "tests/storage/pg_test_util.h"
#include "tests/storage/store_conformance.h"
#include "tests/support/eventually.h"
#include "tests/support/postgres_instance.h"

namespace ztm::storage {
namespace {

using namespace std::chrono_literals;
using test::errc;
using test::eventually;
using test::outcome;
using test::PostgresInstance;
using test::run_on;
using test::sample_user;

// Calls `attempt` until it returns ok or `bound` passes; every failure must be `unavailable`.
template <class F>
bool eventually_ok(F attempt, std::chrono::milliseconds bound) {
  return eventually(
      [&] {
        auto r = attempt();
        if (!r.ok()) {
          EXPECT_EQ(errc(r), "unavailable") << outcome(r);
        }
        return r.ok();
      },
      bound, 10ms);
}

std::string terminate_backends_sql(const std::string& db) {
  return "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '" + db +
         "' AND backend_type = 'client backend' AND pid <> pg_backend_pid()";
}

TEST(PgReconnect, TerminatedIdleBackendsAreReplacedOnTheNextCall) {
  auto& pg = PostgresInstance::shared();
  std::string db;
  auto store = test::migrated_store(pg, {.connections_per_loop = 1}, &db);
  boost::asio::io_context io;  // kept: its pool and connection persist between calls
  ASSERT_EQ(outcome(run_on(io, store->create_user(sample_user(1)))), "ok");
  const std::string before = pg.query("postgres",
                                      "SELECT min(pid) FROM pg_stat_activity WHERE "
                                      "datname = '" +
                                          db + "'");
  ASSERT_EQ(pg.query("postgres", terminate_backends_sql(db)), "1");
  // The idle connection notices the closed socket before sending and reconnects at once.
  EXPECT_TRUE(eventually_ok([&] { return run_on(io, store->get_user(1)); }, 5000ms));
  const std::string after = pg.query("postgres",
                                     "SELECT min(pid) FROM pg_stat_activity WHERE "
                                     "datname = '" +
                                         db + "'");
  EXPECT_NE(before, after) << "a new backend serves the store";
}

boost::asio::awaitable<void> update_into(Store& store, User u,
                                         std::optional<Result<StoredUser>>& out) {
  out.emplace(co_await store.update_user(std::move(u), std::nullopt));
}

TEST(PgReconnect, RequestsInFlightFailUnavailableWhenTheirBackendIsTerminated) {
  auto& pg = PostgresInstance::shared();
  std::string db;
  auto store = test::migrated_store(pg, {.connections_per_loop = 1, .timeout_ms = 30000}, &db);
  ASSERT_EQ(outcome(run_sync(store->create_user(sample_user(1)))), "ok");
  test::Session locker(pg.conninfo(db));
  locker.exec("BEGIN");
  locker.exec("SELECT * FROM users WHERE id = 1 FOR UPDATE");  // the update below waits on it

  boost::asio::io_context io;
  std::optional<Result<StoredUser>> updated;
  boost::asio::co_spawn(io, update_into(*store, sample_user(1, "b"), updated),
                        boost::asio::detached);
  std::thread loop([&] { io.run(); });
  // Wait (bounded) until our update is blocked on the lock, then terminate its backend.
  const std::string waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = '" + db +
                              "' AND wait_event_type = 'Lock'";
  EXPECT_TRUE(eventually([&] { return pg.query("postgres", waiting) == "1"; }, 10s, 5ms));
  const auto terminated_at = std::chrono::steady_clock::now();
  pg.query("postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" +
                           db + "' AND wait_event_type = 'Lock'");
  loop.join();  // the update completes: the loop runs out of work
  ASSERT_TRUE(updated.has_value());
  EXPECT_EQ(errc(*updated), "unavailable") << outcome(*updated);
  EXPECT_TRUE(!updated->ok() && updated->error().outcome_unknown) << "sent, then the backend died";
  EXPECT_LT(test::elapsed_ms(terminated_at), 2000) << "failed promptly, not at the 30 s timeout";
  locker.exec("ROLLBACK");
  const auto got = run_sync(store->get_user(1));
  ASSERT_EQ(outcome(got), "ok");
  EXPECT_EQ(got->version, 1) << "the terminated update did not commit";
}

TEST(PgReconnect, AStatementWithoutAnAnswerTimesOutAndTheNextCallWorks) {
  auto& pg = PostgresInstance::shared();
  std::string db;
  auto store = test::migrated_store(pg, {.connections_per_loop = 1, .timeout_ms = 300}, &db);
  ASSERT_EQ(outcome(run_sync(store->create_user(sample_user(1)))), "ok");
  test::Session locker(pg.conninfo(db));
  locker.exec("BEGIN");
  locker.exec("SELECT * FROM users WHERE id = 1 FOR UPDATE");
  boost::asio::io_context io;
  const auto started = std::chrono::steady_clock::now();
  const auto timed_out = run_on(io, store->update_user(sample_user(1, "b"), std::nullopt));
  EXPECT_EQ(errc(timed_out), "unavailable");
  EXPECT_TRUE(!timed_out.ok() && timed_out.error().outcome_unknown) << "sent, never answered";
  const auto ms = test::elapsed_ms(started);
  EXPECT_GE(ms, 250);
  EXPECT_LT(ms, 3000);
  EXPECT_EQ(outcome(run_on(io, store->get_user(1))), "ok") << "reconnected";
  locker.exec("ROLLBACK");
}

TEST(PgReconnect, AStoppedServerFailsFastAndIsUsedAgainOnceBack) {
  PostgresInstance pg;  // its own server, to stop and start
  auto store = test::migrated_store(pg, {.connections_per_loop = 2, .timeout_ms = 2000});
  boost::asio::io_context io;
  ASSERT_EQ(outcome(run_on(io, store->create_user(sample_user(1)))), "ok");
  pg.stop();
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(errc(run_on(io, store->get_user(1))), "unavailable");
  EXPECT_LT(test::elapsed_ms(started), 1000) << "a refused connection fails at once";
  // While no connection can be made, calls keep failing fast (back-off), never queueing.
  started = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    const auto r = run_on(io, store->get_user(1));
    EXPECT_EQ(errc(r), "unavailable");
    EXPECT_TRUE(!r.ok() && !r.error().outcome_unknown) << "never sent";
  }
  EXPECT_LT(test::elapsed_ms(started), 1000);
  EXPECT_EQ(errc(run_sync(store->ping())), "unavailable") << "from another loop too";

  pg.start();
  EXPECT_TRUE(eventually_ok([&] { return run_on(io, store->get_user(1)); }, 10000ms))
      << "reconnects within the back-off bound";
  EXPECT_EQ(outcome(run_sync(store->ping())), "ok");
}

// A socket that accepts connections (in the kernel's backlog) but never answers.
class SilentServer {
 public:
  SilentServer() {
    std::string pattern = "/tmp/ztm-silent-XXXXXX";
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp");
    dir_ = pattern;
    fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = dir_ + "/.s.PGSQL.5432";
    path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd_, 64))
      throw std::runtime_error("cannot listen on " + path);
  }
  ~SilentServer() {
    ::close(fd_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string conninfo() const { return "host=" + dir_ + " port=5432 dbname=x user=postgres"; }

 private:
  std::string dir_;
  int fd_ = -1;
};

TEST(PgReconnect, AServerThatNeverAnswersTimesOutTheConnect) {
  SilentServer silent;
  PgStore store({.conninfo = silent.conninfo(), .timeout_ms = 300});
  auto started = std::chrono::steady_clock::now();
  const auto r = run_sync(store.ping());
  EXPECT_EQ(errc(r), "unavailable");
  EXPECT_NE(outcome(r).find("timed out"), std::string::npos) << outcome(r);
  const auto ms = test::elapsed_ms(started);
  EXPECT_GE(ms, 250);
  EXPECT_LT(ms, 3000);
}

}  // namespace
}  // namespace ztm::storage
