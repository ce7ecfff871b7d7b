#pragma once
// Where the service reads time. Everything that compares with "now" (ids, session expiry, rate
// windows, cache TTLs, breaker cool-downs, queue redelivery and dedup windows, latency) takes a
// Clock, so a test turns a ManualClock (core/manual_clock.h) instead of sleeping.
//
// Three readings, for different questions:
//   now()                wall time (UTC). For what outlives the process or crosses machines:
//                        ids, expiry times stored in SQLite. It may step (NTP, an operator), so
//                        code that needs order must not assume it moves forward (see ids.h).
//   steady_now()         monotonic time, for intervals inside this process: TTLs, breakers,
//                        deadlines, latency. Never decreases. Its epoch is arbitrary (boot), so
//                        it is never stored nor compared across processes.
//   coarse_steady_now()  the same monotonic time at the kernel tick's resolution (1 to 4 ms): a
//                        few ns to read instead of about 20, for hot paths that compare with
//                        TTLs of seconds (an L1 cache hit). Same epoch as steady_now(); lags it
//                        by at most one tick.
//
// Implementations are thread-safe: any method, from any thread, at once.
//
// The default clock: Clock::system() returns the process's real clock, a stateless object with
// static storage (like leveldb's Env::Default()). It is not a mutable global: it holds nothing
// to change; another clock is chosen by passing it. Options default to it so that callers that
// do not care keep compiling; the composition root passes one clock to everything it builds.

#include <chrono>
#include <cstdint>

namespace ztm {

class Clock {
 public:
  virtual ~Clock() = default;

  virtual std::chrono::system_clock::time_point now() const = 0;
  virtual std::chrono::steady_clock::time_point steady_now() const = 0;
  // Defaults to steady_now() (exact) for clocks without a cheaper reading.
  virtual std::chrono::steady_clock::time_point coarse_steady_now() const { return steady_now(); }

  // The real clock: system_clock, steady_clock (CLOCK_MONOTONIC) and CLOCK_MONOTONIC_COARSE.
  // Lives for the whole process.
  static const Clock& system();
};

// Milliseconds since the Unix epoch: how wall times are stored (SQLite columns, ids).
inline std::int64_t unix_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace ztm
