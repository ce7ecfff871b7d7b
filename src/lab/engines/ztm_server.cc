// Engines `ztm` (the web service itself, `ztm serve`) and `worker` (`ztm worker`, the photo
// workers of figure 1-18), run from the binary that runs the lab.
// `ztm` params: storage = sqlite (default; demo data seeded into the host's own database) |
// postgres (db_host = the host running PostgreSQL, or db_hosts = "db1,db2,db3"; demo data
// seeded there); l2_hosts = "cache1,cache2,cache3" (figure 1-7: the L2 cache ring). Behind a
// load balancer (lb_host = its host): trusts its private address for X-Forwarded-*, drains for
// longer than the LB needs to notice, and keeps sessions per `sessions`: sqlite (on this
// server) or redis (sentinel_hosts = "sen1,sen2,sen3", or redis_host = one Redis); with
// nats_host, jobs go to NATS (no in-process workers, photo bytes in PostgreSQL); with
// edge_hosts = "edge1,edge2" too (stage cdn), the CDN's edges are configured and trusted, and
// edge_networks = "10.77.0.32/27=edge1,..." says which edge GET /cdn.json prefers for whom.
// Stage sharding: shard_hosts = "s1=s1a+s1b,..." (the shard clusters; no db_host) and etcd_host:
// the server follows the bucket map in etcd (storage.shard_map), behind lb_host, sessions in
// redis_host, the L2 ring on l2_hosts.
// `worker` params: db_host, nats_host. Health: GET /healthz on kWorkerPort.
#include <sstream>
#include <stdexcept>
#include <vector>

#include "lab/engines/engine.h"
#include "lab/engines/files.h"
#include "lab/engines/postgres_credentials.h"
#include "lab/engines/redis_users.h"
#include "lab/health.h"
#include "lab/load_balancer.h"
#include "lab/secrets.h"
#include "lab/shards.h"
#include "lab/template.h"

namespace ztm::lab {

namespace {

constexpr int kPort = kWebPort;

std::string param(const EngineContext& c, const std::string& key, const std::string& fallback) {
  auto it = c.params.find(key);
  return it == c.params.end() ? fallback : it->second;
}

// "10.77.1.50:6379,10.77.1.51:6379" for hosts = "cache1,cache2", each on `port`.
std::string host_ports(const EngineContext& c, const std::string& hosts, int port) {
  std::string out;
  std::stringstream names(hosts);
  for (std::string h; std::getline(names, h, ',');)
    out += (out.empty() ? "" : ",") + c.address_of(h) + ":" + std::to_string(port);
  return out;
}

std::string nats_url(const EngineContext& c) {
  return "nats://" + c.address_of(param(c, "nats_host", "")) + ":" + std::to_string(kNatsPort);
}

// The servers run as the lab's service user (files.h), in a working directory it owns.
const passwd& own_workdir(const EngineContext& c) {
  const passwd& pw = system_user("ztm", c.workdir + "/useradd.log");
  check_searchable("ztm", c.workdir, pw);
  chown_to(c.workdir, pw);
  return pw;
}

Vars common_vars(const EngineContext& c, int port) {
  return {{"host", c.host},
          {"address", c.address},
          {"port", std::to_string(port)},
          {"node_id", std::to_string(std::stoi(c.address.substr(c.address.rfind('.') + 1)) % 128)},
          {"workdir", c.workdir}};
}

// Stage sharding: the first bucket map over the shard clusters of `spec` ("s1=s1a+s1b,...",
// lab/shards.h), created in etcd at kShardMapKey unless a map is there already (it may have moved
// on: `scale shards=N` adds shards). Returns storage.shard_map: the key, which the server follows.
std::string prepare_shard_map(const EngineContext& c, const std::string& spec) {
  std::vector<ShardEntry> shards;
  for (const auto& shard : parse_shard_hosts(spec)) {
    std::vector<std::string> addresses;
    for (const auto& h : shard.hosts) addresses.push_back(c.address_of(h));
    shards.push_back(
        {.name = shard.name, .conninfo = shard_conninfo(postgres_password(c.lab_dir), addresses)});
  }
  const std::string etcd_host = param(c, "etcd_host", "");
  if (shards.empty() || etcd_host.empty())
    throw std::runtime_error("ztm: shard_hosts needs shards and etcd_host");
  const std::string etcd = c.address_of(etcd_host);
  etcd_put_if(etcd, kEtcdClientPort, kShardMapKey, even_shard_map(shards), 0,
              std::chrono::seconds(2));
  return "etcd://" + etcd + ":" + std::to_string(kEtcdClientPort) + kShardMapKey;
}

}  // namespace

ProcessSpec prepare_ztm_server(const EngineContext& c) {
  const std::string storage = param(c, "storage", "sqlite");
  const std::string config = c.workdir + "/ztm.toml";
  Vars vars = common_vars(c, kPort);
  // The Redis user of the cache tier and the sessions; its password is in a file of the server's
  // own (written below), which deploy/ztm/*.toml name: a password is never a config value.
  const std::string redis_password = c.workdir + "/redis-password";
  vars["redis_user"] = kRedisService.name;
  vars["redis_password_file"] = redis_password;
  const std::string shard_hosts = param(c, "shard_hosts", "");
  if (!shard_hosts.empty()) {
    if (storage != "postgres") throw std::runtime_error("ztm: shard_hosts needs storage postgres");
    vars["shard_map"] = prepare_shard_map(c, shard_hosts);
  } else if (storage == "postgres") {
    // db_host: one database server; db_hosts: "db1,db2,db3", every member of a replicated
    // cluster, in libpq's multi-host form (the server finds the primary and the replicas).
    std::vector<std::string> addresses;
    std::stringstream hosts(param(c, "db_hosts", param(c, "db_host", "")));
    for (std::string h; std::getline(hosts, h, ',');) addresses.push_back(c.address_of(h));
    if (addresses.empty())
      throw std::runtime_error("ztm: storage=postgres needs db_host or db_hosts");
    vars["postgres_url"] = postgres_url(postgres_password(c.lab_dir), addresses);
  } else if (storage != "sqlite") {
    throw std::runtime_error("ztm: unknown storage " + storage);
  }
  std::string config_template = "ztm-" + storage + ".toml";
  if (auto l2 = param(c, "l2_hosts", ""); !l2.empty()) {
    if (storage != "postgres") throw std::runtime_error("ztm: l2_hosts needs storage postgres");
    config_template = "ztm-cache.toml";
    vars["l2_nodes"] = host_ports(c, l2, kRedisPort);
  }
  if (auto lb = param(c, "lb_host", ""); !lb.empty()) {
    if (storage != "postgres")
      throw std::runtime_error("ztm: behind a load balancer storage must be postgres");
    const std::string sessions = param(c, "sessions", "sqlite");
    config_template = "ztm-lb-" + sessions + ".toml";
    vars["trusted_proxies"] = c.address_of(lb);
    vars["drain_delay_ms"] = std::to_string(kDrainDelayMs);
    if (!shard_hosts.empty()) {
      // The sharding stage: sessions in one Redis, the cache tier, the bucket map.
      config_template = "ztm-lb-sharding.toml";
      vars["redis_address"] = host_ports(c, param(c, "redis_host", ""), kRedisPort);
      vars["l2_nodes"] = host_ports(c, param(c, "l2_hosts", ""), kRedisPort);
    } else if (sessions == "redis" && !param(c, "nats_host", "").empty()) {
      // The queue stage: one Redis for sessions, jobs through NATS.
      config_template = "ztm-lb-queue.toml";
      vars["redis_address"] = host_ports(c, param(c, "redis_host", ""), kRedisPort);
      vars["nats_url"] = nats_url(c);
      if (auto edges = param(c, "edge_hosts", ""); !edges.empty()) {
        // The cdn stage: the edges' public URLs for the browser (HTTPS: lb1 sends browsers to
        // its HTTPS page, which may not load scripts or reads over HTTP), admin URLs for purges;
        // requests through an edge come with the edge's address after the client's.
        config_template = "ztm-lb-cdn.toml";
        std::string urls, admins, metrics;
        std::stringstream names(edges);
        for (std::string e; std::getline(names, e, ',');) {
          const std::string sep = urls.empty() ? "" : ",";
          urls += sep + e + "=https://" + c.public_address_of(e);
          admins += sep + e + "=http://" + c.address_of(e) + ":" + std::to_string(kEdgeAdminPort);
          metrics +=
              sep + e + "=http://" + c.address_of(e) + ":" + std::to_string(kEdgeExporterPort);
          vars["trusted_proxies"] += "," + c.address_of(e);
        }
        vars["cdn_edges"] = urls;
        vars["cdn_edge_admins"] = admins;
        vars["cdn_edge_metrics"] = metrics;
        vars["cdn_edge_networks"] = param(c, "edge_networks", "");
      }
    } else if (sessions == "redis") {
      const std::string sentinels = host_ports(c, param(c, "sentinel_hosts", ""), kSentinelPort);
      if (sentinels.empty()) throw std::runtime_error("ztm: sessions=redis needs sentinel_hosts");
      vars["redis_sentinels"] = sentinels;
      vars["redis_master_name"] = kSessionsMaster;
    } else if (sessions != "sqlite") {
      throw std::runtime_error("ztm: unknown sessions " + sessions);
    }
  }
  const passwd& pw = own_workdir(c);
  render_file("ztm", config_template, vars, config, 0600);  // the lab's passwords
  chown_to(config, pw);
  write_file(redis_password, lab_secret(c.lab_dir, kRedisService.secret) + "\n", 0600);
  chown_to(redis_password, pw);

  const std::string exe = self_exe();
  const std::string log = c.workdir + "/ztm.log";
  // Seed from inside the host, as the server will connect: loads the demo users (John Smith is
  // user 12) unless the database has users already.
  Launch seed{.argv = {exe, "seed", "--config", config},
              .netns = c.netns,
              .user = pw.pw_name,
              .workdir = c.workdir,
              .log = log,
              .exe = kThisBinary};
  auto status = run(seed, std::chrono::seconds(30));
  if (status != 0) throw std::runtime_error("ztm seed failed (" + log + "):\n" + tail(log, 10));

  ProcessSpec spec;
  spec.launch = {.argv = {exe, "serve", "--config", config},
                 .netns = c.netns,
                 .user = pw.pw_name,
                 .workdir = c.workdir,
                 .log = log,
                 .exe = kThisBinary};
  spec.stop_signal = SIGTERM;
  const std::string address = c.address;
  spec.healthy = [address](std::chrono::milliseconds timeout) {
    return http_ok(address, kPort, "/readyz", timeout);
  };
  return spec;
}

// Runs no seed: it starts after a web server, which has migrated the database. SIGTERM: the
// worker stops fetching, finishes the jobs in hand and exits (what scaling down relies on).
ProcessSpec prepare_ztm_worker(const EngineContext& c) {
  Vars vars = common_vars(c, kWorkerPort);
  vars["postgres_url"] =
      postgres_url(postgres_password(c.lab_dir), {c.address_of(param(c, "db_host", ""))});
  vars["nats_url"] = nats_url(c);
  const std::string config = c.workdir + "/ztm-worker.toml";
  const passwd& pw = own_workdir(c);
  render_file("ztm", "ztm-worker.toml", vars, config, 0600);
  chown_to(config, pw);
  ProcessSpec spec;
  spec.launch = {.argv = {self_exe(), "worker", "--config", config},
                 .netns = c.netns,
                 .user = pw.pw_name,
                 .workdir = c.workdir,
                 .log = c.workdir + "/worker.log",
                 .exe = kThisBinary};
  spec.stop_signal = SIGTERM;
  const std::string address = c.address;
  spec.healthy = [address](std::chrono::milliseconds timeout) {
    return http_ok(address, kWorkerPort, "/healthz", timeout);
  };
  return spec;
}

}  // namespace ztm::lab
