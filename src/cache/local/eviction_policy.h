#pragma once
// Eviction policies of the local cache: which entry a full shard drops to make room.
//
// A policy tracks the live slots of one shard. A slot is an index into the shard's entry table;
// it is reused after its entry leaves. The shard calls the policy under its own lock, so a policy
// needs no synchronisation. on_access runs on every cache hit: it must be O(1) (or O(log n)) and
// must not allocate. Only on_insert may allocate (to grow per-slot arrays).

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

namespace ztm {

enum class EvictionPolicyKind { lru, lfu, fifo };

// "lru" | "lfu" | "fifo" (exact, lower case); nullopt for anything else.
std::optional<EvictionPolicyKind> parse_eviction_policy(std::string_view name);
std::string_view to_string(EvictionPolicyKind kind);

class EvictionPolicy {
 public:
  using Slot = std::uint32_t;

  virtual ~EvictionPolicy() = default;

  // A new entry now lives in `slot`. REQUIRES: slot is not live.
  virtual void on_insert(Slot slot) = 0;
  // The entry in `slot` was read (a cache hit). REQUIRES: slot is live.
  virtual void on_access(Slot slot) = 0;
  // The entry in `slot` left (erased, expired, evicted or replaced). REQUIRES: slot is live.
  virtual void on_erase(Slot slot) = 0;
  // The slot to evict next. It stays live: the shard removes it and calls on_erase.
  // REQUIRES: at least one slot is live.
  virtual Slot victim() const = 0;
};

// LRU: evicts the least recently inserted-or-read entry.
std::unique_ptr<EvictionPolicy> make_lru_policy();
// FIFO: evicts the oldest inserted entry; reads do not change the order.
std::unique_ptr<EvictionPolicy> make_fifo_policy();
// LFU: evicts the entry with the fewest reads (an insert counts as one); among equal counts, the
// least recently touched. Reads on an entry are never forgotten while it lives (no aging), so a
// once-hot key outlives newer ones until it is erased, replaced or expires.
std::unique_ptr<EvictionPolicy> make_lfu_policy();

std::unique_ptr<EvictionPolicy> make_eviction_policy(EvictionPolicyKind kind);

}  // namespace ztm
