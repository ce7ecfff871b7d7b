#pragma once
// Hops between executors without forwarding cancellation.
//
// run_on(executor, work) runs the coroutine `work` on `executor` (a strand, a thread pool) and
// resumes the caller on its own executor with the result; exceptions propagate. The caller's
// cancellation is not forwarded to `work` (the caller still records it in its own
// cancellation_state, and with throw_if_cancelled(true) throws at its next co_await).
//
// Why not a plain `co_await co_spawn(executor, work, use_awaitable)`: Boost 1.81's co_spawn
// forwards a cancellation to a coroutine on another executor by dispatching an emit() there,
// which can run after that coroutine has finished and its signal has been freed (UBSan saw
// `cancellation_signal::emit` through a freed handler when the photo worker's `edit ||
// heartbeats` cancelled its heartbeats). The work behind every hop here cannot be cut short
// halfway anyway (a blocking call on a pool thread, a request already written to a connection):
// it ends by its own limits and timeouts.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <type_traits>
#include <utility>

#include "core/run_sync.h"  // detail::store_into

namespace ztm {

template <class Executor, class T>
boost::asio::awaitable<T> run_on(Executor executor, boost::asio::awaitable<T> work) {
  namespace asio = boost::asio;
  auto unbound = asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable);
  if constexpr (std::is_void_v<T>) {
    co_await asio::co_spawn(executor, std::move(work), unbound);
  } else {
    std::optional<T> result;  // T need not be default-constructible (Result<T>)
    co_await asio::co_spawn(executor, detail::store_into(std::move(work), result), unbound);
    co_return std::move(*result);
  }
}

// Runs `work` to its end even if the calling coroutine is cancelled meanwhile: run_on the
// caller's own executor. A caller with throw_if_cancelled(true) that is already cancelled
// throws here instead, before `work` starts.
template <class T>
boost::asio::awaitable<T> run_to_completion(boost::asio::awaitable<T> work) {
  auto executor = co_await boost::asio::this_coro::executor;
  auto hop = run_on(executor, std::move(work));  // named: no temporary inside co_await (GCC 12)
  co_return co_await std::move(hop);
}

}  // namespace ztm
