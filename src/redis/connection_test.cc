// The connection's reconnect back-off, on a manual clock: no server is needed, since every
// connect is refused (a port bound but not listening), and the clock, not a sleep, ends each
// back-off. The connection against real servers: client_test.cc (engine).
#include "redis/connection.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/manual_clock.h"
#include "tests/support/refusing_port.h"

namespace ztm::redis {
namespace {

using std::chrono::milliseconds;

boost::asio::awaitable<void> command_into(std::shared_ptr<Connection> c,
                                          std::optional<Result<Reply>>& out) {
  std::vector<std::string> ping{"PING"};  // not a braced temporary in co_await (GCC 12)
  out.emplace(co_await c->command(std::move(ping)));
}

class RedisConnectionBackoffTest : public ::testing::Test {
 protected:
  RedisConnectionBackoffTest()
      : connection_(std::make_shared<Connection>(
            strand_,
            ConnectionOptions{.address = fmt::format("127.0.0.1:{}", port_.port()),
                              .timeout = milliseconds(2000),
                              .backoff_min = milliseconds(50),
                              .backoff_max = milliseconds(200),
                              .clock = &clock_},
            std::make_shared<Counters>())) {}
  ~RedisConnectionBackoffTest() override {
    connection_.reset();
    io_.restart();
    io_.run();
  }

  // One PING on the connection's strand, run to completion; its error message ("" on success).
  std::string command() {
    std::optional<Result<Reply>> out;
    boost::asio::co_spawn(strand_, command_into(connection_, out), boost::asio::detached);
    io_.restart();
    io_.run();
    if (!out) return "no result";
    return out->ok() ? "" : out->error().message;
  }
  static bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
  }
  static bool backing_off(const std::string& message) { return contains(message, "not connected"); }

  test::RefusingPort port_;
  ManualClock clock_;
  boost::asio::io_context io_;
  Strand strand_{boost::asio::make_strand(io_.get_executor())};
  std::shared_ptr<Connection> connection_;
};

TEST_F(RedisConnectionBackoffTest, FailedConnectsBackOffDoublingUntilTheClockMoves) {
  const std::string first = command();
  EXPECT_FALSE(first.empty());
  EXPECT_FALSE(backing_off(first)) << first;
  // During the back-off, commands fail at once without a connect; only the clock ends it.
  EXPECT_PRED2(contains, command(), "not connected (next attempt in 50 ms)");
  clock_.advance(milliseconds(49));
  EXPECT_PRED2(contains, command(), "not connected (next attempt in 1 ms)");
  clock_.advance(milliseconds(1));
  EXPECT_FALSE(backing_off(command())) << "a new attempt, on the back-off's end";
  // Doubled after each failure, up to backoff_max.
  for (const int ms : {100, 200, 200}) {
    SCOPED_TRACE(ms);
    EXPECT_PRED2(contains, command(), fmt::format("next attempt in {} ms", ms));
    clock_.advance(milliseconds(ms - 1));
    EXPECT_PRED2(contains, command(), "next attempt in 1 ms");
    clock_.advance(milliseconds(1));
    EXPECT_FALSE(backing_off(command()));
  }
}

}  // namespace
}  // namespace ztm::redis
