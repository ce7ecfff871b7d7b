#include "core/clock.h"

#include <time.h>

namespace ztm {
namespace {

class SystemClock final : public Clock {
 public:
  std::chrono::system_clock::time_point now() const override {
    return std::chrono::system_clock::now();
  }
  std::chrono::steady_clock::time_point steady_now() const override {
    return std::chrono::steady_clock::now();
  }
  // steady_now() costs about 20 ns (CLOCK_MONOTONIC through the vDSO); this a few
  // (docs/performance.md). libstdc++'s steady_clock is CLOCK_MONOTONIC, so both readings share
  // one epoch.
  std::chrono::steady_clock::time_point coarse_steady_now() const override {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return std::chrono::steady_clock::time_point(std::chrono::seconds(ts.tv_sec) +
                                                 std::chrono::nanoseconds(ts.tv_nsec));
  }
};

}  // namespace

const Clock& Clock::system() {
  static const SystemClock clock;  // stateless: nothing in it changes
  return clock;
}

}  // namespace ztm
