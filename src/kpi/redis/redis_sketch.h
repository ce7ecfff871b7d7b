#pragma once
// The ActiveUserSketch on Redis: one HyperLogLog key a day, `<prefix>dau:<yyyy-mm-dd>` (PFADD,
// 2^14 registers: Redis's fixed precision, standard error 0.81 %), expiring kRetainedDays after
// its last write (each PFADD and its EXPIRE sent as one script: no key is ever left without one);
// count() is one PFCOUNT over the days' keys (Redis merges them). Every web server adds to the same
// keys, so the count is the whole service's.
//
// Needs one Redis (or a Sentinel-managed primary) holding every day's key, not Redis Cluster:
// PFCOUNT of several keys reads them on one server. The composition root uses the sessions'
// Redis (docs/kpis.md says why).

#include <memory>
#include <string>

#include "kpi/active_users_sketch.h"
#include "redis/client.h"

namespace ztm::kpi {

struct RedisSketchOptions {
  std::string prefix = "ztm:kpi:";
  int max_values_per_command = 1000;  // a larger add() is sent as several PFADDs
};

inline constexpr int kMaxValuesPerScript = 4000;  // Lua's unpack() limit, with room

class RedisActiveUserSketch final : public ActiveUserSketch {
 public:
  RedisActiveUserSketch(std::shared_ptr<redis::CommandRunner> redis, RedisSketchOptions options);

  boost::asio::awaitable<Result<void>> add(UtcDay day, std::vector<UserId> users) override;
  boost::asio::awaitable<Result<std::int64_t>> count(UtcDay first, UtcDay last) override;

  // The key of a day (tests read it with redis-cli).
  std::string key(UtcDay day) const;

 private:
  std::shared_ptr<redis::CommandRunner> redis_;
  RedisSketchOptions options_;
};

}  // namespace ztm::kpi
