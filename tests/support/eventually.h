#pragma once
// Bounded polling for tests: wait for a condition, never for a fixed time.

#include <chrono>
#include <thread>

namespace ztm::test {

// Polls `condition` every `interval` until it holds or `limit` passes; returns whether it held.
template <class F>
bool eventually(F condition, std::chrono::milliseconds limit = std::chrono::seconds(5),
                std::chrono::milliseconds interval = std::chrono::milliseconds(1)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(interval);  // the poll interval
  }
  return true;
}

}  // namespace ztm::test
