#pragma once
// Snowflake-style ids that fit in 53 bits, so JavaScript clients read them exactly.
//
//   | 40 bits: milliseconds since 2025-01-01 UTC | 7 bits: node id | 6 bits: sequence |
//
// 40 bits of milliseconds last until 2059; 7 bits allow 128 web servers (node id from config);
// 6 bits give 64 ids per millisecond per node. When a node issues more than 64 ids within one
// millisecond it borrows the next millisecond (the logical clock runs ahead of the wall clock
// and real time catches up), so bursts never block and never repeat. A wall clock that steps
// backwards is ignored for the same reason: the logical clock never decreases.
// Unique as long as no two live processes share a node id.
//
// Time is the injected clock's wall time (Clock::now()); tests pass a ManualClock.

#include <atomic>
#include <chrono>
#include <cstdint>

#include "core/clock.h"

namespace ztm {

using UserId = std::int64_t;

inline constexpr std::int64_t kMaxSafeInteger = (std::int64_t{1} << 53) - 1;

class IdGenerator {
 public:
  static constexpr int kNodeBits = 7;
  static constexpr int kSequenceBits = 6;
  static constexpr int kTimeBits = 53 - kNodeBits - kSequenceBits;
  static constexpr std::int64_t kMaxNode = (1 << kNodeBits) - 1;
  // 2025-01-01T00:00:00Z in Unix milliseconds.
  static constexpr std::int64_t kEpochMs = 1735689600000;

  // REQUIRES: 0 <= node <= kMaxNode; clock outlives this.
  explicit IdGenerator(int node, const Clock& clock = Clock::system());

  // Thread-safe and lock-free.
  std::int64_t next();

  struct Parts {
    std::int64_t unix_ms;
    int node;
    int sequence;
  };
  static Parts decode(std::int64_t id);

 private:
  int node_;
  const Clock* clock_;
  // (logical milliseconds since epoch << kSequenceBits) | sequence of the last id issued.
  std::atomic<std::int64_t> last_{0};
};

}  // namespace ztm
