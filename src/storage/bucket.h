#pragma once
// The bucket of a user (docs/sharding.md, "Buckets over shards"): every row a user owns carries
// it (PostgreSQL: the `bucket` column, set by a trigger from ztm_bucket, this function in SQL),
// and the shard map assigns buckets to shards.

#include <cstdint>

#include "core/ids.h"
#include "core/mix64.h"

namespace ztm::storage {

inline constexpr int kBuckets = 1024;

// mix64(id) mod kBuckets, in [0, kBuckets). It is stored with the user's rows, so it never
// changes: neither kBuckets nor mix64 may (shard_map_test pins some values, mover_test checks
// ztm_bucket agrees).
constexpr int bucket_of(UserId id) {
  return static_cast<int>(mix64(static_cast<std::uint64_t>(id)) % kBuckets);
}

}  // namespace ztm::storage
