#include "cache/local/local_cache.h"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cache/local/slot_index.h"
#include "cache/local/slot_list.h"

namespace ztm::cache {
namespace {

using TimePoint = std::chrono::steady_clock::time_point;
using Slot = EvictionPolicy::Slot;

// The key is hashed once per call, for the shard, the index and the policy.
std::size_t hash_of(std::string_view key) {
  return std::hash<std::string_view>{}(key);
}

// One live entry, or a free slot (value == nullptr) on the free list.
struct Entry {
  std::string key;
  std::size_t hash = 0;
  CachedPtr value;
  TimePoint expires;
  std::int64_t charge = 0;
  Slot next_free = kNoSlot;
};

// How a shard is shared between threads. Everything that changes the shard (puts, erases,
// evictions, expiry, and hits under policies that reorder on a hit) runs under `mu`. With a policy
// whose hits write nothing shared (policy->concurrent_hits(): S3-FIFO, FIFO), hits take no lock:
// they would otherwise move the lock's cache line between cores on almost every lookup, which
// costs more than the whole hit (measured: docs/performance.md, L1 throughput).
//
// Instead each thread announces itself in one of kReaderSlots reader slots of the shard, each
// its own cache line, which only threads using that slot write (a big-reader lock, as
// Linux's percpu rw-semaphore): a hit increments its slot, checks `writing` (a line that only
// changes are allowed to write), reads, and decrements. A change takes `mu`, sets `writing`, and
// waits until every slot is zero. Both sides use sequentially consistent operations, so either
// the hit sees `writing` (and goes the locked way) or the change sees the hit's slot (and waits
// for it): never both inside. A thread takes the least used slot number on its first hit and
// gives it back when it ends, so live threads have slots of their own up to kReaderSlots; beyond
// that they share, which is correct (slots count) but shares their lines.
constexpr std::size_t kReaderSlots = 16;

struct alignas(64) ReaderSlot {
  std::atomic<std::uint32_t> inside{0};
  std::atomic<std::uint64_t> hits{0};  // hits that took no lock, counted here so no line is shared
  std::atomic<std::uint64_t> misses{0};
};

class ReaderSlotNumber {
 public:
  ReaderSlotNumber() {
    std::lock_guard lock(mu_);
    n_ = static_cast<std::size_t>(std::min_element(users_, users_ + kReaderSlots) - users_);
    ++users_[n_];
  }
  ~ReaderSlotNumber() {
    std::lock_guard lock(mu_);
    --users_[n_];
  }
  ReaderSlotNumber(const ReaderSlotNumber&) = delete;
  ReaderSlotNumber& operator=(const ReaderSlotNumber&) = delete;
  std::size_t get() const { return n_; }

 private:
  static inline std::mutex mu_;
  static inline std::uint32_t users_[kReaderSlots] = {};  // live threads per slot number
  std::size_t n_;
};

// This thread's reader slot number (the same in every shard and every cache).
std::size_t reader_slot() {
  thread_local const ReaderSlotNumber number;
  return number.get();
}

}  // namespace

// Laid out in cache lines by who writes them, so that a hit on another core takes ownership of
// as few lines as it can: the lock's line, then what a hit only reads (written by changes), then
// what only changes write, then the reader slots. Neighbouring shards never share a line.
class alignas(64) LocalCache::Shard {
 public:
  mutable std::mutex mu;
  std::uint64_t hits = 0;  // hits under mu (policies whose hits reorder)

  alignas(64) std::atomic<bool> writing{false};  // a change is in progress: hits take the lock
  bool concurrent_hits = false;                  // policy->concurrent_hits(), fixed
  SlotIndex index;
  std::vector<Entry> entries;  // by slot
  std::unique_ptr<EvictionPolicy> policy;

  alignas(64) std::int64_t budget = 0;
  Slot free_head = kNoSlot;
  std::uint64_t invalidations = 0;  // erase() calls: the lease counter
  std::int64_t bytes = 0;
  CacheStats counters;  // hits, entries and bytes are filled in by stats()

  ReaderSlot readers[kReaderSlots];

  // Holds the shard for a change: mu, and with lock-free hits, no hit in progress until the end.
  class Change {
   public:
    explicit Change(Shard& s) : s_(s), lock_(s.mu) {
      if (!s_.concurrent_hits) return;
      s_.writing.store(true, std::memory_order_seq_cst);
      for (const ReaderSlot& r : s_.readers)
        for (int spins = 0; r.inside.load(std::memory_order_seq_cst) != 0; ++spins)
          if (spins >= 64) std::this_thread::yield();  // a hit was preempted mid-way
    }
    ~Change() {
      if (s_.concurrent_hits) s_.writing.store(false, std::memory_order_release);
    }
    Change(const Change&) = delete;
    Change& operator=(const Change&) = delete;

   private:
    Shard& s_;
    std::lock_guard<std::mutex> lock_;
  };

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
              TimePoint expires) {
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
  if (!options_.clock) throw std::invalid_argument("LocalCache: the clock must be set");

  shards_ = std::make_unique<Shard[]>(static_cast<std::size_t>(n));
  shard_mask_ = static_cast<std::size_t>(n - 1);
  for (int i = 0; i < n; ++i) {
    shards_[i].budget = options_.max_bytes / n;
    shards_[i].policy = make_eviction_policy(options_.policy);
    shards_[i].concurrent_hits = shards_[i].policy->concurrent_hits();
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
  const auto offset =
      static_cast<std::int64_t>(h % static_cast<std::uint64_t>(2 * span + 1)) - span;
  return ttl + std::chrono::nanoseconds(offset);
}

CachedPtr LocalCache::get(std::string_view key) {
  const std::size_t hash = hash_of(key);
  const auto now = options_.clock->coarse_steady_now();
  Shard& s = shard_for(hash);
  if (s.concurrent_hits) {
    ReaderSlot& r = s.readers[reader_slot()];
    r.inside.fetch_add(1, std::memory_order_seq_cst);
    if (!s.writing.load(std::memory_order_seq_cst)) {
      const Slot slot = s.find(key, hash);
      if (slot == kNoSlot) {
        r.misses.fetch_add(1, std::memory_order_relaxed);
        r.inside.fetch_sub(1, std::memory_order_release);
        return nullptr;
      }
      const Entry& e = s.entries[slot];
      if (now < e.expires) {
        s.policy->on_access(slot);
        CachedPtr value = e.value;
        r.hits.fetch_add(1, std::memory_order_relaxed);
        r.inside.fetch_sub(1, std::memory_order_release);
        return value;
      }
    }
    r.inside.fetch_sub(1, std::memory_order_release);  // expired, or a change: take the lock
  }
  Shard::Change change(s);
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
  const auto expires = options_.clock->coarse_steady_now() + ttl_for(hash);

  Shard::Change change(s);
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
  Shard::Change change(s);
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
    for (const ReaderSlot& r : s.readers) {
      total.hits += r.hits.load(std::memory_order_relaxed);
      total.misses += r.misses.load(std::memory_order_relaxed);
    }
    total.inserts += s.counters.inserts;
    total.evictions += s.counters.evictions;
    total.expirations += s.counters.expirations;
    total.stale_sets_refused += s.counters.stale_sets_refused;
    total.entries += s.index.size();
    total.bytes += static_cast<std::uint64_t>(s.bytes);
  }
  return total;
}

}  // namespace ztm::cache
