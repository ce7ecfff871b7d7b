#pragma once
// eventually() for coroutines: waits on the caller's event loop (a timer), never blocking it, so
// other coroutines on the same loop run meanwhile. For tests that line coroutines up by state.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

namespace ztm::test {

// Polls `condition` every `interval` until it holds or `limit` passes; returns whether it held.
template <class F>
boost::asio::awaitable<bool> eventually_async(
    F condition, std::chrono::milliseconds limit = std::chrono::seconds(10),
    std::chrono::milliseconds interval = std::chrono::milliseconds(1)) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) co_return false;
    timer.expires_after(interval);
    co_await timer.async_wait(boost::asio::use_awaitable);
  }
  co_return true;
}

}  // namespace ztm::test
