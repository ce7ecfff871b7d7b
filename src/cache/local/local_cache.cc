#include "cache/local/local_cache.h"

#include <cassert>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cache/local/slot_list.h"

namespace ztm {
namespace {

using Clock = std::chrono::steady_clock;
using Slot = EvictionPolicy::Slot;

// The map key keeps its hash: the key is hashed once per call (for the shard and the lookup),
// and rehashing or scanning a bucket never hashes strings again.
struct Key {
  std::string text;
  std::size_t hash;
};
// What get() looks up with: no std::string is built on the read path.
struct KeyView {
  std::string_view text;
  std::size_t hash;
};

struct KeyHash {
  using is_transparent = void;
  std::size_t operator()(const Key& k) const { return k.hash; }
  std::size_t operator()(const KeyView& k) const { return k.hash; }
};

struct KeyEq {
  using is_transparent = void;
  bool operator()(const Key& a, const Key& b) const { return a.hash == b.hash && a.text == b.text; }
  bool operator()(const KeyView& a, const Key& b) const {
    return a.hash == b.hash && a.text == b.text;
  }
  bool operator()(const Key& a, const KeyView& b) const { return (*this)(b, a); }
};

KeyView hashed(std::string_view key) {
  return {key, std::hash<std::string_view>{}(key)};
}

// One live entry, or a free slot (value == nullptr) on the free list.
struct Entry {
  const Key* key = nullptr;  // the map node's key (node addresses are stable)
  CachedPtr value;
  Clock::time_point expires;
  std::int64_t charge = 0;
  Slot next_free = kNoSlot;
};

}  // namespace

// Everything below runs with mu held. Aligned to a cache line so that neighbouring shards'
// locks and counters do not share one (false sharing between cores).
class alignas(64) LocalCache::Shard {
 public:
  using Index = std::unordered_map<Key, Slot, KeyHash, KeyEq>;

  mutable std::mutex mu;
  std::int64_t budget = 0;
  std::unique_ptr<EvictionPolicy> policy;
  Index index;
  std::vector<Entry> entries;  // by slot
  Slot free_head = kNoSlot;
  std::uint64_t invalidations = 0;  // erase() calls: the lease counter
  std::int64_t bytes = 0;
  CacheStats counters;  // entries and bytes are filled in by stats()

  // Removes a live entry: out of the policy, the index and the byte count; its slot is freed.
  void remove(Index::iterator it) {
    const Slot slot = it->second;
    Entry& e = entries[slot];
    policy->on_erase(slot);
    bytes -= e.charge;
    e = Entry{};
    e.next_free = free_head;
    free_head = slot;
    index.erase(it);
  }

  // Evicts policy victims until `charge` more bytes fit. REQUIRES: charge <= budget.
  void make_room(std::int64_t charge) {
    while (bytes + charge > budget) {
      assert(!index.empty());
      const Slot victim = policy->victim();
      remove(index.find(KeyView{entries[victim].key->text, entries[victim].key->hash}));
      ++counters.evictions;
    }
  }

  // REQUIRES: key absent, bytes + charge <= budget.
  void insert(Key key, CachedPtr value, std::int64_t charge, Clock::time_point expires) {
    Slot slot = free_head;
    if (slot == kNoSlot) {
      slot = static_cast<Slot>(entries.size());
      entries.emplace_back();
    } else {
      free_head = entries[slot].next_free;
    }
    const auto [it, inserted] = index.emplace(std::move(key), slot);
    assert(inserted);
    (void)inserted;
    entries[slot] = Entry{&it->first, std::move(value), expires, charge, kNoSlot};
    policy->on_insert(slot);
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

CachedPtr LocalCache::get(std::string_view key) {
  const KeyView k = hashed(key);
  const auto now = options_.now();
  Shard& s = shard_for(k.hash);
  std::lock_guard lock(s.mu);
  const auto it = s.index.find(k);
  if (it == s.index.end()) {
    ++s.counters.misses;
    return nullptr;
  }
  const Entry& e = s.entries[it->second];
  if (now >= e.expires) {
    s.remove(it);
    ++s.counters.expirations;
    ++s.counters.misses;
    return nullptr;
  }
  s.policy->on_access(it->second);
  ++s.counters.hits;
  return e.value;
}

Cache::Lease LocalCache::lease(std::string_view key) {
  Shard& s = shard_for(hashed(key).hash);
  std::lock_guard lock(s.mu);
  return s.invalidations;
}

bool LocalCache::put(std::string_view key, CachedPtr value, Lease lease) {
  if (!value) return false;
  const KeyView k = hashed(key);
  const std::int64_t charge = entry_charge(key, *value);
  Shard& s = shard_for(k.hash);
  if (charge > s.budget) return false;
  // Built before locking: the allocation stays out of the critical section.
  Key owned{std::string(key), k.hash};
  const auto expires = options_.now() + options_.ttl;

  std::lock_guard lock(s.mu);
  if (lease < s.invalidations) {
    ++s.counters.stale_sets_refused;
    return false;
  }
  if (const auto it = s.index.find(k); it != s.index.end()) s.remove(it);
  s.make_room(charge);
  s.insert(std::move(owned), std::move(value), charge, expires);
  ++s.counters.inserts;
  return true;
}

void LocalCache::erase(std::string_view key) {
  const KeyView k = hashed(key);
  Shard& s = shard_for(k.hash);
  std::lock_guard lock(s.mu);
  ++s.invalidations;
  if (const auto it = s.index.find(k); it != s.index.end()) s.remove(it);
}

CacheStats LocalCache::stats() const {
  CacheStats total;
  for (std::size_t i = 0; i <= shard_mask_; ++i) {
    const Shard& s = shards_[i];
    std::lock_guard lock(s.mu);
    total.hits += s.counters.hits;
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
