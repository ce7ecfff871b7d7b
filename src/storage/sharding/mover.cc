#include "storage/sharding/mover.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <boost/json.hpp>
#include <deque>
#include <map>
#include <thread>

#include "core/clock.h"
#include "core/run_sync.h"
#include "postgres/session.h"
#include "storage/sharding/bucket_copy.h"
#include "storage/sharding/load_report.h"

namespace ztm::storage {
namespace {

using Clock = std::chrono::steady_clock;
namespace json = boost::json;

// How often the initial copy's progress is polled.
constexpr auto kCopyPoll = std::chrono::milliseconds(50);

// Refuses a move between shards at different schema versions (`ztm migrate` run on one and
// not yet on the other): the subscription's apply would stall on a column one side lacks, and
// the digests would compare different rows.
Result<void> same_schema(const Shard& from, const Shard& to, std::chrono::milliseconds timeout) {
  std::string versions[2];
  for (int i = 0; i < 2; ++i) {
    const Shard& shard = i == 0 ? from : to;
    auto s = open_shard(shard.conninfo, timeout);
    auto v = s.ok() ? s->scalar("SELECT coalesce(max(version), 0) FROM schema_migrations",
                                "schema version")
                    : Result<std::string>(std::move(s).error());
    if (!v.ok()) return std::move(v).error();
    versions[i] = *v;
  }
  if (versions[0] == versions[1]) return {};
  return Error{Errc::conflict,
               fmt::format("shard {} is at schema version {} and {} at {}: run `ztm migrate` so "
                           "both are at the same version before moving buckets between them",
                           from.name, versions[0], to.name, versions[1])};
}

}  // namespace

std::string describe_buckets(const std::vector<int>& buckets, std::size_t shown) {
  if (buckets.size() == 1) return fmt::format("bucket {}", buckets.front());
  const std::size_t n = std::min(shown, buckets.size());
  return fmt::format(
      "{} buckets {}{}", buckets.size(),
      fmt::join(buckets.begin(), buckets.begin() + static_cast<std::ptrdiff_t>(n), ","),
      n < buckets.size() ? ",…" : "");
}

// --- The records in etcd -------------------------------------------------------------------

std::string_view to_string(MoveStep step) {
  switch (step) {
    case MoveStep::copy:
      return "copy";
    case MoveStep::cutover:
      return "cutover";
    case MoveStep::switched:
      return "switched";
    case MoveStep::finalising:
      return "finalising";
    case MoveStep::rollback:
      return "rollback";
  }
  return "copy";
}

namespace {

json::object record_json(const MoveRecord& r) {
  json::array buckets;
  for (const int b : r.buckets) buckets.push_back(b);
  return {
      {"buckets", std::move(buckets)}, {"from", r.from}, {"to", r.to}, {"step", to_string(r.step)}};
}

Result<MoveRecord> record_from(const json::value& v) {
  const Error bad{Errc::invalid_argument,
                  "a move record is {buckets (ascending, 0..1023), from, to, step}"};
  const json::object* o = v.if_object();
  if (!o || o->size() != 4) return bad;
  const json::value* buckets = o->if_contains("buckets");
  const json::value* from = o->if_contains("from");
  const json::value* to = o->if_contains("to");
  const json::value* step = o->if_contains("step");
  if (!buckets || !buckets->is_array() || buckets->as_array().empty() || !from ||
      !from->is_string() || !to || !to->is_string() || !step || !step->is_string())
    return bad;
  MoveRecord r{{}, std::string(from->as_string()), std::string(to->as_string())};
  for (const json::value& b : buckets->as_array()) {
    if (!b.is_int64() || b.as_int64() < 0 || b.as_int64() >= kBuckets) return bad;
    if (!r.buckets.empty() && b.as_int64() <= r.buckets.back()) return bad;
    r.buckets.push_back(static_cast<int>(b.as_int64()));
  }
  const std::string_view s = step->as_string();
  if (s == "copy") {
    r.step = MoveStep::copy;
  } else if (s == "cutover") {
    r.step = MoveStep::cutover;
  } else if (s == "switched") {
    r.step = MoveStep::switched;
  } else if (s == "finalising") {
    r.step = MoveStep::finalising;
  } else if (s == "rollback") {
    r.step = MoveStep::rollback;
  } else {
    return bad;
  }
  return r;
}

std::string moves_json(const std::vector<MoveRecord>& records) {
  json::array a;
  for (const MoveRecord& r : records) a.push_back(record_json(r));
  return json::serialize(json::object{{"moves", std::move(a)}});
}

Result<std::vector<MoveRecord>> parse_moves(std::string_view text) {
  boost::system::error_code ec;
  const json::value v = json::parse(text, ec);
  const json::object* o = ec ? nullptr : v.if_object();
  const json::value* moves = o ? o->if_contains("moves") : nullptr;
  if (!moves || !moves->is_array())
    return Error{Errc::invalid_argument, "the moves key holds no {\"moves\": [...]}"};
  std::vector<MoveRecord> out;
  for (const json::value& m : moves->as_array()) {
    auto r = record_from(m);
    if (!r.ok()) return std::move(r).error();
    out.push_back(std::move(*r));
  }
  return out;
}

}  // namespace

std::string to_json(const MoveRecord& record) {
  return json::serialize(record_json(record));
}

Result<MoveRecord> parse_move_record(std::string_view text) {
  boost::system::error_code ec;
  const json::value v = json::parse(text, ec);
  if (ec) return Error{Errc::invalid_json, "a move record is not JSON"};
  return record_from(v);
}

// --- The orchestration ---------------------------------------------------------------------

struct Mover::State {
  ShardMap map;
  std::int64_t map_revision = 0;
  std::vector<MoveRecord> moves;
  std::int64_t moves_revision = 0;  // 0: no moves key yet
  MoveRecord* move = nullptr;       // the record in `moves` being worked on, if any

  int shard_index(const std::string& name) const {
    for (std::size_t i = 0; i < map.shards.size(); ++i)
      if (map.shards[i].name == name) return static_cast<int>(i);
    return -1;
  }
  // The recorded move holding `bucket`, or nullptr.
  MoveRecord* holding(int bucket) {
    for (MoveRecord& r : moves)
      if (std::binary_search(r.buckets.begin(), r.buckets.end(), bucket)) return &r;
    return nullptr;
  }
  // Whether the map gives any bucket of the move to a shard other than its source.
  bool switched() const {
    const int from = shard_index(move->from);
    return std::any_of(move->buckets.begin(), move->buckets.end(),
                       [&](int b) { return map.buckets[b] != from; });
  }
};

namespace {

Result<void> check_bucket(int bucket) {
  if (bucket < 0 || bucket >= kBuckets)
    return Error{Errc::invalid_argument,
                 fmt::format("bucket {} is not in 0..{}", bucket, kBuckets - 1)};
  return {};
}

// "1 bucket", "3 buckets"
std::string count_of(std::size_t n, std::string_view noun) {
  return fmt::format("{} {}{}", n, noun, n == 1 ? "" : "s");
}

std::chrono::milliseconds since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
}

}  // namespace

Mover::Mover(etcd::Client& etcd, MoverOptions options)
    : etcd_(etcd), options_(std::move(options)) {}

void Mover::say(const std::string& line) const {
  if (options_.progress) options_.progress(line);
}

void Mover::say_move(const State& s, std::string_view what) const {
  say(fmt::format("{}{} {} -> {}: {}", context_, describe_buckets(s.move->buckets), s.move->from,
                  s.move->to, what));
}

Result<Mover::State> Mover::load() {
  State s;
  auto map = run_sync(etcd_.get(options_.map_key));
  if (!map.ok()) return std::move(map).error();
  auto parsed = parse_shard_map(map->value);
  if (!parsed.ok()) return std::move(parsed).error();
  if (parsed->mode != ShardMap::Mode::buckets)
    return Error{Errc::invalid_argument, "a modulo map has no buckets to move"};
  s.map = std::move(*parsed);
  s.map_revision = map->mod_revision;
  auto moves = run_sync(etcd_.get(options_.moves_key));
  if (moves.ok()) {
    auto records = parse_moves(moves->value);
    if (!records.ok()) return std::move(records).error();
    s.moves = std::move(*records);
    s.moves_revision = moves->mod_revision;
  } else if (moves.error().code != Errc::not_found) {
    return std::move(moves).error();
  }
  return s;
}

// Whether a recorded move fits the map at its step: both shards in it, two of them, and every
// bucket where the step leaves it (a copy on its source; a cutover on either, the map may have
// switched before the record; after the switch on its target; a rollback on either). A record
// that does not (written by hand, or a map changed by hand) is refused before any step runs:
// its steps would fence and purge the wrong shard.
Result<void> Mover::consistent(const State& s, const MoveRecord& r) const {
  const int from = s.shard_index(r.from), to = s.shard_index(r.to);
  const auto refuse = [&](const std::string& why, Errc code = Errc::invalid_argument) {
    return Error{
        code, fmt::format("the recorded move of {} from {} to {} ({}) does not fit the map: {}; "
                          "put the map or the record (/ztm/shards/moves) right by hand",
                          describe_buckets(r.buckets, 16), r.from, r.to, to_string(r.step), why)};
  };
  if (from < 0 || to < 0) return refuse("a shard is not in the map");
  if (from == to) return refuse("its source is its target");
  for (const int b : r.buckets) {
    const int at = s.map.buckets[b];
    const bool fits = r.step == MoveStep::copy ? at == from
                      : r.step == MoveStep::switched || r.step == MoveStep::finalising
                          ? at == to
                          : at == from || at == to;
    if (!fits)
      return refuse(fmt::format("the map gives bucket {} to {}", b, s.map.shards[at].name),
                    Errc::conflict);
  }
  return {};
}

Result<Mover::State> Mover::load_move(int bucket) {
  if (auto r = check_bucket(bucket); !r.ok()) return std::move(r).error();
  auto s = load();
  if (!s.ok()) return s;
  s->move = s->holding(bucket);
  if (!s->move) return Error{Errc::invalid_argument, fmt::format("bucket {} has no move", bucket)};
  if (auto c = consistent(*s, *s->move); !c.ok()) return std::move(c).error();
  return s;
}

Result<void> Mover::save_moves(State& s) {
  auto put = run_sync(etcd_.put_if(options_.moves_key, moves_json(s.moves), s.moves_revision));
  if (!put.ok()) return std::move(put).error();
  s.moves_revision = *put;
  return {};
}

Result<void> Mover::record(State& s, MoveStep step) {
  if (s.move->step == step) return {};
  s.move->step = step;
  if (auto saved = save_moves(s); !saved.ok()) return saved;
  say_move(s, to_string(step));
  if (options_.crash_after_recording == step)
    return Error{Errc::internal, fmt::format("stopped after recording {} (test)", to_string(step))};
  return {};
}

Result<void> Mover::forget(State& s) {
  const std::vector<int> gone = s.move->buckets;
  std::erase_if(s.moves, [&](const MoveRecord& r) { return r.buckets == gone; });
  s.move = nullptr;
  return save_moves(s);
}

// Applies `change` to the map and writes it as the next version (compare-and-swap). Someone
// else's write in between (another move, a shard added) is no failure: read the map again and
// apply the change to that, a few times.
Result<void> Mover::publish(State& s, const std::function<void(ShardMap&)>& change) {
  for (int attempt = 0;; ++attempt) {
    ShardMap next = s.map;
    change(next);
    if (next == s.map) return {};
    next.version = s.map.version + 1;
    auto put = run_sync(etcd_.put_if(options_.map_key, to_json(next), s.map_revision));
    if (put.ok()) {
      s.map = std::move(next);
      s.map_revision = *put;
      return {};
    }
    if (put.error().code != Errc::precondition_failed || attempt == 4)
      return std::move(put).error();
    auto current = run_sync(etcd_.get(options_.map_key));
    if (!current.ok()) return std::move(current).error();
    auto parsed = parse_shard_map(current->value);
    if (!parsed.ok()) return std::move(parsed).error();
    s.map = std::move(*parsed);
    s.map_revision = current->mod_revision;
  }
}

// Every bucket of the move in one map version.
Result<void> Mover::set_map_fence(State& s, bool fenced) {
  return publish(s, [&](ShardMap& m) {
    for (const int b : s.move->buckets) {
      if (fenced) {
        m.fenced_buckets.insert(b);
      } else {
        m.fenced_buckets.erase(b);
      }
    }
  });
}

Result<void> Mover::assign(State& s, const std::string& shard) {
  const int index = s.shard_index(shard);
  return publish(s, [&](ShardMap& m) {
    for (const int b : s.move->buckets) {
      m.buckets[b] = index;
      m.fenced_buckets.erase(b);
    }
  });
}

BucketCopy Mover::copy_of(const State& s) const {
  return BucketCopy(s.move->buckets, login(s.map.shards[s.shard_index(s.move->from)]).conninfo,
                    login(s.map.shards[s.shard_index(s.move->to)]).conninfo, options_.timeout);
}

Shard Mover::login(const Shard& shard) const {
  if (options_.admin_user.empty()) return shard;
  auto conninfo = with_login(shard.conninfo, options_.admin_user, options_.admin_password);
  // A conninfo libpq cannot parse stays as it is: opening it fails with libpq's own reason.
  if (!conninfo.ok()) return shard;
  return Shard{shard.name, *conninfo};
}

Result<MoveReport> Mover::move(std::vector<int> buckets, const std::string& to) {
  if (buckets.empty()) return Error{Errc::invalid_argument, "a move needs a bucket"};
  std::sort(buckets.begin(), buckets.end());
  for (const int b : buckets)
    if (auto r = check_bucket(b); !r.ok()) return std::move(r).error();
  if (auto twice = std::adjacent_find(buckets.begin(), buckets.end()); twice != buckets.end())
    return Error{Errc::invalid_argument, fmt::format("bucket {} is listed twice", *twice)};
  auto loaded = load();
  if (!loaded.ok()) return std::move(loaded).error();
  State& s = *loaded;
  if (s.shard_index(to) < 0)
    return Error{Errc::invalid_argument, fmt::format("no shard {} in the map", to)};
  for (const int b : buckets) {
    MoveRecord* held = s.holding(b);
    if (!held) continue;
    if (held->buckets != buckets || held->to != to)
      return Error{Errc::conflict,
                   fmt::format("bucket {} is in the recorded move of {} from {} to {} ({}): run "
                               "exactly that move again, or finalise or roll it back first",
                               b, describe_buckets(held->buckets, 16), held->from, held->to,
                               to_string(held->step))};
    s.move = held;
    break;
  }
  if (s.move && s.move->step == MoveStep::rollback)
    return Error{Errc::conflict, fmt::format("{} is being rolled back: run `ztm shard rollback "
                                             "--bucket {}` again to finish it",
                                             describe_buckets(buckets), buckets.front())};
  if (s.move)
    if (auto c = consistent(s, *s.move); !c.ok()) return std::move(c).error();
  if (!s.move || s.move->step == MoveStep::copy) {  // checked before anything is recorded
    const int source = s.move ? s.shard_index(s.move->from) : s.map.buckets[buckets.front()];
    if (auto v = same_schema(login(s.map.shards[source]), login(s.map.shards[s.shard_index(to)]),
                             options_.timeout);
        !v.ok())
      return std::move(v).error();
  }
  if (!s.move) {
    const int source = s.map.buckets[buckets.front()];
    for (const int b : buckets)
      if (s.map.buckets[b] != source)
        return Error{Errc::invalid_argument,
                     fmt::format("buckets {} and {} are on different shards ({}, {}): a move has "
                                 "one source",
                                 buckets.front(), b, s.map.shards[source].name,
                                 s.map.shards[s.map.buckets[b]].name)};
    const std::string& from = s.map.shards[source].name;
    if (from == to)
      return Error{Errc::invalid_argument,
                   fmt::format("{} is on {} already", describe_buckets(buckets), to)};
    s.moves.push_back({buckets, from, to, MoveStep::copy});
    s.move = &s.moves.back();
    if (auto saved = save_moves(s); !saved.ok()) return std::move(saved).error();
    say_move(s, "copy");
    if (options_.crash_after_recording == MoveStep::copy)
      return Error{Errc::internal, "stopped after recording copy (test)"};
  }
  MoveReport report;
  if (s.move->step == MoveStep::copy) {
    BucketCopy copy = copy_of(s);
    if (auto started = copy.start_copy(); !started.ok()) return std::move(started).error();
    const auto until = Clock::now() + options_.copy_wait;
    while (true) {
      auto done = copy.copied();
      if (!done.ok()) return std::move(done).error();
      if (*done) break;
      if (Clock::now() >= until)
        return Error{Errc::unavailable,
                     fmt::format("{}: the initial copy did not finish within {} ms; run the move "
                                 "again to go on waiting, or roll it back",
                                 describe_buckets(buckets), options_.copy_wait.count())};
      std::this_thread::sleep_for(kCopyPoll);  // a bounded poll of the copy's progress
    }
    say_move(s, "copied");
  }
  if (s.move->step == MoveStep::copy || s.move->step == MoveStep::cutover) {
    auto cut = cutover(s);
    if (!cut.ok()) return std::move(cut).error();
    report = *cut;
  }
  report.record = *s.move;
  return report;
}

// The cutover (see the header). Each step is idempotent, so a run that finds the step recorded
// does them all again. A failure after the fence and before the switch undoes the fence (as
// far as it can), so the buckets' writes do not wait on a cutover nobody is finishing.
Result<MoveReport> Mover::cutover(State& s) {
  MoveReport report;
  if (auto r = record(s, MoveStep::cutover); !r.ok()) return std::move(r).error();
  BucketCopy copy = copy_of(s);
  auto undo = [&](Error why) -> Error {
    // Past the point of no return (or unsure whether it is: a reverse subscription whose create
    // committed but whose answer was lost): stay fenced, the rerun finishes the cutover. Undoing
    // it then would let the next copy purge the target through the reverse replication.
    auto reversed = copy.reversed();
    if (!reversed.ok() || *reversed) return why;
    (void)copy.unfence_source();
    (void)set_map_fence(s, false);
    (void)record(s, MoveStep::copy);
    why.message += "; the cutover was undone (run the move again)";
    return why;
  };
  const auto t0 = Clock::now();
  if (auto r = set_map_fence(s, true); !r.ok()) return std::move(r).error();
  if (auto r = copy.fence_source(); !r.ok()) return undo(std::move(r).error());
  const auto fenced_at = Clock::now();
  auto reversed = copy.reversed();
  if (!reversed.ok()) return undo(std::move(reversed).error());
  if (!*reversed) {
    auto equal = copy.wait_equal(options_.cutover_wait);
    if (!equal.ok()) return undo(std::move(equal).error());
    if (!*equal)
      return undo(
          Error{Errc::unavailable,
                fmt::format("{}: the target did not catch up within {} ms",
                            describe_buckets(s.move->buckets), options_.cutover_wait.count())});
    report.catch_up = since(fenced_at);
    if (auto r = copy.reverse(); !r.ok()) return undo(std::move(r).error());
  }
  const auto reversed_at = Clock::now();
  if (auto r = copy.unfence_target(); !r.ok()) return std::move(r).error();
  if (auto r = assign(s, s.move->to); !r.ok()) return std::move(r).error();
  report.fenced = since(t0);
  const auto switched_at = Clock::now();
  if (auto r = record(s, MoveStep::switched); !r.ok()) return std::move(r).error();
  // Counted after the switch, not while the writes are held; only a report (-1: unknown).
  auto rows = copy.digest_target();
  report.rows = rows.ok() ? rows->rows() : -1;
  const auto ms = [](Clock::duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  };
  say_move(s, fmt::format("cutover: {} ms held (fence {}, catch-up {}, reverse {}, switch {}), "
                          "{}, {} rows",
                          report.fenced.count(), ms(fenced_at - t0), report.catch_up.count(),
                          ms(reversed_at - fenced_at) - report.catch_up.count(),
                          ms(switched_at - reversed_at), count_of(s.move->buckets.size(), "bucket"),
                          report.rows));
  return report;
}

Result<void> Mover::finalise(int bucket) {
  auto loaded = load_move(bucket);
  if (!loaded.ok()) return std::move(loaded).error();
  State& s = *loaded;
  if (s.move->step != MoveStep::switched && s.move->step != MoveStep::finalising)
    return Error{Errc::invalid_argument, fmt::format("the move of bucket {} is at {}, not switched",
                                                     bucket, to_string(s.move->step))};
  // The record alone is not enough: the map must give every bucket to the target, unfenced, or
  // deleting the source's rows would delete a bucket's only current copy.
  const int to = s.shard_index(s.move->to);
  for (const int b : s.move->buckets)
    if (s.map.buckets[b] != to || s.map.fenced(b))
      return Error{Errc::conflict,
                   fmt::format("bucket {}: the map does not give it to {} (unfenced); finish "
                               "the move or roll it back first",
                               b, s.move->to)};
  // Recorded first: from here on the source stops being current, so a rollback is refused and a
  // rerun of finalise (or of rebalance) finishes it.
  if (auto r = record(s, MoveStep::finalising); !r.ok()) return r;
  BucketCopy copy = copy_of(s);
  if (auto r = copy.drop_reverse(); !r.ok()) return r;
  if (auto r = copy.fence_source(); !r.ok()) return r;
  auto purged = copy.purge_source();
  if (!purged.ok()) return std::move(purged).error();
  say(fmt::format("{} on {}: finalised; {} rows removed from {}", describe_buckets(s.move->buckets),
                  s.move->to, *purged, s.move->from));
  return forget(s);
}

Result<MoveReport> Mover::rollback(int bucket) {
  auto loaded = load_move(bucket);
  if (!loaded.ok()) return std::move(loaded).error();
  State& s = *loaded;
  if (s.move->step == MoveStep::finalising)
    return Error{Errc::conflict,
                 fmt::format("the move of bucket {} is being finalised (the source's copy is no "
                             "longer current): run `ztm shard finalise --bucket {}` again",
                             bucket, bucket)};
  // Recorded first: neither move nor finalise runs on a move being rolled back, and a rerun of
  // the rollback finishes it.
  if (auto r = record(s, MoveStep::rollback); !r.ok()) return std::move(r).error();
  BucketCopy copy = copy_of(s);
  MoveReport report;
  report.record = *s.move;
  if (s.switched()) {
    // Switched: the cutover backwards. The reverse subscription keeps the source current;
    // once it is dropped (a rerun after a crash) the two were equal and the target is fenced.
    const auto t0 = Clock::now();
    if (auto r = set_map_fence(s, true); !r.ok()) return std::move(r).error();
    if (auto r = copy.fence_target(); !r.ok()) return std::move(r).error();
    auto reversed = copy.reversed();
    if (!reversed.ok()) return std::move(reversed).error();
    if (*reversed) {
      auto equal = copy.wait_equal(options_.cutover_wait);
      if (!equal.ok()) return std::move(equal).error();
      if (!*equal) {
        if (auto r = copy.unfence_target(); !r.ok()) return std::move(r).error();
        if (auto r = set_map_fence(s, false); !r.ok()) return std::move(r).error();
        return Error{Errc::unavailable,
                     fmt::format("{}: the source did not catch up within {} ms; the rollback "
                                 "was undone (run it again)",
                                 describe_buckets(s.move->buckets), options_.cutover_wait.count())};
      }
      if (auto r = copy.drop_reverse(); !r.ok()) return std::move(r).error();
    }
    if (auto r = copy.unfence_source(); !r.ok()) return std::move(r).error();
    if (auto r = assign(s, s.move->from); !r.ok()) return std::move(r).error();
    report.fenced = since(t0);
  } else {
    // Not switched: writes never went to the target. Keep the target fenced, drop both
    // directions (a crash may have left either), and give the writes back to the source.
    if (auto r = copy.fence_target(); !r.ok()) return std::move(r).error();
    if (auto r = copy.drop_forward(); !r.ok()) return std::move(r).error();
    if (auto r = copy.drop_reverse(); !r.ok()) return std::move(r).error();
    if (auto r = copy.unfence_source(); !r.ok()) return std::move(r).error();
    if (auto r = set_map_fence(s, false); !r.ok()) return std::move(r).error();
  }
  auto purged = copy.purge_target();
  if (!purged.ok()) return std::move(purged).error();
  report.rows = *purged;
  say(fmt::format("{}: rolled back to {}; {} rows removed from {}",
                  describe_buckets(s.move->buckets), s.move->from, *purged, s.move->to));
  if (auto r = forget(s); !r.ok()) return std::move(r).error();
  return report;
}

Result<MoveReport> Mover::abort(int bucket) {
  auto loaded = load_move(bucket);
  if (!loaded.ok()) return std::move(loaded).error();
  if (loaded->move->step == MoveStep::switched || loaded->move->step == MoveStep::finalising ||
      loaded->switched())
    return Error{Errc::conflict,
                 fmt::format("the move of bucket {} has switched to {}: abort only undoes a move "
                             "before its switch; `ztm shard rollback --bucket {}` moves it back "
                             "(nothing is lost)",
                             bucket, loaded->move->to, bucket)};
  return rollback(bucket);
}

Result<std::vector<MoveRecord>> Mover::moves() {
  auto moves = run_sync(etcd_.get(options_.moves_key));
  if (!moves.ok()) {
    if (moves.error().code == Errc::not_found) return std::vector<MoveRecord>{};
    return std::move(moves).error();
  }
  return parse_moves(moves->value);
}

Result<MapStatus> Mover::status() {
  auto loaded = load();
  if (!loaded.ok()) return std::move(loaded).error();
  MapStatus st;
  st.map = loaded->map;
  for (std::size_t i = 0; i < st.map.shards.size(); ++i) {
    ShardStatus shard{st.map.shards[i].name};
    shard.buckets = static_cast<int>(
        std::count(st.map.buckets.begin(), st.map.buckets.end(), static_cast<int>(i)));
    auto s = open_shard(login(st.map.shards[i]).conninfo, options_.timeout);
    auto rows = s.ok() ? s->scalar("SELECT count(*) FROM users", "count users")
                       : Result<std::string>(std::move(s).error());
    if (rows.ok()) {
      shard.users = std::atoll(rows->c_str());
    } else {
      shard.error = rows.error().message;
    }
    st.shards.push_back(std::move(shard));
  }
  for (const MoveRecord& r : loaded->moves) {
    MoveStatus m{r};
    const bool back = r.step == MoveStep::switched || r.step == MoveStep::finalising;
    const int publisher = loaded->shard_index(back ? r.to : r.from);
    if (publisher >= 0) {
      auto s = open_shard(login(st.map.shards[publisher]).conninfo, options_.timeout);
      const int first = r.buckets.front();
      const std::string slot = back ? reverse_name(first) : forward_name(first);
      auto lag = s.ok() ? s->scalar(
                              "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), "
                              "confirmed_flush_lsn) FROM pg_replication_slots "
                              "WHERE slot_name = $1",
                              "slot lag", {slot.c_str()})
                        : Result<std::string>(std::move(s).error());
      if (lag.ok() && !lag->empty()) m.lag_bytes = std::atoll(lag->c_str());
    }
    st.moves.push_back(std::move(m));
  }
  return st;
}

Result<void> Mover::init(const ShardMap& map) {
  if (auto v = validate(map); !v.ok()) return v;
  auto put = run_sync(etcd_.put_if(options_.map_key, to_json(map), 0));
  if (!put.ok()) return std::move(put).error();
  return {};
}

Result<void> Mover::add_shard(const Shard& shard) {
  auto loaded = load();
  if (!loaded.ok()) return std::move(loaded).error();
  State& s = *loaded;
  if (s.shard_index(shard.name) >= 0)
    return Error{Errc::conflict, fmt::format("the map has a shard {} already", shard.name)};
  auto session = open_shard(login(shard).conninfo, options_.timeout);
  if (!session.ok()) return std::move(session).error();
  auto migrated = session->scalar("SELECT to_regclass('disowned_buckets') IS NOT NULL", "schema");
  if (!migrated.ok()) return std::move(migrated).error();
  if (*migrated != "t")
    return Error{Errc::invalid_argument,
                 fmt::format("shard {} is not migrated: run ztm migrate on it first", shard.name)};
  ShardMap next = s.map;
  next.shards.push_back(shard);
  if (auto v = validate(next); !v.ok()) return v;
  if (auto r = publish(s,
                       [&](ShardMap& m) {
                         if (std::none_of(m.shards.begin(), m.shards.end(),
                                          [&](const Shard& x) { return x.name == shard.name; }))
                           m.shards.push_back(shard);
                       });
      !r.ok())
    return r;
  say(fmt::format("shard {} added (map version {})", shard.name, s.map.version));
  return {};
}

std::string_view to_string(Balance by) {
  switch (by) {
    case Balance::buckets:
      return "buckets";
    case Balance::rows:
      return "rows";
    case Balance::load:
      return "load";
  }
  return "?";
}

Result<std::vector<double>> Mover::rows_per_bucket(const ShardMap& map) {
  std::string sql = "SELECT bucket, sum(n) FROM (";
  for (const std::string& t : bucket_tables())
    sql += fmt::format("{}SELECT bucket, count(*) AS n FROM {} GROUP BY bucket",
                       t == bucket_tables().front() ? "" : " UNION ALL ", t);
  sql += ") per_table GROUP BY bucket";
  std::vector<double> rows(kBuckets, 0.0);
  for (std::size_t i = 0; i < map.shards.size(); ++i) {
    auto s = open_shard(login(map.shards[i]).conninfo, options_.timeout);
    auto r = s.ok() ? s->exec(sql, "rows per bucket") : Result<postgres::Session::Rows>(s.error());
    if (!r.ok())
      return Error{Errc::unavailable, fmt::format("cannot count the rows of shard {}: {}",
                                                  map.shards[i].name, r.error().message)};
    for (int row = 0; row < PQntuples(r->get()); ++row) {
      const int b = std::atoi(PQgetvalue(r->get(), row, 0));
      // A bucket's rows elsewhere are a move's copy or leftovers: counted where the map says.
      if (b >= 0 && b < kBuckets && map.buckets[b] == static_cast<int>(i))
        rows[b] += std::atof(PQgetvalue(r->get(), row, 1));
    }
  }
  return rows;
}

Result<std::vector<double>> Mover::requests_per_bucket(const ShardMap& map) {
  auto reports = run_sync(etcd_.get_prefix(std::string(kLoadReportPrefix)));
  if (!reports.ok()) return std::move(reports).error();
  const auto summary = summarize_load(reports->kvs, map, unix_ms(ztm::Clock::system().now()));
  if (summary.servers.empty())
    return Error{Errc::unavailable,
                 "no server reported its load in the last 30 s (a server reports when it "
                 "follows the map in etcd, every storage.shard_load_report_ms)"};
  say(fmt::format("load: {:.1f} requests/s from {}", summary.per_second,
                  count_of(summary.servers.size(), "server")));
  return summary.bucket_rates;
}

Result<std::vector<Move>> Mover::plan(const ShardMap& map, const RebalanceOptions& options) {
  if (options.by == Balance::buckets) return plan_rebalance(map, options.shards);
  auto weight = options.by == Balance::rows ? rows_per_bucket(map) : requests_per_bucket(map);
  if (!weight.ok()) return std::move(weight).error();
  auto moves = plan_balance(map, options.shards, *weight);
  // What each shard carries now and after the plan, in the plan's unit.
  std::vector<double> before(map.shards.size(), 0);  // rebalance checked shards <= their count
  std::vector<double> after = before;
  std::vector<int> at = map.buckets;
  for (const Move& m : moves) at[m.bucket] = m.to;
  for (int b = 0; b < kBuckets; ++b) {
    before[map.buckets[b]] += (*weight)[b];
    after[at[b]] += (*weight)[b];
  }
  for (std::size_t i = 0; i < before.size(); ++i)
    say(fmt::format("{}: {:.1f} -> {:.1f} {}", map.shards[i].name, before[i], after[i],
                    options.by == Balance::rows ? "rows" : "requests/s"));
  return moves;
}

Result<int> Mover::rebalance(const RebalanceOptions& options) {
  const int shards = options.shards;
  const int batch = options.batch;
  if (batch < 1 || batch > kBuckets)
    return Error{Errc::invalid_argument,
                 fmt::format("a batch of {} buckets: not in 1..{}", batch, kBuckets)};
  auto loaded = load();
  if (!loaded.ok()) return std::move(loaded).error();
  if (shards < 1 || shards > static_cast<int>(loaded->map.shards.size()))
    return Error{Errc::invalid_argument,
                 fmt::format("the map has {} shards, not {}", loaded->map.shards.size(), shards)};
  for (const MoveRecord& r : loaded->moves)
    if (r.step == MoveStep::rollback)
      return Error{Errc::conflict,
                   fmt::format("{} is being rolled back: run `ztm shard rollback --bucket {}` "
                               "again first",
                               describe_buckets(r.buckets), r.buckets.front())};
  // The switched moves waiting for their finalise (each a reverse replication and its slot),
  // oldest first: a move's lowest bucket, and its switch.
  struct Switched {
    int bucket;
    Clock::time_point at;
  };
  std::deque<Switched> switched;
  // Finalises the oldest switched moves whose grace has passed, and more (waiting for their
  // grace) while over `keep` wait.
  auto finalise_due = [&](std::size_t keep) -> Result<void> {
    while (!switched.empty()) {
      const auto due = switched.front().at + options_.finalise_grace;
      if (switched.size() <= keep && Clock::now() < due) return {};
      // A server whose write was routed by the map before the switch (waiting for a
      // connection, or in a failover hold) still reaches the source: keep its copy current.
      std::this_thread::sleep_until(due);
      if (auto f = finalise(switched.front().bucket); !f.ok()) return f;
      switched.pop_front();
    }
    return {};
  };
  int moved = 0;
  auto run_move = [&](const std::string& context, const std::vector<int>& buckets,
                      const std::string& to) -> Result<void> {
    if (auto f = finalise_due(kMaxSwitched - 1); !f.ok()) return f;
    context_ = context;
    auto m = move(buckets, to);
    context_.clear();
    if (!m.ok()) return std::move(m).error();
    switched.push_back({buckets.front(), Clock::now()});
    moved += static_cast<int>(buckets.size());
    return {};
  };
  // A rerun after a crash: the recorded moves first (resumed to the switch, then finalised),
  // so the plan below starts from a map they no longer change. A dry run leaves them be.
  const std::vector<MoveRecord> recorded =
      options.dry_run ? std::vector<MoveRecord>{} : loaded->moves;
  if (options.dry_run && !loaded->moves.empty())
    say(fmt::format("dry run: {} recorded would be finished first",
                    count_of(loaded->moves.size(), "move")));
  for (std::size_t i = 0; i < recorded.size(); ++i) {
    const std::string context = fmt::format("recorded move {} of {}: ", i + 1, recorded.size());
    if (auto r = run_move(context, recorded[i].buckets, recorded[i].to); !r.ok())
      return std::move(r).error();
  }
  // Finalised before planning: a plan may move their buckets again.
  if (auto f = finalise_due(0); !f.ok()) return std::move(f).error();
  auto now = load();
  if (!now.ok()) return std::move(now).error();
  const ShardMap& map = now->map;
  // The plan's bucket moves by (from, to), each group cut into moves of at most `batch`.
  std::map<std::pair<int, int>, std::vector<int>> groups;
  auto moves = plan(map, options);
  if (!moves.ok()) return std::move(moves).error();
  for (const Move& m : *moves) groups[{m.from, m.to}].push_back(m.bucket);
  struct Planned {
    std::vector<int> buckets;
    std::string to;
  };
  std::vector<Planned> batches;
  std::size_t buckets = 0;
  for (const auto& group : groups) {
    const std::vector<int>& all = group.second;
    buckets += all.size();
    for (std::size_t i = 0; i < all.size(); i += static_cast<std::size_t>(batch)) {
      const auto end = all.begin() + static_cast<std::ptrdiff_t>(
                                         std::min(all.size(), i + static_cast<std::size_t>(batch)));
      batches.push_back({std::vector<int>(all.begin() + static_cast<std::ptrdiff_t>(i), end),
                         map.shards[group.first.second].name});
    }
  }
  say(fmt::format("rebalance onto {} shards by {}: {} to move in {} of at most {}", shards,
                  to_string(options.by), count_of(buckets, "bucket"),
                  count_of(batches.size(), "move"), batch));
  if (options.dry_run) {
    for (std::size_t i = 0; i < batches.size(); ++i)
      say(fmt::format("would move {}: {} -> {}", describe_buckets(batches[i].buckets, 8),
                      map.shards[map.buckets[batches[i].buckets.front()]].name, batches[i].to));
    return static_cast<int>(buckets);
  }
  for (std::size_t i = 0; i < batches.size(); ++i) {
    const std::string context = fmt::format("move {} of {}: ", i + 1, batches.size());
    if (auto r = run_move(context, batches[i].buckets, batches[i].to); !r.ok())
      return std::move(r).error();
  }
  if (auto f = finalise_due(0); !f.ok()) return std::move(f).error();
  say(fmt::format("rebalanced onto {} shards: {} moved", shards,
                  count_of(static_cast<std::size_t>(moved), "bucket")));
  return moved;
}

}  // namespace ztm::storage
