#pragma once
// The Lua scripts of the lease protocol (redis_cache_tier.h). Each runs atomically on one node.
// KEYS[1] is the value key "c:<key>", KEYS[2] the lease key "l:<key>".

namespace ztm::cache::scripts {

// ARGV: token, lease ttl (ms). Returns {0, value} on a hit, {1} when the caller now holds the
// lease, {2} when another caller holds it.
inline constexpr const char* kGetOrLease = R"(
local v = redis.call('GET', KEYS[1])
if v then return {0, v} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1} end
return {2}
)";

// ARGV: token, value, ttl (ms). Stores the value only while the lease is this token's: an erase
// in between deleted the lease, so a value read before that write is refused (returns 0).
inline constexpr const char* kFill = R"(
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
)";

// KEYS[1] is the lease key here. ARGV: token. Drops the lease if it is still this token's.
inline constexpr const char* kRelease = R"(
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
)";

}  // namespace ztm::cache::scripts
