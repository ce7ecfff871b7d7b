#pragma once
// The sharding stage's bucket map (docs/sharding.md, "The map"), as the lab writes it: the first
// map (every shard cluster of the stage, buckets spread evenly) created in etcd under
// kShardMapKey, which the web servers follow, and a shard added to it by `ztm lab scale shards=N`.
// The lab does not link the service's tiers (src/lab/CMakeLists.txt), so the JSON is made here, in
// the format storage/sharding/shard_map.h reads (and ShardMap::even makes: bucket b on shard
// b % N), and etcd is spoken to through its v3 JSON gateway (POST /v3/kv/range, /v3/kv/txn).

#include <boost/json/object.hpp>
#include <chrono>
#include <string>
#include <vector>

namespace ztm::lab {

inline constexpr const char* kShardMapKey = "/ztm/shards/map";
inline constexpr int kShardBuckets = 1024;  // storage::kBuckets

struct LabShard {
  std::string name;                // "s1"
  std::vector<std::string> hosts;  // its cluster's members: "s1a", "s1b"
};

// "s1=s1a+s1b,s2=s2a+s2b" -> shards. Throws std::invalid_argument for an entry without '=' or
// without hosts.
std::vector<LabShard> parse_shard_hosts(const std::string& spec);

// A shard's conninfo: every member in libpq's multi-host form, with
// target_session_attrs=read-write (libpq, psql and the mover find the primary; the web tier's
// ReplicaRouter finds the roles itself).
std::string shard_conninfo(const std::string& password, const std::vector<std::string>& addresses);

struct ShardEntry {
  std::string name;
  std::string conninfo;
};

// A version-1 bucket map over `shards`: bucket b on shard b % shards.size().
// REQUIRES: !shards.empty()
std::string even_shard_map(const std::vector<ShardEntry>& shards);

// `map_json` with `shard` appended to its shards (holding no bucket yet: moves bring them) and
// its version bumped. Throws std::invalid_argument when the text is not a map or already names
// the shard.
std::string map_with_shard(const std::string& map_json, const ShardEntry& shard);

// What `status` shows of a map: {"version", "shards": [{"name", "buckets": count, "conninfo"}],
// "fenced": count}; {"error"} naming what is wrong when the text is not a map.
boost::json::object summarize_shard_map(const std::string& map_json);

// The value at `key` in the etcd whose client URL is address:port, and its mod_revision.
struct EtcdValue {
  std::string value;
  long long mod_revision = 0;  // 0: the key does not exist
};

// Throws std::runtime_error when etcd does not answer (within `timeout`) or answers an error.
EtcdValue etcd_get(const std::string& address, int port, const std::string& key,
                   std::chrono::milliseconds timeout);
// Writes `value` if the key's mod_revision is still `expected` (0: only if absent). Whether it
// was written; throws std::runtime_error as etcd_get.
bool etcd_put_if(const std::string& address, int port, const std::string& key,
                 const std::string& value, long long expected, std::chrono::milliseconds timeout);

}  // namespace ztm::lab
