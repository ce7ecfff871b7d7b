// core_round_trip: how long one cache line takes to go from one core to another and back (two
// threads taking turns writing one atomic), the cost a lookup pays for every line that another
// core wrote last. Run it beside cache_benchmark: on a virtual machine it moves with where the
// host places the two vCPUs (docs/performance.md, L1 throughput).
//
//   taskset -c 0,1 ./build/bench/core_round_trip

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

int main() {
  constexpr int kRounds = 2'000'000;
  alignas(64) static std::atomic<int> turn{0};
  std::thread other([] {
    for (int i = 0; i < kRounds; ++i) {
      while (turn.load(std::memory_order_acquire) != 1) {
      }
      turn.store(0, std::memory_order_release);
    }
  });
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRounds; ++i) {
    turn.store(1, std::memory_order_release);
    while (turn.load(std::memory_order_acquire) != 0) {
    }
  }
  const std::chrono::duration<double, std::nano> took = std::chrono::steady_clock::now() - start;
  other.join();
  std::printf("cache line round trip between the two threads: %.0f ns\n", took.count() / kRounds);
  return 0;
}
