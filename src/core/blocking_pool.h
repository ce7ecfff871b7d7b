#pragma once
// A bounded pool of threads for blocking work (SQLite calls, password hashing, image
// operations), so that event-loop threads never block. Bounded twice: a fixed number of
// threads, and a maximum number of pending calls beyond which run() refuses with
// Errc::overloaded instead of queueing without limit.

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <type_traits>

#include "core/result.h"

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
    // The result travels through an optional so that no default-constructed R ever exists.
    std::optional<R> out;
    co_await boost::asio::co_spawn(
        pool_,
        [&fn, &out]() -> boost::asio::awaitable<void> {
          out.emplace(fn());
          co_return;
        },
        boost::asio::use_awaitable);
    co_return std::move(*out);
  }

  int pending() const { return pending_.load(std::memory_order_relaxed); }
  void join() { pool_.join(); }

 private:
  boost::asio::thread_pool pool_;
  const int max_pending_;
  std::atomic<int> pending_{0};
};

}  // namespace ztm
