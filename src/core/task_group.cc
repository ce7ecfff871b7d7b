#include "core/task_group.h"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/system_error.hpp>

#include "core/log.h"

namespace ztm {

namespace asio = boost::asio;

TaskGroup::TaskGroup() : work_(ioc_.get_executor()), thread_([this] { ioc_.run(); }) {}

void TaskGroup::spawn(asio::awaitable<void> task) {
  // On the loop: signals_ and the slot a co_spawn connects belong to the loop's thread.
  asio::post(ioc_, [this, task = std::move(task)]() mutable {
    if (stopping_) return;
    auto signal = signals_.emplace(signals_.end());
    asio::co_spawn(
        ioc_, std::move(task),
        asio::bind_cancellation_slot(
            signal->slot(), [this, signal](std::exception_ptr e) { finished(signal, e); }));
  });
}

void TaskGroup::finished(Signals::iterator signal, std::exception_ptr e) {
  signals_.erase(signal);
  if (e) {
    try {
      std::rethrow_exception(e);
    } catch (const boost::system::system_error& error) {
      if (!(stopping_ && error.code() == asio::error::operation_aborted))
        log::error("background task failed", {{"error", error.what()}});
    } catch (const std::exception& error) {
      log::error("background task failed", {{"error", error.what()}});
    } catch (...) {
      log::error("background task failed", {{"error", "a non-standard exception"}});
    }
  }
  if (stopping_ && signals_.empty()) work_.reset();
}

void TaskGroup::stop() {
  std::lock_guard lock(stop_mutex_);
  if (!thread_.joinable()) return;
  asio::post(ioc_, [this] {
    stopping_ = true;
    // A task's completion handler may run inside emit() and erase its own signal: advance first.
    for (auto it = signals_.begin(); it != signals_.end();)
      (it++)->emit(asio::cancellation_type::terminal);
    if (signals_.empty()) work_.reset();
  });
  // run() returns once no task, nor anything they spawned or posted, is left.
  thread_.join();
}

}  // namespace ztm
