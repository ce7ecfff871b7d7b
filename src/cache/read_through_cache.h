#pragma once
// ReadThroughCache: the read and invalidate paths over the two cache layers, for any resource.
// A caller hands get() a key and a loader (the store read); every cache step is here.
//
// Cache protocol (look-aside, as in "Scaling Memcache at Facebook"): a read takes a lease, loads
// on a miss and fills the cache only if no write invalidated the key meanwhile; a write commits
// to the store first, then calls invalidate(key) (delete, never set), so a cached value is never
// newer than the store and never older than the last completed write.
//
// Two layers (both optional): L1, this process's Cache (cache.h), then L2, the SharedCache every
// web server shares (shared_cache.h). A read goes L1 -> L2 -> loader and fills back up: the L1
// lease is taken before the L2 lookup, the L2 lease (one per key across all servers: the others
// wait for its fill) before the load. A write deletes in L2 first, then in L1: the other order
// would let a local reader refill L1 from the not yet deleted L2 value. Other servers' L1 copies
// are not deleted; they expire after their (short) TTL, which bounds how long a write may go
// unseen there (docs/cache.md: why a TTL and not a broadcast). A cache failure never fails a
// read: it falls back to the loader. get fails only with the loader's error (or `unavailable`
// when the load it joined was cut off).
//
// With a cache on, concurrent misses of one key in this process share one load (L1 lease, L2,
// loader, L1 fill: single_flight.h), so a burst of misses runs the loader once per process even
// with every L2 node down. invalidate forgets the key's load in flight after both deletes, so a
// read that starts after the write never gets the value from before it (forgetting first would
// let a load started between the forget and the L2 delete read the old L2 value and hand it to
// readers arriving after the write).
//
// Reads that must be fresher than any cache (read-your-writes: a read at a commit position)
// do not come here: a cached entry carries no position, so the caller reads the store itself.
//
// Thread-safe: get and invalidate may run concurrently from coroutines on any event loop.

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <string_view>

#include "cache/cache.h"
#include "cache/shared_cache.h"
#include "cache/single_flight.h"
#include "core/result.h"

namespace ztm::cache {

class ReadThroughCache {
 public:
  // Reads the value from the source of truth (the store). Its value must not be null.
  using Loader = std::function<boost::asio::awaitable<Result<CachedPtr>>()>;

  // `l1` and `l2` may each be null (that layer off; both null: every get runs the loader). Both
  // must outlive this object.
  ReadThroughCache(Cache* l1, SharedCache* l2);
  ReadThroughCache(const ReadThroughCache&) = delete;
  ReadThroughCache& operator=(const ReadThroughCache&) = delete;

  // The cached value for key, else the loader's (filling L2 and L1 on success). Counts the
  // access for L2's hot-key detection. `key` must stay valid until the call completes (pass a
  // view of a local and await at once); `load` is called at most once, only on a miss of both
  // layers, and not at all when this read joins another's load of the same key. Build the call
  // before awaiting it (`auto read = c.get(key, loader); co_await std::move(read);`): GCC 12
  // destroys a class-type temporary argument inside co_await twice (storage/store.h).
  boost::asio::awaitable<Result<CachedPtr>> get(std::string_view key, Loader load);
  // get() in two steps, for a caller whose hits should cost no coroutine frame (the cached read
  // of a user, issue 12): hit() is L1's value or null (the access counted as get() counts it),
  // and after a null, miss() is the rest of get() (same rules).
  CachedPtr hit(std::string_view key);
  boost::asio::awaitable<Result<CachedPtr>> miss(std::string_view key, Loader load);

  // Delete-on-write: call after every write to the key's source, committed or of unknown outcome.
  // Deletes in L2, then in L1, then forgets the key's load in flight. Never fails.
  boost::asio::awaitable<void> invalidate(std::string_view key);

  // Reads that waited for a load of the same key already in flight here instead of loading.
  std::uint64_t coalesced_reads() const { return loads_.joined(); }

 private:
  // An L1 miss: the L1 lease, the value through L2, the L1 fill. One at a time per key.
  boost::asio::awaitable<Result<CachedPtr>> load_through(std::string_view key, const Loader& load);
  // The loader's value, through L2 when there is one (its lease, then its fill or release).
  boost::asio::awaitable<Result<CachedPtr>> load_through_l2(std::string_view key,
                                                            const Loader& load);

  Cache* const l1_;
  SharedCache* const l2_;
  SingleFlight<Result<CachedPtr>> loads_;
};

}  // namespace ztm::cache
