#pragma once
// The users resource's business rules, free of HTTP: create with a generated id, read through
// the cache, replace, merge-patch and delete with optimistic concurrency.
//
// The document a read returns carries the user's follow counts (app/user_json.h), read from the
// FollowStore when the document is loaded, so the cached document holds them too. They change
// without a write to the user: whoever changes them calls invalidate() (FollowService for the
// follower's `following`, the outbox relay for both users once it applied the followee's copy),
// so a count is stale in the cache no longer than a user edit is (docs/sharding.md, "Follows").
//
// Reads go through the cache layers (L1, then L2, then the store) by ReadThroughCache
// (cache/read_through_cache.h: leases, delete-on-write in L2 then L1, one load per key in flight,
// a cache failure never fails a read); every write commits to the store first, then invalidates
// the user's key there, even when the write failed (its outcome may be unknown).
//
// Read-your-writes: writes report their commit position (StoredUser::position,
// Committed::position; see storage/store.h) and a read may ask to be at least that fresh. Such a
// read bypasses the cache (no lookup, no fill): a cached entry carries no position, and the
// store routes the read to a host that has the write. So does a read of the latest commit (a CDN
// edge's fetch: docs/cdn.md), which the store answers from the primary. Other reads use the
// cache.

#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>
#include <vector>

#include "cache/cache.h"
#include "cache/read_through_cache.h"
#include "cache/shared_cache.h"
#include "core/ids.h"
#include "core/result.h"
#include "storage/follow_store.h"
#include "storage/store.h"

namespace ztm::app {

// What an If-Match header asks: nothing, "*" (the user must exist), or one of these versions.
struct Precondition {
  bool any = false;
  std::vector<std::int64_t> versions;
  bool present() const { return any || !versions.empty(); }
  bool matches(std::int64_t version) const;
};

// The body of GET /users/{id} (the user and its follow counts) and the user's version. The ETag
// is made from both (api/cache_policy.h, DocumentEtag): the counts change under one version.
using UserDocument = cache::CachedPtr;

class UserService {
 public:
  // `cache` (L1) and `shared` (L2) may each be null (that layer off). All references must
  // outlive the service (the composition root passes one Database as `store` and `follows`).
  UserService(storage::Store& store, storage::FollowStore& follows, cache::Cache* cache,
              IdGenerator& ids);
  UserService(storage::Store& store, storage::FollowStore& follows, cache::Cache* cache,
              cache::SharedCache* shared, IdGenerator& ids);

  // Overloads, not default arguments: see storage/store.h (GCC 12 and temporaries in co_await).
  boost::asio::awaitable<Result<UserDocument>> get(UserId id, storage::Consistency consistency);
  boost::asio::awaitable<Result<UserDocument>> get(UserId id) {
    return get(id, storage::Consistency{});
  }
  // get() in two steps, for a caller whose hits should cost no coroutine frame (issue 12):
  // cached() is the document when this process's cache (L1) has it, else null (also when
  // `consistency` reads past the cache); after a null, load() is the rest of get().
  UserDocument cached(UserId id, const storage::Consistency& consistency);
  boost::asio::awaitable<Result<UserDocument>> load(UserId id, storage::Consistency consistency);
  boost::asio::awaitable<Result<storage::UserPage>> list(UserId after, int limit,
                                                         storage::Consistency consistency);
  // REQUIRES: user validated (user_from_json); its id is replaced by a new one. With an
  // idempotency key, a repeat returns the user the first call created (storage/store.h).
  boost::asio::awaitable<Result<storage::StoredUser>> create(
      storage::User user, std::optional<std::string> idempotency_key);
  boost::asio::awaitable<Result<storage::StoredUser>> create(storage::User user) {
    return create(std::move(user), std::nullopt);
  }
  boost::asio::awaitable<Result<storage::StoredUser>> replace(storage::User user, Precondition pre);
  // Applies an RFC 7396 merge patch to the stored document, validates the result, and writes it
  // with compare-and-set; without If-Match a concurrent write makes it retry (a few times).
  boost::asio::awaitable<Result<storage::StoredUser>> patch(UserId id,
                                                            const boost::json::value& patch,
                                                            Precondition pre);
  boost::asio::awaitable<Result<storage::Committed>> remove(UserId id, Precondition pre);

  // The document of a user a write returned (its counts read now): the write's response, with
  // the same bytes and ETag as a GET that follows it.
  boost::asio::awaitable<Result<UserDocument>> document(const storage::StoredUser& written);

  // Forgets id's cached document (L2, then this process's L1; other servers' L1 copies expire
  // after their TTL): for a change to what the document shows that is no write of this service,
  // its follow counts. Call after the change, also when its outcome is unknown. Never fails.
  boost::asio::awaitable<void> invalidate(UserId id);

  // Reads that waited for a load of the same key already in flight here instead of loading.
  std::uint64_t coalesced_reads() const { return cache_.coalesced_reads(); }

 private:
  // The version to compare-and-set against, or nullopt for an unconditional write.
  boost::asio::awaitable<Result<std::optional<std::int64_t>>> expected_version(
      UserId id, const Precondition& pre);
  // The store's document for id (the user, then its counts): what the cache loads on a miss.
  boost::asio::awaitable<Result<UserDocument>> read_store(UserId id,
                                                          storage::Consistency consistency);

  storage::Store& store_;
  storage::FollowStore& follows_;
  IdGenerator& ids_;
  cache::ReadThroughCache cache_;
};

}  // namespace ztm::app
