#include "cache/single_flight.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tests/support/eventually_async.h"

namespace ztm::cache {
namespace {

namespace asio = boost::asio;

// Loads stay in flight until the test's callers have all joined them (test::eventually_async),
// so what joins is decided by the test, not by timing.
using test::eventually_async;

// Runs the io_context on two threads until every spawned coroutine is done.
void run_on_two_threads(asio::io_context& io) {
  std::thread other([&] { io.run(); });
  io.run();
  other.join();
}

TEST(SingleFlight, ConcurrentCallersOnTwoThreadsShareOneLoad) {
  constexpr int kCallers = 200;
  SingleFlight<int> flights(-1);
  std::atomic<int> loads{0};
  std::vector<int> results(kCallers, 0);
  asio::io_context io;
  for (int i = 0; i < kCallers; ++i) {
    asio::co_spawn(
        io,
        [&, i]() -> asio::awaitable<void> {
          results[static_cast<std::size_t>(i)] =
              co_await flights.run("user:1", [&]() -> asio::awaitable<int> {
                ++loads;
                const bool all_joined =
                    co_await eventually_async([&] { return flights.joined() == kCallers - 1; });
                co_return all_joined ? 42 : 0;
              });
        },
        asio::detached);
  }
  run_on_two_threads(io);
  EXPECT_EQ(loads.load(), 1);
  EXPECT_EQ(flights.joined(), kCallers - 1u);
  for (const int r : results) ASSERT_EQ(r, 42);
}

TEST(SingleFlight, DifferentKeysLoadSeparately) {
  SingleFlight<int> flights(-1);
  std::atomic<int> loads{0};
  int a = 0, b = 0;
  asio::io_context io;
  auto spawn = [&](const char* key, int value, int& out) {
    asio::co_spawn(
        io,
        [&, key, value]() -> asio::awaitable<void> {
          out = co_await flights.run(key, [&]() -> asio::awaitable<int> {
            ++loads;
            co_return value;
          });
        },
        asio::detached);
  };
  spawn("user:1", 1, a);
  spawn("user:2", 2, b);
  io.run();
  EXPECT_EQ(loads.load(), 2);
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 2);
}

TEST(SingleFlight, AfterForgetTheNextCallerLoadsAgainAndEarlierWaitersKeepTheirResult) {
  SingleFlight<int> flights(-1);
  std::atomic<int> loads{0};
  std::atomic<bool> second_done{false};
  int first = 0, waiter = 0, second = 0;
  asio::io_context io;
  // The first load (the value before a write) lands only after the second (after it) is done.
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        first = co_await flights.run("user:1", [&]() -> asio::awaitable<int> {
          ++loads;
          co_await eventually_async([&] { return second_done.load(); });
          co_return 1;
        });
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await eventually_async([&] { return flights.joined() == 0 && loads == 1; });
        waiter = co_await flights.run("user:1", [&]() -> asio::awaitable<int> { co_return -2; });
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await eventually_async([&] { return flights.joined() == 1; });
        flights.forget("user:1");  // the write committed
        second = co_await flights.run("user:1", [&]() -> asio::awaitable<int> {
          ++loads;
          co_return 2;
        });
        second_done = true;
      },
      asio::detached);
  io.run();
  EXPECT_EQ(loads.load(), 2);
  EXPECT_EQ(first, 1);
  EXPECT_EQ(waiter, 1) << "joined before the forget: the in-flight result";
  EXPECT_EQ(second, 2) << "arrived after the forget: a new load";
}

TEST(SingleFlight, WaitersOfALeaderThatThrowsGetTheAbandonedValue) {
  constexpr int kWaiters = 10;
  SingleFlight<int> flights(-1);
  std::vector<int> results(kWaiters, 0);
  bool leader_threw = false;
  asio::io_context io;
  // The waiters are spawned from inside the leader's load, when it holds the key: spawned beside
  // it, one could reach the key first on the other thread and lead instead.
  auto spawn_waiters = [&] {
    for (int i = 0; i < kWaiters; ++i) {
      asio::co_spawn(
          io,
          [&, i]() -> asio::awaitable<void> {
            results[static_cast<std::size_t>(i)] =
                co_await flights.run("user:1", [&]() -> asio::awaitable<int> { co_return 7; });
          },
          asio::detached);
    }
  };
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await flights.run("user:1", [&]() -> asio::awaitable<int> {
          spawn_waiters();
          co_await eventually_async([&] { return flights.joined() == kWaiters; });
          throw std::runtime_error("store exploded");
        });
      },
      [&](std::exception_ptr e) { leader_threw = e != nullptr; });
  run_on_two_threads(io);
  EXPECT_TRUE(leader_threw);
  for (const int r : results) EXPECT_EQ(r, -1);
  // The key is free again: a new caller loads.
  int after = 0;
  asio::io_context io2;
  asio::co_spawn(
      io2,
      [&]() -> asio::awaitable<void> {
        after = co_await flights.run("user:1", [&]() -> asio::awaitable<int> { co_return 3; });
      },
      asio::detached);
  io2.run();
  EXPECT_EQ(after, 3);
}

}  // namespace
}  // namespace ztm::cache
