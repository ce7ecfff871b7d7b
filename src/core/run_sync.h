#pragma once
// run_sync: drives one awaitable to completion on a private io_context, for start-up code,
// command-line tools and tests (callable from several std::threads at once, since each call
// owns its io_context). Never call it on an event-loop thread.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace ztm {
namespace detail {

// Stores the awaitable's result into `out`. The awaitable travels as a parameter (copied into the
// coroutine frame), not as a lambda capture, so nothing dangles. co_spawn is given a void
// coroutine because Boost 1.81's co_spawn default-constructs a non-void result on its exception
// path, and Result<T> has no default constructor.
template <class T>
boost::asio::awaitable<void> store_into(boost::asio::awaitable<T> aw, std::optional<T>& out) {
  out.emplace(co_await std::move(aw));
}

}  // namespace detail

// Runs `aw` to completion on the calling thread and returns its result; rethrows whatever the
// awaitable threw.
template <class T>
T run_sync(boost::asio::awaitable<T> aw) {
  boost::asio::io_context io;
  std::exception_ptr error;
  auto on_done = [&error](std::exception_ptr e) { error = e; };
  if constexpr (std::is_void_v<T>) {
    boost::asio::co_spawn(io, std::move(aw), on_done);
    io.run();
    if (error) std::rethrow_exception(error);
  } else {
    std::optional<T> result;
    boost::asio::co_spawn(io, detail::store_into(std::move(aw), result), on_done);
    io.run();
    if (error) std::rethrow_exception(error);
    return std::move(*result);
  }
}

}  // namespace ztm
