// The cost of a login: one Argon2id verification with the parameters `ztm serve` uses by default
// (accounts.argon2_ops, accounts.argon2_memory_kib), and with cheaper and dearer neighbours for
// the trade-off. Run: ./build-release/bench/password_benchmark
#include <benchmark/benchmark.h>

#include "app/passwords.h"
#include "core/config.h"

namespace {

ztm::app::PasswordHasherOptions options(std::int64_t ops, std::int64_t memory_kib) {
  return {.threads = 1,
          .max_pending = 1,
          .ops = static_cast<std::uint64_t>(ops),
          .memory_bytes = static_cast<std::size_t>(memory_kib) * 1024};
}

// Args: opslimit, memory in KiB. Hashing and verifying cost the same; a login is one verify.
void BM_Argon2idHash(benchmark::State& state) {
  const ztm::app::PasswordHasher hasher(options(state.range(0), state.range(1)));
  for (auto _ : state) {
    auto hash = hasher.hash_now("correct horse battery staple");
    if (!hash) state.SkipWithError(hash.error().message.c_str());
    benchmark::DoNotOptimize(hash);
  }
  state.counters["memory_MiB"] = static_cast<double>(state.range(1)) / 1024;
}

const ztm::AccountsConfig kDefaults{};
BENCHMARK(BM_Argon2idHash)
    ->Args({1, 8 * 1024})
    ->Args({kDefaults.argon2_ops, kDefaults.argon2_memory_kib})  // the default
    ->Args({3, 64 * 1024})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
