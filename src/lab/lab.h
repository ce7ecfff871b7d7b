#pragma once
// The `ztm lab` commands (see docs/lab.md). Each returns the process exit status and prints
// to stdout/stderr. All need root.

#include <string>

namespace ztm::lab {

// $ZTM_LAB_DIR, else /run/ztm-lab.
std::string default_dir();

// Starts the supervisor for `stage` and waits (at most 60 s) until every process is healthy;
// prints progress, then the table. On failure prints the failing log tail, tears down, returns 1.
// `hosts` ("etcd1,db1,db2,db3", "" = all) brings up part of the stage, e.g. its data tier alone.
int up(const std::string& dir, const std::string& stage, const std::string& hosts = "");

// The supervisor's live status as a table, or as JSON (docs/lab.md). 1 when no lab is up.
int status(const std::string& dir, bool json);

// action: kill | stop | start, or an engine's own action (pause-replay | resume-replay for
// Patroni members). Targets include redis1, sen2, lb1 in stage stateless. start waits (at most 30 s) until the targets are healthy.
int chaos(const std::string& dir, const std::string& action, const std::string& target);

// The web tier behind the load balancer (stages lb, stateless; docs/lab.md "Scaling"):
// adds or removes web servers until there are `web`, each change drained through HAProxy.
int scale(const std::string& dir, int web);
// Restarts every server of `tier` ("web") one by one with no failed request.
int restart(const std::string& dir, const std::string& tier);
struct AutoscaleSettings {
  bool enabled = true;
  int min = 2;
  int max = 6;
  double up_rps = 150;   // per web server
  double down_rps = 30;
};
int autoscale(const std::string& dir, const AutoscaleSettings& settings);

// Removes every process, namespace, link and file of the lab (teardown.cc). Idempotent.
int down(const std::string& dir);

}  // namespace ztm::lab
