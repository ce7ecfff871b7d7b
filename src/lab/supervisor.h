#pragma once
// The supervisor: `ztm lab supervise --dir DIR --stage NAME` (started by `ztm lab up`).
// Builds the stage's network, prepares and starts every process in dependency order, is the
// parent of all of them (reaps, health-checks, stops and starts them), records every resource
// in DIR/lab.json, and answers requests on DIR/control.sock (see control.h) until `down` or
// SIGTERM/SIGINT, when it stops every process and exits. It never restarts a process on its own.
// It does not delete the network: `down` (teardown.h) does, also when the supervisor died.

#include <string>

#include "lab/lab.h"
#include "lab/stages.h"

namespace ztm::lab {

// The stage `options` describe: its selected hosts, observed, with their CPU quotas. Throws
// std::invalid_argument naming what is wrong (an unknown stage, host or role, a bad quota).
Stage planned_stage(const UpOptions& options);

// Supervises planned_stage(options). Returns the exit status: 0 after `down`, 1 when the network
// could not be built, 2 for options planned_stage() refuses.
int supervise(const std::string& dir, const UpOptions& options);

}  // namespace ztm::lab
