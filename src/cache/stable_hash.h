#pragma once
// Hashes the cache tier shares: stable_hash64 (core/stable_hash.h: the same key hashes the same
// on every web server, build and run, which the ring needs) and mix64 (core/mix64.h).

#include "core/mix64.h"
#include "core/stable_hash.h"

namespace ztm::cache {

// MurmurHash3's 64-bit finalizer (core/mix64.h). Also what the L1 policies index their tables
// with: a shard's key hashes all share the bits that chose the shard, and this spreads the rest.
using ztm::mix64;
using ztm::stable_hash64;

}  // namespace ztm::cache
