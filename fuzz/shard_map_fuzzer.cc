// A shard map as every web server reads it from etcd (/ztm/shards/map), where an operator or a
// bug may have corrupted it: parse_shard_map and its checks. Anything wrong must be an error
// (invalid_json or invalid_argument), never another exception or a crash; a map accepted is
// valid, prints as JSON that reads back equal, and evening it out over its own shards leaves a
// map with nothing more to move.

#include "fuzz/fuzz_check.h"
#include "storage/sharding/shard_map.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ztm;
  using namespace ztm::storage;
  const auto map = parse_shard_map(fuzz::as_text(data, size));
  if (!map) {
    FUZZ_CHECK(map.error().code == Errc::invalid_argument ||
               map.error().code == Errc::invalid_json);
    return 0;
  }
  FUZZ_CHECK(validate(*map).ok());
  const std::string text = to_json(*map);
  const auto back = parse_shard_map(text);
  FUZZ_CHECK(back.ok() && *back == *map && to_json(*back) == text);
  if (map->mode == ShardMap::Mode::buckets) {
    const int n = static_cast<int>(map->shards.size());
    const ShardMap even = apply_moves(*map, plan_rebalance(*map, n));
    FUZZ_CHECK(validate(even).ok() && plan_rebalance(even, n).empty());
  }
  return 0;
}
