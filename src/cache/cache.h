#pragma once
// The cache tier, as the application sees it. Every backend (the in-process LocalCache now; a
// Redis ring next) implements this interface.
//
// Contract for every method:
//  - Thread-safe: all methods may be called from any thread, concurrently.
//  - Never blocks on I/O and never throws for expected outcomes: a miss is nullptr, a refused
//    put is false.
//  - A cache may drop any entry at any time (eviction, expiry); callers treat it as a hint and
//    the store as the truth.
//
// Read-through without stale sets (the protocol every caller follows):
//    if (auto v = cache.get(key)) return v;         // hit
//    auto lease = cache.lease(key);                 // BEFORE reading the store
//    auto value = read the store;
//    cache.put(key, value, lease);                  // refused if an erase(key) came in between
// and every write to the store is followed by erase(key) (delete-on-write). A reader that read
// the old row before the write therefore can never put it back after the writer's erase.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "core/stable_hash.h"

namespace ztm::cache {

// What a cache holds: serialized bytes plus the version they were read at (the ETag source).
struct CachedValue {
  CachedValue(std::string bytes, std::int64_t at_version)
      : data(std::move(bytes)), version(at_version), digest(tag_hash64(data)) {}
  std::string data;
  std::int64_t version = 0;
  // tag_hash64 of data (core/stable_hash.h), computed once when the value is made: a hit's ETag
  // (api/cache_policy.h) then costs no pass over the bytes (issue 12: it was 3 % of a cached read's
  // CPU).
  std::uint64_t digest = 0;
};
// Values are immutable once cached and shared by every reader that hits them.
using CachedPtr = std::shared_ptr<const CachedValue>;

// Counters since construction, plus the current size (entries, bytes).
struct CacheStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;              // includes gets that found an expired entry
  std::uint64_t inserts = 0;             // successful puts (replacing an existing key counts too)
  std::uint64_t evictions = 0;           // entries dropped to make room
  std::uint64_t expirations = 0;         // entries dropped because their TTL passed
  std::uint64_t stale_sets_refused = 0;  // puts refused because their lease was stale
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;  // sum of entry charges, as the backend counts them
};

class Cache {
 public:
  using Lease = std::uint64_t;

  virtual ~Cache() = default;

  // The cached value, or nullptr on a miss or when the entry has expired.
  virtual CachedPtr get(std::string_view key) = 0;

  // A token to pass to put(key, ...) after reading the store. Take it BEFORE the store read.
  virtual Lease lease(std::string_view key) = 0;

  // Stores value under key, unless an erase(key) happened since `lease` was taken (a stale set),
  // or the entry is too large for the cache; returns false when refused. Replaces any existing
  // value. REQUIRES: lease came from lease(key) on this cache, for the same key.
  virtual bool put(std::string_view key, CachedPtr value, Lease lease) = 0;

  // Delete-on-write invalidation: removes key (present or not) and makes every lease taken for
  // it before this call stale.
  virtual void erase(std::string_view key) = 0;

  virtual CacheStats stats() const = 0;
};

}  // namespace ztm::cache
