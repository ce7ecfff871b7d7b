#pragma once
// Long-running coroutines (the outbox relay, photo workers) on an event loop of their own, so
// that they never take time from the HTTP loops. stop() asks each task to finish (its stop
// function), then waits until every coroutine has returned.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <thread>
#include <vector>

namespace ztm {

class Background {
 public:
  Background() = default;
  ~Background() { stop(); }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  // `run` is started on the loop by start(); `stop` must make it return soon.
  void add(std::function<boost::asio::awaitable<void>()> run, std::function<void()> stop) {
    tasks_.push_back({std::move(run), std::move(stop)});
  }
  void start() {
    for (auto& t : tasks_) boost::asio::co_spawn(ioc_, t.run(), boost::asio::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  // Idempotent. Returns when every task's coroutine has returned.
  void stop() {
    if (stopped_) return;
    stopped_ = true;
    for (auto& t : tasks_) t.stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  struct Task {
    std::function<boost::asio::awaitable<void>()> run;
    std::function<void()> stop;
  };
  boost::asio::io_context ioc_{1};
  std::vector<Task> tasks_;
  std::thread thread_;
  bool stopped_ = false;
};

}  // namespace ztm
