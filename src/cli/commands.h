#pragma once
// One function per command. Each returns the process exit status.

#include <string>
#include <vector>

#include "core/config.h"

namespace ztm::cli {

int serve(const Config& config);         // ztm serve
int worker(const Config& config);        // ztm worker
int migrate(const Config& config);       // ztm migrate
int seed(const Config& config);          // ztm seed
int print_config(const Config& config);  // ztm config print

// ztm cdn status: each edge in cdn.edge_admins: reachable, the origin's health as it sees it,
// how long ago its purges were synced, fenced or not, its hit ratio (cdn.edge_metrics) and, with
// queue.backend = nats, its purge queue's depth. 0 when every edge is well, 3 otherwise (the
// depth does not count: a message or two in flight is the normal state).
int cdn_status(const Config& config);
// ztm cdn purge PATH... [--key KEY]...: purges at every edge now (a path purges the URL with
// any query string). 0 when every edge confirmed, 3 when some did not (an edge that cannot be
// reached misses no purge of a write: those go through the outbox; see docs/cdn.md).
struct CdnPurgeArgs {
  std::vector<std::string> paths;
  std::vector<std::string> keys;
};
CdnPurgeArgs& cdn_purge_args();  // filled by the command line
int cdn_purge(const Config& config);

}  // namespace ztm::cli
