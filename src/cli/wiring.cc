#include "cli/wiring.h"

#include <fmt/format.h>

#include <csignal>
#include <filesystem>

#include "cache/redis/redis_cache_tier.h"
#include "core/log.h"
#include "core/run_sync.h"
#include "media/local/local_blob_store.h"
#include "media/postgres/pg_blob_store.h"
#include "redis/sentinel_client.h"
#include "storage/metered_store.h"
#include "storage/postgres/pg_store.h"
#include "storage/replication/cluster_conninfo.h"
#include "storage/replication/replica_router.h"
#include "storage/sqlite/sqlite_store.h"

namespace ztm::cli {
namespace {

// With `migrate`, applies pending migrations; otherwise refuses a schema older than this build.
// The same steps for every backend (each has migrate(), schema_version(), latest_schema_version()).
template <class Backend>
void prepare_schema(Backend& store, bool migrate) {
  if (migrate) {
    auto report = store.migrate();
    if (!report) throw std::runtime_error("migration failed: " + report.error().message);
    if (report->from_version != report->to_version)
      log::info("migrated", {{"from", report->from_version}, {"to", report->to_version}});
    return;
  }
  auto version = store.schema_version();
  if (!version) throw std::runtime_error("cannot read schema version: " + version.error().message);
  // A newer schema is fine during a rolling upgrade (migrations only add); an older one is not.
  if (*version < Backend::latest_schema_version())
    throw std::runtime_error(
        fmt::format("database schema is at version {}, this build needs {}: run `ztm migrate`",
                    *version, Backend::latest_schema_version()));
}

PgStoreOptions postgres_options(const Config& config) {
  return PgStoreOptions{
      .conninfo = config.storage.postgres_url,
      .connections_per_loop = config.storage.postgres_connections,
      .timeout_ms = config.storage.postgres_timeout_ms,
      .max_pending = config.storage.max_pending,
  };
}

}  // namespace

ReplicaRouterOptions cluster_options(const Config& config) {
  return ReplicaRouterOptions{
      .conninfo = config.storage.postgres_url,
      .connections_per_loop = config.storage.postgres_connections,
      .timeout_ms = config.storage.postgres_timeout_ms,
      .max_pending = config.storage.max_pending,
      .max_replica_lag_ms = config.storage.postgres_max_replica_lag_ms,
      .discovery_interval_ms = config.storage.postgres_discovery_interval_ms,
  };
}

// One host: PgStore. Several (libpq's multi-host form): the cluster, routed by ReplicaRouter.
bool names_a_cluster(const std::string& conninfo) {
  auto split = pg::split_cluster_conninfo(conninfo);
  if (!split) throw std::runtime_error(split.error().message);
  return split->hosts.size() > 1;
}

Storage open_storage(const Config& config, MetricsRegistry& metrics, bool migrate) {
  std::unique_ptr<Store> backend;
  if (config.storage.backend == "postgres" && names_a_cluster(config.storage.postgres_url)) {
    auto router = std::make_unique<ReplicaRouter>(cluster_options(config));
    prepare_schema(*router, migrate);
    router->register_metrics(metrics);
    log::info("postgres cluster", {{"hosts", static_cast<int>(router->hosts())}});
    backend = std::move(router);
  } else if (config.storage.backend == "postgres") {
    auto pg = std::make_unique<PgStore>(postgres_options(config));
    prepare_schema(*pg, migrate);
    backend = std::move(pg);
  } else {
    auto sqlite = std::make_unique<SqliteStore>(SqliteOptions{
        .path = config.storage.sqlite_path,
        .threads = config.storage.sqlite_threads,
        .max_pending = config.storage.max_pending,
        .durable_commits = config.storage.sqlite_durable_commits,
    });
    prepare_schema(*sqlite, migrate);
    backend = std::move(sqlite);
  }
  auto* photos = dynamic_cast<PhotoStore*>(backend.get());  // every backend implements both
  auto metered = std::make_unique<MeteredStore>(*backend, photos, metrics);
  return Storage(std::move(backend), std::move(metered));
}

namespace {

// A file beside the users database (the single server keeps everything in one directory).
std::string beside_users_db(const Config& config, const char* name) {
  return (std::filesystem::path(config.storage.sqlite_path).parent_path() / name).string();
}

media::ImageLimits image_limits(const Config& config) {
  media::ImageLimits limits;
  limits.max_bytes = static_cast<std::size_t>(config.media.max_upload_bytes);
  limits.max_pixels = config.media.max_pixels;
  return limits;
}

}  // namespace

std::unique_ptr<media::BlobStore> open_blob_store(const Config& config, bool migrate) {
  if (config.media.backend == "postgres") {
    pg::HostOptions options;
    options.connection.conninfo = config.storage.postgres_url;
    options.connection.timeout = std::chrono::milliseconds(config.storage.postgres_timeout_ms);
    auto store = std::make_unique<media::PgBlobStore>(options);
    if (migrate)
      if (auto r = run_sync(store->migrate()); !r)
        throw std::runtime_error("media: cannot create the blobs table: " + r.error().message);
    return store;
  }
  const std::string dir = config.media.dir.empty() ? beside_users_db(config, "media") : config.media.dir;
  return std::make_unique<media::LocalBlobStore>(media::LocalBlobStoreOptions{.dir = dir});
}

QueueConfig queue_config(const Config& config) {
  QueueConfig q = config.queue;
  if (q.sqlite_path.empty()) q.sqlite_path = beside_users_db(config, "ztm-queue.db");
  return q;
}

PhotoOptions photo_options(const Config& config) {
  return {.limits = image_limits(config), .image_threads = config.media.image_threads};
}

PhotoWorkerOptions worker_options(const Config& config) {
  return {.concurrency = config.worker.concurrency,
          .heartbeat = std::chrono::milliseconds(std::max(100, config.queue.ack_wait_ms / 3)),
          .max_deliveries = config.queue.max_deliveries,
          .limits = image_limits(config)};
}

SessionsConfig sessions_config(const Config& config) {
  SessionsConfig s = config.sessions;
  if (s.sqlite_path.empty()) s.sqlite_path = beside_users_db(config, "ztm-sessions.db");
  return s;
}

PasswordHasherOptions password_hasher_options(const AccountsConfig& accounts) {
  return {.threads = accounts.hash_threads,
          .max_pending = accounts.hash_max_pending,
          .ops = static_cast<std::uint64_t>(accounts.argon2_ops),
          .memory_bytes = static_cast<std::size_t>(accounts.argon2_memory_kib) * 1024};
}

api::AuthOptions auth_options(const Config& config) {
  api::AuthOptions options;
  try {
    options.trusted_proxies = api::parse_address_list(config.http.trusted_proxies);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string("option 'http.trusted_proxies': ") + e.what());
  }
  const auto& secure = config.sessions.cookie_secure;
  options.cookie_secure = secure == "always" ? api::CookieSecure::always
                          : secure == "never" ? api::CookieSecure::never
                                              : api::CookieSecure::auto_;
  return options;
}

std::unique_ptr<cache::RedisCacheTier> open_l2_cache(const Config& config, MetricsRegistry& metrics) {
  if (!config.cache.enabled || config.cache.l2_nodes.empty()) return nullptr;
  cache::RedisCacheTierOptions o;
  o.nodes = redis::split_addresses(config.cache.l2_nodes);
  o.virtual_nodes = config.cache.l2_virtual_nodes;
  o.ttl = std::chrono::milliseconds(config.cache.l2_ttl_ms);
  o.timeout = std::chrono::milliseconds(config.cache.l2_timeout_ms);
  o.lease_wait = std::chrono::milliseconds(config.cache.l2_lease_wait_ms);
  std::unique_ptr<cache::RedisCacheTier> tier;
  try {
    tier = std::make_unique<cache::RedisCacheTier>(std::move(o));
  } catch (const std::invalid_argument& e) {
    throw ConfigError(fmt::format("option 'cache.l2_nodes': {}", e.what()));
  }
  tier->register_metrics(metrics);
  log::info("l2 cache", {{"nodes", config.cache.l2_nodes}});
  return tier;
}

}  // namespace ztm::cli
