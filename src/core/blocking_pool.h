#pragma once
// A bounded pool of threads for blocking work (SQLite calls, password hashing, image
// operations), so that event-loop threads never block. Bounded twice: a fixed number of
// threads, and a maximum number of pending calls beyond which run() refuses with
// Errc::overloaded instead of queueing without limit.

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <type_traits>

#include "core/result.h"
#include "core/run_on.h"

namespace ztm {

class BlockingPool {
 public:
  BlockingPool(int threads, int max_pending)
      : pool_(static_cast<std::size_t>(threads)), max_pending_(max_pending) {}
  ~BlockingPool() { pool_.join(); }
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // Runs fn() on a pool thread; the calling coroutine resumes on its own executor.
  // REQUIRES: fn returns a Result<T>.
  template <class F>
  boost::asio::awaitable<std::invoke_result_t<F&>> run(F fn) {
    using R = std::invoke_result_t<F&>;
    if (pending_.fetch_add(1, std::memory_order_relaxed) >= max_pending_) {
      pending_.fetch_sub(1, std::memory_order_relaxed);
      co_return R(Errc::overloaded, "too many pending storage calls");
    }
    struct Release {
      std::atomic<int>& n;
      ~Release() { n.fetch_sub(1, std::memory_order_relaxed); }
    } release{pending_};
    auto call = run_on(pool_.get_executor(), call_on_pool<R>(fn));  // named (GCC 12)
    co_return co_await std::move(call);
  }

  int pending() const { return pending_.load(std::memory_order_relaxed); }
  void join() { pool_.join(); }

 private:
  // A function, not a capturing lambda: the coroutine frame holds `fn` by reference, and
  // run() keeps fn alive until the call returns.
  template <class R, class F>
  static boost::asio::awaitable<R> call_on_pool(F& fn) {
    co_return fn();
  }

  boost::asio::thread_pool pool_;
  const int max_pending_;
  std::atomic<int> pending_{0};
};

}  // namespace ztm
