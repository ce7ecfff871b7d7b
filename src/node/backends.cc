#include "node/backends.h"

#include <fmt/format.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>

#include "cache/redis/redis_cache_tier.h"
#include "cdn/varnish/varnish_edge.h"
#include "core/host_name.h"
#include "core/log.h"
#include "core/run_sync.h"
#include "core/secret_file.h"
#include "etcd/client.h"
#include "kpi/local/local_sketch.h"
#include "kpi/redis/redis_sketch.h"
#include "media/local/local_blob_store.h"
#include "media/postgres/pg_blob_store.h"
#include "queue/embedded/embedded_queue.h"
#include "queue/nats/nats_queue.h"
#include "redis/sentinel_client.h"
#include "sessions/redis/redis_session_store.h"
#include "sessions/sqlite/sqlite_session_store.h"
#include "storage/postgres/pg_store.h"
#include "storage/replication/cluster_conninfo.h"
#include "storage/replication/replica_router.h"
#include "storage/sharding/map_source.h"
#include "storage/sharding/sharded_store.h"
#include "storage/sqlite/sqlite_store.h"

namespace ztm::node {

using app::AccountOptions;
using app::PasswordHasherOptions;
using app::PhotoOptions;
using app::PhotoWorkerOptions;
using cache::LocalCache;
using cache::LocalCacheOptions;
using cache::parse_eviction_policy;
using queue::EmbeddedQueue;
using queue::EmbeddedQueueOptions;
using queue::NatsQueue;
using queue::NatsQueueOptions;
using queue::Queue;
using queue::QueueOptions;
using sessions::RedisSessionOptions;
using sessions::RedisSessionStore;
using sessions::SessionStore;
using sessions::SqliteSessionOptions;
using sessions::SqliteSessionStore;
using storage::Database;
using storage::PgStore;
using storage::PgStoreOptions;
using storage::ReplicaRouter;
using storage::ReplicaRouterOptions;
using storage::SqliteStore;

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

PgStoreOptions postgres_options(const StorageConfig& storage, const Clock& clock) {
  return PgStoreOptions{
      .conninfo = storage.postgres_url,
      .connections_per_loop = storage.postgres_connections,
      .write_connections_per_loop = storage.postgres_write_connections,
      .timeout_ms = storage.postgres_timeout_ms,
      .max_pending = storage.max_pending,
      .clock = &clock,
  };
}

ReplicaRouterOptions cluster_options(const StorageConfig& storage, const Clock& clock) {
  return ReplicaRouterOptions{
      .conninfo = storage.postgres_url,
      .connections_per_loop = storage.postgres_connections,
      .write_connections_per_loop = storage.postgres_write_connections,
      .timeout_ms = storage.postgres_timeout_ms,
      .max_pending = storage.max_pending,
      .max_replica_lag_ms = storage.postgres_max_replica_lag_ms,
      .discovery_interval_ms = storage.postgres_discovery_interval_ms,
      .hold_ms = storage.postgres_hold_ms,
      .max_held = storage.postgres_max_held,
      .clock = &clock,
  };
}

// One host: PgStore. Several (libpq's multi-host form): the cluster, routed by ReplicaRouter.
bool names_a_cluster(const std::string& conninfo) {
  auto split = storage::split_cluster_conninfo(conninfo);
  if (!split) throw std::runtime_error(split.error().message);
  return split->hosts.size() > 1;
}

// A file beside the users database (the single server keeps everything in one directory).
std::string beside_users_db(const Config& config, const char* name) {
  return (std::filesystem::path(config.storage.sqlite_path).parent_path() / name).string();
}

// A Redis user and the password in `file` (option `file_key`); none when `file` is empty.
// Throws ConfigError naming the option when the file cannot be used (core/secret_file.h).
redis::Credentials redis_credentials(const std::string& user, const std::string& file,
                                     const char* file_key) {
  if (file.empty()) return {};
  try {
    return {.user = user, .password = read_secret_file(file)};
  } catch (const std::runtime_error& e) {
    throw ConfigError(fmt::format("option '{}': {}", file_key, e.what()));
  }
}

// A client of the sessions' Redis (one server, or the master of a Sentinel group), its counters
// labelled {client=name}; `clock` times its reconnect back-off and Sentinel checks; refused
// credentials are raised in `faults`.
std::shared_ptr<redis::CommandRunner> sessions_redis(const Config& config, MetricsRegistry& metrics,
                                                     const Clock& clock, Faults* faults,
                                                     const std::string& name) {
  const SessionsConfig& s = config.sessions;
  redis::ConnectionOptions connection;
  connection.timeout = std::chrono::milliseconds(s.redis_timeout_ms);
  connection.clock = &clock;
  connection.auth =
      redis_credentials(s.redis_user, s.redis_password_file, "sessions.redis_password_file");
  connection.faults = faults;
  std::shared_ptr<redis::CommandRunner> client;
  if (!s.redis_sentinels.empty()) {
    client = std::make_shared<redis::SentinelClient>(redis::SentinelOptions{
        .sentinels = redis::split_addresses(s.redis_sentinels),
        .master_name = s.redis_master_name,
        .connection = connection,
        .sentinel_auth = redis_credentials(s.redis_sentinel_user, s.redis_sentinel_password_file,
                                           "sessions.redis_sentinel_password_file")});
  } else {
    connection.address = s.redis_address;
    client = std::make_shared<redis::Client>(connection);
  }
  client->register_metrics(metrics, name);
  return client;
}

media::ImageLimits image_limits(const Config& config) {
  media::ImageLimits limits;
  limits.max_bytes = static_cast<std::size_t>(config.media.max_upload_bytes);
  limits.max_pixels = config.media.max_pixels;
  limits.max_cost = config.media.max_edit_cost;
  return limits;
}

// storage.shard_map's etcd form, or a ConfigError naming the option.
EtcdKeyAddress etcd_address(const std::string& text) {
  try {
    return parse_etcd_address(text);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(fmt::format("option 'storage.shard_map': {}", e.what()));
  }
}

etcd::ClientOptions etcd_client_options(const EtcdKeyAddress& address) {
  etcd::ClientOptions options;
  options.endpoints = address.endpoints;
  return options;
}

// The bucket map of storage.shard_map as it is now: the file's, or the value of the etcd key
// (ztm migrate reads it once; a server follows it with open_map_source).
storage::ShardMap read_shard_map(const std::string& where) {
  std::string text;
  if (is_etcd_address(where)) {
    const EtcdKeyAddress address = etcd_address(where);
    etcd::Client client(etcd_client_options(address));
    auto value = run_sync(client.get(address.key));
    if (!value)
      throw std::runtime_error(fmt::format("storage.shard_map {}: cannot read the map: {}", where,
                                           value.error().message));
    text = std::move(value->value);
  } else {
    std::ifstream in(where, std::ios::binary);
    if (!in) throw std::runtime_error(fmt::format("storage.shard_map: cannot read {}", where));
    text.assign(storage::kMaxShardMapBytes + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
  }
  auto map = storage::parse_shard_map(text);  // refuses more than kMaxShardMapBytes
  if (!map)
    throw std::runtime_error(fmt::format("storage.shard_map {}: {}", where, map.error().message));
  return std::move(*map);
}

// Where the sharded store takes its map: a file's, fixed; or etcd's, kept current by a watcher
// (started here: a server does not start without a map; its metrics registered), which the
// store owns, so it stops when the store goes, after every service using the store.
std::shared_ptr<storage::MapSource> open_map_source(const std::string& where,
                                                    MetricsRegistry& metrics) {
  if (!is_etcd_address(where))
    return std::make_shared<storage::LocalMapSource>(read_shard_map(where));
  const EtcdKeyAddress address = etcd_address(where);
  storage::ShardMapWatcherOptions watcher;
  watcher.key = address.key;
  auto source =
      std::make_shared<storage::WatchedMapSource>(etcd_client_options(address), std::move(watcher));
  if (auto started = source->start(); !started)
    throw std::runtime_error(fmt::format("storage.shard_map {}: cannot load the map from etcd: {}",
                                         where, started.error().message));
  source->register_metrics(metrics);
  return source;
}

// PostgreSQL at `conninfo`, with the other storage options: one host, or a cluster (several
// hosts) behind its router, its metrics labelled {shard} when it is one.
std::unique_ptr<Database> open_postgres(StorageConfig storage, const std::string& conninfo,
                                        MetricsRegistry& metrics, const Clock& clock, bool migrate,
                                        const std::string& shard = "") {
  storage.postgres_url = conninfo;
  if (names_a_cluster(storage.postgres_url)) {
    auto router = std::make_unique<ReplicaRouter>(cluster_options(storage, clock));
    prepare_schema(*router, migrate);
    router->register_metrics(metrics, shard.empty() ? Labels{} : Labels{{"shard", shard}});
    log::info("postgres cluster", {{"hosts", static_cast<int>(router->hosts())}});
    return router;
  }
  auto pg = std::make_unique<PgStore>(postgres_options(storage, clock));
  prepare_schema(*pg, migrate);
  return pg;
}

}  // namespace

std::unique_ptr<Database> open_database(const Config& config, MetricsRegistry& metrics,
                                        const Clock& clock, bool migrate) {
  const StorageConfig& storage = config.storage;
  if (!storage.shard_map.empty()) {
    // Each shard opened as the unsharded branch would (the first map's now, later ones when a
    // call first needs them); a failure is the call's error, not an exception.
    storage::ShardOpener open = [storage, &metrics, &clock, migrate](const storage::Shard& shard,
                                                                     std::size_t) {
      try {
        return Result<std::unique_ptr<Database>>(
            open_postgres(storage, shard.conninfo, metrics, clock, migrate, shard.name));
      } catch (const std::exception& e) {
        return Result<std::unique_ptr<Database>>(Error{Errc::unavailable, e.what()});
      }
    };
    auto store = std::make_unique<storage::ShardedStore>(
        open_map_source(storage.shard_map, metrics), std::move(open),
        storage::ShardedStoreOptions{
            .hold = std::chrono::milliseconds(storage.shard_hold_ms),
            .max_held = storage.shard_max_held,
            .load_report = std::chrono::milliseconds(storage.shard_load_report_ms),
            .node = config.node_id,
            .host = host_name(config.log.host),
            .clock = &clock});
    store->register_metrics(metrics);
    const storage::ShardMap map = store->map();
    log::info("sharded",
              {{"shards", static_cast<int>(map.shards.size())}, {"map_version", map.version}});
    return store;
  }
  if (storage.backend == "postgres")
    return open_postgres(storage, storage.postgres_url, metrics, clock, migrate);
  auto sqlite = std::make_unique<SqliteStore>(sqlite::Options{
      .path = storage.sqlite_path,
      .threads = storage.sqlite_threads,
      .max_pending = storage.max_pending,
      .durable_commits = storage.sqlite_durable_commits,
  });
  prepare_schema(*sqlite, migrate);
  return sqlite;
}

std::string migrate_database(const Config& config) {
  // Blocking, on a connection of its own (start-up work, no event loop involved).
  auto describe = [](const auto& report, const std::string& where) {
    if (!report) throw std::runtime_error(report.error().message);
    return fmt::format("{}: schema version {} -> {}", where, report->from_version,
                       report->to_version);
  };
  if (!config.storage.shard_map.empty()) {
    std::string done;
    for (const auto& shard : read_shard_map(config.storage.shard_map).shards) {
      PgStore store({.conninfo = shard.conninfo, .timeout_ms = config.storage.postgres_timeout_ms});
      done += (done.empty() ? "" : "\n") + describe(store.migrate(), "shard " + shard.name);
    }
    if (config.media.backend == "postgres")
      (void)open_blob_store(config, Clock::system(), /*migrate=*/true);
    return done;
  }
  if (config.storage.backend == "postgres") {
    PgStore store({.conninfo = config.storage.postgres_url,
                   .timeout_ms = config.storage.postgres_timeout_ms});
    // The URL is not printed: it may hold a password.
    std::string done = describe(store.migrate(), "postgres");
    if (config.media.backend == "postgres")
      (void)open_blob_store(config, Clock::system(), /*migrate=*/true);
    return done;
  }
  SqliteStore store(sqlite::Options{.path = config.storage.sqlite_path, .threads = 1});
  return describe(store.migrate(), config.storage.sqlite_path);
}

std::unique_ptr<LocalCache> open_local_cache(const Config& config, const Clock& clock) {
  const CacheConfig& c = config.cache;
  if (!c.enabled) return nullptr;
  const int jitter = c.ttl_jitter_percent;
  const int ttl_ms =
      c.l2_nodes.empty()
          ? c.ttl_ms
          : std::min(c.ttl_ms, std::max(1, c.l1_max_staleness_ms * 100 / (100 + jitter)));
  return std::make_unique<LocalCache>(LocalCacheOptions{
      .policy = *parse_eviction_policy(c.policy),
      .max_bytes = c.max_bytes,
      .ttl = std::chrono::milliseconds(ttl_ms),
      .ttl_jitter_percent = jitter,
      .clock = &clock,
  });
}

std::unique_ptr<cache::SharedCache> open_l2_cache(const Config& config, MetricsRegistry& metrics,
                                                  const Clock& clock, Faults* faults) {
  if (!config.cache.enabled || config.cache.l2_nodes.empty()) return nullptr;
  cache::RedisCacheTierOptions o;
  o.nodes = redis::split_addresses(config.cache.l2_nodes);
  o.virtual_nodes = config.cache.l2_virtual_nodes;
  o.ttl = std::chrono::milliseconds(config.cache.l2_ttl_ms);
  o.timeout = std::chrono::milliseconds(config.cache.l2_timeout_ms);
  o.lease_wait = std::chrono::milliseconds(config.cache.l2_lease_wait_ms);
  o.clock = &clock;
  o.auth = redis_credentials(config.cache.l2_user, config.cache.l2_password_file,
                             "cache.l2_password_file");
  o.faults = faults;
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

std::unique_ptr<SessionStore> open_session_store(const Config& config, MetricsRegistry& metrics,
                                                 const Clock& clock, Faults* faults) {
  const SessionsConfig& s = config.sessions;
  if (s.backend == "sqlite") {
    const std::string path =
        s.sqlite_path.empty() ? beside_users_db(config, "ztm-sessions.db") : s.sqlite_path;
    return std::make_unique<SqliteSessionStore>(
        SqliteSessionOptions{.path = path, .clock = &clock});
  }
  if (s.backend != "redis")
    throw ConfigError("option 'sessions.backend': '" + s.backend + "' is neither sqlite nor redis");
  return std::make_unique<RedisSessionStore>(
      sessions_redis(config, metrics, clock, faults, "sessions"), RedisSessionOptions{});
}

std::unique_ptr<kpi::ActiveUserSketch> open_active_user_sketch(const Config& config,
                                                               MetricsRegistry& metrics,
                                                               const Clock& clock, Faults* faults) {
  const std::string& choice = config.kpi.sketch;
  const bool redis = choice == "redis" || (choice == "auto" && config.sessions.backend == "redis");
  if (!redis) return std::make_unique<kpi::LocalActiveUserSketch>();
  log::info("kpi sketch", {{"on", "the sessions' redis"}});
  return std::make_unique<kpi::RedisActiveUserSketch>(
      sessions_redis(config, metrics, clock, faults, "kpi"), kpi::RedisSketchOptions{});
}

std::unique_ptr<Queue> open_queue(const Config& config, const Clock& clock) {
  const QueueConfig& q = config.queue;
  QueueOptions queue;
  queue.ack_wait = std::chrono::milliseconds(q.ack_wait_ms);
  queue.max_deliveries = q.max_deliveries;
  if (q.backend == "embedded") {
    const std::string path =
        q.sqlite_path.empty() ? beside_users_db(config, "ztm-queue.db") : q.sqlite_path;
    return std::make_unique<EmbeddedQueue>(
        EmbeddedQueueOptions{.path = path, .queue = queue, .clock = &clock});
  }
  if (q.backend != "nats")
    throw ConfigError("option 'queue.backend': '" + q.backend + "' is neither embedded nor nats");
  return std::make_unique<NatsQueue>(NatsQueueOptions{.url = q.nats_url, .queue = queue});
}

std::unique_ptr<queue::Queue> open_purge_queue(const Config& config, const Clock& clock,
                                               const std::string& edge) {
  const QueueOptions queue{.ack_wait = std::chrono::milliseconds(2000),
                           .max_deliveries = std::numeric_limits<int>::max() - 1};
  if (config.queue.backend == "embedded")  // this process's own, with one purger per edge
    return std::make_unique<EmbeddedQueue>(
        EmbeddedQueueOptions{.path = beside_users_db(config, ("ztm-purge-" + edge + ".db").c_str()),
                             .queue = queue,
                             .clock = &clock});
  std::string upper;
  for (char ch : edge) upper += ch == '-' ? '_' : static_cast<char>(std::toupper(ch));
  // One message in flight per edge, across every web server's purger: a later sync can then
  // never be confirmed while an earlier purge is still held (docs/cdn.md, the lease's bound).
  // The relay puts a whole pass's keys in one message, so one at a time keeps up.
  return std::make_unique<NatsQueue>(NatsQueueOptions{.url = config.queue.nats_url,
                                                      .queue = queue,
                                                      .stream = "ZTM_PURGE_" + upper,
                                                      .subject = "ztm.purge." + edge,
                                                      .consumer = "ztm-purger-" + edge,
                                                      .dead_subject = "ztm.purge." + edge + ".dead",
                                                      .max_ack_pending = 1});
}

std::unique_ptr<cdn::Edge> open_edge(const NamedUrl& admin) {
  return std::make_unique<cdn::VarnishEdge>(
      cdn::VarnishEdgeOptions{.name = admin.name, .admin_url = admin.url});
}

std::unique_ptr<media::BlobStore> open_blob_store(const Config& config, const Clock& clock,
                                                  bool migrate) {
  if (config.media.backend == "postgres") {
    postgres::HostOptions options;
    options.connection.conninfo = config.storage.postgres_url;
    options.connection.timeout = std::chrono::milliseconds(config.storage.postgres_timeout_ms);
    options.connection.clock = &clock;
    auto store = std::make_unique<media::PgBlobStore>(options);
    if (migrate)
      if (auto r = run_sync(store->migrate()); !r)
        throw std::runtime_error("media: cannot create the blobs table: " + r.error().message);
    return store;
  }
  const std::string dir =
      config.media.dir.empty() ? beside_users_db(config, "media") : config.media.dir;
  return std::make_unique<media::LocalBlobStore>(
      media::LocalBlobStoreOptions{.dir = dir, .clock = &clock});
}

PasswordHasherOptions password_hasher_options(const AccountsConfig& accounts) {
  return {.threads = accounts.hash_threads,
          .max_pending = accounts.hash_max_pending,
          .ops = static_cast<std::uint64_t>(accounts.argon2_ops),
          .memory_bytes = static_cast<std::size_t>(accounts.argon2_memory_kib) * 1024};
}

AccountOptions account_options(const Config& config, const Clock& clock) {
  return {.session_ttl = std::chrono::seconds(config.sessions.ttl_s),
          .session_max_lifetime = std::chrono::seconds(config.sessions.max_lifetime_s),
          .clock = &clock,
          .attempts_per_account_address = config.accounts.login_attempts_per_account_address,
          .attempts_per_account = config.accounts.login_attempts_per_account,
          .attempts_per_address = config.accounts.login_attempts_per_address,
          .window = std::chrono::seconds(config.accounts.login_window_s)};
}

PhotoOptions photo_options(const Config& config) {
  return {.limits = image_limits(config),
          .image_threads = config.media.image_threads,
          .quotas = {.max_photos = config.media.user_max_photos,
                     .max_bytes = config.media.user_max_bytes,
                     .max_jobs_in_flight = config.media.user_max_jobs_in_flight},
          .blob_remove_grace = std::chrono::seconds(config.media.blob_remove_grace_s)};
}

app::ActivityOptions activity_options(const Config& config) {
  return {.max_seen = static_cast<std::size_t>(config.kpi.seen_limit),
          .max_pending = static_cast<std::size_t>(config.kpi.pending_limit)};
}

PhotoWorkerOptions worker_options(const Config& config) {
  return {.concurrency = config.worker.concurrency,
          .fetch_wait = std::chrono::milliseconds(config.worker.fetch_wait_ms),
          .heartbeat = std::chrono::milliseconds(std::max(100, config.queue.ack_wait_ms / 3)),
          .max_deliveries = config.queue.max_deliveries,
          .limits = image_limits(config)};
}

}  // namespace ztm::node
