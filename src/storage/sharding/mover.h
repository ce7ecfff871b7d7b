#pragma once
// Moving one bucket between two PostgreSQL shards, online (docs/sharding.md, "Moving a
// bucket"): PostgreSQL's own logical replication copies it, the map in etcd switches it.
//
// The steps, each recorded in etcd (/ztm/shards/moves: every move in flight) before it is
// taken, each
// idempotent, so that a mover killed at any point is finished or rolled back by the next run:
//   copy      the target disowns the bucket (its fence: nothing but the copy writes it there)
//             and drops any rows of it a failed move left; the source publishes the bucket's
//             rows (a publication filtered on `bucket`), the target subscribes with the copy.
//             Wait until the initial copy is done.
//   cutover   map v+1 fences the bucket (the web tier holds its writes); the source disowns it
//             (a server that missed the fence is refused, Errc::moved); wait until the target's
//             rows equal the source's (per table the rows and the sum of each row's md5: exact,
//             since nothing writes the bucket now); drop the forward subscription; the target
//             publishes the bucket back and the source subscribes (no copy), so the old copy
//             stays current; the target owns the bucket; map v+2 assigns it to the target,
//             unfenced, and the held writes go there. If the target does not catch up within
//             `cutover_wait`, the cutover is undone (source owns again, map unfenced): the
//             copy goes on and the move can be retried.
//   switched  reverse replication runs. `finalise` drops it and deletes the bucket's rows from
//             the source (with triggers off: not a user deletion); `rollback` is the cutover
//             backwards and loses nothing written in between.
// `abort` (before the switch) drops the copy and leaves everything as before the move.
//
// The mover needs a role that may create subscriptions and set session_replication_role (a
// superuser in PostgreSQL 15) on both shards, and the target must reach the source by the
// source's conninfo (and back). Blocking: an operator's tool (ztm shard), never on a server.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "etcd/client.h"
#include "storage/sharding/shard_map.h"

namespace ztm::storage {

// What a bucket holds on one shard: per table its rows and the sum of each row's md5 (its first
// 64 bits; rows rendered with the same TimeZone and DateStyle on both shards), free of order
// and collation.
struct BucketDigest {
  struct Table {
    std::string name;
    std::int64_t rows = 0;
    std::string md5_sum;  // "" when no rows
    bool operator==(const Table&) const = default;
  };
  std::vector<Table> tables;
  std::int64_t rows() const;
  bool operator==(const BucketDigest&) const = default;
};

// The tables whose rows a user owns (each has a `bucket` column: pg_migrations.cc, 11).
const std::vector<std::string>& bucket_tables();

// The PostgreSQL half of a move: each call one idempotent step on the two shards.
class BucketCopy {
 public:
  BucketCopy(int bucket, std::string source_conninfo, std::string target_conninfo,
             std::chrono::milliseconds timeout = std::chrono::seconds(10));

  Result<void> start_copy();
  // Whether every table's initial copy is done (the subscription streams changes since).
  Result<bool> copied();
  Result<BucketDigest> digest_source();
  Result<BucketDigest> digest_target();
  Result<void> fence_source();
  Result<void> unfence_source();
  Result<void> fence_target();
  Result<void> unfence_target();
  // Polls both digests until they are equal, for at most `bound`: false if they never were.
  Result<bool> wait_equal(std::chrono::milliseconds bound);
  // Drops the forward subscription and publication, then starts the reverse ones.
  Result<void> reverse();
  // Whether the reverse subscription exists (the cutover got that far).
  Result<bool> reversed();
  // Drops the reverse subscription and publication (rollback, finalise).
  Result<void> drop_reverse();
  // Drops the forward subscription and publication (abort).
  Result<void> drop_forward();
  // Deletes the bucket's rows on one side, triggers off (a move's cleanup, not a deletion).
  Result<std::int64_t> purge_source();
  Result<std::int64_t> purge_target();

 private:
  int bucket_;
  std::string source_, target_;
  std::chrono::milliseconds timeout_;
};

enum class MoveStep { copy, cutover, switched, rollback };
std::string_view to_string(MoveStep step);

// A move as recorded in etcd.
struct MoveRecord {
  int bucket = 0;
  std::string from, to;  // shard names
  MoveStep step = MoveStep::copy;
  bool operator==(const MoveRecord&) const = default;
};
std::string to_json(const MoveRecord& record);
Result<MoveRecord> parse_move_record(std::string_view text);

struct MoverOptions {
  std::string map_key = "/ztm/shards/map";
  std::string moves_key = "/ztm/shards/moves";    // {"moves": [MoveRecord...]}
  std::chrono::milliseconds copy_wait{120'000};   // the initial copy
  std::chrono::milliseconds cutover_wait{5'000};  // the target catching up, writes held
  std::chrono::milliseconds timeout{10'000};      // each statement, each etcd call
  // rebalance: from a bucket's switch to its finalise (writes routed by the older map, held
  // for a connection or a failover, still reach the source's copy, kept current till then).
  std::chrono::milliseconds finalise_grace{5'000};
  // Called with a line of progress ("copy: 3 of 11 tables", "cutover: 214 ms"); may be empty.
  std::function<void(const std::string&)> progress;
  // A test seam: stop (as if killed) right after recording this step, before taking it.
  std::optional<MoveStep> crash_after_recording;
};

struct MoveReport {
  MoveRecord record;
  std::int64_t rows = 0;                  // the bucket's rows at the cutover
  std::chrono::milliseconds fenced{0};    // map fenced -> map switched: writes held this long
  std::chrono::milliseconds catch_up{0};  // source fenced -> target equal
};

// What `ztm shard status` shows.
struct ShardStatus {
  std::string name;
  int buckets = 0;          // buckets the map assigns it
  std::int64_t users = -1;  // its users rows (every bucket it holds, moves included); -1: unknown
  std::string error;        // why it could not be read
};
struct MoveStatus {
  MoveRecord record;
  std::int64_t lag_bytes = -1;  // WAL the subscriber has not confirmed yet; -1: unknown
};
struct MapStatus {
  ShardMap map;
  std::vector<ShardStatus> shards;
  std::vector<MoveStatus> moves;
};

// The orchestration over etcd: reads the map, records each step, runs BucketCopy's steps.
class Mover {
 public:
  Mover(etcd::Client& etcd, MoverOptions options);

  // Moves `bucket` to shard `to` up to `switched` (then finalise or rollback), resuming a move
  // of the bucket recorded earlier. invalid_argument: no such shard, or the bucket is there
  // already; conflict: another move of the bucket, to elsewhere, is recorded.
  Result<MoveReport> move(int bucket, const std::string& to);
  // Ends a switched move: drops reverse replication, deletes the source's rows of the bucket.
  Result<void> finalise(int bucket);
  // Undoes a move at any step; after the switch, the cutover backwards (nothing is lost).
  Result<MoveReport> rollback(int bucket);
  // The moves recorded now.
  Result<std::vector<MoveRecord>> moves();
  // The map, each shard's buckets and rows, the moves with their lag.
  Result<MapStatus> status();
  // Writes a first map (only if the key has none): invalid_argument if it is not valid,
  // precondition_failed if there is one.
  Result<void> init(const ShardMap& map);
  // Appends a shard to the map (no buckets yet) after checking it answers and is migrated.
  Result<void> add_shard(const Shard& shard);
  // Moves buckets (plan_rebalance) until `shards` shards hold as many each, one at a time, each
  // moved and finalised before the next. Stops at the first failure.
  Result<int> rebalance(int shards);

 private:
  struct State;
  Result<State> load(int bucket);
  Result<void> save_moves(State& state);
  Result<void> record(State& state, MoveStep step);
  Result<void> forget(State& state);
  // Applies `change` to the map and writes the next version (compare-and-swap, re-read and
  // re-applied when someone else wrote first).
  Result<void> publish(State& state, const std::function<void(ShardMap&)>& change);
  Result<void> set_map_fence(State& state, bool fenced);
  Result<void> assign(State& state, const std::string& shard);
  BucketCopy copy_of(const State& state) const;
  Result<MoveReport> cutover(State& state);
  void say(const std::string& line) const;

  etcd::Client& etcd_;
  MoverOptions options_;
};

}  // namespace ztm::storage
