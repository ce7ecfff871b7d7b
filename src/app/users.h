#pragma once
// The users resource's business rules, free of HTTP: create with a generated id, read through
// the cache, replace, merge-patch and delete with optimistic concurrency.
//
// Cache protocol (look-aside, as in "Scaling Memcache at Facebook"): a read takes a lease, reads
// the store on a miss and fills the cache only if no write invalidated the key meanwhile; a
// write commits to the store first, then deletes the key (delete, never set), so a cached value
// is never newer than the store and never older than the last completed write.
//
// Two layers (both optional): L1, this process's Cache, then L2, the SharedCache every web
// server shares (cache/shared_cache.h). A read goes L1 -> L2 -> store and fills back up: the L1
// lease is taken before the L2 lookup, the L2 lease (one per key across all servers: the others
// wait for its fill) before the store read. A write deletes in L2 first, then in L1: the other
// order would let a local reader refill L1 from the not yet deleted L2 value. Other servers' L1
// copies are not deleted; they expire after their (short) TTL, which bounds how long a write
// may go unseen there (docs/cache.md: why a TTL and not a broadcast). A cache failure never fails
// a read: it falls back to the store.
//
// With a cache on, concurrent misses of one key in this process share one load (L1 lease, L2,
// store, L1 fill: cache/single_flight.h), so a burst of misses reads the store once per process
// even with every L2 node down. A write forgets the key's load in flight after committing, so a
// read that starts after the write never gets the value from before it.
//
// Read-your-writes: writes report their commit position (StoredUser::position,
// Committed::position; see storage/store.h) and a read may ask to be at least that fresh. Such a
// read bypasses the cache (no lookup, no fill): a cached entry carries no position, and the
// store routes the read to a host that has the write. Reads without a position use the cache.

#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>
#include <vector>

#include "cache/cache.h"
#include "cache/shared_cache.h"
#include "cache/single_flight.h"
#include "core/ids.h"
#include "core/result.h"
#include "storage/store.h"

namespace ztm {

// What an If-Match header asks: nothing, "*" (the user must exist), or one of these versions.
struct Precondition {
  bool any = false;
  std::vector<std::int64_t> versions;
  bool present() const { return any || !versions.empty(); }
  bool matches(std::int64_t version) const;
};

// The body of GET /users/{id} and the version its ETag is made from.
using UserDocument = CachedPtr;

class UserService {
 public:
  // `cache` (L1) and `shared` (L2) may each be null (that layer off). All references must
  // outlive the service.
  UserService(Store& store, Cache* cache, IdGenerator& ids);
  UserService(Store& store, Cache* cache, SharedCache* shared, IdGenerator& ids);

  // Overloads, not default arguments: see storage/store.h (GCC 12 and temporaries in co_await).
  boost::asio::awaitable<Result<UserDocument>> get(UserId id, Consistency consistency);
  boost::asio::awaitable<Result<UserDocument>> get(UserId id) { return get(id, Consistency{}); }
  boost::asio::awaitable<Result<UserPage>> list(UserId after, int limit, Consistency consistency);
  // REQUIRES: user validated (user_from_json); its id is replaced by a new one. With an
  // idempotency key, a repeat returns the user the first call created (storage/store.h).
  boost::asio::awaitable<Result<StoredUser>> create(User user,
                                                   std::optional<std::string> idempotency_key);
  boost::asio::awaitable<Result<StoredUser>> create(User user) {
    return create(std::move(user), std::nullopt);
  }
  boost::asio::awaitable<Result<StoredUser>> replace(User user, Precondition pre);
  // Applies an RFC 7396 merge patch to the stored document, validates the result, and writes it
  // with compare-and-set; without If-Match a concurrent write makes it retry (a few times).
  boost::asio::awaitable<Result<StoredUser>> patch(UserId id, const boost::json::value& patch,
                                                  Precondition pre);
  boost::asio::awaitable<Result<Committed>> remove(UserId id, Precondition pre);

  // Reads that waited for a load of the same key already in flight here instead of loading.
  std::uint64_t coalesced_reads() const { return loads_.joined(); }

 private:
  // The version to compare-and-set against, or nullopt for an unconditional write.
  boost::asio::awaitable<Result<std::optional<std::int64_t>>> expected_version(UserId id,
                                                                               const Precondition& pre);
  // An L1 miss: the L1 lease, the document through L2, the L1 fill. One at a time per key.
  boost::asio::awaitable<Result<UserDocument>> load(UserId id);
  // The store's document for id, through L2 when there is one (its lease, then its fill).
  boost::asio::awaitable<Result<UserDocument>> read_through_l2(UserId id);
  boost::asio::awaitable<void> invalidate(UserId id);

  Store& store_;
  Cache* cache_;
  SharedCache* shared_ = nullptr;
  IdGenerator& ids_;
  SingleFlight<Result<UserDocument>> loads_;
};

}  // namespace ztm
