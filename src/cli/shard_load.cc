#include "cli/shard_load.h"

#include <fmt/format.h>

#include <sstream>

#include "core/clock.h"
#include "core/run_sync.h"
#include "etcd/client.h"
#include "storage/sharding/load_report.h"

namespace ztm::cli {

void print_shard_load(const std::string& endpoints, const storage::ShardMap& map) {
  etcd::ClientOptions options;
  std::stringstream list(endpoints);
  for (std::string e; std::getline(list, e, ',');) options.endpoints.push_back(e);
  etcd::Client client(options);  // the same endpoints the status was just read from
  auto reports = run_sync(client.get_prefix(std::string(storage::kLoadReportPrefix)));
  if (!reports) {
    fmt::print("load: cannot read the servers' reports: {}\n", reports.error().message);
    return;
  }
  const auto s = storage::summarize_load(reports->kvs, map, unix_ms(Clock::system().now()));
  const std::string ignored =
      s.stale + s.invalid == 0
          ? ""
          : fmt::format("; ignored: {} older than 30 s, {} not reports", s.stale, s.invalid);
  if (s.servers.empty()) {
    fmt::print(
        "load: no server reported in the last 30 s{} (a server reports when its map is in "
        "etcd)\n",
        ignored);
    return;
  }
  fmt::print("load: {:.1f} requests/s from {} servers{}{}\n", s.per_second, s.servers.size(),
             ignored, reports->more ? "; only the first 1000 reports read" : "");
  // Every call a server sent the shard (its outbox relay's and health checks' too), so a shard's
  // figure can exceed the requests'.
  fmt::print("{:<12} {:>12}\n", "shard", "calls/s");
  for (const auto& shard : s.shards)
    fmt::print("{:<12} {:>12.1f}\n", shard.shard, shard.per_second);
  fmt::print("{:<12} {:>12} {:>7}  {}\n", "hot bucket", "requests/s", "share", "shard");
  for (const auto& b : s.buckets)
    fmt::print("{:<12} {:>12.1f} {:>6.1f}%  {}\n", b.bucket, b.per_second, 100 * b.share,
               b.shard.empty() ? "-" : b.shard);
  if (s.users.empty()) fmt::print("no hot users\n");
  for (const auto& u : s.users)
    fmt::print("hot user {:<20} {:>5.1f}% of {}'s calls\n", u.user, 100 * u.share, u.host);
  for (const auto& server : s.servers)
    fmt::print(
        "server {:<24} node {:<3} map version {}{}, {:.1f} requests/s, reported {:.1f} s ago\n",
        server.host, server.node, server.map_version,
        server.behind ? fmt::format(" (behind: etcd has {})", map.version) : "", server.per_second,
        static_cast<double>(server.age_ms) / 1000);
}

}  // namespace ztm::cli
