#pragma once
// The supervisor: `ztm lab supervise --dir DIR --stage NAME` (started by `ztm lab up`).
// Builds the stage's network, prepares and starts every process in dependency order, is the
// parent of all of them (reaps, health-checks, stops and starts them), records every resource
// in DIR/lab.json, and answers requests on DIR/control.sock (see control.h) until `down` or
// SIGTERM/SIGINT, when it stops every process and exits. It never restarts a process on its own.
// It does not delete the network: `down` (teardown.h) does, also when the supervisor died.

#include <string>

namespace ztm::lab {

// `hosts`: only these hosts of the stage ("" = all; see up() in lab.h). Returns the exit status:
// 0 after `down`, 1 when the network could not be built, 2 for an unknown stage or host.
int supervise(const std::string& dir, const std::string& stage, const std::string& hosts = "",
              bool observe = false);

}  // namespace ztm::lab
