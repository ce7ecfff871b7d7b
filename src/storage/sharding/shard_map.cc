#include "storage/sharding/shard_map.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cassert>
#include <cmath>
#include <initializer_list>
#include <map>
#include <numeric>
#include <stdexcept>

namespace ztm::storage {

namespace json = boost::json;

namespace {

// The map nests three levels (object, shards array, shard object); deeper is not a map.
constexpr std::size_t kMaxDepth = 4;

Error bad(std::string message) {
  return Error{Errc::invalid_argument, "shard map: " + message};
}

// `text` quoted for an error message, cut short: a corrupt value may be megabytes long.
std::string quoted(std::string_view text) {
  constexpr std::size_t kShown = 40;
  return fmt::format("\"{}{}\"", text.substr(0, kShown), text.size() > kShown ? "..." : "");
}

bool valid_conninfo(std::string_view conninfo) {
  return !conninfo.empty() && conninfo.size() <= kMaxConninfoBytes &&
         std::none_of(conninfo.begin(), conninfo.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

bool is_bucket(std::int64_t b) {
  return b >= 0 && b < kBuckets;
}

std::string not_a_bucket(std::int64_t b) {
  return fmt::format("\"fenced\" lists {}, which is not a bucket (0 to {})", b, kBuckets - 1);
}

std::string_view mode_name(ShardMap::Mode mode) {
  return mode == ShardMap::Mode::buckets ? "buckets" : "modulo";
}

std::string_view kind_name(json::kind kind) {
  switch (kind) {
    case json::kind::int64:
      return "an integer";
    case json::kind::string:
      return "a string";
    case json::kind::array:
      return "an array";
    default:
      return "an object";
  }
}

// Anything but `allowed` in `object` (at `where`) is an error: a misspelt key must not read as
// an absent one ("fence" for "fenced" would unfence a bucket in the middle of its cutover).
Result<void> only_keys(const json::object& object, std::initializer_list<std::string_view> allowed,
                       std::string_view where) {
  for (const auto& member : object)
    if (std::find(allowed.begin(), allowed.end(), member.key()) == allowed.end())
      return bad(fmt::format("{}unknown key {}", where, quoted(member.key())));
  return {};
}

// `object[key]` if it is there and of `kind`. An integer must be an int64: 7.0, 1e3 or 2^63 is
// not one.
Result<const json::value*> member(const json::object& object, std::string_view key, json::kind kind,
                                  std::string_view where = "") {
  const json::value* v = object.if_contains(key);
  if (!v) return bad(fmt::format("{}\"{}\" is missing", where, key));
  if (v->kind() != kind)
    return bad(fmt::format("{}\"{}\" must be {}", where, key, kind_name(kind)));
  return v;
}

Result<std::vector<Shard>> parse_shards(const json::array& array) {
  std::vector<Shard> shards;
  for (std::size_t i = 0; i < array.size(); ++i) {
    const std::string where = fmt::format("shards[{}]: ", i);
    const json::object* object = array[i].if_object();
    if (!object) return bad(where + "must be an object {\"name\", \"conninfo\"}");
    if (auto ok = only_keys(*object, {"name", "conninfo"}, where); !ok)
      return std::move(ok).error();
    auto name = member(*object, "name", json::kind::string, where);
    if (!name) return std::move(name).error();
    auto conninfo = member(*object, "conninfo", json::kind::string, where);
    if (!conninfo) return std::move(conninfo).error();
    shards.push_back({std::string((*name)->get_string()), std::string((*conninfo)->get_string())});
  }
  return shards;  // how many, validate() checks (the byte cap bounds the work)
}

// Bucket -> index into `shards`, from the shards' names.
Result<std::vector<int>> parse_buckets(const json::array& array, const std::vector<Shard>& shards) {
  std::map<std::string_view, int, std::less<>> index;
  for (std::size_t i = 0; i < shards.size(); ++i)
    index.emplace(shards[i].name, static_cast<int>(i));
  std::vector<int> buckets;
  for (std::size_t b = 0; b < array.size(); ++b) {
    const json::string* name = array[b].if_string();
    if (!name) return bad(fmt::format("buckets[{}] must be a shard's name", b));
    const auto it = index.find(std::string_view(*name));
    if (it == index.end())
      return bad(fmt::format("buckets[{}] names {}, which is not a shard", b, quoted(*name)));
    buckets.push_back(it->second);
  }
  return buckets;  // how many, validate() checks
}

Result<std::set<int>> parse_fenced(const json::array& array) {
  std::set<int> fenced;
  for (const json::value& v : array) {
    if (!v.is_int64()) return bad("\"fenced\" must list bucket numbers");
    const std::int64_t b = v.get_int64();
    if (!is_bucket(b)) return bad(not_a_bucket(b));
    if (!fenced.insert(static_cast<int>(b)).second)
      return bad(fmt::format("\"fenced\" lists bucket {} twice", b));
  }
  return fenced;
}

// The shards' rules of validate(), apart: the parser needs sound names before it reads the
// buckets by name.
Result<void> validate_shards(const std::vector<Shard>& shards) {
  if (shards.empty() || shards.size() > kMaxShards)
    return bad(fmt::format("it has {} shards; 1 to {} are allowed", shards.size(), kMaxShards));
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const Shard& s = shards[i];
    if (!valid_shard_name(s.name))
      return bad(fmt::format("shards[{}]: the name {} is not 1 to {} of a-z, 0-9, _ and -", i,
                             quoted(s.name), kMaxShardNameBytes));
    if (!names.insert(s.name).second)
      return bad(
          fmt::format("shards[{}]: the name {} is taken by an earlier shard", i, quoted(s.name)));
    if (!valid_conninfo(s.conninfo))
      return bad(fmt::format(
          "shard {}: \"conninfo\" is {} bytes; it must be 1 to {}, with no control characters",
          s.name, s.conninfo.size(), kMaxConninfoBytes));
  }
  return {};
}

}  // namespace

int ShardMap::shard_of(UserId id) const {
  if (mode == Mode::modulo) return static_cast<int>(static_cast<std::uint64_t>(id) % shards.size());
  return buckets[bucket_of(id)];
}

ShardMap ShardMap::even(std::vector<Shard> shards, Mode mode) {
  assert(!shards.empty() && shards.size() <= kMaxShards);
  ShardMap map;
  map.mode = mode;
  map.shards = std::move(shards);
  if (mode == Mode::buckets) {
    map.buckets.resize(kBuckets);
    for (int b = 0; b < kBuckets; ++b) map.buckets[b] = b % static_cast<int>(map.shards.size());
  }
  return map;
}

Result<void> validate(const ShardMap& map) {
  if (map.version < 1)
    return bad(fmt::format("\"version\" must be at least 1, not {}", map.version));
  if (auto ok = validate_shards(map.shards); !ok) return ok;
  if (map.mode == ShardMap::Mode::modulo) {
    if (!map.buckets.empty() || !map.fenced_buckets.empty())
      return bad("a modulo map has no \"buckets\" and no \"fenced\"");
    return {};
  }
  if (map.buckets.size() != kBuckets)
    return bad(fmt::format("\"buckets\" has {} entries, not {}", map.buckets.size(), kBuckets));
  for (int b = 0; b < kBuckets; ++b)
    if (map.buckets[b] < 0 || map.buckets[b] >= static_cast<int>(map.shards.size()))
      return bad(
          fmt::format("bucket {} is on shard index {}, which is not a shard", b, map.buckets[b]));
  for (int b : map.fenced_buckets)
    if (!is_bucket(b)) return bad(not_a_bucket(b));
  return {};
}

Result<void> check_successor(const ShardMap& current, const ShardMap& next) {
  if (next.version <= current.version)
    return bad(fmt::format("version {} is not newer than {}", next.version, current.version));
  if (next.mode != current.mode) return bad("the mode changed");
  if (next.shards.size() < current.shards.size())
    return bad(fmt::format("it has {} shards, fewer than the {} it would replace",
                           next.shards.size(), current.shards.size()));
  for (std::size_t i = 0; i < current.shards.size(); ++i)
    if (next.shards[i] != current.shards[i])
      return bad(
          fmt::format("shards[{}] ({} before) changed its name or conninfo: shards are only "
                      "appended",
                      i, quoted(current.shards[i].name)));
  if (next.mode == ShardMap::Mode::modulo && next.shards.size() != current.shards.size())
    return bad("a modulo map cannot gain shards (id % N would move most users)");
  return {};
}

bool valid_shard_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxShardNameBytes &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
         });
}

Result<ShardMap> parse_shard_map(std::string_view text) {
  if (text.size() > kMaxShardMapBytes)
    return bad(fmt::format("{} bytes; at most {}", text.size(), kMaxShardMapBytes));
  json::parse_options options;
  options.max_depth = kMaxDepth;
  boost::system::error_code ec;
  const json::value doc = json::parse(text, ec, {}, options);
  if (ec) return Error{Errc::invalid_json, "shard map: not JSON: " + ec.message()};
  const json::object* root = doc.if_object();
  if (!root) return bad("not a JSON object");
  if (auto ok = only_keys(*root, {"version", "mode", "shards", "buckets", "fenced"}, ""); !ok)
    return std::move(ok).error();

  ShardMap map;
  auto version = member(*root, "version", json::kind::int64);
  if (!version) return std::move(version).error();
  map.version = (*version)->get_int64();
  auto mode = member(*root, "mode", json::kind::string);
  if (!mode) return std::move(mode).error();
  if ((*mode)->get_string() == "buckets") {
    map.mode = ShardMap::Mode::buckets;
  } else if ((*mode)->get_string() == "modulo") {
    map.mode = ShardMap::Mode::modulo;
  } else {
    return bad(fmt::format("\"mode\" must be \"buckets\" or \"modulo\", not {}",
                           quoted((*mode)->get_string())));
  }
  auto shards_json = member(*root, "shards", json::kind::array);
  if (!shards_json) return std::move(shards_json).error();
  auto shards = parse_shards((*shards_json)->get_array());
  if (!shards) return std::move(shards).error();
  map.shards = std::move(*shards);
  if (auto ok = validate_shards(map.shards); !ok) return std::move(ok).error();

  if (map.mode == ShardMap::Mode::buckets) {
    auto buckets_json = member(*root, "buckets", json::kind::array);
    if (!buckets_json) return std::move(buckets_json).error();
    auto buckets = parse_buckets((*buckets_json)->get_array(), map.shards);
    if (!buckets) return std::move(buckets).error();
    map.buckets = std::move(*buckets);
    if (root->contains("fenced")) {  // optional: none fenced
      auto fenced_json = member(*root, "fenced", json::kind::array);
      if (!fenced_json) return std::move(fenced_json).error();
      auto fenced = parse_fenced((*fenced_json)->get_array());
      if (!fenced) return std::move(fenced).error();
      map.fenced_buckets = std::move(*fenced);
    }
  } else if (root->contains("buckets") || root->contains("fenced")) {
    return bad("a modulo map has no \"buckets\" and no \"fenced\"");
  }
  if (auto ok = validate(map); !ok) return std::move(ok).error();
  return map;
}

std::string to_json(const ShardMap& map) {
  json::object root;
  root["version"] = map.version;
  root["mode"] = mode_name(map.mode);
  json::array shards;
  for (const Shard& s : map.shards)
    shards.push_back(json::object{{"name", s.name}, {"conninfo", s.conninfo}});
  root["shards"] = std::move(shards);
  if (map.mode == ShardMap::Mode::buckets) {
    json::array buckets;
    buckets.reserve(map.buckets.size());
    for (int s : map.buckets) buckets.emplace_back(map.shards[s].name);
    root["buckets"] = std::move(buckets);
    root["fenced"] = json::array(map.fenced_buckets.begin(), map.fenced_buckets.end());
  }
  return json::serialize(root);
}

std::vector<Move> plan_rebalance(const ShardMap& current, int shard_count) {
  const int n = shard_count;
  std::vector<int> held(std::max<std::size_t>(n, current.shards.size()), 0);
  for (int s : current.buckets) ++held[s];
  // Every shard gets the floor and kBuckets % n of them one more. A shard keeps min(held,
  // target) of its buckets, so the ceilings go to the fullest shards (ties: the lower index).
  std::vector<int> room(n, kBuckets / n);
  std::vector<int> fullest(n);
  std::iota(fullest.begin(), fullest.end(), 0);
  std::stable_sort(fullest.begin(), fullest.end(), [&](int a, int b) { return held[a] > held[b]; });
  for (int i = 0; i < kBuckets % n; ++i) ++room[fullest[i]];

  std::vector<int> freed;  // buckets whose shard is drained or already holds its share
  for (int b = 0; b < kBuckets; ++b) {
    const int s = current.buckets[b];
    if (s < n && room[s] > 0) {
      --room[s];
    } else {
      freed.push_back(b);
    }
  }
  // What is left of `room` is each shard's shortfall; together exactly freed.size().
  std::vector<Move> moves;
  moves.reserve(freed.size());
  int to = 0;
  for (int b : freed) {
    while (room[to] == 0) ++to;
    --room[to];
    moves.push_back({b, current.buckets[b], to});
  }
  return moves;
}

std::vector<Move> plan_balance(const ShardMap& current, int shard_count,
                               const std::vector<double>& weight) {
  const int n = shard_count;
  std::vector<int> at = current.buckets;  // where each bucket is in the plan so far
  std::vector<double> load(n, 0);
  std::vector<int> drained;
  for (int b = 0; b < kBuckets; ++b) {
    if (at[b] < n) {
      load[at[b]] += weight[b];
    } else {
      drained.push_back(b);
    }
  }
  auto lightest = [&] {
    return static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
  };
  auto heaviest = [&] {
    return static_cast<int>(std::max_element(load.begin(), load.end()) - load.begin());
  };
  auto assign = [&](int b, int to) {
    if (at[b] < n) load[at[b]] -= weight[b];
    at[b] = to;
    load[to] += weight[b];
  };
  std::stable_sort(drained.begin(), drained.end(),
                   [&](int a, int b) { return weight[a] > weight[b]; });
  for (int b : drained) assign(b, lightest());

  const double mean = std::accumulate(load.begin(), load.end(), 0.0) / n;
  // Each step lowers the heavier side of a pair and raises nothing above it, so the sum of
  // squared loads falls; the bound only guards against rounding.
  for (int step = 0; step < kBuckets; ++step) {
    const int from = heaviest();
    const int to = lightest();
    const double gap = load[from] - load[to];
    if (load[from] <= mean * (1 + kBalanceTolerance) || gap <= 0) break;
    int best = -1;
    for (int b = 0; b < kBuckets; ++b) {
      if (at[b] != from || weight[b] <= 0 || weight[b] >= gap) continue;
      if (best < 0 || std::abs(weight[b] - gap / 2) < std::abs(weight[best] - gap / 2)) best = b;
    }
    if (best < 0) break;
    assign(best, to);
  }
  std::vector<Move> moves;
  for (int b = 0; b < kBuckets; ++b)
    if (at[b] != current.buckets[b]) moves.push_back({b, current.buckets[b], at[b]});
  return moves;
}

ShardMap apply_moves(const ShardMap& map, const std::vector<Move>& moves) {
  ShardMap next = map;
  for (const Move& m : moves) {
    if (m.bucket < 0 || m.bucket >= static_cast<int>(next.buckets.size()) ||
        next.buckets[m.bucket] != m.from || m.to < 0 ||
        m.to >= static_cast<int>(next.shards.size()))
      throw std::invalid_argument(
          fmt::format("shard map version {}: cannot move bucket {} from shard {} to shard {}",
                      map.version, m.bucket, m.from, m.to));
    next.buckets[m.bucket] = m.to;
  }
  ++next.version;
  return next;
}

}  // namespace ztm::storage
