// redis::Client against a real redis-server (tests/support/redis_instance.h).

#include "redis/client.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "core/run_sync.h"
#include "tests/support/eventually.h"
#include "tests/support/redis_instance.h"

namespace ztm::redis {
namespace {

using namespace std::chrono_literals;
using test::RedisInstance;

ConnectionOptions options_for(const RedisInstance& server, std::chrono::milliseconds timeout) {
  ConnectionOptions o;
  o.address = server.address();
  o.timeout = timeout;
  o.backoff_min = 10ms;
  o.backoff_max = 100ms;
  return o;
}

// One command through run_sync (a fresh io_context, and so a fresh connection, per call).
Result<Reply> run(CommandRunner& client, std::vector<std::string> args) {
  return run_sync(client.command(std::move(args)));
}

// One command on `io`, a loop that lives across calls (and so keeps its connection).
Result<Reply> run_on(boost::asio::io_context& io, CommandRunner& client,
                     std::vector<std::string> args) {
  std::optional<Result<Reply>> out;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        auto c = client.command(std::move(args));
        out.emplace(co_await std::move(c));
      },
      boost::asio::detached);
  io.restart();
  io.run();
  return std::move(*out);
}

std::string outcome(const Result<Reply>& r) {
  return r.ok() ? describe(*r) : std::string(to_string(r.error().code)) + " " + r.error().message;
}

TEST(RedisClient, DecodesEveryReplyType) {
  RedisInstance server;
  Client client(options_for(server, 2s));
  EXPECT_EQ(outcome(run(client, {"SET", "k", std::string("a\0b", 3)})), "+OK");
  const auto got = run(client, {"GET", "k"});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->str, std::string("a\0b", 3));  // binary-safe
  EXPECT_EQ(outcome(run(client, {"GET", "missing"})), "nil");
  EXPECT_EQ(outcome(run(client, {"INCRBY", "n", "41"})), "41");
  EXPECT_EQ(outcome(run(client, {"RPUSH", "l", "x", "y"})), "2");
  EXPECT_EQ(outcome(run(client, {"LRANGE", "l", "0", "-1"})), "[\"x\", \"y\"]");
  const auto error = run(client, {"INCR", "k"});
  ASSERT_TRUE(error.ok());  // an error reply is a value
  EXPECT_TRUE(error->is_error());
  EXPECT_EQ(error_from_reply(*error, "INCR").code, Errc::internal);
  EXPECT_EQ(
      error_from_reply(Reply{Reply::Type::error, 0, "READONLY You can't write", {}}, "SET").code,
      Errc::unavailable);
}

TEST(RedisClient, RejectsBadAddresses) {
  EXPECT_FALSE(parse_address("localhost").ok());
  EXPECT_FALSE(parse_address("h:0").ok());
  EXPECT_FALSE(parse_address("h:70000").ok());
  ASSERT_TRUE(parse_address("10.0.0.1:6379").ok());
  EXPECT_EQ(parse_address("10.0.0.1:6379")->second, 6379);
  ConnectionOptions o;
  o.address = "nope";
  EXPECT_THROW(Client{o}, std::invalid_argument);
}

// Many coroutines on one loop share one connection: hiredis pipelines them and answers in order.
TEST(RedisClient, PipelinesManyConcurrentCommandsOnOneConnection) {
  RedisInstance server;
  Client client(options_for(server, 5s));
  MetricsRegistry metrics;
  client.register_metrics(metrics, "test");
  constexpr int kCalls = 2000;
  boost::asio::io_context io;
  int ok = 0;
  std::vector<std::string> failures;
  for (int i = 0; i < kCalls; ++i) {
    boost::asio::co_spawn(
        io,
        [&, i]() -> boost::asio::awaitable<void> {
          std::vector<std::string> set{"SET", "key" + std::to_string(i), std::to_string(i)};
          auto s = client.command(std::move(set));
          const auto set_reply = co_await std::move(s);
          std::vector<std::string> get{"GET", "key" + std::to_string(i)};
          auto g = client.command(std::move(get));
          const auto got = co_await std::move(g);
          if (set_reply.ok() && got.ok() && got->str == std::to_string(i)) {
            ++ok;
          } else {
            failures.push_back(outcome(set_reply) + " / " + outcome(got));
          }
        },
        boost::asio::detached);
  }
  io.run();
  EXPECT_EQ(ok, kCalls);
  EXPECT_TRUE(failures.empty()) << failures.front();
  const std::string text = metrics.render();
  EXPECT_NE(text.find("ztm_redis_connects_total{client=\"test\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ztm_redis_commands_total{client=\"test\"} 4000\n"), std::string::npos);
}

// A stopped (SIGSTOP) server accepts connections but never answers: the timeout bounds the call.
TEST(RedisClient, TimesOutOnAFrozenServerAndRecovers) {
  RedisInstance server;
  Client client(options_for(server, 300ms));
  boost::asio::io_context io;
  ASSERT_EQ(outcome(run_on(io, client, {"PING"})), "+PONG");  // the connection to freeze
  server.pause();
  const auto start = std::chrono::steady_clock::now();
  const auto frozen = run_on(io, client, {"PING"});
  const auto took = std::chrono::steady_clock::now() - start;
  server.resume();
  ASSERT_FALSE(frozen.ok());
  EXPECT_EQ(frozen.error().code, Errc::unavailable) << frozen.error().message;
  EXPECT_NE(frozen.error().message.find("no answer within 300 ms"), std::string::npos)
      << frozen.error().message;
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 2s);
  EXPECT_EQ(outcome(run_on(io, client, {"PING"})), "+PONG");  // a new connection
}

// Calls fail with unavailable while the server is down and succeed again after its restart.
TEST(RedisClient, ReconnectsAfterARestart) {
  RedisInstance server;
  Client client(options_for(server, 1s));
  boost::asio::io_context io;
  auto ping = [&] { return run_on(io, client, {"PING"}); };
  ASSERT_EQ(outcome(ping()), "+PONG");
  server.stop();
  const auto down = ping();
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().code, Errc::unavailable) << down.error().message;
  server.start();
  EXPECT_TRUE(test::eventually([&] { return ping().ok(); }, 5s, 20ms));
}

// Spawns `n` PINGs on `io`, runs it, and returns how the calls ended ("unavailable" -> count).
std::map<std::string, int> ping_many(boost::asio::io_context& io, CommandRunner& client, int n) {
  std::map<std::string, int> ends;
  for (int i = 0; i < n; ++i)
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
          std::vector<std::string> args{"PING"};
          auto c = client.command(std::move(args));
          const auto r = co_await std::move(c);
          ++ends[r.ok() ? describe(*r) : std::string(to_string(r.error().code))];
        },
        boost::asio::detached);
  io.restart();
  io.run();
  return ends;
}

// Commands in flight when the server dies fail at once with unavailable, not at their timeout.
TEST(RedisClient, CommandsInFlightFailWhenTheServerDies) {
  RedisInstance server;
  Client client(options_for(server, 10s));
  boost::asio::io_context io;
  ASSERT_EQ(outcome(run_on(io, client, {"PING"})), "+PONG");
  server.pause();  // the commands queue up unanswered...
  std::thread killer([&] {
    std::this_thread::sleep_for(200ms);  // pacing: whenever it comes, the calls must end
    server.kill();                       // ...until the server dies
  });
  const auto start = std::chrono::steady_clock::now();
  const auto ends = ping_many(io, client, 50);
  const auto took = std::chrono::steady_clock::now() - start;
  killer.join();
  EXPECT_EQ(ends, (std::map<std::string, int>{{"unavailable", 50}}));
  EXPECT_LT(took, 5s);
}

// Beyond max_pending commands in flight on a loop, calls are refused at once (overloaded).
TEST(RedisClient, RefusesCommandsBeyondMaxPending) {
  RedisInstance server;
  ConnectionOptions o = options_for(server, 300ms);
  o.max_pending = 10;
  Client client(o);
  boost::asio::io_context io;
  server.pause();
  const auto ends = ping_many(io, client, 25);
  server.resume();
  EXPECT_EQ(ends, (std::map<std::string, int>{{"overloaded", 15}, {"unavailable", 10}}));
  EXPECT_EQ(outcome(run_on(io, client, {"PING"})), "+PONG");
}

}  // namespace
}  // namespace ztm::redis
