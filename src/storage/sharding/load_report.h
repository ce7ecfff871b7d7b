#pragma once
// The load report every sharded server publishes (docs/sharding.md, "Load: hot buckets and hot
// users"), and what `ztm shard status` makes of all of them. Pure functions: no I/O, no clock.
//
// A server whose map comes from etcd writes its report every storage.shard_load_report_ms to
// /ztm/shards/load/<host>-<node> (load_reporter.h), one JSON value:
//
//   {"node": 3, "host": "web1", "map_version": 7, "at_ms": 1764979200000, "interval_ms": 5000,
//    "requests": 5200, "shards": {"s1": 2600, "s2": 2600},
//    "buckets": [[17, 900, 12], ...], "users": [[123456789, 0.12], ...]}
//
// `requests`: calls routed by a bucket in the interval (the sum over every bucket, not only the
// ones listed); `shards`: calls sent to each shard in the interval (a call that visits every
// shard counts on each); `buckets`: the busiest kReportedBuckets of the interval as [bucket,
// requests, of which writes]; `users`: the hot users of this server's sketch (core/hot_keys.h:
// sampled, decaying over about the last 160,000 calls) as [user id, share of the sampled calls].
//
// A value read back may be anything (an operator, a bug, another version): parse_load_report
// checks all of it and answers an error, never throws; summarize_load skips and counts what
// does not parse.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/ids.h"
#include "core/result.h"
#include "etcd/protocol.h"
#include "storage/sharding/shard_map.h"

namespace ztm::storage {

inline constexpr std::string_view kLoadReportPrefix = "/ztm/shards/load/";
inline constexpr std::size_t kMaxLoadReportBytes = 64 * 1024;
inline constexpr std::size_t kReportedBuckets = 16;
inline constexpr std::size_t kMaxReportedUsers = 64;

struct BucketLoad {
  int bucket = 0;
  std::uint64_t requests = 0;
  std::uint64_t writes = 0;  // of requests
  bool operator==(const BucketLoad&) const = default;
};

struct UserLoad {
  UserId user = 0;
  double share = 0;  // of this server's sampled calls, (0, 1]
  bool operator==(const UserLoad&) const = default;
};

struct LoadReport {
  int node = 0;      // Config::node_id, 0..127
  std::string host;  // [A-Za-z0-9.-]{1,64}
  std::int64_t map_version = 0;
  std::int64_t at_ms = 0;        // unix ms when written
  std::int64_t interval_ms = 0;  // what the counts cover, ending at at_ms
  std::uint64_t requests = 0;
  std::vector<std::pair<std::string, std::uint64_t>> shards;  // name, calls sent to it
  std::vector<BucketLoad> buckets;                            // busiest first
  std::vector<UserLoad> users;                                // hottest first
  bool operator==(const LoadReport&) const = default;
};

// The key a server writes its report to: kLoadReportPrefix + "<host>-<node>".
std::string load_report_key(std::string_view host, int node);

std::string to_json(const LoadReport& report);
// invalid_json for text that is not JSON (or nests deeper than a report), invalid_argument for
// a value that breaks the format above: a missing or mistyped field, a host or shard name out of
// its alphabet, a bucket out of range or listed twice, writes above requests, more than
// kReportedBuckets buckets or kMaxReportedUsers users, a share outside (0, 1], more than
// kMaxLoadReportBytes. Unknown fields are ignored (a newer server may add some).
Result<LoadReport> parse_load_report(std::string_view json);

// What `ztm shard status` shows: every fresh report added up.
struct LoadSummary {
  struct ShardRate {
    std::string shard;
    double per_second = 0;
  };
  struct HotBucket {
    int bucket = 0;
    double per_second = 0;
    double share = 0;   // of every routed call of the fresh reports
    std::string shard;  // holding it in the map; "" in modulo mode
  };
  struct HotUser {
    UserId user = 0;
    double share = 0;  // the largest any server reports
    std::string host;  // the server reporting that share
  };
  struct Server {
    std::string key;
    int node = 0;
    std::string host;
    std::int64_t map_version = 0;
    bool behind = false;  // runs a map older than the one in etcd
    std::int64_t age_ms = 0;
    double per_second = 0;
  };
  double per_second = 0;           // every routed call, summed over servers
  std::vector<ShardRate> shards;   // the map's shards in order, then names it does not have
  std::vector<HotBucket> buckets;  // hottest first, at most top_buckets
  std::vector<HotUser> users;      // by share, largest first
  std::vector<Server> servers;     // fresh reports, by key
  // Every bucket's requests/s (kBuckets entries), estimated: what each fresh report lists, and
  // the rest of its requests spread evenly over the buckets it does not list. What `ztm shard
  // rebalance --by load` weighs buckets by.
  std::vector<double> bucket_rates;
  int stale = 0;    // reports older than max_age (a stopped server's): ignored
  int invalid = 0;  // values that are not reports: ignored
};

// Adds up the reports in `values` (a get_prefix of kLoadReportPrefix) against `map` (the one in
// etcd): a report counts when written within max_age of now_ms (either way: clocks differ a
// little); rates are each server's counts over its interval, summed over servers. A bucket busy
// on every server but in no server's top kReportedBuckets is not seen.
LoadSummary summarize_load(const std::vector<etcd::KeyedValue>& values, const ShardMap& map,
                           std::int64_t now_ms,
                           std::chrono::milliseconds max_age = std::chrono::seconds(30),
                           std::size_t top_buckets = 10);

// The summary as one JSON object (`ztm shard status --json`).
std::string to_json(const LoadSummary& summary);

}  // namespace ztm::storage
