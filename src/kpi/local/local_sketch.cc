#include "kpi/local/local_sketch.h"

#include <cmath>

namespace ztm::kpi {

boost::asio::awaitable<Result<void>> LocalActiveUserSketch::add(UtcDay day,
                                                                std::vector<UserId> users) {
  std::lock_guard lock(mu_);
  auto& sketch = days_[day];
  for (UserId u : users) sketch.add(static_cast<std::uint64_t>(u));
  days_.erase(days_.begin(), days_.lower_bound(days_.rbegin()->first - kRetainedDays + 1));
  co_return Result<void>{};
}

boost::asio::awaitable<Result<std::int64_t>> LocalActiveUserSketch::count(UtcDay first,
                                                                          UtcDay last) {
  if (first > last || last - first >= kRetainedDays)
    co_return Error{Errc::invalid_argument, "sketch: first..last must be 1..35 days"};
  HyperLogLog merged;
  {
    std::lock_guard lock(mu_);
    for (auto it = days_.lower_bound(first); it != days_.end() && it->first <= last; ++it)
      merged.merge(it->second);
  }
  co_return static_cast<std::int64_t>(std::llround(merged.estimate()));
}

}  // namespace ztm::kpi
