#include "core/task_group.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <future>

#include "core/run_on.h"

namespace ztm {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

constexpr auto kBound = 10s;  // every wait here is bounded; a failure shows, it does not hang

// Waits on a timer of an hour: only cancellation ends it. `waiting` is set as the wait begins.
asio::awaitable<void> wait_an_hour(std::promise<void>& waiting, boost::system::error_code& ec) {
  asio::steady_timer timer(co_await asio::this_coro::executor, 1h);
  waiting.set_value();
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<void> wait_an_hour_then_return(std::promise<void>& waiting,
                                               boost::system::error_code& ec,
                                               std::atomic<bool>& returned) {
  co_await wait_an_hour(waiting, ec);
  returned = true;
}

bool cancelled(const asio::cancellation_state& state) {
  return state.cancelled() != asio::cancellation_type::none;
}

TEST(TaskGroupTest, StopCancelsATaskBlockedOnALongTimerPromptly) {
  TaskGroup group;
  std::promise<void> waiting;
  boost::system::error_code ec;
  std::atomic<bool> returned{false};
  group.spawn(wait_an_hour_then_return(waiting, ec, returned));
  ASSERT_EQ(waiting.get_future().wait_for(kBound), std::future_status::ready);

  const auto start = std::chrono::steady_clock::now();
  group.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, kBound);
  EXPECT_EQ(ec, asio::error::operation_aborted);
  EXPECT_TRUE(returned);  // stop() returned after the task did
  group.stop();           // idempotent
}

// The job: a timer wait that must run its course. Shielded, the task's cancellation never reaches
// it, and stop() waits for it.
asio::awaitable<void> job(std::promise<void>& started, boost::system::error_code& ec) {
  asio::steady_timer timer(co_await asio::this_coro::executor, 200ms);
  started.set_value();
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<void> task_with_a_job(std::promise<void>& started, boost::system::error_code& ec,
                                      bool& saw_cancellation) {
  co_await run_to_completion(job(started, ec));
  saw_cancellation = cancelled(co_await asio::this_coro::cancellation_state);
}

TEST(TaskGroupTest, StopWaitsForWorkATaskFinishesAfterCancellation) {
  TaskGroup group;
  std::promise<void> started;
  boost::system::error_code job_ec = asio::error::would_block;  // not yet finished
  bool saw_cancellation = false;
  group.spawn(task_with_a_job(started, job_ec, saw_cancellation));
  ASSERT_EQ(started.get_future().wait_for(kBound), std::future_status::ready);

  group.stop();  // well within the job's 200 ms
  EXPECT_EQ(job_ec, boost::system::error_code()) << "the job ran its course, not aborted";
  EXPECT_TRUE(saw_cancellation);
}

asio::awaitable<void> wait_then_flush(std::promise<void>& waiting, boost::system::error_code& first,
                                      boost::system::error_code& second) {
  co_await asio::this_coro::throw_if_cancelled(false);
  co_await wait_an_hour(waiting, first);
  // The signal was emitted once, to the wait above: this one runs its course.
  asio::steady_timer flush(co_await asio::this_coro::executor, 1ms);
  co_await flush.async_wait(asio::redirect_error(asio::use_awaitable, second));
}

TEST(TaskGroupTest, ATaskMayAwaitMoreAfterCancellationWithoutThrowIfCancelled) {
  TaskGroup group;
  std::promise<void> waiting;
  boost::system::error_code first, second = asio::error::would_block;
  group.spawn(wait_then_flush(waiting, first, second));
  ASSERT_EQ(waiting.get_future().wait_for(kBound), std::future_status::ready);
  group.stop();
  EXPECT_EQ(first, asio::error::operation_aborted);
  EXPECT_EQ(second, boost::system::error_code());
}

asio::awaitable<void> wait_an_hour_or_throw(std::promise<void>& waiting, bool& after) {
  asio::steady_timer timer(co_await asio::this_coro::executor, 1h);
  waiting.set_value();
  co_await timer.async_wait(asio::use_awaitable);  // throws operation_aborted
  after = true;
}

TEST(TaskGroupTest, ATaskEndedByTheCancellationExceptionIsANormalStop) {
  TaskGroup group;
  std::promise<void> waiting;
  bool after = false;
  group.spawn(wait_an_hour_or_throw(waiting, after));
  ASSERT_EQ(waiting.get_future().wait_for(kBound), std::future_status::ready);
  group.stop();
  EXPECT_FALSE(after);
}

TEST(TaskGroupTest, TheDestructorStops) {
  std::promise<void> waiting;
  boost::system::error_code ec;
  {
    TaskGroup group;
    group.spawn(wait_an_hour(waiting, ec));
    ASSERT_EQ(waiting.get_future().wait_for(kBound), std::future_status::ready);
  }
  EXPECT_EQ(ec, asio::error::operation_aborted);
}

asio::awaitable<void> set(bool& flag) {
  flag = true;
  co_return;
}

TEST(TaskGroupTest, StopWithoutTasksReturnsAndLaterSpawnsNeverStart) {
  TaskGroup group;
  group.stop();
  bool ran = false;
  group.spawn(set(ran));
  group.stop();
  EXPECT_FALSE(ran);
}

}  // namespace
}  // namespace ztm
