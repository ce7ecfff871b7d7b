#pragma once
// The queue of the lab's delay program (`ztm lab delay`, docs/lab.md "Distance"): packets taken
// from an NFQUEUE wait here until their release time. Plain data, no kernel: the program feeds it
// packet ids and the clock, the test an injected clock.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

namespace ztm::lab {

class DelayLine {
 public:
  using Clock = std::chrono::steady_clock;

  // REQUIRES: max_held > 0.
  DelayLine(std::chrono::microseconds delay, std::size_t max_held)
      : delay_(delay), max_held_(max_held) {}

  // Holds packet `id`, arrived at `now`, until now + delay. False when max_held packets are
  // already held: the caller drops it (counted in dropped()).
  bool hold(std::uint32_t id, Clock::time_point now);

  // The packets whose time has come by `now`, in arrival order; they are no longer held.
  std::vector<std::uint32_t> release(Clock::time_point now);

  // When the oldest held packet is due; nullopt when none is held.
  std::optional<Clock::time_point> next_due() const;

  std::size_t held() const { return held_.size(); }
  std::uint64_t released() const { return released_; }
  std::uint64_t dropped() const { return dropped_; }

 private:
  struct Held {
    std::uint32_t id;
    Clock::time_point due;
  };
  // One fixed delay: arrival order is release order, so a FIFO is the timer queue.
  std::chrono::microseconds delay_;
  std::size_t max_held_;
  std::deque<Held> held_;
  std::uint64_t released_ = 0;
  std::uint64_t dropped_ = 0;
};

}  // namespace ztm::lab
