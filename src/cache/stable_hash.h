#pragma once
// Hashes the cache tier shares. A stable 64-bit hash: the same key hashes the same on every web
// server, build and run, which the ring needs (std::hash promises none of that). FNV-1a over the
// bytes, then MurmurHash3's fmix64 finalizer so that keys differing in their last byte ("user:1",
// "user:2") land far apart.

#include <cstdint>
#include <string_view>

#include "core/mix64.h"

namespace ztm::cache {

// MurmurHash3's 64-bit finalizer (core/mix64.h). Also what the L1 policies index their tables
// with: a shard's key hashes all share the bits that chose the shard, and this spreads the rest.
using ztm::mix64;

constexpr std::uint64_t stable_hash64(std::string_view bytes, std::uint64_t seed = 0) {
  std::uint64_t h = 0xcbf29ce484222325ULL ^ mix64(seed);
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return mix64(h);
}

}  // namespace ztm::cache
