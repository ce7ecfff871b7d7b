#pragma once
// Hot-key detection: which keys get a share of the requests far above the rest. The cache tier
// (cache/redis: hot keys spread over replicas) and the sharded store (storage/sharding: hot users
// in its load report) each run one.
//
// A count-min sketch (depth 4 x width 4096 counters) estimates each sampled key's count in the
// current window; the `capacity` keys with the highest estimates are kept by name (top-k). A key
// is hot while its estimate is at least hot_share of the window's sampled requests and at least
// min_count. Every `window` samples all counts are halved (aging), so a key that cools stops
// being hot within a few windows. The sketch only over-estimates (collisions add, never
// subtract), so a hot key is never missed; a cold key colliding with a hot one may look warmer,
// which the share threshold keeps rare.
//
// Cost: record() samples about 1 in sample_every calls with one relaxed atomic add; a sampled call
// takes a mutex for ~20 ns of hashing and counting. is_hot() takes the mutex and scans the top-k.
// Thread-safe.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace ztm {

struct HotKeyOptions {
  int sample_every = 8;           // record 1 request in this many
  double hot_share = 0.01;        // hot at >= 1% of the sampled requests of the window
  std::uint32_t min_count = 32;   // ... and at least this many sampled requests
  std::uint32_t window = 20'000;  // sampled requests between halvings
  int capacity = 16;              // keys tracked by name
};

struct HotKey {
  std::string key;
  std::uint32_t estimate = 0;  // sampled requests in the (decaying) window
  double share = 0;            // of the window's sampled requests
};

class HotKeyDetector {
 public:
  // Throws std::invalid_argument unless sample_every >= 1, 0 < hot_share <= 1, window >= 1,
  // capacity in [1, 1024].
  explicit HotKeyDetector(HotKeyOptions options);

  // Returns whether key was sampled and is hot now (a cheap "maybe new hot key" signal).
  bool record(std::string_view key);
  bool is_hot(std::string_view key) const;
  // key's share of the window's sampled requests while it is hot, else 0.
  double hot_share(std::string_view key) const;
  // The hot keys, hottest first.
  std::vector<HotKey> hot_keys() const;

 private:
  static constexpr int kDepth = 4;
  static constexpr std::size_t kWidth = 4096;

  std::uint32_t add(std::string_view key);  // REQUIRES: mu_ held; returns the new estimate
  void age();                               // REQUIRES: mu_ held
  bool hot(const HotKey& k) const;          // REQUIRES: mu_ held

  const HotKeyOptions options_;
  std::atomic<std::uint64_t> calls_{0};
  mutable std::mutex mu_;
  std::vector<std::uint32_t> counts_;  // kDepth rows of kWidth
  std::uint32_t total_ = 0;            // sampled requests in the window (halved with the counts)
  std::uint32_t since_aging_ = 0;
  std::vector<HotKey> top_;  // at most capacity, unordered
};

}  // namespace ztm
