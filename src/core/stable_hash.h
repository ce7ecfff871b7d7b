#pragma once
// A stable 64-bit hash of bytes: the same key hashes the same on every server, build and run,
// which the cache tier's ring and the hot-key sketch need (std::hash promises none of that).
// FNV-1a over the bytes, then MurmurHash3's fmix64 finalizer (mix64.h) so that keys differing in
// their last byte ("user:1", "user:2") land far apart.

#include <cstdint>
#include <string_view>

#include "core/mix64.h"

namespace ztm {

// The hash entity tags are made of (api/cache_policy.h): FNV-1a's loop from the offset basis
// the first tags were made with (FNV's own, 14695981039346656037, short of its last digit). Tags
// outlive builds in clients' and edges' caches, so this must never change.
constexpr std::uint64_t tag_hash64(std::string_view bytes) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

constexpr std::uint64_t stable_hash64(std::string_view bytes, std::uint64_t seed = 0) {
  std::uint64_t h = 0xcbf29ce484222325ULL ^ mix64(seed);
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return mix64(h);
}

}  // namespace ztm
