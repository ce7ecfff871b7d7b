#pragma once
// An engine is what runs in a lab process: ztm serve, ztm worker, PostgreSQL, etcd, Patroni,
// HAProxy, Redis, Sentinel, NATS, Varnish and its exporter, the delay of far links; with --observe,
// Prometheus, Alertmanager and the exporters. Each has one file in this folder with a prepare
// function: it writes the engine's files into its working directory (configs rendered from
// deploy/<engine>/), runs one-off set-up steps (initdb, seeding), and returns how to run, stop and
// health-check the process.

#include <boost/json.hpp>
#include <chrono>
#include <csignal>
#include <functional>
#include <map>
#include <string>

#include "lab/process.h"

namespace ztm::lab {

inline constexpr int kEtcdClientPort = 2379;
inline constexpr int kEtcdPeerPort = 2380;
inline constexpr int kWebPort = 8080;   // ztm serve on every web host
inline constexpr int kLbHttpPort = 80;  // the load balancer's public address
inline constexpr int kLbHttpsPort = 443;
inline constexpr int kRedisPort = 6379;
inline constexpr int kSentinelPort = 26379;
inline constexpr int kNatsPort = 4222;
inline constexpr int kNatsMonitorPort = 8222;  // /healthz, /jsz (the queue's depth)
inline constexpr int kWorkerPort = 8080;       // ztm worker's /healthz and /metrics
inline constexpr const char* kSessionsMaster = "ztm-sessions";  // the primary's name in Sentinel
inline constexpr int kPatroniApiPort = 8008;  // Patroni's REST API: /patroni, /metrics

// A CDN edge (stage cdn): Varnish on its public address (HTTPS through HAProxy, which passes
// connections to Varnish's PROXY listener on the edge host's loopback), its admin listener
// (PURGE, /.ztm/edge) and exporter on its private address, varnishadm's CLI on the loopback.
inline constexpr int kEdgeHttpPort = 80;
inline constexpr int kEdgeHttpsPort = 443;
inline constexpr int kEdgeTlsProxyPort = 6086;
inline constexpr int kEdgeAdminPort = 6091;
inline constexpr int kEdgeExporterPort = 9131;
inline constexpr int kEdgeCliPort = 6082;

// Metrics (observability.md): HAProxy's built-in exporter on the load balancer's private address,
// the engines' exporters beside them, and the obs host's services (`--observe`, observe.h).
inline constexpr int kHaproxyMetricsPort = 8405;
inline constexpr int kPostgresExporterPort = 9187;
inline constexpr int kRedisExporterPort = 9121;
inline constexpr int kPrometheusPort = 9090;
inline constexpr int kAlertmanagerPort = 9093;
inline constexpr int kNodeExporterPort = 9100;
inline constexpr int kHostExporterPort = 9101;
inline constexpr int kRelpPort = 2514;              // the log host's RELP listener
inline constexpr int kDashboardPort = 3000;         // `ztm lab dashboard` (dashboard.h)
inline constexpr const char* kObsHostName = "obs";  // the host of all of the above

struct EngineContext {
  std::string host;            // "web1"
  std::string address;         // "10.77.1.10"
  std::string public_address;  // "10.77.0.10" on a host with a public address, else ""
  std::string netns;           // "ztm-web1"
  std::string workdir;         // DIR/hosts/<host>/<engine>, created (empty) by the caller
  std::string lab_dir;         // DIR: lab_secret(lab_dir, name) (secrets.h)
  std::map<std::string, std::string> params;                  // from the stage
  std::function<std::string(const std::string&)> address_of;  // another host's address
  // Another host's public address ("" when it has none): the edges' URLs for the web tier.
  std::function<std::string(const std::string&)> public_address_of;
};

struct ProcessSpec {
  Launch launch;  // argv, user, workdir, log; netns filled in by the engine
  int stop_signal = SIGTERM;
  // Bounded by `timeout`; true when the process does its job (a client would succeed).
  std::function<bool(std::chrono::milliseconds timeout)> healthy;
  // Optional. Called after the process was reaped or killed: kills what it left running in
  // other sessions (Patroni starts PostgreSQL with setsid, out of Patroni's process group).
  std::function<void()> after_exit;
  // Optional. Adds the engine's live view to its host in `status` (Patroni: "role",
  // "lag_bytes"); only called while the process is starting or running. Never blocks.
  std::function<void(boost::json::object& host)> describe;
  // Engine-specific chaos actions ("pause-replay"): each returns "" or what went wrong.
  // Bounded (they run on the supervisor's loop).
  std::map<std::string, std::function<std::string()>> actions;
};

// Throws std::runtime_error with a message that says what failed (and the step's log).
using PrepareFn = ProcessSpec (*)(const EngineContext&);

ProcessSpec prepare_ztm_server(const EngineContext& context);  // engines/ztm_server.cc
ProcessSpec prepare_postgres(const EngineContext& context);    // engines/postgres.cc
ProcessSpec prepare_etcd(const EngineContext& context);        // engines/etcd.cc
ProcessSpec prepare_patroni(const EngineContext& context);     // engines/patroni.cc
ProcessSpec prepare_haproxy(const EngineContext& context);     // engines/haproxy.cc
ProcessSpec prepare_redis(const EngineContext& context);       // engines/redis.cc
ProcessSpec prepare_sentinel(const EngineContext& context);    // engines/redis.cc
ProcessSpec prepare_nats(const EngineContext& context);        // engines/nats.cc
ProcessSpec prepare_ztm_worker(const EngineContext& context);  // engines/ztm_server.cc

// engines/varnish.cc: a CDN edge, its Prometheus exporter and its TLS front.
ProcessSpec prepare_varnish(const EngineContext& context);
ProcessSpec prepare_varnish_exporter(const EngineContext& context);
ProcessSpec prepare_edge_tls(const EngineContext& context);

// engines/delay.cc: a host's far links made long (NFQUEUE and `ztm lab delay`, delay.h).
ProcessSpec prepare_delay(const EngineContext& context);

// engines/observe.cc: what `--observe` adds (observe.h).
ProcessSpec prepare_prometheus(const EngineContext& context);
ProcessSpec prepare_alertmanager(const EngineContext& context);
ProcessSpec prepare_host_exporter(const EngineContext& context);
ProcessSpec prepare_node_exporter(const EngineContext& context);
ProcessSpec prepare_postgres_exporter(const EngineContext& context);
ProcessSpec prepare_redis_exporter(const EngineContext& context);
ProcessSpec prepare_dashboard(const EngineContext& context);
// engines/logs.cc: the log host and every host's shipper.
ProcessSpec prepare_log_host(const EngineContext& context);
ProcessSpec prepare_log_shipper(const EngineContext& context);
// Where the log host keeps its files (<host>/<yyyy-mm-dd>.jsonl), given its working directory
// (<lab dir>/hosts/obs/logs).
std::string log_files_dir(const std::string& logs_workdir);

// nullptr for an unknown engine name.
PrepareFn find_engine(const std::string& name);

}  // namespace ztm::lab
