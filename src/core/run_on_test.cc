#include "core/run_on.h"

#include <gtest/gtest.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>

#include "core/blocking_pool.h"
#include "core/run_sync.h"

namespace ztm {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

asio::awaitable<void> expire_now() {
  asio::steady_timer timer(co_await asio::this_coro::executor, 0ms);
  co_await timer.async_wait(asio::use_awaitable);
}

// The race Boost 1.81's co_spawn has (see run_on.h): a hop to a pool, cancelled by `||` while or
// just after the pool's coroutine finishes. Thousands of rounds make ASan/UBSan builds catch a
// cancellation delivered to a freed signal; every build checks that each round has an answer
// and that no call is left pending.
TEST(RunOnTest, AHopCancelledByItsCallerAsItFinishesIsSafe) {
  BlockingPool pool(2, 1000);
  int answered = 0, timed_out = 0;
  run_sync([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 3000; ++i) {
      auto call = pool.run([i] { return Result<int>(i); });
      auto either = co_await (std::move(call) || expire_now());
      if (either.index() == 0) {
        EXPECT_EQ(*std::get<0>(either), i);
        ++answered;
      } else {
        ++timed_out;
      }
    }
  }());
  EXPECT_EQ(answered + timed_out, 3000);
  EXPECT_EQ(pool.pending(), 0);
}

asio::awaitable<int> count_on(asio::strand<asio::io_context::executor_type> strand, int& n) {
  EXPECT_TRUE(strand.running_in_this_thread());  // the work runs on the executor it was sent to
  co_return ++n;
}

TEST(RunOnTest, RunsTheWorkOnTheGivenExecutorAndResumesOnTheCallers) {
  asio::io_context other;
  auto strand = asio::make_strand(other);
  auto guard = asio::make_work_guard(other);
  std::thread runner([&] { other.run(); });
  int n = 0;
  auto result = run_sync([&]() -> asio::awaitable<int> {
    auto before = co_await asio::this_coro::executor;
    auto hop = run_on(strand, count_on(strand, n));
    int r = co_await std::move(hop);
    EXPECT_TRUE(before == co_await asio::this_coro::executor);
    EXPECT_FALSE(strand.running_in_this_thread());
    co_return r;
  }());
  guard.reset();
  runner.join();
  EXPECT_EQ(result, 1);
  EXPECT_EQ(n, 1);
}

}  // namespace
}  // namespace ztm
