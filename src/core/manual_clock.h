#pragma once
// A Clock that moves only when told to, for tests of TTLs, expiry, windows and backoff: the test
// advances it instead of sleeping, so the case is fast and exact (one millisecond before a
// deadline, then on it).
//
// It lives in core/ beside Clock rather than in tests/support: unit tests beside their code
// under src/ (cache, breaker, ids, app) and the conformance suites under tests/ both use it, and
// it is the second implementation that keeps the interface honest (as leveldb keeps its
// in-memory Env in-tree). Header-only; nothing in the service includes it.
//
// Thread-safe: reads and advance() may race (the concurrency tests advance it from several
// threads). advance() moves wall and monotonic time one after the other, not as one snapshot.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>

#include "core/clock.h"

namespace ztm {

class ManualClock final : public Clock {
 public:
  // 2025-06-01T00:00:00Z: after IdGenerator::kEpochMs, a whole millisecond.
  static constexpr std::chrono::system_clock::time_point kDefaultStart{
      std::chrono::milliseconds(1748736000000)};

  // Wall time starts at `start`; monotonic time at one hour after its epoch, so that a
  // default-constructed steady time_point (a "never set" deadline) is already in the past.
  explicit ManualClock(std::chrono::system_clock::time_point start = kDefaultStart)
      : wall_ns_(start.time_since_epoch().count()),
        steady_ns_(std::chrono::steady_clock::duration(std::chrono::hours(1)).count()) {}

  std::chrono::system_clock::time_point now() const override {
    return std::chrono::system_clock::time_point(
        std::chrono::system_clock::duration(wall_ns_.load()));
  }
  std::chrono::steady_clock::time_point steady_now() const override {
    return std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(steady_ns_.load()));
  }
  // coarse_steady_now() is steady_now(): exact, so tests can stand one tick before a deadline.

  // Moves wall and monotonic time forward by d. Throws std::invalid_argument (a test's bug) if
  // d is negative: monotonic time never goes back.
  void advance(std::chrono::nanoseconds d) {
    if (d < std::chrono::nanoseconds::zero())
      throw std::invalid_argument("ManualClock::advance: negative duration");
    wall_ns_.fetch_add(std::chrono::duration_cast<std::chrono::system_clock::duration>(d).count());
    steady_ns_.fetch_add(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(d).count());
  }
  // Steps wall time alone by d (either way), as NTP or an operator may; monotonic time stays.
  void step_wall(std::chrono::nanoseconds d) {
    wall_ns_.fetch_add(std::chrono::duration_cast<std::chrono::system_clock::duration>(d).count());
  }

 private:
  // Counts of system_clock::duration and steady_clock::duration (nanoseconds in libstdc++).
  std::atomic<std::int64_t> wall_ns_;
  std::atomic<std::int64_t> steady_ns_;
};

}  // namespace ztm
