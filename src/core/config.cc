#include "core/config.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>
#include <tuple>

namespace ztm {
namespace {

template <class Int, class Field>
ConfigOption int_option(std::string key, std::string help, Field field, Int lo, Int hi) {
  ConfigOption o;
  o.key = std::move(key);
  o.help = std::move(help) + fmt::format(" [{}..{}]", lo, hi);
  o.get = [field](const Config& c) { return std::to_string(field(const_cast<Config&>(c))); };
  o.set = [field, lo, hi](Config& c, std::string_view text) -> std::optional<std::string> {
    Int v{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size())
      return fmt::format("'{}' is not an integer", text);
    if (v < lo || v > hi) return fmt::format("{} is out of range [{}..{}]", v, lo, hi);
    field(c) = v;
    return std::nullopt;
  };
  return o;
}

template <class Field>
ConfigOption bool_option(std::string key, std::string help, Field field) {
  ConfigOption o;
  o.key = std::move(key);
  o.help = std::move(help) + " [true|false]";
  o.get = [field](const Config& c) { return field(const_cast<Config&>(c)) ? "true" : "false"; };
  o.set = [field](Config& c, std::string_view text) -> std::optional<std::string> {
    if (text == "true" || text == "1")
      field(c) = true;
    else if (text == "false" || text == "0")
      field(c) = false;
    else
      return fmt::format("'{}' is not true or false", text);
    return std::nullopt;
  };
  return o;
}

// A string option; `choices` empty means any non-empty value is accepted (or empty if allowed).
template <class Field>
ConfigOption string_option(std::string key, std::string help, Field field,
                           std::vector<std::string> choices = {}, bool allow_empty = false) {
  ConfigOption o;
  o.key = std::move(key);
  o.help = std::move(help);
  if (!choices.empty()) o.help += " [" + fmt::format("{}", fmt::join(choices, "|")) + "]";
  o.is_string = true;
  o.get = [field](const Config& c) { return field(const_cast<Config&>(c)); };
  o.set = [field, choices, allow_empty](Config& c,
                                        std::string_view text) -> std::optional<std::string> {
    if (!choices.empty()) {
      bool found = false;
      for (const auto& ch : choices) found = found || ch == text;
      if (!found) return fmt::format("'{}' is not one of {}", text, fmt::join(choices, ", "));
    } else if (text.empty() && !allow_empty) {
      return std::string("must not be empty");
    }
    field(c) = std::string(text);
    return std::nullopt;
  };
  return o;
}

#define ZTM_FIELD(path)     \
  [](Config & c) -> auto& { \
    return c.path;          \
  }

std::vector<ConfigOption> make_options() {
  constexpr int kDay = 86'400'000;
  return {
      int_option("node_id", "node part of generated ids; unique per live server",
                 ZTM_FIELD(node_id), 0, 127),
      string_option("http.address", "address to listen on", ZTM_FIELD(http.address)),
      int_option("http.port", "TCP port to listen on (0 = any free port)", ZTM_FIELD(http.port), 0,
                 65535),
      int_option("http.threads", "event loops (0 = one per core)", ZTM_FIELD(http.threads), 0, 256),
      int_option("http.max_connections", "open connections at most; more are refused with 503",
                 ZTM_FIELD(http.max_connections), 1, 1'000'000),
      int_option("http.max_connections_per_address",
                 "open connections from one client address at most (429 beyond); load balancers "
                 "in http.trusted_proxies are exempt",
                 ZTM_FIELD(http.max_connections_per_address), 1, 1'000'000),
      int_option("http.max_header_bytes", "request line and headers at most (431 beyond)",
                 ZTM_FIELD(http.max_header_bytes), 1024, 1 << 20),
      int_option("http.max_body_bytes", "request body at most (413 beyond)",
                 ZTM_FIELD(http.max_body_bytes), 1024, 64 << 20),
      int_option("http.max_json_depth", "nesting depth of a JSON body at most",
                 ZTM_FIELD(http.max_json_depth), 2, 64),
      int_option("http.first_request_timeout_ms",
                 "close a new connection that sends no byte within this",
                 ZTM_FIELD(http.first_request_timeout_ms), 10, kDay),
      int_option("http.idle_timeout_ms", "close a keep-alive connection idle this long",
                 ZTM_FIELD(http.idle_timeout_ms), 10, kDay),
      int_option("http.header_timeout_ms", "a request's headers must arrive within this",
                 ZTM_FIELD(http.header_timeout_ms), 10, kDay),
      int_option("http.body_timeout_ms",
                 "a request's body must arrive within this, plus 1 s per body_min_rate bytes",
                 ZTM_FIELD(http.body_timeout_ms), 10, kDay),
      int_option(
          "http.body_min_rate",
          "bytes/s a body must keep up past body_timeout_ms (0: none; a whole-body deadline)",
          ZTM_FIELD(http.body_min_rate), 0, 1 << 30),
      int_option("http.write_timeout_ms", "a response must be taken by the client within this",
                 ZTM_FIELD(http.write_timeout_ms), 10, kDay),
      int_option("http.drain_delay_ms", "on shutdown, fail /readyz this long before closing",
                 ZTM_FIELD(http.drain_delay_ms), 0, 600'000),
      int_option("http.shutdown_timeout_ms", "on shutdown, wait this long for in-flight requests",
                 ZTM_FIELD(http.shutdown_timeout_ms), 0, 600'000),
      string_option("http.static_dir", "directory of static files served under / (empty = off)",
                    ZTM_FIELD(http.static_dir), {}, true),
      string_option("http.trusted_proxies",
                    "load balancer addresses whose X-Forwarded-For/-Proto are believed (a,b)",
                    ZTM_FIELD(http.trusted_proxies), {}, true),
      string_option("storage.backend", "where users are stored", ZTM_FIELD(storage.backend),
                    {"sqlite", "postgres"}),
      string_option("storage.sqlite_path", "SQLite database file", ZTM_FIELD(storage.sqlite_path)),
      int_option("storage.sqlite_threads", "threads that run SQLite calls",
                 ZTM_FIELD(storage.sqlite_threads), 1, 64),
      bool_option("storage.sqlite_durable_commits",
                  "fsync every commit before acknowledging it (false: faster, may lose the last "
                  "commits on power loss, never on a crash of the process)",
                  ZTM_FIELD(storage.sqlite_durable_commits)),
      string_option("storage.postgres_url",
                    "PostgreSQL libpq connection string or URI; several hosts (h1,h2,h3) = a "
                    "cluster: writes to the primary, reads to replicas",
                    ZTM_FIELD(storage.postgres_url)),
      int_option("storage.postgres_connections",
                 "pipelined PostgreSQL connections per event loop and host, for reads",
                 ZTM_FIELD(storage.postgres_connections), 1, 64),
      int_option("storage.postgres_write_connections",
                 "pipelined PostgreSQL connections per event loop and host, for writes (opened as "
                 "concurrent writes need them: commits flush together)",
                 ZTM_FIELD(storage.postgres_write_connections), 1, 64),
      int_option("storage.postgres_timeout_ms",
                 "PostgreSQL connect and statement timeout (unavailable beyond)",
                 ZTM_FIELD(storage.postgres_timeout_ms), 10, 600'000),
      int_option("storage.postgres_max_replica_lag_ms",
                 "cluster: replicas not proven this fresh take no reads (0: none does)",
                 ZTM_FIELD(storage.postgres_max_replica_lag_ms), 0, 3'600'000),
      int_option("storage.postgres_discovery_interval_ms",
                 "cluster: how often each host's role and position are asked (at most half the "
                 "replica lag bound)",
                 ZTM_FIELD(storage.postgres_discovery_interval_ms), 50, 60'000),
      int_option("storage.postgres_hold_ms",
                 "cluster: with no primary reachable (a failover), calls wait this long for the "
                 "new one before 503 (0: never wait)",
                 ZTM_FIELD(storage.postgres_hold_ms), 0, 60'000),
      int_option("storage.postgres_max_held", "cluster: calls waiting at once (503 beyond)",
                 ZTM_FIELD(storage.postgres_max_held), 0, 1'000'000),
      string_option("storage.shard_map",
                    "the bucket map (docs/sharding.md): a JSON file, or etcd://HOST:PORT[,...]/KEY "
                    "to follow it live; users split over the PostgreSQL clusters it names (backend "
                    "postgres; empty: one database)",
                    ZTM_FIELD(storage.shard_map), {}, true),
      int_option("storage.shard_hold_ms",
                 "sharded: writes to a bucket being moved wait this long for the map that moves "
                 "it before 503 (0: never wait)",
                 ZTM_FIELD(storage.shard_hold_ms), 0, 60'000),
      int_option("storage.shard_max_held", "sharded: writes waiting at once (503 beyond)",
                 ZTM_FIELD(storage.shard_max_held), 0, 1'000'000),
      int_option("storage.shard_load_report_ms",
                 "sharded, map from etcd: this server's requests per shard, hot buckets and hot "
                 "users are written to etcd this often, for `ztm shard status` (0: never)",
                 ZTM_FIELD(storage.shard_load_report_ms), 0, 600'000),
      int_option("storage.max_pending", "queued storage calls at most (503 beyond)",
                 ZTM_FIELD(storage.max_pending), 1, 10'000'000),
      bool_option("storage.migrate_on_start", "apply pending schema migrations on start",
                  ZTM_FIELD(storage.migrate_on_start)),
      bool_option("cache.enabled", "read-through cache for GET /users/{id}",
                  ZTM_FIELD(cache.enabled)),
      string_option("cache.policy", "eviction policy", ZTM_FIELD(cache.policy),
                    {"s3fifo", "lru", "lfu", "fifo"}),
      int_option<std::int64_t>("cache.max_bytes", "cache size bound in bytes",
                               ZTM_FIELD(cache.max_bytes), 64 * 1024, std::int64_t{1} << 40),
      int_option("cache.ttl_ms", "time to live of a cached entry", ZTM_FIELD(cache.ttl_ms), 1,
                 kDay),
      int_option("cache.ttl_jitter_percent",
                 "each key's TTL is moved by up to this % either way (entries filled together "
                 "expire apart)",
                 ZTM_FIELD(cache.ttl_jitter_percent), 0, 50),
      string_option("cache.l2_nodes",
                    "L2 cache: Redis nodes on a consistent-hash ring, \"host:port,host:port\" "
                    "(empty = no L2)",
                    ZTM_FIELD(cache.l2_nodes), {}, true),
      int_option("cache.l2_ttl_ms", "time to live of an L2 entry", ZTM_FIELD(cache.l2_ttl_ms), 1,
                 kDay),
      int_option("cache.l2_timeout_ms", "each L2 command's timeout (a slower node counts as down)",
                 ZTM_FIELD(cache.l2_timeout_ms), 5, 60'000),
      int_option("cache.l2_lease_wait_ms",
                 "how long an L2 miss waits for another server's fill before reading the store",
                 ZTM_FIELD(cache.l2_lease_wait_ms), 1, 60'000),
      int_option("cache.l2_virtual_nodes", "ring points per L2 node",
                 ZTM_FIELD(cache.l2_virtual_nodes), 1, 4096),
      string_option("cache.l2_user",
                    "L2 cache: the nodes' Redis ACL user (empty = none; needs l2_password_file)",
                    ZTM_FIELD(cache.l2_user), {}, true),
      string_option("cache.l2_password_file",
                    "L2 cache: a file holding the Redis password (not readable by others; empty = "
                    "no AUTH)",
                    ZTM_FIELD(cache.l2_password_file), {}, true),
      int_option("cache.l1_max_staleness_ms",
                 "with L2 on, the L1 TTL is capped to this: how long another server's write may "
                 "go unseen here",
                 ZTM_FIELD(cache.l1_max_staleness_ms), 1, kDay),
      string_option("sessions.backend",
                    "where sessions and login counters live (redis: shared by all web servers)",
                    ZTM_FIELD(sessions.backend), {"sqlite", "redis"}),
      string_option("sessions.sqlite_path",
                    "SQLite file of sessions (backend sqlite); empty: ztm-sessions.db beside "
                    "storage.sqlite_path",
                    ZTM_FIELD(sessions.sqlite_path), {}, true),
      string_option("sessions.redis_address", "Redis host:port (backend redis without Sentinel)",
                    ZTM_FIELD(sessions.redis_address)),
      string_option("sessions.redis_sentinels",
                    "Sentinels host:port,host:port that name the Redis master (empty = none)",
                    ZTM_FIELD(sessions.redis_sentinels), {}, true),
      string_option("sessions.redis_master_name", "the master's name in Sentinel",
                    ZTM_FIELD(sessions.redis_master_name)),
      int_option("sessions.redis_timeout_ms", "Redis connect and command timeout",
                 ZTM_FIELD(sessions.redis_timeout_ms), 10, 60'000),
      string_option("sessions.redis_user",
                    "the Redis servers' ACL user (empty = none; needs redis_password_file)",
                    ZTM_FIELD(sessions.redis_user), {}, true),
      string_option("sessions.redis_password_file",
                    "a file holding the Redis password (not readable by others; empty = no AUTH)",
                    ZTM_FIELD(sessions.redis_password_file), {}, true),
      string_option("sessions.redis_sentinel_user",
                    "the Sentinels' ACL user (empty = none; needs redis_sentinel_password_file)",
                    ZTM_FIELD(sessions.redis_sentinel_user), {}, true),
      string_option("sessions.redis_sentinel_password_file",
                    "a file holding the Sentinels' password (empty = no AUTH to Sentinels)",
                    ZTM_FIELD(sessions.redis_sentinel_password_file), {}, true),
      int_option("sessions.ttl_s", "idle session lifetime (sliding)", ZTM_FIELD(sessions.ttl_s), 60,
                 365 * 86'400),
      int_option("sessions.max_lifetime_s", "a session's whole lifetime from its login (absolute)",
                 ZTM_FIELD(sessions.max_lifetime_s), 60, 365 * 86'400),
      string_option("sessions.cookie_secure", "mark the session cookie Secure",
                    ZTM_FIELD(sessions.cookie_secure), {"auto", "always", "never"}),
      int_option("accounts.hash_threads", "threads that hash passwords (Argon2id)",
                 ZTM_FIELD(accounts.hash_threads), 1, 64),
      int_option("accounts.hash_max_pending", "queued password hashes at most (503 beyond)",
                 ZTM_FIELD(accounts.hash_max_pending), 1, 100'000),
      int_option<std::int64_t>("accounts.argon2_ops", "Argon2id passes (opslimit)",
                               ZTM_FIELD(accounts.argon2_ops), 1, 10),
      int_option<std::int64_t>("accounts.argon2_memory_kib", "Argon2id memory per hash in KiB",
                               ZTM_FIELD(accounts.argon2_memory_kib), 8, 1024 * 1024),
      int_option("accounts.login_attempts_per_account_address",
                 "logins to one account from one client address per window (429 beyond)",
                 ZTM_FIELD(accounts.login_attempts_per_account_address), 1, 1'000'000),
      int_option("accounts.login_attempts_per_account",
                 "logins to one account from all addresses per window (429 beyond)",
                 ZTM_FIELD(accounts.login_attempts_per_account), 1, 1'000'000),
      int_option("accounts.login_attempts_per_address",
                 "logins per client address per window (429 beyond)",
                 ZTM_FIELD(accounts.login_attempts_per_address), 1, 1'000'000),
      int_option("accounts.login_window_s", "the login rate-limit window",
                 ZTM_FIELD(accounts.login_window_s), 1, 86'400),
      string_option("queue.backend", "job queue (nats: JetStream, shared by every worker)",
                    ZTM_FIELD(queue.backend), {"embedded", "nats"}),
      string_option("queue.sqlite_path",
                    "SQLite file of the embedded queue; empty: ztm-queue.db beside "
                    "storage.sqlite_path",
                    ZTM_FIELD(queue.sqlite_path), {}, true),
      string_option("queue.nats_url", "NATS server URL(s), nats://host:port[,nats://...]",
                    ZTM_FIELD(queue.nats_url)),
      int_option("queue.ack_wait_ms", "a fetched job not acked within this is delivered again",
                 ZTM_FIELD(queue.ack_wait_ms), 100, 3'600'000),
      int_option("queue.max_deliveries", "deliveries of a job before it is dead-lettered",
                 ZTM_FIELD(queue.max_deliveries), 1, 1000),
      int_option("queue.outbox_poll_ms",
                 "the outbox relay looks for new jobs this often while the outbox is empty",
                 ZTM_FIELD(queue.outbox_poll_ms), 1, 60'000),
      string_option("media.backend",
                    "where photo bytes live (postgres: in storage.postgres_url's database)",
                    ZTM_FIELD(media.backend), {"local", "postgres"}),
      string_option("media.dir",
                    "local: the directory of photo bytes; empty: media/ beside "
                    "storage.sqlite_path",
                    ZTM_FIELD(media.dir), {}, true),
      int_option("media.max_upload_bytes", "an uploaded image's bytes at most (413 beyond)",
                 ZTM_FIELD(media.max_upload_bytes), 1024, 256 << 20),
      int_option<std::int64_t>("media.max_pixels", "an image's width x height at most (422 beyond)",
                               ZTM_FIELD(media.max_pixels), 1, 1'000'000'000),
      int_option("media.image_threads", "threads that check uploads (libvips)",
                 ZTM_FIELD(media.image_threads), 1, 64),
      int_option<std::int64_t>(
          "media.max_edit_cost",
          "an edit job's estimated cost at most, in pixel-passes (422 beyond; docs/media.md)",
          ZTM_FIELD(media.max_edit_cost), 1'000'000, 1'000'000'000'000),
      int_option("media.user_max_photos", "photos a user may own (429 beyond)",
                 ZTM_FIELD(media.user_max_photos), 1, 100'000'000),
      int_option<std::int64_t>("media.user_max_bytes",
                               "bytes of photos a user may own (429 beyond)",
                               ZTM_FIELD(media.user_max_bytes), 1, std::int64_t{1} << 50),
      int_option("media.user_max_jobs_in_flight",
                 "edit jobs a user may have queued or running (429 beyond)",
                 ZTM_FIELD(media.user_max_jobs_in_flight), 1, 100'000),
      int_option("media.blob_remove_grace_s",
                 "a deleted photo's bytes stay if they were put within this, since an upload of "
                 "the same bytes may be about to use them (docs/media.md)",
                 ZTM_FIELD(media.blob_remove_grace_s), 0, 86'400),
      int_option("media.blob_collect_interval_s",
                 "how often a web server removes the bytes of deleted photos kept by that grace "
                 "time, once it has passed and no photo holds them; 0: never (docs/media.md)",
                 ZTM_FIELD(media.blob_collect_interval_s), 0, 86'400),
      bool_option("worker.in_process", "`ztm serve` runs the photo workers itself",
                  ZTM_FIELD(worker.in_process)),
      int_option("worker.concurrency", "photo jobs at once per process",
                 ZTM_FIELD(worker.concurrency), 1, 256),
      int_option("worker.fetch_wait_ms",
                 "one fetch waits this long for a job (a stopping worker notices within it)",
                 ZTM_FIELD(worker.fetch_wait_ms), 10, 60'000),
      string_option("cdn.edges",
                    "CDN edges browsers load public content from, \"name=http://host[:port],...\" "
                    "(GET /cdn.json lists them; empty = no CDN)",
                    ZTM_FIELD(cdn.edges), {}, true),
      string_option("cdn.edge_admins",
                    "each edge's purge listener, \"name=http://host:port,...\" (empty = no purges)",
                    ZTM_FIELD(cdn.edge_admins), {}, true),
      string_option("cdn.edge_metrics",
                    "each edge's Prometheus exporter, \"name=http://host:port,...\" (its /metrics: "
                    "ztm cdn status shows hit ratios; empty = none)",
                    ZTM_FIELD(cdn.edge_metrics), {}, true),
      string_option("cdn.edge_networks",
                    "which edge serves each client network, \"10.77.0.32/27=edge1,...\" "
                    "(GET /cdn.json prefers it, longest prefix first; empty = the first edge)",
                    ZTM_FIELD(cdn.edge_networks), {}, true),
      int_option("cdn.ttl_s", "how long edges keep a user (purged on write)", ZTM_FIELD(cdn.ttl_s),
                 1, 31'536'000),
      int_option("cdn.list_ttl_s", "how long edges keep a page of users or of a user's photos",
                 ZTM_FIELD(cdn.list_ttl_s), 1, 31'536'000),
      int_option("cdn.photo_ttl_s", "how long edges keep a photo's metadata",
                 ZTM_FIELD(cdn.photo_ttl_s), 1, 31'536'000),
      int_option("cdn.stale_while_revalidate_s",
                 "edges may answer this stale while they refetch (RFC 5861)",
                 ZTM_FIELD(cdn.stale_while_revalidate_s), 0, 86'400),
      int_option("cdn.stale_if_error_s", "edges may answer this stale while the origin fails",
                 ZTM_FIELD(cdn.stale_if_error_s), 0, 31'536'000),
      string_option("log.level", "log level", ZTM_FIELD(log.level),
                    {"trace", "debug", "info", "warn", "error", "off"}),
      string_option("log.access", "which requests are logged", ZTM_FIELD(log.access),
                    {"all", "errors", "off"}),
      int_option("log.slow_ms", "with log.access=errors, also log requests slower than this",
                 ZTM_FIELD(log.slow_ms), 0, kDay),
      string_option("log.host", "the host name on every log line (empty = the machine's)",
                    ZTM_FIELD(log.host), {}, true),
      int_option("log.trace_sample_pct",
                 "percent of new traces whose spans are logged (a sampled traceparent always is)",
                 ZTM_FIELD(log.trace_sample_pct), 0, 100),
      string_option("kpi.sketch",
                    "live DAU/WAU/MAU sketch: auto (the sessions' Redis when sessions.backend = "
                    "redis, else in-process), local (in-process) or redis (the sessions' Redis)",
                    ZTM_FIELD(kpi.sketch), {"auto", "local", "redis"}),
      int_option("kpi.refresh_interval_ms",
                 "how often the KPI gauges of /metrics are recomputed (0 = no KPI gauges)",
                 ZTM_FIELD(kpi.refresh_interval_ms), 0, kDay),
      int_option("kpi.activity_flush_ms", "how often active users' rows are written",
                 ZTM_FIELD(kpi.activity_flush_ms), 10, 600'000),
      int_option("kpi.seen_limit",
                 "users remembered as active today per process (beyond: written every flush)",
                 ZTM_FIELD(kpi.seen_limit), 1, 100'000'000),
      int_option("kpi.pending_limit",
                 "activity rows waiting for a flush at most (dropped and counted beyond)",
                 ZTM_FIELD(kpi.pending_limit), 1, 100'000'000),
  };
}

#undef ZTM_FIELD

const ConfigOption* find_option(std::string_view key) {
  for (const auto& o : config_options())
    if (o.key == key) return &o;
  return nullptr;
}

void flatten(const toml::table& table, const std::string& prefix,
             std::vector<std::pair<std::string, std::string>>& out, const std::string& path) {
  for (const auto& [k, node] : table) {
    const std::string key =
        prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const auto* sub = node.as_table()) {
      flatten(*sub, key, out, path);
    } else if (const auto* s = node.as_string()) {
      out.emplace_back(key, s->get());
    } else if (const auto* i = node.as_integer()) {
      out.emplace_back(key, std::to_string(i->get()));
    } else if (const auto* b = node.as_boolean()) {
      out.emplace_back(key, b->get() ? "true" : "false");
    } else {
      throw ConfigError(
          fmt::format("{}: option '{}' must be a string, integer or boolean", path, key));
    }
  }
}

// The body of a TOML basic string: '"', '\\' and the control characters TOML forbids there
// unescaped (all but TAB, and DEL) are escaped, so that any value prints as TOML that reads back.
std::string toml_escape(std::string_view s) {
  std::string out;
  for (char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if ((u < 0x20 && ch != '\t') || u == 0x7f) {
      out += fmt::format("\\u{:04X}", u);
    } else {
      out += ch;
    }
  }
  return out;
}

}  // namespace

const std::vector<ConfigOption>& config_options() {
  static const std::vector<ConfigOption> options = make_options();
  return options;
}

std::string env_name(std::string_view key) {
  std::string out = "ZTM_";
  for (char ch : key) out += ch == '.' ? '_' : static_cast<char>(std::toupper(ch));
  return out;
}

void apply_settings(Config& config, const std::vector<std::pair<std::string, std::string>>& kv,
                    std::string_view source) {
  for (const auto& [key, value] : kv) {
    const ConfigOption* option = find_option(key);
    if (!option) throw ConfigError(fmt::format("{}: unknown option '{}'", source, key));
    if (auto err = option->set(config, value))
      throw ConfigError(fmt::format("{}: option '{}': {}", source, key, *err));
  }
}

namespace {

// Runs a toml++ parse (of a file or of text) and flattens its table; `source` names it in errors.
template <typename Parse>
std::vector<std::pair<std::string, std::string>> toml_settings(Parse parse,
                                                               const std::string& source) {
  toml::table table;
  try {
    table = parse();
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    throw ConfigError(
        fmt::format("{}:{}:{}: {}", source, where.line, where.column, e.description()));
  }
  std::vector<std::pair<std::string, std::string>> out;
  flatten(table, "", out, source);
  return out;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> read_toml_settings(const std::string& path) {
  return toml_settings([&] { return toml::parse_file(path); }, path);
}

std::vector<std::pair<std::string, std::string>> parse_toml_settings(std::string_view text,
                                                                     const std::string& source) {
  return toml_settings([&] { return toml::parse(text, std::string_view(source)); }, source);
}

std::vector<std::pair<std::string, std::string>> read_env_settings(char** environ_vars) {
  std::vector<std::pair<std::string, std::string>> out;
  for (char** e = environ_vars; e && *e; ++e) {
    std::string_view entry(*e);
    const auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    const auto name = entry.substr(0, eq);
    for (const auto& o : config_options())
      if (env_name(o.key) == name) out.emplace_back(o.key, std::string(entry.substr(eq + 1)));
  }
  return out;
}

bool is_etcd_address(std::string_view text) {
  return text.starts_with("etcd://");
}

EtcdKeyAddress parse_etcd_address(std::string_view text) {
  constexpr std::string_view form = "etcd://HOST:PORT[,HOST:PORT...]/KEY";
  if (!is_etcd_address(text)) throw std::invalid_argument(fmt::format("not {}", form));
  std::string_view rest = text.substr(7);
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 == rest.size())
    throw std::invalid_argument(fmt::format("no key: the form is {}", form));
  EtcdKeyAddress out;
  out.key = std::string(rest.substr(slash));
  if (out.key.size() > 1024 ||
      !std::all_of(out.key.begin(), out.key.end(), [](char ch) { return ch > ' ' && ch < 127; }))
    throw std::invalid_argument("the key must be at most 1024 printable characters, no spaces");
  std::string_view hosts = rest.substr(0, slash);
  while (true) {
    const auto comma = hosts.find(',');
    const std::string_view item = hosts.substr(0, comma);
    const auto colon = item.rfind(':');
    const std::string_view host = colon == std::string_view::npos ? "" : item.substr(0, colon);
    const std::string_view port = colon == std::string_view::npos ? "" : item.substr(colon + 1);
    int number = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
    const bool host_ok =
        !host.empty() && host.size() <= 255 && std::all_of(host.begin(), host.end(), [](char ch) {
          return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' ||
                 ch == ':' || ch == '[' || ch == ']';
        });
    if (!host_ok || port.empty() || ec != std::errc{} || end != port.data() + port.size() ||
        number < 1 || number > 65535)
      throw std::invalid_argument(
          fmt::format("'{}' is not host:port (the form is {})", item.substr(0, 80), form));
    out.endpoints.emplace_back(item);
    if (comma == std::string_view::npos) break;
    hosts = hosts.substr(comma + 1);
  }
  return out;
}

std::vector<NamedUrl> parse_named_urls(std::string_view text) {
  std::vector<NamedUrl> out;
  auto host_char = [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' || ch == ':' ||
           ch == '[' || ch == ']';
  };
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    const auto eq = item.find('=');
    if (eq == std::string_view::npos)
      throw std::invalid_argument(fmt::format("'{}' is not name=url", item));
    NamedUrl entry{std::string(item.substr(0, eq)), std::string(item.substr(eq + 1))};
    const bool name_ok = !entry.name.empty() && entry.name.size() <= 32 &&
                         std::all_of(entry.name.begin(), entry.name.end(), [](char ch) {
                           return std::islower(static_cast<unsigned char>(ch)) ||
                                  std::isdigit(static_cast<unsigned char>(ch)) || ch == '-';
                         });
    if (!name_ok)
      throw std::invalid_argument(
          fmt::format("name '{}' is not 1 to 32 of [a-z0-9-]", entry.name.substr(0, 40)));
    std::string_view rest = entry.url;
    const bool scheme = rest.starts_with("http://") || rest.starts_with("https://");
    rest.remove_prefix(rest.find("//") == std::string_view::npos ? 0 : rest.find("//") + 2);
    if (!scheme || rest.empty() || rest.size() > 255 ||
        !std::all_of(rest.begin(), rest.end(), host_char))
      throw std::invalid_argument(
          fmt::format("'{}' is not http(s)://host[:port] without a path", entry.url.substr(0, 80)));
    for (const auto& other : out)
      if (other.name == entry.name)
        throw std::invalid_argument(fmt::format("name '{}' appears twice", entry.name));
    out.push_back(std::move(entry));
  }
  return out;
}

std::vector<EdgeNetwork> parse_edge_networks(std::string_view text) {
  std::vector<EdgeNetwork> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    const auto eq = item.find('=');
    const auto slash = item.substr(0, eq).find('/');
    if (eq == std::string_view::npos || slash == std::string_view::npos)
      throw std::invalid_argument(
          fmt::format("'{}' is not address/prefix=edge", item.substr(0, 80)));
    EdgeNetwork net;
    net.text = std::string(item.substr(0, eq));
    net.edge = std::string(item.substr(eq + 1));
    const std::string address(item.substr(0, slash));
    const std::string_view bits = item.substr(slash + 1, eq - slash - 1);
    const bool v4 = address.find(':') == std::string::npos;
    int prefix = -1;
    const auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), prefix);
    const bool address_ok = v4 ? inet_pton(AF_INET, address.c_str(), net.address.data() + 12) == 1
                               : inet_pton(AF_INET6, address.c_str(), net.address.data()) == 1;
    if (!address_ok || ec != std::errc{} || end != bits.data() + bits.size() || bits.empty() ||
        prefix < 0 || prefix > (v4 ? 32 : 128))
      throw std::invalid_argument(
          fmt::format("'{}' is not a network: IPv4 a.b.c.d/0..32 or IPv6 x:x::x/0..128",
                      net.text.substr(0, 80)));
    if (v4) {
      net.address[10] = net.address[11] = 0xff;
      prefix += 96;
    }
    net.prefix = prefix;
    for (int bit = prefix; bit < 128; ++bit)
      if (net.address[bit / 8] & (0x80 >> (bit % 8)))
        throw std::invalid_argument(
            fmt::format("'{}' has bits set past its prefix (write the network's first address)",
                        net.text.substr(0, 80)));
    const bool name_ok = !net.edge.empty() && net.edge.size() <= 32 &&
                         std::all_of(net.edge.begin(), net.edge.end(), [](char ch) {
                           return std::islower(static_cast<unsigned char>(ch)) ||
                                  std::isdigit(static_cast<unsigned char>(ch)) || ch == '-';
                         });
    if (!name_ok)
      throw std::invalid_argument(
          fmt::format("edge name '{}' is not 1 to 32 of [a-z0-9-]", net.edge.substr(0, 40)));
    for (const auto& other : out)
      if (other.address == net.address && other.prefix == net.prefix)
        throw std::invalid_argument(fmt::format("network '{}' appears twice", net.text));
    out.push_back(std::move(net));
  }
  return out;
}

void validate(const Config& c) {
  if (c.sessions.max_lifetime_s < c.sessions.ttl_s)
    throw ConfigError(fmt::format(
        "option 'sessions.max_lifetime_s' ({}) must be at least 'sessions.ttl_s' ({}): a session "
        "ends at whichever comes first",
        c.sessions.max_lifetime_s, c.sessions.ttl_s));
  if (const auto& s = c.storage;
      s.postgres_max_replica_lag_ms > 0 &&
      s.postgres_max_replica_lag_ms < 2 * s.postgres_discovery_interval_ms)
    throw ConfigError(fmt::format(
        "option 'storage.postgres_max_replica_lag_ms' ({}) must be 0 or at least twice "
        "'storage.postgres_discovery_interval_ms' ({}): a replica's freshness is proven by "
        "samples that far apart",
        s.postgres_max_replica_lag_ms, s.postgres_discovery_interval_ms));
  if (!c.storage.shard_map.empty() && c.storage.backend != "postgres")
    throw ConfigError(
        "option 'storage.shard_map' needs 'storage.backend' postgres: shards are PostgreSQL "
        "clusters");
  if (is_etcd_address(c.storage.shard_map)) {
    try {
      parse_etcd_address(c.storage.shard_map);
    } catch (const std::invalid_argument& e) {
      throw ConfigError(fmt::format("option 'storage.shard_map': {}", e.what()));
    }
  }
  if (const int ms = c.storage.shard_load_report_ms; ms != 0 && ms < 1000)
    throw ConfigError(fmt::format(
        "option 'storage.shard_load_report_ms' ({}) must be 0 (no reports) or at least 1000: "
        "every server writes its report to etcd that often",
        ms));
  for (const auto& [user_key, user, file_key, file] :
       {std::tuple{"cache.l2_user", &c.cache.l2_user, "cache.l2_password_file",
                   &c.cache.l2_password_file},
        std::tuple{"sessions.redis_user", &c.sessions.redis_user, "sessions.redis_password_file",
                   &c.sessions.redis_password_file},
        std::tuple{"sessions.redis_sentinel_user", &c.sessions.redis_sentinel_user,
                   "sessions.redis_sentinel_password_file",
                   &c.sessions.redis_sentinel_password_file}}) {
    if (user->size() > 128 ||
        !std::all_of(user->begin(), user->end(), [](char ch) { return ch > ' ' && ch < 127; }))
      throw ConfigError(fmt::format(
          "option '{}' must be at most 128 printable characters without spaces", user_key));
    if (!user->empty() && file->empty())
      throw ConfigError(
          fmt::format("option '{}' needs '{}': Redis authenticates a user by its password",
                      user_key, file_key));
  }
  if (c.http.header_timeout_ms > c.http.idle_timeout_ms)
    throw ConfigError(fmt::format(
        "option 'http.header_timeout_ms' ({}) must not exceed 'http.idle_timeout_ms' ({})",
        c.http.header_timeout_ms, c.http.idle_timeout_ms));
  if (c.log.host.size() > 64 || !std::all_of(c.log.host.begin(), c.log.host.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.';
      }))
    throw ConfigError("option 'log.host' must be at most 64 of [A-Za-z0-9.-]");
  if (c.cache.enabled && c.cache.max_bytes < 64 * 1024)
    throw ConfigError("option 'cache.max_bytes' must be at least 65536 when the cache is enabled");
  for (const auto& [key, value] :
       {std::pair{"cdn.edges", &c.cdn.edges}, std::pair{"cdn.edge_admins", &c.cdn.edge_admins},
        std::pair{"cdn.edge_metrics", &c.cdn.edge_metrics}}) {
    try {
      parse_named_urls(*value);
    } catch (const std::invalid_argument& e) {
      throw ConfigError(fmt::format("option '{}': {}", key, e.what()));
    }
  }
  try {
    const auto edges = parse_named_urls(c.cdn.edges);
    for (const auto& net : parse_edge_networks(c.cdn.edge_networks))
      if (std::none_of(edges.begin(), edges.end(),
                       [&](const NamedUrl& e) { return e.name == net.edge; }))
        throw std::invalid_argument(fmt::format("'{}={}': '{}' is not an edge in 'cdn.edges'",
                                                net.text, net.edge, net.edge));
  } catch (const std::invalid_argument& e) {
    throw ConfigError(fmt::format("option 'cdn.edge_networks': {}", e.what()));
  }
}

std::string to_toml(const Config& config) {
  std::string out;
  std::string section;
  for (const auto& o : config_options()) {
    const auto dot = o.key.find('.');
    const std::string sec = dot == std::string::npos ? "" : o.key.substr(0, dot);
    const std::string name = dot == std::string::npos ? o.key : o.key.substr(dot + 1);
    if (sec != section) {
      out += fmt::format("\n[{}]\n", sec);
      section = sec;
    }
    const std::string value = o.get(config);
    if (o.is_string) {
      out += fmt::format("{} = \"{}\"", name, toml_escape(value));
    } else {
      out += fmt::format("{} = {}", name, value);
    }
    out += fmt::format("  # {}\n", o.help);
  }
  return out;
}

}  // namespace ztm
