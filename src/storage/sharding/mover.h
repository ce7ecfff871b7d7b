#pragma once
// Moving a set of buckets between two PostgreSQL shards, online (docs/sharding.md, "Moving a
// bucket"): PostgreSQL's own logical replication copies them, the map in etcd switches them.
// A move carries every bucket of its set through each step at once (one publication, one
// subscription, one fence, one map version per step), so 200 buckets cost a few moves, not 200.
//
// The steps, each recorded in etcd (/ztm/shards/moves: every move in flight) before it is
// taken, each idempotent, so that a mover killed at any point is finished or rolled back by the
// next run:
//   copy      the target disowns the buckets (its fence: nothing but the copy writes them there)
//             and drops any rows of them a failed move left; the source publishes the buckets'
//             rows (a publication filtered on `bucket IN (...)`), the target subscribes with
//             the copy. Wait until the initial copy is done.
//   cutover   map v+1 fences the buckets (the web tier holds their writes); the source disowns
//             them (a server that missed the fence is refused, Errc::moved); wait until the
//             target's rows equal the source's (per table the rows and the sum of each row's
//             md5: exact, since nothing writes the buckets now); drop the forward subscription;
//             the target publishes the buckets back and the source subscribes (no copy), so
//             the old copy stays current; the target owns them; map v+2 assigns them to the
//             target, unfenced, and the held writes go there. If the target does not catch up
//             within `cutover_wait`, the cutover is undone (source owns again, map unfenced):
//             the copy goes on and the move can be retried.
//   switched  reverse replication runs. `finalise` drops it and deletes the buckets' rows from
//             the source (with triggers off: not a user deletion); `rollback` is the cutover
//             backwards and loses nothing written in between.
// `abort` (before the switch) drops the copy and leaves everything as before the move.
//
// The mover needs a role that may create subscriptions and set session_replication_role (a
// superuser in PostgreSQL 15) on both shards (MoverOptions::admin_user, when the map's role is
// not one), and the target must reach the source by the
// source's conninfo (and back). Blocking: an operator's tool (ztm shard), never on a server.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "etcd/client.h"
#include "storage/sharding/shard_map.h"

namespace ztm::storage {

// "bucket 17", or "3 buckets 3,7,11" (at most `shown` listed, then "…"): for progress lines.
std::string describe_buckets(const std::vector<int>& buckets, std::size_t shown = 3);

class BucketCopy;  // bucket_copy.h

// finalising: the reverse replication is being dropped and the source's rows purged; only
// finalise goes on from there (a rollback would give the buckets back to a stale source).
enum class MoveStep { copy, cutover, switched, finalising, rollback };
std::string_view to_string(MoveStep step);

// A move as recorded in etcd: {"buckets": [...ascending...], "from", "to", "step"}.
struct MoveRecord {
  std::vector<int> buckets;  // ascending, distinct, each in [0, kBuckets), at least one
  std::string from, to;      // shard names
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
  // rebalance: from a move's switch to its finalise (writes routed by the older map, held
  // for a connection or a failover, still reach the source's copy, kept current till then).
  std::chrono::milliseconds finalise_grace{5'000};
  // The role the mover logs in as on every shard instead of the map's (the web tier's, which
  // should not be a superuser): `ztm shard --admin-user`. Empty: the map's own.
  std::string admin_user, admin_password;
  // Called with a line of progress ("copy: 3 of 11 tables", "cutover: 214 ms"); may be empty.
  std::function<void(const std::string&)> progress;
  // A test seam: stop (as if killed) right after recording this step, before taking it.
  std::optional<MoveStep> crash_after_recording;
};

struct MoveReport {
  MoveRecord record;
  std::int64_t rows = 0;                  // the buckets' rows right after the switch; -1 unknown
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

// What `rebalance` evens out across shards.
enum class Balance {
  buckets,  // how many buckets each holds (plan_rebalance): the fewest moves
  rows,     // the rows its buckets hold in bucket_tables(), counted on every shard
  load,     // the requests/s its buckets get, from the servers' load reports (load_report.h)
};
std::string_view to_string(Balance by);

struct RebalanceOptions {
  int shards = 0;  // shards [0, shards) of the map end up holding every bucket
  Balance by = Balance::buckets;
  int batch = 64;        // at most this many buckets a move, 1..kBuckets
  bool dry_run = false;  // say the plan (and each shard's weight before and after), move nothing
};

// The orchestration over etcd: reads the map, records each step, runs BucketCopy's steps.
class Mover {
 public:
  Mover(etcd::Client& etcd, MoverOptions options);

  // Moves `buckets` (all held by one shard) to shard `to` up to `switched` (then finalise or
  // rollback), resuming the move of exactly this set to `to` if one is recorded.
  // invalid_argument: an empty set, a bucket out of range or listed twice, no such shard, the
  // buckets on different shards or on `to` already; conflict: a recorded move holds one of the
  // buckets and is not this one (the message names it), or is being rolled back.
  Result<MoveReport> move(std::vector<int> buckets, const std::string& to);
  // Ends the switched move that holds `bucket`: drops reverse replication, deletes the source's
  // rows of all its buckets.
  Result<void> finalise(int bucket);
  // Undoes the move that holds `bucket`, at any step; after the switch, the cutover backwards
  // (nothing is lost).
  Result<MoveReport> rollback(int bucket);
  // rollback, refused (conflict) once the move holding `bucket` has switched: an abort never
  // moves writes back from the target.
  Result<MoveReport> abort(int bucket);
  // The moves recorded now.
  Result<std::vector<MoveRecord>> moves();
  // The map, each shard's buckets and rows, the moves with their lag.
  Result<MapStatus> status();
  // Writes a first map (only if the key has none): invalid_argument if it is not valid,
  // precondition_failed if there is one.
  Result<void> init(const ShardMap& map);
  // Appends a shard to the map (no buckets yet) after checking it answers and is migrated.
  Result<void> add_shard(const Shard& shard);
  // Moves buckets until `shards` shards hold as many each (Balance::buckets, plan_rebalance)
  // or carry about the same rows or load (plan_balance over each bucket's rows, or its
  // requests/s in the servers' reports): first it finishes every recorded move (resumed to the
  // switch, then finalised), then it groups the plan by (from, to) and cuts each group into
  // moves of at most `batch` buckets, run one after another. Each switched move is finalised
  // once `finalise_grace` has passed since its switch, while the next ones run (at most
  // kMaxSwitched wait at a time: each holds a replication slot). Stops at the first failure;
  // running it again finishes the job (by rows or load: a new plan from what is measured then).
  // Returns the buckets moved (a dry run: planned, and recorded moves left alone).
  // invalid_argument: `shards` or `batch` out of range; unavailable: a shard's rows cannot be
  // counted, or no server reported its load in the last 30 s.
  Result<int> rebalance(const RebalanceOptions& options);
  static constexpr std::size_t kMaxSwitched = 4;

 private:
  struct State;
  // The map and the moves (State::move unset).
  Result<State> load();
  // load(), with State::move the recorded move holding `bucket`; invalid_argument if none.
  Result<State> load_move(int bucket);
  Result<void> consistent(const State& state, const MoveRecord& record) const;
  Result<void> save_moves(State& state);
  Result<void> record(State& state, MoveStep step);
  Result<void> forget(State& state);
  // Applies `change` to the map and writes the next version (compare-and-swap, re-read and
  // re-applied when someone else wrote first).
  Result<void> publish(State& state, const std::function<void(ShardMap&)>& change);
  Result<void> set_map_fence(State& state, bool fenced);
  Result<void> assign(State& state, const std::string& shard);
  BucketCopy copy_of(const State& state) const;
  // `shard` with the admin role's login in its conninfo (MoverOptions::admin_user), for every
  // session and subscription the mover opens; the map keeps the web tier's.
  Shard login(const Shard& shard) const;
  Result<MoveReport> cutover(State& state);
  // The moves `options` asks of `map`, each shard's weight before and after said.
  Result<std::vector<Move>> plan(const ShardMap& map, const RebalanceOptions& options);
  // Each bucket's rows on the shard the map gives it (kBuckets entries).
  Result<std::vector<double>> rows_per_bucket(const ShardMap& map);
  // Each bucket's requests/s, estimated from the fresh load reports (kBuckets entries).
  Result<std::vector<double>> requests_per_bucket(const ShardMap& map);
  void say(const std::string& line) const;
  // "<context_><buckets> <from> -> <to>: <what>"
  void say_move(const State& state, std::string_view what) const;

  etcd::Client& etcd_;
  MoverOptions options_;
  std::string context_;  // rebalance: "move 2 of 4: ", before each line of the move it runs
};

}  // namespace ztm::storage
