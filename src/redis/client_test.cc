// redis::Client and SentinelClient against a real redis-server (tests/support/redis_instance.h):
// replies, pipelining, timeouts, reconnects, and authentication as an ACL user.

#include "redis/client.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/faults.h"
#include "core/run_sync.h"
#include "redis/sentinel_client.h"
#include "tests/support/eventually.h"
#include "tests/support/redis_instance.h"

namespace ztm::redis {
namespace {

using namespace std::chrono_literals;
using test::RedisAcl;
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

// --- Authentication ------------------------------------------------------------------------------

// A server that wants every client to log in: the default user is off; `app` (the service) may
// PING, GET, SET, ROLE and ask who it is; `admin` (the test's own login) anything.
RedisAcl app_acl() {
  return {.config =
              "user default off resetpass resetkeys resetchannels -@all\n"
              "user admin on >admin-secret ~* &* +@all\n"
              "user app on >app-secret ~* resetchannels -@all +ping +get +set +role "
              "+acl|whoami\n",
          .login = {"admin", "admin-secret"}};
}

ConnectionOptions as(const RedisInstance& server, Credentials auth, Faults* faults) {
  ConnectionOptions o = options_for(server, 2s);
  o.auth = std::move(auth);
  o.faults = faults;
  return o;
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A server with app_acl(), and a client of it (on one loop, so it keeps its connection) that
// logs in as login(), raising in `faults` and counting in `metrics` ({client="app"}).
class RedisAuth : public ::testing::Test {
 protected:
  void login(Credentials auth) {
    client = std::make_unique<Client>(as(server, std::move(auth), &faults));
    client->register_metrics(metrics, "app");
  }
  Result<Reply> send(std::vector<std::string> args) { return run_on(io, *client, std::move(args)); }
  bool counted(const std::string& series) { return has(metrics.render(), series + "\n"); }

  RedisInstance server{app_acl()};
  Faults faults;
  MetricsRegistry metrics;
  boost::asio::io_context io;
  std::unique_ptr<Client> client;
};

TEST_F(RedisAuth, AnAclUserIsServedWhatItsAclAllowsAndNothingMore) {
  login({"app", "app-secret"});
  EXPECT_EQ(outcome(send({"SET", "k", "v"})), "+OK");
  EXPECT_EQ(outcome(send({"ACL", "WHOAMI"})), "\"app\"");
  for (const std::vector<std::string>& denied :
       {std::vector<std::string>{"FLUSHALL"}, {"CONFIG", "GET", "*"}, {"KEYS", "*"}}) {
    const auto r = send(denied);
    ASSERT_TRUE(r.ok()) << outcome(r);
    EXPECT_TRUE(r->is_error() && r->str.starts_with("NOPERM")) << denied[0] << ": " << outcome(r);
  }
  EXPECT_EQ(faults.first(), "");
  EXPECT_TRUE(counted("ztm_redis_connects_total{client=\"app\"} 1")) << metrics.render();
  EXPECT_TRUE(counted("ztm_redis_auth_failures_total{client=\"app\"} 0"));
}

// A wrong password: the call fails at once (not at its timeout) with a message that names the
// server, the user and Redis's reason but not the password; the fault is raised; calls during
// the back-off fail at once too. Once the server accepts the password, the fault clears.
TEST_F(RedisAuth, AWrongPasswordFailsClearlyAndPromptly) {
  login({"app", "not-the-password"});
  const auto start = std::chrono::steady_clock::now();
  const auto refused = send({"PING"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);  // the timeout is 2 s
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::unavailable);
  const std::string& message = refused.error().message;
  EXPECT_TRUE(has(message, "redis " + server.address() +
                               ": authentication as 'app' refused: "
                               "WRONGPASS"))
      << message;
  EXPECT_FALSE(has(message, "not-the-password")) << message;
  EXPECT_TRUE(has(faults.first(), "WRONGPASS")) << faults.first();
  EXPECT_FALSE(has(faults.first(), "not-the-password"));
  const auto again = send({"PING"});
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(has(again.error().message, "WRONGPASS")) << again.error().message;
  EXPECT_TRUE(counted("ztm_redis_auth_failures_total{client=\"app\"} 1"));

  server.command({"ACL", "SETUSER", "app", ">not-the-password"});
  EXPECT_TRUE(test::eventually([&] { return send({"PING"}).ok(); }, 5s, 20ms));
  EXPECT_EQ(faults.first(), "");
}

// No credentials for a server that wants them: its NOAUTH replies raise the fault.
TEST_F(RedisAuth, MissingCredentialsAreRaised) {
  login({});
  const auto r = send({"PING"});
  ASSERT_TRUE(r.ok()) << outcome(r);
  EXPECT_TRUE(r->is_error() && r->str.starts_with("NOAUTH")) << outcome(r);
  EXPECT_TRUE(has(faults.first(), "requires authentication (NOAUTH)")) << faults.first();
}

// A fault is about one server: when a connection moves to another (Sentinel named a new master),
// the fault its old server raised is cleared at once, so /readyz does not keep failing for a
// server nothing talks to any more; a new server that refuses too raises its own.
TEST_F(RedisAuth, ARetargetedConnectionLeavesTheOldServersFaultBehind) {
  RedisInstance refusing(app_acl()), accepting(app_acl());
  accepting.command({"ACL", "SETUSER", "app", ">moved-secret"});
  const Strand strand = boost::asio::make_strand(io.get_executor());
  auto connection = std::make_shared<Connection>(
      strand, as(refusing, {"app", "moved-secret"}, &faults), std::make_shared<Counters>());
  const auto ping = [&] {
    std::optional<Result<Reply>> out;
    boost::asio::co_spawn(
        strand,
        [&]() -> boost::asio::awaitable<void> {
          std::vector<std::string> args{"PING"};
          out.emplace(co_await connection->command(std::move(args)));
        },
        boost::asio::detached);
    io.restart();
    io.run();
    return outcome(*out);
  };
  const auto on_strand = [&](auto f) {
    boost::asio::post(strand, f);
    io.restart();
    io.run();
  };
  EXPECT_TRUE(has(ping(), "WRONGPASS"));
  EXPECT_TRUE(has(faults.first(), "redis " + refusing.address())) << faults.first();

  on_strand([&] { connection->retarget(accepting.address()); });
  EXPECT_EQ(faults.first(), "") << "the old master's fault, cleared on the move";
  EXPECT_EQ(ping(), "+PONG");
  EXPECT_EQ(faults.first(), "");

  on_strand([&] { connection->retarget(server.address()); });  // app-secret only: refused
  EXPECT_TRUE(has(ping(), "WRONGPASS"));
  EXPECT_TRUE(has(faults.first(), "redis " + server.address())) << faults.first();
  on_strand([&] { connection.reset(); });
}

// The server drops the connection (CLIENT KILL): the next command reconnects and logs in again.
TEST_F(RedisAuth, AReconnectLogsInAgain) {
  login({"app", "app-secret"});
  ASSERT_EQ(outcome(send({"PING"})), "+PONG");
  EXPECT_EQ(server.command({"CLIENT", "KILL", "USER", "app"}), "1");
  EXPECT_EQ(outcome(send({"ACL", "WHOAMI"})), "\"app\"");
  EXPECT_TRUE(counted("ztm_redis_connects_total{client=\"app\"} 2")) << metrics.render();
}

// A Sentinel has users of its own: SentinelClient logs in to it with sentinel_auth and to the
// master with the data nodes' credentials; a wrong Sentinel password says so.
TEST(RedisSentinelAuth, SentinelClientLogsInToTheSentinelsAndTheMaster) {
  RedisAcl primary_acl = app_acl();
  primary_acl.config +=
      "user sentinel on >sentinel-secret allchannels -@all +multi +slaveof +ping +exec "
      "+subscribe +config|rewrite +role +publish +info +client|setname +client|kill "
      "+script|kill\n";
  RedisInstance primary(primary_acl);
  const auto sentinel = RedisInstance::sentinel(
      primary, "m",
      {.config = "user default off resetpass resetkeys resetchannels -@all\n"
                 "user admin on >admin-secret +@all\n"
                 "user app on >sentinel-app-secret -@all +ping +sentinel|get-master-addr-by-name\n"
                 "sentinel auth-user m sentinel\n"
                 "sentinel auth-pass m sentinel-secret\n",
       .login = {"admin", "admin-secret"}});
  auto options = [&](std::string sentinel_password) {
    return SentinelOptions{.sentinels = {sentinel->address()},
                           .master_name = "m",
                           .connection = as(primary, {"app", "app-secret"}, nullptr),
                           .sentinel_auth = {"app", std::move(sentinel_password)}};
  };
  SentinelClient client(options("sentinel-app-secret"));
  EXPECT_EQ(outcome(run(client, {"SET", "k", "v"})), "+OK");
  EXPECT_EQ(client.master(), primary.address());

  SentinelClient wrong(options("wrong"));
  const auto refused = run(wrong, {"GET", "k"});
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(has(refused.error().message,
                  "redis " + sentinel->address() + ": authentication as 'app' refused"))
      << refused.error().message;
}

}  // namespace
}  // namespace ztm::redis
