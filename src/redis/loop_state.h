#pragma once
// What a Redis client keeps on one event loop: a strand of that loop, and the connections that
// are only ever touched on it (a LoopLocal: found or made with core/loop_local.h's loop_local()).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <utility>

#include "core/loop_local.h"
#include "core/run_on.h"
#include "redis/connection.h"

namespace ztm::redis {

class LoopState : public LoopLocal {
 public:
  explicit LoopState(const boost::asio::any_io_executor& loop)
      : strand(boost::asio::make_strand(loop)) {}
  // close(): REQUIRES on `strand`, or the loop has stopped.

  const Strand strand;
};

namespace detail {
template <class R, class F>
boost::asio::awaitable<R> call(F fn) {
  auto call = fn();
  co_return co_await std::move(call);
}
}  // namespace detail

// Calls fn() -> awaitable<R> on `strand` (fn may touch the strand's state before its first
// co_await) and returns its result on the caller's executor (core/run_on.h).
template <class R, class F>
boost::asio::awaitable<R> on_strand(const Strand& strand, F fn) {
  auto hop = run_on(strand, detail::call<R>(std::move(fn)));  // named (GCC 12)
  co_return co_await std::move(hop);
}

}  // namespace ztm::redis
