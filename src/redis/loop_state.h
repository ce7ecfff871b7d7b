#pragma once
// What a Redis client keeps on one event loop: a strand of that loop, and the connections that
// are only ever touched on it (a LoopLocal: found or made with core/loop_local.h's loop_local()).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <memory>
#include <optional>

#include "core/loop_local.h"
#include "redis/connection.h"

namespace ztm::redis {

class LoopState : public LoopLocal {
 public:
  explicit LoopState(const boost::asio::any_io_executor& loop)
      : strand(boost::asio::make_strand(loop)) {}
  // close(): REQUIRES on `strand`, or the loop has stopped.

  const Strand strand;
};

// Runs fn() -> awaitable<R> on `strand` and returns its result on the caller's executor. The
// result travels through an optional: co_spawn would default-construct a non-void result.
template <class R, class F>
boost::asio::awaitable<R> on_strand(const Strand& strand, F fn) {
  std::optional<R> out;
  co_await boost::asio::co_spawn(
      strand,
      [&fn, &out]() -> boost::asio::awaitable<void> {
        auto call = fn();
        out.emplace(co_await std::move(call));
      },
      boost::asio::use_awaitable);
  co_return std::move(*out);
}

}  // namespace ztm::redis
