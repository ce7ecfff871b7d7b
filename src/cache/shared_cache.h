#pragma once
// The shared cache tier (L2), as the application sees it: one cache that every web server reads
// and invalidates, e.g. a ring of Redis nodes (cache/redis/redis_cache_tier.h).
//
// Unlike Cache (cache.h, the in-process L1) it is asynchronous and it coordinates ACROSS
// processes: a miss hands out a lease, a memcache lease as in "Scaling Memcache at Facebook":
//
//    auto r = co_await l2.get_or_lease(key);
//    hit         -> use r.value
//    lease       -> read the store; co_await l2.fill(key, value, r.lease)   (or release on error)
//    busy        -> another process holds the lease and did not fill within the tier's bounded
//                   wait: read the store, do not fill
//    unavailable -> the tier cannot serve this key now (its nodes are down): read the store
//
// and every write to the store is followed by co_await l2.erase(key) (delete-on-write); the one
// caller that follows this protocol is ReadThroughCache (cache/read_through_cache.h). erase
// removes the value and the lease, so a filler whose store read predates the write finds its
// lease gone and its fill refused: a slow reader never writes an older value over a newer delete.
// Of the many concurrent misses of one key (on any number of web servers) one gets the lease and
// reads the store; the others wait for its fill, so a cold key costs one store read, not one per
// request (thundering herd).
//
// Contract for every method:
//  - Thread-safe; callable from coroutines on any event loop. `key` must stay valid until the
//    call completes (callers pass a view of a local they await at once).
//  - Never fails a request: node failures, timeouts and refusals are outcomes (unavailable,
//    false), never exceptions, and each call is bounded in time by the tier's timeouts.
//  - Entries expire (TTL) and may vanish at any time; the store is the truth.

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "cache/cache.h"

namespace ztm::cache {

// Who may fill a key after a miss: pass it back, unchanged, to fill() or release() of the tier
// that granted it. `token` identifies this lease among the key's leases; `tag` is the tier's own
// note of where it granted it (the Redis ring: which node, and whether a stand-in): callers never
// read either. A value, not a handle: it copies into the caller's coroutine frame without an
// allocation of its own, and a fake tier may ignore `tag`.
struct SharedLease {
  std::string token;
  std::uint64_t tag = 0;
};

struct SharedLookup {
  enum class Kind { hit, lease, busy, unavailable };
  Kind kind = Kind::unavailable;
  CachedPtr value;    // hit
  SharedLease lease;  // lease
};

// The lease protocol's counters since construction, whatever the backend (the Redis ring keeps
// its own ring counters too: RedisCacheTier::ring_stats).
struct SharedCacheStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;              // lookups that got a lease
  std::uint64_t busy_waits = 0;          // lookups that found another's lease and waited
  std::uint64_t busy_gave_up = 0;        // ... and gave up waiting (read the store, no fill)
  std::uint64_t unavailable = 0;         // lookups the tier could not serve
  std::uint64_t fills = 0;               // fills stored
  std::uint64_t stale_sets_refused = 0;  // fills refused: an erase took the lease meanwhile
  std::uint64_t erases = 0;
};

class SharedCache {
 public:
  virtual ~SharedCache() = default;

  virtual boost::asio::awaitable<SharedLookup> get_or_lease(std::string_view key) = 0;
  // Stores value under key for the tier's TTL if `lease` is still the key's lease, and drops the
  // lease; returns false when refused (stale) or when the tier failed.
  virtual boost::asio::awaitable<bool> fill(std::string_view key, CachedPtr value,
                                            SharedLease lease) = 0;
  // Gives a lease back without filling (the store read failed), so waiters need not wait it out.
  virtual boost::asio::awaitable<void> release(std::string_view key, SharedLease lease) = 0;
  // Delete-on-write: removes the value and any lease of key (everywhere the tier keeps a copy).
  virtual boost::asio::awaitable<void> erase(std::string_view key) = 0;

  // Counts one request for key, for hot-key detection; cheap and non-blocking, called on every
  // read including those an L1 serves.
  virtual void record_access(std::string_view key) = 0;

  virtual SharedCacheStats stats() const = 0;
  // Refreshes what the tier cannot count as it serves (the nodes' own evictions); the Node calls
  // it every few seconds on its background loop. Its failures are not request failures.
  virtual boost::asio::awaitable<void> refresh_stats() { co_return; }
};

}  // namespace ztm::cache
