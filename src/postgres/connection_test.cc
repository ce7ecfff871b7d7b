// The connection's reconnect back-off, on a manual clock: no server is needed, since every
// connect is refused (a port bound but not listening), and the clock, not a sleep, ends each
// back-off. The connection's work against a real server: the PostgreSQL store's and the replica
// router's engine tests.
#include "postgres/connection.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <optional>

#include "core/manual_clock.h"
#include "tests/support/refusing_port.h"

namespace ztm::postgres {
namespace {

using std::chrono::milliseconds;

const Statement kSelect{"connection_test_select", "SELECT 1"};

boost::asio::awaitable<void> execute_into(std::shared_ptr<Connection> c,
                                          std::optional<Result<QueryResult>>& out) {
  out.emplace(co_await c->execute(kSelect, Params{}));
}

class ConnectionBackoffTest : public ::testing::Test {
 protected:
  ConnectionBackoffTest()
      : options_{.conninfo = fmt::format("host=127.0.0.1 port={} dbname=ztm connect_timeout=2",
                                         port_.port()),
                 .timeout = milliseconds(2000),
                 .backoff_min = milliseconds(50),
                 .backoff_max = milliseconds(200),
                 .clock = &clock_},
        connection_(std::make_shared<Connection>(strand_, options_)) {}
  ~ConnectionBackoffTest() override {
    connection_.reset();
    io_.run();
  }

  // One SELECT on the connection's strand, run to completion; its error message ("" on success).
  std::string execute() {
    std::optional<Result<QueryResult>> out;
    boost::asio::co_spawn(strand_, execute_into(connection_, out), boost::asio::detached);
    io_.restart();
    io_.run();
    if (!out) return "no result";
    return out->ok() ? "" : out->error().message;
  }
  static bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
  }

  test::RefusingPort port_;
  ManualClock clock_;
  boost::asio::io_context io_;
  Strand strand_{boost::asio::make_strand(io_.get_executor())};
  ConnectionOptions options_;
  std::shared_ptr<Connection> connection_;
};

TEST_F(ConnectionBackoffTest, FailedConnectsBackOffDoublingUntilTheClockMoves) {
  EXPECT_PRED2(contains, execute(), "cannot connect");
  EXPECT_TRUE(connection_->backing_off());
  // During the back-off, calls fail at once without a connect; only the clock ends it.
  EXPECT_PRED2(contains, execute(), "not connected (next attempt in 50 ms)");
  clock_.advance(milliseconds(49));
  EXPECT_PRED2(contains, execute(), "not connected (next attempt in 1 ms)");
  clock_.advance(milliseconds(1));
  EXPECT_FALSE(connection_->backing_off());
  EXPECT_PRED2(contains, execute(), "cannot connect") << "a new attempt, on the back-off's end";
  // Doubled after each failure, up to backoff_max.
  for (const int ms : {100, 200, 200}) {
    SCOPED_TRACE(ms);
    EXPECT_PRED2(contains, execute(), fmt::format("next attempt in {} ms", ms));
    clock_.advance(milliseconds(ms - 1));
    EXPECT_TRUE(connection_->backing_off());
    clock_.advance(milliseconds(1));
    EXPECT_FALSE(connection_->backing_off());
    EXPECT_PRED2(contains, execute(), "cannot connect");
  }
}

// Which pool lane a statement takes (host.h): decided at compile time for constexpr statements.
static_assert(!Statement("r", "SELECT id, updated_at FROM users WHERE id = $1").writes);
static_assert(Statement("w", "UPDATE users SET updated_at = now() WHERE id = $1").writes);

TEST(Statement, WritesUnlessAPlainSelect) {
  for (const char* read :
       {"SELECT 1", "  select count(*) FROM users", "SELECT deleted, updates FROM t",
        "SELECT 1 FROM disowned_buckets WHERE bucket = ztm_bucket($1)"}) {
    EXPECT_FALSE(sql_writes(read)) << read;
  }
  for (const char* write :
       {"INSERT INTO t VALUES(1)", "delete FROM t", "WITH k AS (INSERT INTO k VALUES(1)) SELECT 1",
        "WITH x AS (SELECT 1) SELECT * FROM x", "SELECT * FROM t FOR UPDATE",
        "SELECT 1; DELETE FROM t", "CREATE TABLE t()", "DO $$ BEGIN END $$", "",
        "SELECT 1 FROM t WHERE EXISTS (SELECT 1) AND x IN (SELECT y FROM z) MERGE"}) {
    EXPECT_TRUE(sql_writes(write)) << write;
  }
}

}  // namespace
}  // namespace ztm::postgres
