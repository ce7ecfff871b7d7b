#pragma once
// The lab's Redis ACL users and the lab secrets (lab/secrets.h) that hold their passwords. What
// each user may do is written in the config templates (deploy/redis/*.conf); docs/security.md
// ("Redis") lists it. The `default` user is off everywhere: every client authenticates.

namespace ztm::lab {

struct RedisUser {
  const char* name;    // the ACL user
  const char* secret;  // its password: lab_secret(lab_dir, secret)
};

// ztm serve: the cache tier's commands on cache nodes, the sessions' on session nodes, and on
// Sentinels only where the master is.
inline constexpr RedisUser kRedisService{"ztm", "redis-app"};
// A replica's link to its primary (masteruser / masterauth).
inline constexpr RedisUser kRedisReplica{"replica", "redis-replica"};
// The Sentinels, on the instances they watch and on each other.
inline constexpr RedisUser kRedisSentinel{"sentinel", "redis-sentinel"};
// Read-only server state: the Prometheus exporter, the lab's health checks, the lab tests.
inline constexpr RedisUser kRedisMonitor{"monitor", "redis-monitor"};

}  // namespace ztm::lab
