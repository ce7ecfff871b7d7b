#pragma once
// Follows (docs/sharding.md, "Follows: denormalised on both shards"). An edge is two rows, each
// carrying the other user's display name, so that a page of either side is one indexed query on
// one shard:
//   following(follower -> followee, followee_name)  on the follower's shard, written by follow()
//                                                    and unfollow();
//   followers(followee <- follower, follower_name)  on the followee's shard, written by
//                                                    apply_follow() from the outbox.
// follow()/unfollow() change the first row and write an outbox message (topic "follow", payload
// follow_payload()) in ONE transaction, only when they changed the row; the outbox relay
// (app/outbox_relay.h) hands each message to apply_follow() and deletes it after the apply
// succeeded. So the second row converges to the first after any crash, and a message applied
// again (a crash before its delete, two relays) changes nothing.
//
// Versions are per pair, kept in the following row: every change of the pair (a follow of an
// absent or removed edge, an unfollow of a present one) bumps it, and its message carries it. An
// unfollow keeps the row as a tombstone (inactive, with its version), so a later follow counts on
// from there. The row belongs to the follower's bucket, so a bucket move (sharding/mover.h) copies
// the versions along with it: the pair's next change is newer whichever shard writes it (outbox
// ids would not be: they are per shard). The followers row keeps the version that set it, and a
// removed edge stays there as a tombstone too: an older message (a replay, a slow relay) never
// overrides a newer one, whatever order they are applied in. Tombstones are never collected.
//
// Counts: a celebrity's followers would serialise every follow on one counter row, so the count
// is kept in kFollowerCountSlots rows per user (slot = mix64(follower) % kFollowerCountSlots),
// changed by apply_follow in its transaction and summed on read. The following count is the
// user's own present rows counted over the primary key: one user's follows are no hot spot.
//
// Contract (as store.h): expected failures are Result errors — invalid_argument (ids not
// positive, a user following themself, a bad name, a bad limit), unavailable, overloaded; never
// blocks the caller's thread. Every backend passes tests/storage/follow_conformance.h.

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "core/ids.h"
#include "core/result.h"

namespace ztm::storage {

inline constexpr int kFollowerCountSlots = 16;
inline constexpr std::size_t kMaxFollowNameBytes = 512;

// The other user of an edge, as the page's owner sees it.
struct FollowEdge {
  UserId user = 0;
  std::string name;  // their display name when the edge was written
  friend bool operator==(const FollowEdge&, const FollowEdge&) = default;
};

struct FollowPage {
  std::vector<FollowEdge> users;  // by user id
  bool more = false;              // another page follows (cursor: the last user's id)
};

struct FollowCounts {
  std::int64_t followers = 0;
  std::int64_t following = 0;
  friend bool operator==(const FollowCounts&, const FollowCounts&) = default;
};

// One outbox message of topic "follow", as apply_follow takes it.
struct FollowChange {
  enum class Op { add, remove };
  Op op = Op::add;
  UserId follower = 0;
  UserId followee = 0;
  std::string follower_name;  // add only
  std::int64_t version = 0;   // the pair's version after this change (1, 2, ...)
};

class FollowStore {
 public:
  virtual ~FollowStore() = default;

  // On the follower's shard: makes following(follower -> followee) present unless it is, with
  // the pair's next version, and then its outbox message. Whether it changed the row.
  virtual boost::asio::awaitable<Result<bool>> follow(UserId follower, UserId followee,
                                                      std::string follower_name,
                                                      std::string followee_name) = 0;
  // On the follower's shard: makes the row a tombstone (removed, with the pair's next version)
  // if it is present, and then its outbox message. Whether it changed the row.
  virtual boost::asio::awaitable<Result<bool>> unfollow(UserId follower, UserId followee) = 0;
  // On the followee's shard: makes followers(followee <- follower) what the change says unless a
  // change of the same or a newer version was applied. Whether it changed anything.
  virtual boost::asio::awaitable<Result<bool>> apply_follow(FollowChange change) = 0;
  // Whom `user` follows (present rows only) with an id after `after`, by id, at most `limit`
  // (1..1000).
  virtual boost::asio::awaitable<Result<FollowPage>> list_following(UserId user, UserId after,
                                                                    int limit) = 0;
  // Who follows `user` with an id after `after`, by id, at most `limit` (1..1000).
  virtual boost::asio::awaitable<Result<FollowPage>> list_followers(UserId user, UserId after,
                                                                    int limit) = 0;
  // Both counts (zeros for a user with no edges).
  virtual boost::asio::awaitable<Result<FollowCounts>> follow_counts(UserId user) = 0;
};

// invalid_argument unless both ids are positive and differ, and the names have at most
// kMaxFollowNameBytes bytes and no NUL.
Result<void> check_follow(UserId follower, UserId followee, const std::string& follower_name = {},
                          const std::string& followee_name = {});
// invalid_argument unless 1 <= limit <= 1000.
Result<void> check_follow_limit(int limit);
// The counter slot a follower's edge counts in: mix64(follower) % kFollowerCountSlots.
int follower_count_slot(UserId follower);
// The outbox payload: {"op":"add","follower":1,"followee":2,"version":3,"follower_name":"Ada L"}
// or {"op":"remove","follower":1,"followee":2,"version":4}.
std::string follow_payload(const FollowChange& change);
// The change in an outbox message of topic "follow"; invalid_argument when the payload is not
// one (a version that is missing or not positive included).
Result<FollowChange> parse_follow_payload(const std::string& payload);

}  // namespace ztm::storage
