#pragma once
// Long-running coroutines (the outbox relay, photo workers, samplers) on an event loop of their
// own, so that they never take time from the HTTP loops, stopped by Asio cancellation.
//
// Contract:
// - spawn(task) starts `task` on the group's loop (one thread, started by the constructor), bound
//   to a cancellation signal of its own. Thread-safe. A task spawned once stop() has begun is
//   never started.
// - stop() emits terminal cancellation to every task (on the loop's thread), then returns when
//   every task's coroutine, and every coroutine they spawned on the loop, has returned.
//   Idempotent; the destructor calls it. A task that ignores cancellation blocks stop().
//   REQUIRES: not called from a task of this group.
// - A task sees cancellation as: a pending operation that supports cancellation (a timer wait,
//   a socket read) completes with operation_aborted, and
//   `(co_await this_coro::cancellation_state).cancelled() != cancellation_type::none` from then
//   on. Asio's default `this_coro::throw_if_cancelled(true)` also makes the task's next
//   `co_await` of an operation or awaitable throw operation_aborted before it starts: that
//   exception ending a task is a normal stop; any other exception is logged as a bug.
// - Work that must finish once started (a job in hand, acked) must not see the signal: run it
//   with `co_await run_to_completion(work)` (core/run_on.h), and set `throw_if_cancelled(false)` in
//   a task that awaits anything after cancellation (or check cancelled() before each co_await).

#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>
#include <list>
#include <mutex>
#include <thread>

namespace ztm {

class TaskGroup {
 public:
  TaskGroup();
  ~TaskGroup() { stop(); }
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;

  void spawn(boost::asio::awaitable<void> task);
  void stop();

 private:
  using Signals = std::list<boost::asio::cancellation_signal>;
  void finished(Signals::iterator signal, std::exception_ptr e);

  boost::asio::io_context ioc_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  // Loop thread only: one signal per running task, and whether stop() has begun.
  Signals signals_;
  bool stopping_ = false;
  std::mutex stop_mutex_;
  std::thread thread_;
};

}  // namespace ztm
