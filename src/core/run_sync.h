#pragma once
// Runs an awaitable to completion on a private io_context and returns its result. For start-up
// code, command-line tools and tests; never call it on an event-loop thread.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

namespace ztm {

template <class T>
T run_sync(boost::asio::awaitable<T> work) {
  boost::asio::io_context ioc(1);
  auto future = boost::asio::co_spawn(ioc, std::move(work), boost::asio::use_future);
  ioc.run();
  return future.get();
}

}  // namespace ztm
