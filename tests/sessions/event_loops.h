#pragma once
// Test helpers for coroutine APIs: event loops on threads, and results as readable strings.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/result.h"

namespace ztm::test {

using namespace std::chrono_literals;

// "ok" or the error code's name, for expectations that read well.
template <class R>
std::string errc(const R& r) {
  return r.ok() ? "ok" : std::string(to_string(r.error().code));
}
template <class R>
std::string outcome(const R& r) {
  return r.ok() ? "ok" : std::string(to_string(r.error().code)) + " (" + r.error().message + ")";
}

// An io_context run by `threads` threads until destroyed.
class EventLoops {
 public:
  explicit EventLoops(int threads) : work_(io_.get_executor()) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  ~EventLoops() {
    work_.reset();
    for (auto& t : threads_) t.join();
  }
  boost::asio::io_context& io() { return io_; }

  // Runs `aw` on the loops and waits for it (bounded: a hang is a failure, reported as
  // unavailable "hung" so expectations show it).
  template <class T>
  T run(boost::asio::awaitable<T> aw, std::chrono::seconds bound = 20s) {
    auto done = std::make_shared<std::promise<T>>();
    auto future = done->get_future();
    boost::asio::co_spawn(io_, deliver(std::move(aw), done), [](std::exception_ptr) {});
    if (future.wait_for(bound) != std::future_status::ready)
      return T(Errc::unavailable, "the call hung (test bound)");
    return future.get();
  }

 private:
  template <class T>
  static boost::asio::awaitable<void> deliver(boost::asio::awaitable<T> aw,
                                              std::shared_ptr<std::promise<T>> done) {
    done->set_value(co_await std::move(aw));
  }

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
};

}  // namespace ztm::test
