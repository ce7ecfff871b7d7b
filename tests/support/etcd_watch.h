#pragma once
// An etcd::Client::watch running on a thread of its own, for tests: what it has received so far,
// and stop() cancels it (as a TaskGroup would) and returns how it ended.

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/system_error.hpp>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "etcd/client.h"

namespace ztm::test {

class WatchThread {
 public:
  WatchThread(etcd::Client& client, std::string key, std::int64_t from_revision) {
    namespace asio = boost::asio;
    auto watch =
        client.watch(std::move(key), from_revision, [this](const etcd::WatchResponse& response) {
          std::lock_guard lock(mu_);
          responses_.push_back(response);
        });
    asio::co_spawn(io_, run(std::move(watch)),
                   asio::bind_cancellation_slot(signal_.slot(),
                                                [this](std::exception_ptr e) { finished(e); }));
    thread_ = std::thread([this] { io_.run(); });
  }
  ~WatchThread() { (void)stop(); }
  WatchThread(const WatchThread&) = delete;
  WatchThread& operator=(const WatchThread&) = delete;

  std::vector<etcd::WatchResponse> responses() const {
    std::lock_guard lock(mu_);
    return responses_;
  }
  // The events of every response so far, in order.
  std::vector<etcd::WatchEvent> events() const {
    std::vector<etcd::WatchEvent> all;
    for (const auto& r : responses()) all.insert(all.end(), r.events.begin(), r.events.end());
    return all;
  }
  // How the watch ended by itself, or nullopt while it runs.
  std::optional<Result<void>> result() const {
    std::lock_guard lock(mu_);
    return result_;
  }
  // Cancels the watch (unless it ended) and waits for it: how it ended (a cancelled watch that
  // threw operation_aborted: unavailable "cancelled").
  Result<void> stop() {
    if (thread_.joinable()) {
      boost::asio::post(io_, [this] { signal_.emit(boost::asio::cancellation_type::terminal); });
      thread_.join();
    }
    std::lock_guard lock(mu_);
    return result_.value_or(Result<void>(Errc::internal, "the watch never ended"));
  }

 private:
  boost::asio::awaitable<void> run(boost::asio::awaitable<Result<void>> watch) {
    auto ended = co_await std::move(watch);
    std::lock_guard lock(mu_);
    result_.emplace(std::move(ended));
  }
  void finished(std::exception_ptr e) {
    if (!e) return;
    std::lock_guard lock(mu_);
    try {
      std::rethrow_exception(e);
    } catch (const boost::system::system_error& error) {
      result_.emplace(Errc::unavailable, std::string("threw: ") + error.what());
    }
  }

  boost::asio::io_context io_;
  boost::asio::cancellation_signal signal_;
  mutable std::mutex mu_;
  std::vector<etcd::WatchResponse> responses_;
  std::optional<Result<void>> result_;
  std::thread thread_;
};

}  // namespace ztm::test
