#pragma once
// A circuit breaker per cache node: stop sending requests to a node that keeps failing, try it
// again after a cool-down, and put it back only once it answered a probe.
//
//   closed     requests go to the node; `failure_threshold` consecutive failures (or one failure
//              that made the node miss a delete: trip()) open the breaker.
//   open       allow() is false: callers use the node's stand-in (gutter) or the store at once,
//              instead of each waiting out a timeout. After `cooldown`, ONE caller gets the probe.
//   probing    that caller runs the probe (for a cache node: FLUSHDB, because a node that was
//              out of service may have missed deletes and must not serve what it holds);
//              probe_done(true) closes the breaker, probe_done(false) opens it for another
//              cool-down. Others keep seeing allow() == false meanwhile.
//
// Thread-safe (one mutex; a few ns uncontended). The cool-down runs on the injected clock's
// monotonic time (steady_now()); tests pass a ManualClock.

#include <chrono>
#include <cstdint>
#include <mutex>

#include "core/clock.h"

namespace ztm::cache {

struct CircuitBreakerOptions {
  int failure_threshold = 3;
  std::chrono::milliseconds cooldown{500};
  const Clock* clock = &Clock::system();  // must outlive the breaker
};

class CircuitBreaker {
 public:
  enum class State { closed, open, probing };

  // REQUIRES: options.clock is not null.
  explicit CircuitBreaker(CircuitBreakerOptions options) : options_(options) {}

  // Whether a request may use the node now.
  bool allow() const {
    std::lock_guard lock(mu_);
    return state_ == State::closed;
  }
  // True for exactly one caller once the cool-down has passed: it must run the probe and call
  // probe_done().
  bool try_start_probe() {
    std::lock_guard lock(mu_);
    if (state_ != State::open || options_.clock->steady_now() < retry_at_) return false;
    state_ = State::probing;
    return true;
  }
  void probe_done(bool ok) {
    std::lock_guard lock(mu_);
    if (ok) {
      state_ = State::closed;
      failures_ = 0;
    } else {
      open_locked();
    }
  }
  void on_success() {
    std::lock_guard lock(mu_);
    if (state_ == State::closed) failures_ = 0;
  }
  void on_failure() {
    std::lock_guard lock(mu_);
    if (state_ == State::closed && ++failures_ >= options_.failure_threshold) open_locked();
  }
  // Opens at once (closed -> open); no effect while already open or probing.
  void trip() {
    std::lock_guard lock(mu_);
    if (state_ == State::closed) open_locked();
  }

  State state() const {
    std::lock_guard lock(mu_);
    return state_;
  }
  std::uint64_t opens() const {
    std::lock_guard lock(mu_);
    return opens_;
  }

 private:
  void open_locked() {
    if (state_ == State::closed) ++opens_;
    state_ = State::open;
    retry_at_ = options_.clock->steady_now() + options_.cooldown;
  }

  const CircuitBreakerOptions options_;
  mutable std::mutex mu_;
  State state_ = State::closed;
  int failures_ = 0;
  std::chrono::steady_clock::time_point retry_at_{};
  std::uint64_t opens_ = 0;
};

}  // namespace ztm::cache
