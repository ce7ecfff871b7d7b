#pragma once
// Builds the SessionStore that config `sessions.*` names (for cli/wiring.cc).

#include <memory>

#include "core/config.h"
#include "core/metrics.h"
#include "sessions/session_store.h"

namespace ztm {

// backend "sqlite": SqliteSessionStore on sessions.sqlite_path. backend "redis": RedisSessionStore
// over a SentinelClient when sessions.redis_sentinels is set, else over a Client of
// sessions.redis_address; each command bounded by sessions.redis_timeout_ms. Does not connect
// (the first call does; ping() checks readiness). `metrics` (may be null) gets ztm_redis_*
// {client="sessions"}. Throws std::runtime_error / std::invalid_argument on a bad configuration
// or an unopenable file (start-up errors).
std::unique_ptr<SessionStore> open_session_store(const SessionsConfig& config,
                                                 MetricsRegistry* metrics);

}  // namespace ztm
