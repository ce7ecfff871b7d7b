#pragma once
// Eviction policies of the local cache: which entry a full shard drops to make room.
//
// A policy tracks the live slots of one shard. A slot is an index into the shard's entry table;
// it is reused after its entry leaves. The shard calls the policy under its own lock, so a policy
// needs no synchronisation, with one exception: a policy whose concurrent_hits() is true has
// on_access called by several threads at once (never alongside the other calls), so that hits
// can share the shard (local_cache.cc). on_access runs on every cache hit: it must be O(1) (or
// O(log n)) and must not allocate. Only on_insert may allocate (to grow per-slot arrays).
//
// Capacity is the shard's byte budget, which a policy never sees: policies that size internal
// queues (S3-FIFO's small queue, W-TinyLFU's window) size them as a share of the live entries,
// which is the capacity in entries whenever victim() is asked (the shard is full then).

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

namespace ztm::cache {

enum class EvictionPolicyKind { lru, lfu, fifo, s3fifo, tinylfu };

// "lru" | "lfu" | "fifo" | "s3fifo" | "tinylfu" (exact, lower case); nullopt for anything else.
std::optional<EvictionPolicyKind> parse_eviction_policy(std::string_view name);
std::string_view to_string(EvictionPolicyKind kind);

class EvictionPolicy {
 public:
  using Slot = std::uint32_t;

  virtual ~EvictionPolicy() = default;

  // A new entry now lives in `slot`; key_hash identifies its key across entries (a key that
  // leaves and comes back has the same hash), for policies that remember keys no longer cached.
  // REQUIRES: slot is not live.
  virtual void on_insert(Slot slot, std::uint64_t key_hash) = 0;
  // The entry in `slot` was read (a cache hit). REQUIRES: slot is live.
  virtual void on_access(Slot slot) = 0;
  // True if on_access may run on several threads at once (it writes nothing, or only with
  // relaxed atomics). Hits then take no lock (see local_cache.cc).
  virtual bool concurrent_hits() const { return false; }
  // The entry in `slot` left (erased, expired, evicted or replaced). REQUIRES: slot is live.
  virtual void on_erase(Slot slot) = 0;
  // The slot to evict next. It stays live: the shard removes it and calls on_erase. It may
  // reorder the policy's queues on the way (S3-FIFO promotes, W-TinyLFU admits), so the shard
  // calls it only when it is about to evict. REQUIRES: at least one slot is live.
  virtual Slot victim() = 0;
};

// LRU: evicts the least recently inserted-or-read entry.
std::unique_ptr<EvictionPolicy> make_lru_policy();
// FIFO: evicts the oldest inserted entry; reads do not change the order.
std::unique_ptr<EvictionPolicy> make_fifo_policy();
// LFU: evicts the entry with the fewest reads (an insert counts as one); among equal counts, the
// least recently touched. Reads on an entry are never forgotten while it lives (no aging), so a
// once-hot key outlives newer ones until it is erased, replaced or expires.
std::unique_ptr<EvictionPolicy> make_lfu_policy();
// S3-FIFO (Yang et al., SOSP 2023): a small FIFO (10% of the entries) that new keys enter, a
// main FIFO, and a ghost queue of keys recently evicted from the small one. A key read while in
// the small queue moves to main when it reaches the front; one that was not is evicted and
// remembered in the ghost; a ghost key that comes back enters main directly. Main is a FIFO
// with reinsertion: an entry read since it last passed the front (up to 3 reads) goes round
// again. A one-time scan passes through the small queue and never reaches main. A hit only
// bumps a 2-bit counter: no list is touched.
std::unique_ptr<EvictionPolicy> make_s3fifo_policy();
// W-TinyLFU (Einziger, Friedman, Manes, 2017; Caffeine's policy): an LRU window (1% of the
// entries) in front of a segmented LRU main (80% protected, 20% probation). A key leaving the
// window enters main only if a frequency sketch (count-min, 4-bit counters, halved as it ages)
// has seen it more often than main's next victim; otherwise it is the one evicted.
std::unique_ptr<EvictionPolicy> make_tinylfu_policy();

std::unique_ptr<EvictionPolicy> make_eviction_policy(EvictionPolicyKind kind);

}  // namespace ztm::cache
