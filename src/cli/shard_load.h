#pragma once
// The load part of `ztm shard status`: every server's load report under /ztm/shards/load/
// (storage/sharding/load_report.h) read from etcd, added up against the map, and printed.

#include <string>

#include "core/result.h"
#include "storage/sharding/shard_map.h"

namespace ztm::cli {

// Prints requests/s per shard, the hottest buckets, the hot users and each reporting server
// with the map version it runs (and whether it is behind `map`, the one in etcd), reading the
// reports from `endpoints` (host:port[,host:port]). A failure to read them is printed as such:
// the rest of the status stands.
void print_shard_load(const std::string& endpoints, const storage::ShardMap& map);

}  // namespace ztm::cli
