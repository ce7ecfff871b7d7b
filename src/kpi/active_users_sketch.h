#pragma once
// Distinct active users per UTC day, approximately and cheaply: one HyperLogLog per day
// (kpi/hyperloglog.h: 2^14 registers, standard error 0.81 %), so that DAU, WAU and MAU are
// known live without scanning the activity table. The exact counts are the SQL rollups
// (storage/kpi_store.h); docs/kpis.md compares the two.
//
// Backends: LocalActiveUserSketch (in this process: the single server) and
// RedisActiveUserSketch (PFADD/PFCOUNT on the Redis every web server shares). Both keep a day
// for kRetainedDays, enough for a 30-day window and a few days of slack.
//
// Contract: add() is idempotent (a user added twice to a day counts once); count() estimates
// the distinct users over the days first..last (inclusive; days no longer kept count as empty).
// Failures are values (unavailable, overloaded from Redis); neither call blocks its thread.

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <vector>

#include "core/ids.h"
#include "core/result.h"
#include "core/utc_day.h"

namespace ztm::kpi {

inline constexpr int kRetainedDays = 35;

class ActiveUserSketch {
 public:
  virtual ~ActiveUserSketch() = default;
  virtual boost::asio::awaitable<Result<void>> add(UtcDay day, std::vector<UserId> users) = 0;
  // REQUIRES: first <= last, last - first < kRetainedDays.
  virtual boost::asio::awaitable<Result<std::int64_t>> count(UtcDay first, UtcDay last) = 0;
};

}  // namespace ztm::kpi
