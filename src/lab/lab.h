#pragma once
// The `ztm lab` commands (see docs/lab.md). Each returns the process exit status and prints
// to stdout/stderr. All need root.

#include <cstdint>
#include <string>

namespace ztm::lab {

// $ZTM_LAB_DIR, else /run/ztm-lab.
std::string default_dir();

// What `ztm lab up` brings up (planned_stage() in supervisor.h makes it a Stage).
struct UpOptions {
  std::string stage;
  // Only these hosts of the stage ("etcd1,db1,db2,db3", "" = all), e.g. its data tier alone.
  std::string hosts;
  // Add the stage's observability (observe.h: Prometheus, Alertmanager, exporters).
  bool observe = false;
  // CPU quotas per host or role ("web=0.5,db1=1"; with_cpu_quotas() in stages.h; "" = none).
  std::string cpus;
};

// Starts the supervisor for the stage and waits (at most 60 s) until every process is healthy;
// prints progress, then the table. On failure prints the failing log tail, tears down, returns 1.
int up(const std::string& dir, const UpOptions& options);

// The supervisor's live status as a table, or as JSON (docs/lab.md). 1 when no lab is up.
int status(const std::string& dir, bool json);

// action: kill | stop | start, or an engine's own action (pause-replay | resume-replay for
// Patroni members). Targets include redis1, sen2, lb1 in stage stateless. start waits (at most 30
// s) until the targets are healthy. cut | heal take two hosts (target, peer): every packet
// between them is dropped, both ways, or let through again (peer is empty for the others).
int chaos(const std::string& dir, const std::string& action, const std::string& target,
          const std::string& peer);

// tier "web": the web tier behind the load balancer (stages lb, stateless, queue): adds or
// removes web servers until there are `n`, each change drained through HAProxy. tier
// "workers" (stage queue): adds or removes worker hosts (SIGTERM: jobs in hand finish). tier
// "shards" (stage sharding): adds shard clusters, migrated and registered in the bucket map.
int scale(const std::string& dir, const std::string& tier, int n);
// A new binary for the web tier (stages with a load balancer): a canary first, watched for
// `canary_ms` (its 5xx share through HAProxy at most `max_error_ratio`, after at least
// `min_requests`; the fast burn-rate alert silent when the stage is observed), then the others
// one by one, each drained through HAProxy; any failure rolls back every replaced server.
// Exit 0 when deployed, 1 when rolled back (or refused).
struct DeploySettings {
  std::string binary;  // absolute path
  int canary_ms = 20'000;
  double max_error_ratio = 0.05;
  int min_requests = 0;
};
int deploy(const std::string& dir, const DeploySettings& settings);
// Restarts every server of `tier` ("web") one by one with no failed request.
int restart(const std::string& dir, const std::string& tier);
struct AutoscaleSettings {
  std::string tier = "web";  // web (by requests/s per server) | workers (by the queue's depth)
  bool enabled = true;
  int min = 2;          // workers: 1 unless given
  int max = 6;          // workers: 4 unless given
  double up_rps = 150;  // per web server
  double down_rps = 30;
  std::int64_t up_pending = 20;  // workers: jobs pending, sustained 3 s: add one
  bool min_given = false, max_given = false;
};
int autoscale(const std::string& dir, const AutoscaleSettings& settings);

// Removes every process, namespace, link and file of the lab (teardown.cc). Idempotent.
int down(const std::string& dir);

}  // namespace ztm::lab
