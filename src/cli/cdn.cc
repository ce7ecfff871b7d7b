// ztm cdn status, ztm cdn purge: the operator's view of the CDN's edges (docs/cdn.md), from the
// same configuration as `ztm serve` (cdn.edge_admins: each edge's admin listener, which accepts
// the operator's address in its purgers ACL).
#include <fmt/format.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <chrono>

#include "cli/commands.h"
#include "core/clock.h"
#include "core/run_sync.h"
#include "core/url.h"
#include "lab/health.h"
#include "node/backends.h"

namespace ztm::cli {

namespace {

constexpr int kSomeEdgesFailed = 3;

// GET `path` at the http://host:port `url` (2 s at most); nullopt when it cannot be had.
std::optional<lab::HttpAnswer> get(const std::string& url, const std::string& path) {
  const auto where = http_host_port(url);
  return where ? lab::http_request("GET", where->host, where->port, path,
                                   std::chrono::milliseconds(2000))
               : std::nullopt;
}

// "hits 93.1 % of 1000 lookups" from the edge's exporter (since the edge started), or why not.
std::string hit_ratio(const std::vector<NamedUrl>& metrics, const std::string& edge) {
  const auto it = std::find_if(metrics.begin(), metrics.end(),
                               [&](const NamedUrl& m) { return m.name == edge; });
  if (it == metrics.end()) return "hit ratio: no cdn.edge_metrics";
  const auto answer = get(it->url, "/metrics");
  if (!answer || answer->status != 200) return "hit ratio: exporter unreachable";
  const auto hits = lab::prometheus_sample(answer->body, "varnish_main_cache_hit");
  const auto misses = lab::prometheus_sample(answer->body, "varnish_main_cache_miss");
  if (!hits || !misses) return "hit ratio: not in the exporter's answer";
  const double lookups = *hits + *misses;
  if (lookups == 0) return "hit ratio: no lookups yet";
  return fmt::format("hits {:.1f} % of {:.0f} lookups", 100 * *hits / lookups, lookups);
}

// "purge queue 0 pending": the messages (keys and syncs) on the edge's purge queue not yet
// confirmed by the edge, when the queue is shared (NATS); the embedded one is a web server's own.
std::string purge_queue_depth(const Config& config, const std::string& edge) {
  if (config.queue.backend != "nats") return "purge queue: not shown (queue.backend = embedded)";
  auto queue = node::open_purge_queue(config, Clock::system(), edge);
  auto pending = run_sync(queue->pending());
  if (!pending) return "purge queue: " + pending.error().message;
  return fmt::format("purge queue {} pending", *pending);
}

std::vector<NamedUrl> edge_admins(const Config& config, const char* command) {
  auto admins = parse_named_urls(config.cdn.edge_admins);
  if (admins.empty())
    fmt::print(stderr, "ztm cdn {}: no edges: set cdn.edge_admins (name=http://host:port,...)\n",
               command);
  return admins;
}

}  // namespace

CdnPurgeArgs& cdn_purge_args() {
  static CdnPurgeArgs args;
  return args;
}

int cdn_status(const Config& config) {
  const auto admins = edge_admins(config, "status");
  if (admins.empty()) return 2;
  const auto metrics = parse_named_urls(config.cdn.edge_metrics);
  int troubled = 0;
  for (const auto& admin : admins) {
    const auto answer = get(admin.url, "/.ztm/edge");
    boost::system::error_code ec;
    const auto v = answer && answer->status == 200 ? boost::json::parse(answer->body, ec)
                                                   : boost::json::value();
    const auto* o = v.if_object();
    if (!o || ec) {
      ++troubled;
      fmt::print("{:<10} {:<28} unreachable (or not a ztm edge: {})\n", admin.name, admin.url,
                 answer ? fmt::format("HTTP {}", answer->status) : "no answer");
      continue;
    }
    const bool healthy = o->contains("origin_healthy") && o->at("origin_healthy") == true;
    const bool fenced = o->contains("fenced") && o->at("fenced") == true;
    const double age = o->contains("synced_age_s") && o->at("synced_age_s").is_number()
                           ? o->at("synced_age_s").to_number<double>()
                           : -1;
    troubled += fenced || !healthy;
    fmt::print("{:<10} {:<28} origin {:<7}  purges synced {:.3f} s ago  {}  {}  {}\n", admin.name,
               admin.url, healthy ? "healthy" : "sick", age,
               fenced ? "FENCED: mutable reads go to the origin" : "serving from cache",
               hit_ratio(metrics, admin.name), purge_queue_depth(config, admin.name));
  }
  return troubled ? kSomeEdgesFailed : 0;
}

int cdn_purge(const Config& config) {
  const auto& args = cdn_purge_args();
  std::vector<std::string> keys = args.keys;
  for (const auto& path : args.paths) {
    if (!path.starts_with("/")) {
      fmt::print(stderr, "ztm cdn purge: '{}' is not a URL path (/users/12)\n", path);
      return 2;
    }
    keys.push_back("url:" + path.substr(0, path.find('?')));  // every query string of the path
  }
  if (keys.empty()) {
    fmt::print(stderr, "ztm cdn purge: nothing to purge: give URL paths or --key KEY\n");
    return 2;
  }
  const auto admins = edge_admins(config, "purge");
  if (admins.empty()) return 2;
  int failed = 0;
  for (const auto& admin : admins) {
    auto edge = node::open_edge(admin);
    const auto start = std::chrono::steady_clock::now();
    auto done = run_sync(edge->purge(keys, std::nullopt));
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    if (done) {
      fmt::print("{:<10} purged in {} ms\n", admin.name, ms);
    } else {
      ++failed;
      fmt::print("{:<10} NOT purged: {}\n", admin.name, done.error().message);
    }
  }
  return failed ? kSomeEdgesFailed : 0;
}

}  // namespace ztm::cli
