#pragma once
// MurmurHash3's 64-bit finalizer: every input bit flips each output bit with probability about
// 1/2, so sequential values (Snowflake ids, keys differing in their last byte) land far apart.
// The cache tier's stable hashes and the HyperLogLog (kpi/) use it.

#include <cstdint>

namespace ztm {

constexpr std::uint64_t mix64(std::uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

}  // namespace ztm
