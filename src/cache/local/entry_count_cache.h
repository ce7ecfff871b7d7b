#pragma once
// An eviction policy driven alone, with a capacity in entries and keys of one unit each: what the
// trace simulator (bench/cache_sim.cc) replays traces through and what policy tests drive. It
// calls the policy exactly as a LocalCache shard does (on_insert with the key's hash, on_access
// on a hit, victim then on_erase to make room), without values, bytes or TTLs.

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "cache/local/eviction_policy.h"

namespace ztm::cache {

class EntryCountCache {
 public:
  // REQUIRES: capacity >= 1.
  EntryCountCache(std::unique_ptr<EvictionPolicy> policy, std::size_t capacity)
      : policy_(std::move(policy)), capacity_(capacity) {
    slots_.reserve(capacity);
    key_of_.reserve(capacity);
  }

  // A read-through access: a hit touches the entry; a miss inserts the key, evicting the
  // policy's victim when full. Returns true on a hit.
  bool access(std::uint64_t key) {
    if (const auto it = slots_.find(key); it != slots_.end()) {
      policy_->on_access(it->second);
      return true;
    }
    EvictionPolicy::Slot slot = static_cast<EvictionPolicy::Slot>(slots_.size());
    if (slots_.size() == capacity_) {
      slot = policy_->victim();
      policy_->on_erase(slot);
      slots_.erase(key_of_[slot]);
    } else {
      key_of_.push_back(0);
    }
    key_of_[slot] = key;
    slots_.emplace(key, slot);
    policy_->on_insert(slot, hash(key));
    return false;
  }

  bool contains(std::uint64_t key) const { return slots_.count(key) != 0; }
  std::size_t size() const { return slots_.size(); }

  // The key hash the policy sees (splitmix64's finaliser): keys that are small integers still
  // spread over every bit, as string hashes do in LocalCache.
  static std::uint64_t hash(std::uint64_t key) {
    key += 0x9E3779B97F4A7C15ULL;
    key = (key ^ (key >> 30)) * 0xBF58476D1CE4E5B9ULL;
    key = (key ^ (key >> 27)) * 0x94D049BB133111EBULL;
    return key ^ (key >> 31);
  }

 private:
  std::unique_ptr<EvictionPolicy> policy_;
  std::size_t capacity_;
  std::unordered_map<std::uint64_t, EvictionPolicy::Slot> slots_;
  std::vector<std::uint64_t> key_of_;  // by slot
};

}  // namespace ztm::cache
