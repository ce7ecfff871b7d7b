#pragma once
// What a Redis client keeps on one event loop: a strand of that loop, and the connections that
// are only ever touched on it. Clients find theirs with loop_state(): the first call from a loop
// creates it (under a mutex); later calls find it again.
//
// The states live in an Asio service of the loop's execution_context, so they are closed when the
// context shuts down (run_sync's private io_context, a server's loops), never later.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <memory>
#include <optional>

#include "redis/connection.h"

namespace ztm::redis {

class LoopState {
 public:
  explicit LoopState(const boost::asio::any_io_executor& loop)
      : strand(boost::asio::make_strand(loop)) {}
  virtual ~LoopState() = default;
  // Drops every connection. Idempotent. REQUIRES: on `strand`, or the loop has stopped.
  virtual void close() = 0;

  const Strand strand;
};

// The state of `owner` on the loop of `loop`, made by `make` on first use. `owner` must stay
// unique while the state lives: pass the address of an object the state itself keeps alive.
std::shared_ptr<LoopState> loop_state(const boost::asio::any_io_executor& loop, const void* owner,
                                      const std::function<std::shared_ptr<LoopState>()>& make);

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
