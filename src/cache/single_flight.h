#pragma once
// SingleFlight: concurrent loads of one key in this process share one load. The first caller
// (the leader) runs it; callers that arrive while it runs wait for its result instead of
// starting their own. So a burst of misses on one key makes one read below the cache, even when
// the L2 tier is down and every miss would otherwise go to the store (docs/cache.md).
//
// forget(key) makes the next caller start a new load: a write calls it after committing, so a
// reader that arrives after the write never receives a value read before it. Callers already
// waiting keep the in-flight result (they were concurrent with the write).
//
// Thread-safe: callers may be on any event-loop thread; each waiter resumes on its own executor.
// If the leader's coroutine ends without a result (it threw, or its frame was destroyed), the
// waiters receive `abandoned` (e.g. an `unavailable` error) rather than waiting forever.

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ztm::cache {

template <class T>
class SingleFlight {
 public:
  explicit SingleFlight(T abandoned) : abandoned_(std::move(abandoned)) {}
  SingleFlight(const SingleFlight&) = delete;
  SingleFlight& operator=(const SingleFlight&) = delete;

  // `load()` returns an awaitable<T>; it runs only if no load of `key` is in flight.
  template <class Load>
  boost::asio::awaitable<T> run(std::string_view key, Load load) {
    std::shared_ptr<Flight> flight;
    bool leader = false;
    {
      std::lock_guard lock(mutex_);
      if (const auto it = flights_.find(key); it != flights_.end()) {
        flight = it->second;
        ++joined_;
      } else {
        flight = std::make_shared<Flight>(std::string(key));
        flights_.emplace(flight->key, flight);
        leader = true;
      }
    }
    if (!leader) co_return co_await wait(std::move(flight));
    Landing landing{*this, std::move(flight)};
    T result = co_await load();
    landing.land(result);
    co_return result;
  }

  // The next run(key) starts a new load, whatever is in flight.
  void forget(std::string_view key) {
    std::lock_guard lock(mutex_);
    if (const auto it = flights_.find(key); it != flights_.end()) flights_.erase(it);
  }

  // How many run() calls waited for another's load instead of loading.
  std::uint64_t joined() const {
    std::lock_guard lock(mutex_);
    return joined_;
  }

 private:
  struct Waiter {
    boost::asio::any_completion_handler<void(T)> handler;
    boost::asio::any_io_executor work;  // the handler's executor, kept busy until it runs
  };
  struct Flight {
    explicit Flight(std::string k) : key(std::move(k)) {}
    const std::string key;
    std::optional<T> result;      // set once, under mutex_
    std::vector<Waiter> waiters;  // under mutex_
  };
  // Lands the leader's flight: with its result, or with `abandoned` if the leader never got one.
  struct Landing {
    SingleFlight& owner;
    std::shared_ptr<Flight> flight;
    bool landed = false;
    void land(const T& result) {
      owner.land(*flight, result);
      landed = true;
    }
    ~Landing() {
      if (!landed) owner.land(*flight, owner.abandoned_);
    }
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  boost::asio::awaitable<T> wait(std::shared_ptr<Flight> flight) {
    return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(T)>(
        [this, flight = std::move(flight)](auto handler) {
          auto work = boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                          boost::asio::execution::outstanding_work.tracked);
          std::unique_lock lock(mutex_);
          if (!flight->result) {
            flight->waiters.push_back(Waiter{std::move(handler), std::move(work)});
            return;
          }
          T result = *flight->result;
          lock.unlock();
          deliver(Waiter{std::move(handler), std::move(work)}, std::move(result));
        },
        boost::asio::use_awaitable);
  }

  void land(Flight& flight, const T& result) {
    std::vector<Waiter> waiters;
    {
      std::lock_guard lock(mutex_);
      if (const auto it = flights_.find(flight.key);
          it != flights_.end() && it->second.get() == &flight)
        flights_.erase(it);
      flight.result.emplace(result);
      waiters.swap(flight.waiters);
    }
    for (Waiter& w : waiters) deliver(std::move(w), result);
  }

  static void deliver(Waiter w, T result) {
    auto ex = w.work;
    boost::asio::post(ex, [w = std::move(w), result = std::move(result)]() mutable {
      std::move(w.handler)(std::move(result));
    });
  }

  const T abandoned_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<Flight>, Hash, std::equal_to<>> flights_;
  std::uint64_t joined_ = 0;
};

}  // namespace ztm::cache
