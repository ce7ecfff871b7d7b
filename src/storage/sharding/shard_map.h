#pragma once
// The bucket map of docs/sharding.md: which shard holds a user's rows.
//
// A user id hashes to one of kBuckets buckets, fixed forever (every row will carry its bucket);
// the map assigns each bucket to a shard. Adding a shard then moves whole buckets, about 1/N of
// the users, where the book's `user_id % N` (kept as Mode::modulo, to measure it) moves about
// (N-1)/N. Pure logic, no I/O: the map's JSON comes from etcd (/ztm/shards/map), where an
// operator or a bug may have corrupted it, so parse_shard_map() checks all of it.

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/ids.h"
#include "core/mix64.h"
#include "core/result.h"
#include "storage/bucket.h"

namespace ztm::storage {

inline constexpr int kMaxShards = 256;
inline constexpr std::size_t kMaxShardNameBytes = 32;
inline constexpr std::size_t kMaxConninfoBytes = 1024;
inline constexpr std::size_t kMaxShardMapBytes = 256 * 1024;

struct Shard {
  std::string name;      // [a-z0-9_-]{1,32}, unique within a map
  std::string conninfo;  // the shard cluster's libpq conninfo; 1 to kMaxConninfoBytes, no controls
  bool operator==(const Shard&) const = default;
};

// A map is valid (validate()) when: version >= 1; 1 to kMaxShards shards with valid, distinct
// names and valid conninfo; in buckets mode, `buckets` has kBuckets entries, each an index into
// `shards`, and every fenced bucket is in [0, kBuckets); in modulo mode both are empty.
struct ShardMap {
  enum class Mode {
    buckets,  // a user's shard is buckets[bucket_of(id)]
    modulo,   // the book's id % shards.size(); buckets and fenced_buckets are unused
  };

  std::int64_t version = 1;  // every change bumps it; servers keep the newest they have seen
  Mode mode = Mode::buckets;
  std::vector<Shard> shards;  // in order: an index into it is a shard's identity in the map
  std::vector<int> buckets;   // bucket -> index into shards
  // Buckets in a move's cutover: their writes are held until the next version assigns them.
  std::set<int> fenced_buckets;

  // The index into `shards` of the shard that holds `id`'s rows, by mode.
  // REQUIRES: validate(*this).ok()
  int shard_of(UserId id) const;
  // Whether writes to `bucket` are held (a move's cutover). REQUIRES: 0 <= bucket < kBuckets
  bool fenced(int bucket) const { return fenced_buckets.contains(bucket); }

  // A version-1 map over `shards` with no fences; in buckets mode bucket b goes to shard
  // b % shards.size(), so every shard holds the floor or the ceiling of kBuckets / shards.size().
  // REQUIRES: 1 <= shards.size() <= kMaxShards
  static ShardMap even(std::vector<Shard> shards, Mode mode);

  bool operator==(const ShardMap&) const = default;
};

// Every rule of the comment on ShardMap; invalid_argument naming the first one broken.
Result<void> validate(const ShardMap& map);
// Whether `name` may name a shard: [a-z0-9_-]{1,kMaxShardNameBytes}.
bool valid_shard_name(std::string_view name);

// Whether `next` may replace `current` on a running server: a newer version, the same mode, and
// the same shards (name and conninfo) at the same indexes, possibly more appended at the end (a
// shard's index is its identity in positions and outbox ids; a drained shard stays listed with no
// buckets), and in modulo mode no more either (id % N over a new N would strand rows: modulo maps
// have no moves). invalid_argument naming the first difference. REQUIRES: both valid.
Result<void> check_successor(const ShardMap& current, const ShardMap& next);

// The map from its JSON text (docs/sharding.md, "The map"). invalid_json when the text is not
// JSON; invalid_argument, naming the problem, for anything else wrong: more than
// kMaxShardMapBytes, a missing, unknown or mistyped key, an unknown mode, a bucket naming no
// shard, a fenced bucket listed twice, or a map that validate() rejects. Never throws.
Result<ShardMap> parse_shard_map(std::string_view json);

// The JSON text that parse_shard_map() reads back as `map`. REQUIRES: validate(map).ok()
std::string to_json(const ShardMap& map);

// One bucket reassigned: from shard index `from` to shard index `to`.
struct Move {
  int bucket;
  int from;
  int to;
  bool operator==(const Move&) const = default;
};

// The fewest moves after which shards [0, shard_count) hold every bucket, each the floor or the
// ceiling of kBuckets / shard_count: shards beyond the map's are added at the end (they start
// empty), shards from shard_count on are drained. The shards holding the most buckets get the
// ceilings, which is what makes the count minimal; an over-full shard keeps its lowest-numbered
// buckets; freed buckets go in ascending order to the lowest-indexed shards short of their
// share. Deterministic; no move has from == to. Fences are not looked at.
// REQUIRES: validate(current).ok(), current.mode == Mode::buckets, 1 <= shard_count <= kMaxShards
std::vector<Move> plan_rebalance(const ShardMap& current, int shard_count);

// A plan that evens out weight rather than bucket counts (`ztm shard rebalance --by rows|load`):
// `weight[b]` is what bucket b costs its shard (its rows, its requests/s), and a shard's load is
// the sum over its buckets. First every bucket on a shard from shard_count on goes to the
// least-loaded shard of [0, shard_count), heaviest first; then, while the most-loaded shard
// carries more than (1 + kBalanceTolerance) times the mean, one of its buckets goes to the
// least-loaded: the one whose weight is nearest half their difference and below all of it (so
// the pair's heavier side always gets lighter). It stops when no such bucket is left: a bucket
// heavier than that difference stays, and the rest of its shard moves off it instead, which is
// how a hot bucket ends up alone on a shard. A bucket moved twice is one move, from where it
// was to where it ends; weightless buckets of a shard that keeps them never move. Deterministic
// (ties: the lowest index, the lowest bucket); no move has from == to; fences not looked at.
// REQUIRES: as plan_rebalance, and weight.size() == kBuckets, every weight finite and >= 0
inline constexpr double kBalanceTolerance = 0.10;
std::vector<Move> plan_balance(const ShardMap& current, int shard_count,
                               const std::vector<double>& weight);

// `map` with each move's bucket assigned to its `to`, and the version bumped by one. (Not named
// apply: argument-dependent lookup would find std::apply for a std::vector argument.) Fences are
// kept. Throws std::invalid_argument (a bug: a plan applied to a map it was not made for) unless
// every move's bucket is in range and held by its `from`, and its `to` indexes map.shards: a
// caller adding shards appends them to `shards` first, and removes drained ones after.
// REQUIRES: map.mode == Mode::buckets
ShardMap apply_moves(const ShardMap& map, const std::vector<Move>& moves);

}  // namespace ztm::storage
