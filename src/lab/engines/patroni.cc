// Engine `patroni`: Patroni 3.0 (Debian `patroni`) managing PostgreSQL 15 on a db host: it
// bootstraps or clones the database, runs PostgreSQL as its child, keeps the leader key in etcd
// (param etcd_host) and promotes the synchronous standby when the primary is gone. Failover is
// Patroni's, never the lab's. Runs as `postgres`; config rendered from deploy/patroni/.
//
// Health: GET /patroni on the member's REST API (port 8008) says PostgreSQL is running. The
// answer is kept (per member, in this file: the supervisor is single-threaded) to describe each
// db host in `status`: role, lag in bytes behind the primary, replay paused, sync standby.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <fstream>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "lab/engines/engine.h"
#include "lab/engines/files.h"
#include "lab/engines/postgres_credentials.h"
#include "lab/health.h"
#include "lab/template.h"

namespace ztm::lab {

namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kUser = "postgres";
constexpr const char* kBinary = "/usr/bin/patroni";
constexpr int kApiPort = kPatroniApiPort;
// Lab-only credentials (the lab's private network, docs/lab.md): pg_rewind and Patroni's own
// connections use the superuser, streaming replication the replication user.
// An observation older than this (its member stopped answering) says nothing about the cluster.
constexpr auto kFresh = std::chrono::seconds(3);

struct Observation {
  json::object patroni;  // the member's last GET /patroni answer
  Clock::time_point at;
};

std::map<std::string, Observation>& observations() {
  static std::map<std::string, Observation> by_host;
  return by_host;
}

// Members whose replay the lab paused (pause-replay), until resume-replay.
std::set<std::string>& replay_delayed() {
  static std::set<std::string> hosts;
  return hosts;
}

const json::object* fresh(const std::string& host) {
  auto it = observations().find(host);
  if (it == observations().end() || Clock::now() - it->second.at > kFresh) return nullptr;
  return &it->second.patroni;
}

std::string text(const json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : "";
}

std::optional<std::int64_t> number(const json::object& o, const char* group, const char* key) {
  const auto* g = o.if_contains(group);
  if (!g || !g->is_object()) return std::nullopt;
  const auto* v = g->as_object().if_contains(key);
  if (!v || !v->is_number()) return std::nullopt;
  return v->to_number<std::int64_t>();
}

bool is_primary(const json::object& o) {
  const auto role = text(o, "role");
  return role == "master" || role == "primary";
}

// The cluster (Patroni's scope) a member's answer comes from: stage sharding runs several.
std::string scope_of(const json::object& o) {
  const auto* p = o.if_contains("patroni");
  return p && p->is_object() ? text(p->as_object(), "scope") : "";
}

// The WAL position of the primary of `scope` as seen by any fresh observation (nullopt: none is
// primary).
std::optional<std::int64_t> primary_position(const std::string& scope) {
  for (const auto& [host, obs] : observations())
    if (const auto* o = fresh(host); o && is_primary(*o) && scope_of(*o) == scope)
      return number(*o, "xlog", "location");
  return std::nullopt;
}

// Adds role, lag_bytes, wal_position and friends (docs/lab.md) for `host` to `out`.
void describe(const std::string& host, json::object& out) {
  const json::object* o = fresh(host);
  if (!o || text(*o, "state") != "running") {
    out["role"] = o ? "starting" : "unknown";
    out["lag_bytes"] = nullptr;
    if (o) out["patroni_state"] = text(*o, "state");
    return;
  }
  out["patroni_state"] = "running";
  if (const auto* tl = o->if_contains("timeline"); tl && tl->is_number()) out["timeline"] = *tl;
  if (is_primary(*o)) {
    out["role"] = "primary";
    out["lag_bytes"] = 0;
    out["wal_position"] = number(*o, "xlog", "location").value_or(0);
    json::value sync = nullptr;
    if (const auto* r = o->if_contains("replication"); r && r->is_array())
      for (const auto& standby : r->as_array())
        if (standby.is_object() && text(standby.as_object(), "sync_state") == "sync")
          sync = json::string(text(standby.as_object(), "application_name"));
    // synchronous_mode_strict is off (deploy/patroni/patroni.yml): with no standby left the
    // primary keeps accepting writes without a copy. Say so rather than hide it.
    out["writes"] =
        sync.is_null() ? "async: no synchronous standby, commits are not copied" : "sync";
    out["sync_standby"] = sync;
    return;
  }
  const auto* sync = o->if_contains("sync_standby");
  out["role"] = sync && sync->is_bool() && sync->as_bool() ? "sync_standby" : "replica";
  const auto replayed = number(*o, "xlog", "replayed_location");
  const auto primary = primary_position(scope_of(*o));
  out["wal_position"] = replayed.value_or(0);
  if (replayed && primary)
    out["lag_bytes"] = std::max<std::int64_t>(0, *primary - *replayed);
  else
    out["lag_bytes"] = nullptr;
  const auto* paused = o->if_contains("xlog") && o->at("xlog").is_object()
                           ? o->at("xlog").as_object().if_contains("paused")
                           : nullptr;
  out["replay_paused"] =
      (paused && paused->is_bool() && paused->as_bool()) || replay_delayed().contains(host);
}

// PostgreSQL was started by Patroni in its own session: after Patroni dies, kill it (the host
// "lost power") when data/postmaster.pid names a live postmaster of this data directory.
void kill_postmaster(const std::string& data) {
  std::ifstream pid_file(data + "/postmaster.pid");
  pid_t pid = 0;
  if (!(pid_file >> pid) || pid <= 0) return;
  std::ifstream cmdline_file("/proc/" + std::to_string(pid) + "/cmdline");
  const std::string cmdline((std::istreambuf_iterator<char>(cmdline_file)),
                            std::istreambuf_iterator<char>());
  if (cmdline.find(data) == std::string::npos) return;   // a reused pid: not ours
  kill_and_wait(pid, SIGKILL, std::chrono::seconds(2));  // its group: the postmaster and backends
}

// The member's recovery_min_apply_delay becomes `delay` ("1d", "0"): patroni.yml rendered again,
// Patroni told to reload (POST /reload), then polled (bounded) until PostgreSQL runs with it —
// when this returns, the next commit is (or is no longer) held back. "" or what went wrong.
std::string set_apply_delay(const EngineContext& c, Vars vars, const std::string& delay) {
  vars["apply_delay"] = delay;
  const std::string config = c.workdir + "/patroni.yml";
  try {
    render_file("patroni", "patroni.yml", vars, config, 0600);  // it holds the lab's passwords
    chown_to(config, engine_user(kUser, "postgresql-15"));
  } catch (const std::exception& e) {
    return e.what();
  }
  auto reload = http_request("POST", c.address, kApiPort, "/reload", std::chrono::seconds(2));
  if (!reload || reload->status / 100 != 2)
    return "Patroni did not accept POST /reload" + (reload ? ": " + reload->body : std::string());
  const std::string log = c.workdir + "/chaos.log";
  const Launch show{.argv = {postgres_bin_dir() + "/psql", "-X", "-qAt", "-h",
                             vars.at("workdir") + "/run", "-p", std::to_string(kPostgresPort), "-U",
                             "postgres", "-d", "postgres", "-c", "SHOW recovery_min_apply_delay"},
                    .netns = c.netns,
                    .user = kUser,
                    .workdir = c.workdir,
                    .log = log};
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < deadline) {
    write_file(log, "");
    if (run(show, std::chrono::seconds(2)) == 0 && tail(log, 1) == delay + "\n") return "";
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return "recovery_min_apply_delay is not " + delay + " after 10 s (" + log + ": " + tail(log, 2) +
         ")";
}

// The cluster-wide settings of deploy/patroni/patroni.yml that logical replication needs
// (docs/sharding.md, "Moving a bucket"); without it, PostgreSQL 15's defaults.
Vars wal_vars(bool logical) {
  if (!logical)
    return {{"wal_level", "replica"},
            {"max_wal_senders", "10"},
            {"max_replication_slots", "10"},
            {"max_worker_processes", "8"},
            {"max_logical_replication_workers", "4"},
            {"wal_retrieve_retry_interval", "5s"}};
  return {{"wal_level", "logical"},
          {"max_wal_senders", "16"},
          {"max_replication_slots", "16"},
          {"max_worker_processes", "16"},
          {"max_logical_replication_workers", "8"},
          {"wal_retrieve_retry_interval", "100ms"}};
}

}  // namespace

ProcessSpec prepare_patroni(const EngineContext& c) {
  const passwd& pw = engine_user(kUser, "postgresql-15");
  if (::access(kBinary, X_OK) != 0)
    throw std::runtime_error("patroni: no /usr/bin/patroni: install patroni");
  const std::string bin = postgres_bin_dir();
  if (::access((bin + "/postgres").c_str(), X_OK) != 0)
    throw std::runtime_error("patroni: no " + bin +
                             "/postgres: install postgresql-15 or set ZTM_PG_BIN");
  const auto etcd = c.params.find("etcd_host");
  if (etcd == c.params.end()) throw std::runtime_error("patroni: needs param etcd_host");
  check_searchable("patroni", c.workdir, pw);
  chown_to(c.workdir, pw);
  const std::string run_dir = c.workdir + "/run";
  make_dir(run_dir, pw);
  Vars vars = {{"scope", c.params.contains("scope") ? c.params.at("scope") : "ztm"},
               {"name", c.host},
               {"address", c.address},
               {"api_port", std::to_string(kApiPort)},
               {"port", std::to_string(kPostgresPort)},
               {"etcd_hosts", c.address_of(etcd->second) + ":" + std::to_string(kEtcdClientPort)},
               {"workdir", c.workdir},
               {"bin_dir", bin},
               {"superuser", kPostgresAdmin},
               {"superuser_password", postgres_admin_password(c.lab_dir)},
               {"replication_password", lab_secret(c.lab_dir, "postgres-replication")},
               {"db_user", kPostgresUser},
               {"db_password", postgres_password(c.lab_dir)},
               {"db_name", kPostgresDatabase},
               {"apply_delay", "0"}};
  vars.merge(wal_vars(c.params.contains("logical") && c.params.at("logical") == "on"));
  for (const auto& [file, mode] : {std::pair{"patroni.yml", 0600},  // the lab's passwords
                                   std::pair{"post_bootstrap.sh", 0700}}) {
    render_file("patroni", file, vars, c.workdir + "/" + file, static_cast<mode_t>(mode));
    chown_to(c.workdir + "/" + file, pw);
  }
  const std::string log = c.workdir + "/patroni.log";
  write_file(log, "");
  chown_to(log, pw);

  ProcessSpec spec;
  spec.launch = {.argv = {kBinary, c.workdir + "/patroni.yml"},
                 .netns = c.netns,
                 .user = kUser,
                 .workdir = c.workdir,
                 .log = log};
  spec.stop_signal =
      SIGTERM;  // Patroni stops PostgreSQL (fast shutdown) and releases the leader key
  const std::string host = c.host;
  const std::string address = c.address;
  spec.healthy = [host, address](std::chrono::milliseconds timeout) {
    auto answer = http_request("GET", address, kApiPort, "/patroni", timeout);
    boost::system::error_code ec;
    json::value body = answer ? json::parse(answer->body, ec) : json::value();
    if (!answer || ec || !body.is_object()) {
      observations().erase(host);
      return false;
    }
    const bool running = text(body.as_object(), "state") == "running";
    observations()[host] = {std::move(body.as_object()), Clock::now()};
    return running;
  };
  const std::string data = c.workdir + "/data";
  spec.after_exit = [host, data] {
    observations().erase(host);
    kill_postmaster(data);
  };
  spec.describe = [host](json::object& out) { describe(host, out); };
  // Pausing replay with pg_wal_replay_pause() does not hold under Patroni: on PostgreSQL 14+
  // every HA cycle (loop_wait, 1 s) resumes a paused replay (Patroni 3.0, ha.py
  // handle_parameter_change), and it strips recovery settings from postgresql.auto.conf, so
  // ALTER SYSTEM does not hold either. What holds is Patroni's own way: the member's
  // recovery_conf gets recovery_min_apply_delay = 1 day and Patroni reloads it. The replica keeps
  // receiving WAL but applies no commit: its replay LSN stops before the next commit.
  spec.actions["pause-replay"] = [c, vars, host] {
    if (const auto* o = fresh(host); o && is_primary(*o))
      return std::string("not a replica: ") + host + " is the primary";
    auto error = set_apply_delay(c, vars, "1d");
    if (error.empty()) replay_delayed().insert(host);
    return error;
  };
  spec.actions["resume-replay"] = [c, vars, host] {
    auto error = set_apply_delay(c, vars, "0");
    if (error.empty()) replay_delayed().erase(host);
    return error;
  };
  return spec;
}

}  // namespace ztm::lab
