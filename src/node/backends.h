#pragma once
// The only place a backend is chosen: each function reads its section of the Config and opens
// the implementation it names. Used by the Node (node.h) and the admin commands (migrate, seed).
// Start-up errors throw (std::runtime_error, ConfigError) with a message that names the option.
// Whatever reads time reads `clock` (which must outlive what is opened).

#include <memory>

#include "app/accounts.h"
#include "app/activity.h"
#include "app/passwords.h"
#include "app/photo_worker.h"
#include "app/photos.h"
#include "cache/local/local_cache.h"
#include "cache/shared_cache.h"
#include "cdn/edge.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/faults.h"
#include "core/metrics.h"
#include "kpi/active_users_sketch.h"
#include "media/blob_store.h"
#include "queue/queue.h"
#include "sessions/session_store.h"
#include "storage/database.h"

namespace ztm::node {

// storage.backend: SQLite, one PostgreSQL server, or a PostgreSQL cluster (several hosts in
// storage.postgres_url: the ReplicaRouter). With `migrate`, applies pending migrations first;
// otherwise refuses a database whose schema is older than this build. `metrics` gets the
// router's per-host series; `clock` reaches the holds, the staleness rule and the reconnects.
std::unique_ptr<storage::Database> open_database(const Config& config, MetricsRegistry& metrics,
                                                 const Clock& clock, bool migrate);

// Applies pending migrations (ztm migrate) and says what it did; throws on failure.
std::string migrate_database(const Config& config);

// The L1 cache; null when cache.enabled is false. With L2 on, its TTL (jitter included) stays
// within cache.l1_max_staleness_ms: other servers' writes reach this L1 only by expiry.
std::unique_ptr<cache::LocalCache> open_local_cache(const Config& config, const Clock& clock);

// The L2 tier (a ring of cache.l2_nodes), its metrics registered; null when the cache is off or
// cache.l2_nodes is empty. It authenticates as cache.l2_user with the password in
// cache.l2_password_file (read now); refusals are raised in `faults` (null: nowhere).
std::unique_ptr<cache::SharedCache> open_l2_cache(const Config& config, MetricsRegistry& metrics,
                                                  const Clock& clock, Faults* faults = nullptr);

// sessions.backend: SQLite (sessions.sqlite_path, default beside the users database) or Redis
// (one server, or a Sentinel group; sessions.redis_user and redis_password_file, the Sentinels'
// own); `metrics` gets ztm_redis_*{client="sessions"}, `faults` refused credentials.
std::unique_ptr<sessions::SessionStore> open_session_store(const Config& config,
                                                           MetricsRegistry& metrics,
                                                           const Clock& clock,
                                                           Faults* faults = nullptr);

// kpi.sketch: the live DAU/WAU/MAU sketch, in this process or on the sessions' Redis (auto: Redis
// when sessions.backend is redis); `metrics` gets ztm_redis_*{client="kpi"}.
std::unique_ptr<kpi::ActiveUserSketch> open_active_user_sketch(const Config& config,
                                                               MetricsRegistry& metrics,
                                                               const Clock& clock,
                                                               Faults* faults = nullptr);

// queue.backend: the embedded SQLite queue (queue.sqlite_path, default beside the users
// database) or NATS JetStream (need not be up yet: calls fail with unavailable until it is).
std::unique_ptr<queue::Queue> open_queue(const Config& config, const Clock& clock);

// One CDN edge's purge queue (docs/cdn.md), on the same backend as the job queue: stream
// ZTM_PURGE_<EDGE> / file ztm-purge-<edge>.db. A batch not acked within 2 s goes to another web
// server's purger; nothing is ever dead-lettered (a purge waits for its edge as long as it takes).
std::unique_ptr<queue::Queue> open_purge_queue(const Config& config, const Clock& clock,
                                               const std::string& edge);
// The edge's purge client (its admin listener).
std::unique_ptr<cdn::Edge> open_edge(const NamedUrl& admin);

// media.backend: a local directory (default media/ beside the users database) or the PostgreSQL
// database of storage.postgres_url; with `migrate`, creates its table first.
std::unique_ptr<media::BlobStore> open_blob_store(const Config& config, const Clock& clock,
                                                  bool migrate);

// The options the services take, from their config sections.
app::PasswordHasherOptions password_hasher_options(const AccountsConfig& accounts);
app::AccountOptions account_options(const Config& config, const Clock& clock);
app::PhotoOptions photo_options(const Config& config);
app::PhotoWorkerOptions worker_options(const Config& config);
// The tracker's bounds (its clock is the node's).
app::ActivityOptions activity_options(const Config& config);

}  // namespace ztm::node
