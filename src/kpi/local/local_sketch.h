#pragma once
// The in-process ActiveUserSketch: a HyperLogLog per day in a map, under a mutex (16 KiB a day,
// at most kRetainedDays of them: adding a day drops those older than its window). It sees only
// this process's users: right for the single server, a per-process view behind a load balancer
// (docs/kpis.md). Calls complete at once.

#include <map>
#include <mutex>

#include "kpi/active_users_sketch.h"
#include "kpi/hyperloglog.h"

namespace ztm::kpi {

class LocalActiveUserSketch final : public ActiveUserSketch {
 public:
  boost::asio::awaitable<Result<void>> add(UtcDay day, std::vector<UserId> users) override;
  boost::asio::awaitable<Result<std::int64_t>> count(UtcDay first, UtcDay last) override;

 private:
  std::mutex mu_;
  std::map<UtcDay, HyperLogLog> days_;
};

}  // namespace ztm::kpi
