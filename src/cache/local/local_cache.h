#pragma once
// The L1 cache: in-process, bounded in bytes, with a TTL and a pluggable eviction policy.
//
// Keys are spread over `shards` shards by hash. Each shard has its own mutex, key index, byte
// budget (max_bytes / shards) and eviction policy, so changes contend only when their keys share
// a shard. A hit costs one hash, one coarse clock read, one flat-index probe, one policy touch and
// one shared_ptr copy, and with S3-FIFO or FIFO no lock: hits announce themselves in per-thread
// reader slots instead (local_cache.cc). It does not allocate (docs/cache.md: what a hit costs).
//
// Leases (see cache.h) are per shard: each shard counts its erase() calls, lease(key) returns the
// count, and put() refuses a lease older than the count. An erase of ANOTHER key in the same
// shard therefore also refuses a put: a skipped fill (the next reader fills it), never a stale
// value. With delete-on-write traffic spread over 16+ shards this costs a small share of fills.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "cache/cache.h"
#include "cache/local/eviction_policy.h"
#include "core/clock.h"

namespace ztm::cache {

struct LocalCacheOptions {
  EvictionPolicyKind policy = EvictionPolicyKind::s3fifo;  // docs/cache.md: why
  std::int64_t max_bytes = 64 << 20;     // bound on the sum of entry charges (see entry_charge)
  std::chrono::milliseconds ttl{60000};  // an entry expires this long after its put, give or take:
  // each key's TTL is ttl +- up to ttl_jitter_percent % (0 to 50), fixed per key by its hash, so
  // entries filled together (a cold start, a burst) do not expire together and stampede the store.
  int ttl_jitter_percent = 10;
  int shards = 16;  // a power of two in [1, 1024]
  // Where TTLs are measured: clock->coarse_steady_now(), read once per get() and put(). The
  // system clock's is CLOCK_MONOTONIC_COARSE, a few ns instead of about 20 (that was a fifth of
  // a hit), so expiry is accurate to one kernel tick (1 to 4 ms), either way; TTLs are seconds.
  // Must outlive the cache. Tests pass a ManualClock.
  const Clock* clock = &Clock::system();
};

class LocalCache final : public Cache {
 public:
  // Bytes charged per entry on top of its key and value bytes: an estimate of the bookkeeping
  // (two index cells, the slot record with the key's string header, policy links and counters,
  // the value's shared_ptr control block and string header). It keeps a flood of tiny entries from
  // looking free. Allocator rounding and string capacity beyond size() are not counted, so real
  // memory use runs somewhat higher.
  static constexpr std::int64_t kEntryOverheadBytes = 128;

  // What an entry counts against the byte bound.
  static std::int64_t entry_charge(std::string_view key, const CachedValue& value) {
    return static_cast<std::int64_t>(key.size() + value.data.size()) + kEntryOverheadBytes;
  }

  // Throws std::invalid_argument (a start-up error) unless: shards is a power of two in
  // [1, 1024]; max_bytes / shards >= kEntryOverheadBytes; ttl > 0; ttl_jitter_percent in
  // [0, 50]; clock is set.
  explicit LocalCache(LocalCacheOptions options);
  ~LocalCache() override;

  LocalCache(const LocalCache&) = delete;
  LocalCache& operator=(const LocalCache&) = delete;

  // A hit refreshes the entry's place in the policy (LRU, LFU), not its TTL. An expired entry is
  // removed and reported as a miss.
  CachedPtr get(std::string_view key) override;
  Lease lease(std::string_view key) override;
  // Refused (false) when the lease is stale, value is null, or the entry's charge exceeds the
  // shard budget (max_bytes / shards). Otherwise evicts policy victims in the key's shard until
  // the entry fits. A replaced key is a new entry: new charge, new TTL, new place in the policy.
  bool put(std::string_view key, CachedPtr value, Lease lease) override;
  void erase(std::string_view key) override;
  // Sums over shards, each read under its lock (so per-shard numbers are consistent, the total
  // is not a single snapshot while other threads write).
  CacheStats stats() const override;

  const LocalCacheOptions& options() const { return options_; }

 private:
  class Shard;  // local_cache.cc

  Shard& shard_for(std::size_t hash) const;
  // ttl, moved by this key's share of the jitter.
  std::chrono::steady_clock::duration ttl_for(std::size_t hash) const;

  LocalCacheOptions options_;
  std::unique_ptr<Shard[]> shards_;
  std::size_t shard_mask_ = 0;
};

}  // namespace ztm::cache
