#pragma once
// `ztm lab delay` (hidden; the engine `delay`, docs/lab.md "Distance"): makes a host's links to
// far destinations long. The host's iptables rules send those packets to NFQUEUE `queue`; this
// program holds each for `delay_ms` (DelayLine) and then accepts it. No --queue-bypass: while
// it is not running, the kernel drops what the rules send to the queue.

#include <string>

namespace ztm::lab {

struct DelayOptions {
  int queue = 0;
  int delay_ms = 40;
  int max_held = 4096;  // packets held at most (and the kernel queue's length); beyond: dropped
  std::string stats;    // a JSON file rewritten every 250 ms: held, released, dropped, at_ms
};

// Runs until killed. Returns 1 (with a message on stderr) when the queue cannot be bound: the
// kernel lacks nfnetlink_queue, another program holds the queue, or not root.
int run_delay(const DelayOptions& options);

}  // namespace ztm::lab
