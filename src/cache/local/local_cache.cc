#include "cache/local/local_cache.h"

#include <time.h>

#include <cassert>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cache/local/slot_index.h"
#include "cache/local/slot_list.h"

namespace ztm {
namespace {

using Clock = std::chrono::steady_clock;
using Slot = EvictionPolicy::Slot;

// The key is hashed once per call, for the shard, the index and the policy.
std::size_t hash_of(std::string_view key) { return std::hash<std::string_view>{}(key); }

// One live entry, or a free slot (value == nullptr) on the free list.
struct Entry {
  std::string key;
  std::size_t hash = 0;
  CachedPtr value;
  Clock::time_point expires;
  std::int64_t charge = 0;
  Slot next_free = kNoSlot;
};

}  // namespace

// Everything below runs with mu held. Laid out in cache lines by who writes them, so that a hit
// on another core takes ownership of as few lines as it can: the lock's line (with the hit
// count), then what a hit only reads (written by puts), then what only puts and erases write.
// Neighbouring shards never share a line (false sharing between cores).
class alignas(64) LocalCache::Shard {
 public:
  mutable std::mutex mu;
  std::uint64_t hits = 0;  // counters.hits lives here: written with the lock on every hit

  alignas(64) SlotIndex index;
  std::vector<Entry> entries;  // by slot
  std::unique_ptr<EvictionPolicy> policy;

  alignas(64) std::int64_t budget = 0;
  Slot free_head = kNoSlot;
  std::uint64_t invalidations = 0;  // erase() calls: the lease counter
  std::int64_t bytes = 0;
  CacheStats counters;  // hits, entries and bytes are filled in by stats()

  // The live slot holding key, or kNoSlot.
  Slot find(std::string_view key, std::size_t hash) const {
    return index.find(hash, [&](Slot slot) { return entries[slot].key == key; });
  }

  // Removes a live entry: out of the policy, the index and the byte count; its slot is freed.
  void remove(Slot slot) {
    Entry& e = entries[slot];
    policy->on_erase(slot);
    index.erase(e.hash, slot);
    bytes -= e.charge;
    e = Entry{};
    e.next_free = free_head;
    free_head = slot;
  }

  // Evicts policy victims until `charge` more bytes fit. REQUIRES: charge <= budget.
  void make_room(std::int64_t charge) {
    while (bytes + charge > budget) {
      assert(index.size() != 0);
      remove(policy->victim());
      ++counters.evictions;
    }
  }

  // REQUIRES: key absent, bytes + charge <= budget.
  void insert(std::string key, std::size_t hash, CachedPtr value, std::int64_t charge,
              Clock::time_point expires) {
    Slot slot = free_head;
    if (slot == kNoSlot) {
      slot = static_cast<Slot>(entries.size());
      entries.emplace_back();
    } else {
      free_head = entries[slot].next_free;
    }
    entries[slot] = Entry{std::move(key), hash, std::move(value), expires, charge, kNoSlot};
    index.insert(hash, slot);
    policy->on_insert(slot, hash);
    bytes += charge;
  }
};

std::chrono::steady_clock::time_point coarse_steady_now() {
  // libstdc++'s steady_clock is CLOCK_MONOTONIC, so the two readings share one epoch.
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return Clock::time_point(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
}

LocalCache::LocalCache(LocalCacheOptions options) : options_(std::move(options)) {
  const int n = options_.shards;
  if (n < 1 || n > 1024 || (n & (n - 1)) != 0)
    throw std::invalid_argument("LocalCache: shards must be a power of two in [1, 1024], got " +
                                std::to_string(n));
  if (options_.max_bytes / n < kEntryOverheadBytes)
    throw std::invalid_argument("LocalCache: max_bytes / shards must be at least " +
                                std::to_string(kEntryOverheadBytes) + ", got max_bytes " +
                                std::to_string(options_.max_bytes) + " over " + std::to_string(n) +
                                " shards");
  if (options_.ttl <= std::chrono::milliseconds::zero())
    throw std::invalid_argument("LocalCache: ttl must be positive");
  if (options_.ttl_jitter_percent < 0 || options_.ttl_jitter_percent > 50)
    throw std::invalid_argument("LocalCache: ttl_jitter_percent must be in [0, 50], got " +
                                std::to_string(options_.ttl_jitter_percent));
  if (!options_.now) throw std::invalid_argument("LocalCache: the clock (now) must be set");

  shards_ = std::make_unique<Shard[]>(static_cast<std::size_t>(n));
  shard_mask_ = static_cast<std::size_t>(n - 1);
  for (int i = 0; i < n; ++i) {
    shards_[i].budget = options_.max_bytes / n;
    shards_[i].policy = make_eviction_policy(options_.policy);
  }
}

LocalCache::~LocalCache() = default;

LocalCache::Shard& LocalCache::shard_for(std::size_t hash) const {
  // Shards take high bits of a multiplicative mix; the map's buckets use the hash modulo a prime,
  // so keys of one shard still spread over its buckets.
  const std::uint64_t mixed = std::uint64_t{hash} * 0x9E3779B97F4A7C15ULL;
  return shards_[static_cast<std::size_t>(mixed >> 40) & shard_mask_];
}

std::chrono::steady_clock::duration LocalCache::ttl_for(std::size_t hash) const {
  const std::chrono::nanoseconds ttl = options_.ttl;
  const std::int64_t span = ttl.count() / 100 * options_.ttl_jitter_percent;
  if (span == 0) return ttl;
  // A different mix from shard_for's, so the jitter does not follow the shard.
  std::uint64_t h = std::uint64_t{hash} ^ (std::uint64_t{hash} >> 29);
  h *= 0xBF58476D1CE4E5B9ULL;
  h ^= h >> 32;
  const auto offset = static_cast<std::int64_t>(h % static_cast<std::uint64_t>(2 * span + 1)) - span;
  return ttl + std::chrono::nanoseconds(offset);
}

CachedPtr LocalCache::get(std::string_view key) {
  const std::size_t hash = hash_of(key);
  const auto now = options_.now();
  Shard& s = shard_for(hash);
  std::lock_guard lock(s.mu);
  const Slot slot = s.find(key, hash);
  if (slot == kNoSlot) {
    ++s.counters.misses;
    return nullptr;
  }
  const Entry& e = s.entries[slot];
  if (now >= e.expires) {
    s.remove(slot);
    ++s.counters.expirations;
    ++s.counters.misses;
    return nullptr;
  }
  s.policy->on_access(slot);
  ++s.hits;
  return e.value;
}

Cache::Lease LocalCache::lease(std::string_view key) {
  Shard& s = shard_for(hash_of(key));
  std::lock_guard lock(s.mu);
  return s.invalidations;
}

bool LocalCache::put(std::string_view key, CachedPtr value, Lease lease) {
  if (!value) return false;
  const std::size_t hash = hash_of(key);
  const std::int64_t charge = entry_charge(key, *value);
  Shard& s = shard_for(hash);
  if (charge > s.budget) return false;
  // Built before locking: the allocation stays out of the critical section.
  std::string owned(key);
  const auto expires = options_.now() + ttl_for(hash);

  std::lock_guard lock(s.mu);
  if (lease < s.invalidations) {
    ++s.counters.stale_sets_refused;
    return false;
  }
  if (const Slot old = s.find(key, hash); old != kNoSlot) s.remove(old);
  s.make_room(charge);
  s.insert(std::move(owned), hash, std::move(value), charge, expires);
  ++s.counters.inserts;
  return true;
}

void LocalCache::erase(std::string_view key) {
  const std::size_t hash = hash_of(key);
  Shard& s = shard_for(hash);
  std::lock_guard lock(s.mu);
  ++s.invalidations;
  if (const Slot slot = s.find(key, hash); slot != kNoSlot) s.remove(slot);
}

CacheStats LocalCache::stats() const {
  CacheStats total;
  for (std::size_t i = 0; i <= shard_mask_; ++i) {
    const Shard& s = shards_[i];
    std::lock_guard lock(s.mu);
    total.hits += s.hits;
    total.misses += s.counters.misses;
    total.inserts += s.counters.inserts;
    total.evictions += s.counters.evictions;
    total.expirations += s.counters.expirations;
    total.stale_sets_refused += s.counters.stale_sets_refused;
    total.entries += s.index.size();
    total.bytes += static_cast<std::uint64_t>(s.bytes);
  }
  return total;
}

}  // namespace ztm
