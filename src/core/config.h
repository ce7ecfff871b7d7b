#pragma once
// The service's configuration. Every option has a default, a validation with a message that
// names it, and a line in docs/configuration.md. Sources, later ones win:
//   defaults -> TOML file (--config) -> ZTM_* environment -> command-line flags.
// One table (config_options()) drives all four sources, `--help` and `ztm config print`.

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ztm {

struct HttpConfig {
  std::string address = "127.0.0.1";
  int port = 8080;
  int threads = 0;  // event loops; 0 = one per core
  int max_connections = 10000;
  int max_connections_per_address = 128;  // trusted proxies are exempt
  int max_header_bytes = 8 * 1024;
  int max_body_bytes = 64 * 1024;
  int max_json_depth = 16;
  int first_request_timeout_ms = 5'000;  // a new connection's first byte
  int idle_timeout_ms = 60'000;          // keep-alive connection with no request started
  int header_timeout_ms = 10'000;        // from the first byte of a request to its last header
  int body_timeout_ms = 30'000;          // reading the body: this, plus 1 s per
  int body_min_rate = 16 * 1024;         // ...these many bytes read (0: a whole-body deadline)
  int write_timeout_ms = 30'000;         // a client that does not read its responses
  int drain_delay_ms = 0;            // on shutdown: fail /readyz this long before closing listeners
  int shutdown_timeout_ms = 10'000;  // then wait at most this long for in-flight requests
  std::string static_dir;            // static files served under /; empty = off
  // Load balancers whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated IPs);
  // the client address of a request from any other peer is the peer itself.
  std::string trusted_proxies;
};

struct StorageConfig {
  std::string backend = "sqlite";  // sqlite | postgres
  std::string sqlite_path = "data/ztm.db";
  int sqlite_threads = 4;              // the bounded pool that runs SQLite off the event loops
  bool sqlite_durable_commits = true;  // fsync every commit (synchronous=FULL)
  int max_pending = 10'000;            // queued storage calls beyond this are refused (503)
  std::string postgres_url = "postgresql:///ztm";  // libpq connection string or URI
  int postgres_connections = 2;         // pipelined connections per event loop, for reads
  int postgres_write_connections = 16;  // and for writes (group commit wants many)
  int postgres_timeout_ms = 5000;       // connect, and each statement's round trip
  // With several hosts in postgres_url (a cluster): replicas lagging more take no reads, and
  // each host's role is asked this often.
  int postgres_max_replica_lag_ms = 1000;
  int postgres_discovery_interval_ms = 250;
  // With no primary reachable, calls wait for the new one (at most this long, this many).
  int postgres_hold_ms = 15'000;
  int postgres_max_held = 1000;
  // The bucket map (docs/sharding.md): a JSON file read once at start, or
  // etcd://HOST:PORT[,...]/KEY, kept current by a watch. Users are split over the PostgreSQL
  // clusters it names, each one opened as postgres_url would be (backend postgres). Empty: one
  // database.
  std::string shard_map;
  // Writes to a bucket being moved (fenced in the map) wait at most this long, this many at
  // once, for the map that moves it (503 beyond).
  int shard_hold_ms = 2000;
  int shard_max_held = 1000;
  // With the map from etcd: this server's load report (/ztm/shards/load/<host>-<node>) is written
  // this often (docs/sharding.md, "Load"); 0: never.
  int shard_load_report_ms = 5000;
  bool migrate_on_start = true;  // apply pending migrations when `serve` starts
};

struct CacheConfig {
  bool enabled = true;
  std::string policy = "s3fifo";  // s3fifo | lru | lfu | fifo (docs/cache.md: why s3fifo)
  std::int64_t max_bytes = 64LL * 1024 * 1024;
  int ttl_ms = 60'000;
  int ttl_jitter_percent = 10;  // each key's TTL is ttl_ms +- up to this %, fixed per key
  // L2: a ring of Redis nodes shared by every web server (docs/cache.md "L2: Redis ring").
  std::string l2_nodes;        // "10.77.1.40:6379,10.77.1.41:6379"; empty = no L2
  int l2_ttl_ms = 300'000;     // of an L2 entry (+- 10%)
  int l2_timeout_ms = 100;     // each L2 command; a slower node counts as failing
  int l2_lease_wait_ms = 300;  // how long a miss waits for another server's fill
  int l2_virtual_nodes = 160;  // ring points per node
  // The nodes' ACL user and the file holding its password (core/secret_file.h: a password is
  // never written in the config). Both empty: no AUTH. A password without a user authenticates as
  // Redis's `default` user (AUTH <password>).
  std::string l2_user;
  std::string l2_password_file;
  // With L2 on, the L1 TTL is capped to this: how long another server's write may go unseen in
  // this server's L1 (writes delete L2 and the writer's L1 only).
  int l1_max_staleness_ms = 2'000;
};

// Where sessions and login rate-limit counters live (sessions/session_store.h).
struct SessionsConfig {
  std::string backend = "sqlite";  // sqlite (embedded) | redis (shared by every web server)
  std::string sqlite_path;         // empty: ztm-sessions.db beside storage.sqlite_path
  // redis: one server "host:port", or (with redis_sentinels) the master Sentinel names.
  std::string redis_address = "127.0.0.1:6379";
  std::string redis_sentinels;  // "10.77.1.30:26379,10.77.1.31:26379"; empty = no Sentinel
  std::string redis_master_name = "ztm-sessions";
  int redis_timeout_ms = 1000;  // connect and each command's round trip
  // The Redis servers' ACL user and password file (as cache.l2_user / l2_password_file), and
  // the Sentinels' own (a Sentinel has users of its own; asked only with redis_sentinels).
  std::string redis_user;
  std::string redis_password_file;
  std::string redis_sentinel_user;
  std::string redis_sentinel_password_file;
  int ttl_s = 14 * 86'400;             // sliding: every authenticated request extends it
  int max_lifetime_s = 30 * 86'400;    // absolute: from the login, however often it is used
  std::string cookie_secure = "auto";  // auto (when the request came over TLS) | always | never
};

struct AccountsConfig {
  int hash_threads = 2;         // the bounded pool that runs Argon2id off the event loops
  int hash_max_pending = 256;   // queued hashes beyond this are refused (503)
  std::int64_t argon2_ops = 2;  // crypto_pwhash opslimit
  std::int64_t argon2_memory_kib = 19 * 1024;  // crypto_pwhash memlimit (OWASP: 19 MiB, t=2)
  // Logins per login_window_s, failed or not: for one account from one client address
  // (tight: guessing), for one account from everywhere (loose: so that an attacker cannot lock
  // the owner out from one address), and from one address to any account.
  int login_attempts_per_account_address = 10;
  int login_attempts_per_account = 100;
  int login_attempts_per_address = 50;
  int login_window_s = 60;
};

// The job queue between the web tier and the workers (queue/queue.h, docs/queue.md).
struct QueueConfig {
  std::string backend = "embedded";  // embedded (SQLite, in-process workers) | nats (JetStream)
  std::string sqlite_path;           // embedded: empty = ztm-queue.db beside storage.sqlite_path
  std::string nats_url = "nats://127.0.0.1:4222";  // nats: one URL or several, comma-separated
  int ack_wait_ms = 30000;   // a fetched message not acked within this is delivered again
  int max_deliveries = 5;    // then it goes to the dead letters
  int outbox_poll_ms = 100;  // the outbox relay's look for new jobs while the outbox is empty
};

// Photo bytes and image limits (docs/media.md).
struct MediaConfig {
  std::string backend =
      "local";      // local (a directory) | postgres (storage.postgres_url's database)
  std::string dir;  // local: empty = media/ beside storage.sqlite_path
  int max_upload_bytes = 20 << 20;
  std::int64_t max_pixels = 50'000'000;
  int image_threads = 2;                       // the pool that checks uploads with libvips
  std::int64_t max_edit_cost = 2'000'000'000;  // an edit job's pixel-passes (media::estimate_cost)
  // Per user (a photo's owner): 429 + Retry-After beyond.
  int user_max_photos = 5000;
  std::int64_t user_max_bytes = std::int64_t{2} << 30;
  int user_max_jobs_in_flight = 10;  // queued or running
  // A deleted photo's bytes stay when they were put within this (an upload of the same bytes may
  // be about to use them; docs/media.md).
  int blob_remove_grace_s = 600;
  // How often a web server collects the bytes kept that way once no photo holds them and the
  // grace time has passed (app/blob_collector.h); 0: never.
  int blob_collect_interval_s = 60;
};

// The photo workers (app/photo_worker.h).
struct WorkerConfig {
  bool in_process = true;   // `ztm serve` runs workers itself (the single server)
  int concurrency = 2;      // jobs at once per process
  int fetch_wait_ms = 500;  // one fetch waits this long for a job
};

// The CDN (docs/cdn.md): edges that serve public content near the users, and how long they may
// keep the origin's answers. The origin's caching headers are sent with or without edges.
struct CdnConfig {
  // "edge1=http://10.77.0.21,edge2=http://10.77.0.22": where browsers load assets and public
  // reads (GET /cdn.json tells them); empty = no CDN.
  std::string edges;
  // "edge1=http://10.77.1.81:6091,...": each edge's purge listener; empty = no purges.
  std::string edge_admins;
  // "edge1=http://10.77.1.81:9131,...": each edge's Prometheus exporter (its /metrics), for
  // the hit ratio in `ztm cdn status`; empty = not shown.
  std::string edge_metrics;
  // "10.77.0.32/27=edge1,10.77.0.64/27=edge2": which edge serves the clients of each network
  // (GET /cdn.json prefers it; the longest prefix holding the client wins, else the first edge);
  // empty = the first edge for everyone.
  std::string edge_networks;
  int ttl_s = 3600;                   // GET /users/{id} at the edges (purged on write)
  int list_ttl_s = 300;               // GET /users pages and a user's photo pages
  int photo_ttl_s = 86'400;           // GET /photos/{id} (a photo never changes; it is deleted)
  int stale_while_revalidate_s = 30;  // an edge answers stale while it refetches (RFC 5861)
  int stale_if_error_s = 300;         // an edge answers stale while the origin fails
};

struct LogConfig {
  std::string level = "info";     // trace | debug | info | warn | error | off
  std::string access = "errors";  // all | errors (4xx/5xx and slow requests) | off
  int slow_ms = 1000;
  // Every line names its host and service (docs/observability.md): "" = the machine's hostname.
  std::string host;
  // Of the requests that arrive without a sampled `traceparent`, the share whose spans are
  // written (core/trace.h): 1 in 100 by default.
  int trace_sample_pct = 1;
};

// Business KPIs (docs/kpis.md): the live sketch, the gauges' refresh, the activity tracker.
struct KpiConfig {
  // auto: the sessions' Redis when sessions.backend = redis (shared by every web server), else
  // in-process | local | redis (sessions.redis_address or sessions.redis_sentinels)
  std::string sketch = "auto";
  int refresh_interval_ms = 60'000;  // the /metrics gauges' recomputation; 0 = no gauges
  int activity_flush_ms = 1'000;     // activity rows are written this often
  int seen_limit = 1'000'000;        // users in the per-process seen-today set
  int pending_limit = 100'000;       // activity rows waiting for a flush (dropped beyond)
};

struct Config {
  int node_id = 0;  // unique per live `ztm serve` process: the node part of generated ids
  HttpConfig http;
  StorageConfig storage;
  CacheConfig cache;
  SessionsConfig sessions;
  AccountsConfig accounts;
  QueueConfig queue;
  MediaConfig media;
  WorkerConfig worker;
  CdnConfig cdn;
  LogConfig log;
  KpiConfig kpi;
};

// One entry of a "name=url,name=url" list (cdn.edges, cdn.edge_admins).
struct NamedUrl {
  std::string name;  // [a-z0-9-], 1..32, unique in its list
  std::string url;   // http(s)://host[:port], no path
};

// Parses a "name=url,..." list ("" = none); throws std::invalid_argument saying what is wrong.
std::vector<NamedUrl> parse_named_urls(std::string_view text);

// One entry of cdn.edge_networks: a client network and the edge that serves it.
struct EdgeNetwork {
  // The network's address as IPv6, an IPv4 network as IPv4-mapped (::ffff:a.b.c.d), so one
  // comparison serves both families; `prefix` counts bits of that form (IPv4 /27 = 96 + 27).
  std::array<unsigned char, 16> address{};
  int prefix = 0;    // 0..128
  std::string text;  // as written, "10.77.0.32/27"
  std::string edge;  // a name in cdn.edges
};

// Parses a "cidr=edge,..." list ("" = none); throws std::invalid_argument saying what is wrong
// (not address/prefix, host bits set, a network listed twice, a bad edge name). Whether each
// edge is in cdn.edges is checked by validate().
std::vector<EdgeNetwork> parse_edge_networks(std::string_view text);

// storage.shard_map's etcd form: etcd://host:port[,host:port...]/key.
struct EtcdKeyAddress {
  std::vector<std::string> endpoints;  // "host:port", "[v6]:port"; at least one
  std::string key;                     // starts with '/', printable ASCII without spaces
};

// Whether `text` means etcd (it starts with "etcd://"), not a file path.
bool is_etcd_address(std::string_view text);
// Parses the etcd form; throws std::invalid_argument saying what is wrong.
EtcdKeyAddress parse_etcd_address(std::string_view text);

// One configurable option. `set` parses and validates a textual value and returns an error
// message (naming nothing: the caller adds the option's name and source) or nullopt.
struct ConfigOption {
  std::string key;  // dotted, e.g. "http.port"; env var ZTM_HTTP_PORT; flag --http.port
  std::string help;
  std::function<std::string(const Config&)> get;
  std::function<std::optional<std::string>(Config&, std::string_view)> set;
  bool is_string = false;  // for printing TOML
};

const std::vector<ConfigOption>& config_options();

// "http.port" -> "ZTM_HTTP_PORT"
std::string env_name(std::string_view key);

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Applies key=value pairs from one source; throws ConfigError naming the key and the source.
void apply_settings(Config& config, const std::vector<std::pair<std::string, std::string>>& kv,
                    std::string_view source);

// Reads a TOML file into dotted key=value pairs; throws ConfigError (unknown keys, syntax).
std::vector<std::pair<std::string, std::string>> read_toml_settings(const std::string& path);

// The same for TOML text; `source` names it in errors (fuzz/config_fuzzer.cc calls this).
std::vector<std::pair<std::string, std::string>> parse_toml_settings(std::string_view text,
                                                                     const std::string& source);

// Collects ZTM_* variables that name known options from `environ`.
std::vector<std::pair<std::string, std::string>> read_env_settings(char** environ_vars);

// Cross-option checks, run once after all sources; throws ConfigError.
void validate(const Config& config);

// The effective configuration as TOML.
std::string to_toml(const Config& config);

}  // namespace ztm
