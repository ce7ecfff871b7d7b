#pragma once
// ShardMapWatcher: the newest valid bucket map, kept current from etcd (docs/sharding.md, "The
// map"). Every web server runs one: it reads the map at start and then watches its key.
//
// Which values are taken: one that parse_shard_map() accepts and whose version is newer than the
// current map's. Any other value (text that does not parse, a version not newer: an old map
// written back, or two writers of one version) is logged and ignored, and counted in
// ztm_shard_map_rejected_total: the server keeps the map it has. A deleted key is logged and
// ignored too (the map stays). The same value seen again (re-read after a reconnect) is no
// change and not a rejection.
//
// Failure contract: start() reads the key once, a bounded wait (the client's: each endpoint's
// connect and round trip within its timeout) and fails when etcd cannot be read, the key is
// missing, or its value is not a valid map: the caller decides (a server that needs a map does
// not start). After that nothing fails: whenever the watch ends (etcd restarted or unreachable,
// a revision compacted, a silent or hostile stream) the watcher waits (backoff_min, doubling to
// backoff_max; back to backoff_min after a watch that etcd accepted and then lost), re-reads the
// key, so that a change made meanwhile is not missed, and watches again from the revision after
// that read. current() keeps answering the last map all along. A failure is logged once when it
// starts and once when the watch is back.
//
// Threading contract: the watch runs on a thread of its own (a TaskGroup). current() and
// mod_revision() may be called from any thread and never wait beyond a pointer copy under a
// mutex. on_change runs on the watcher's thread, after current() already returns the new map;
// it must not block (the next change waits for it) nor call stop(). publish() runs on the
// caller's executor.
//
// Metrics (register_metrics): ztm_shard_map_version (of the current map),
// ztm_shard_map_updates_total (maps taken from the watch), ztm_shard_map_rejected_total.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "core/metrics.h"
#include "core/result.h"
#include "core/task_group.h"
#include "etcd/client.h"
#include "storage/sharding/shard_map.h"

namespace ztm::storage {

struct ShardMapWatcherOptions {
  std::string key = "/ztm/shards/map";
  std::chrono::milliseconds backoff_min{100};   // after a watch ends, before the re-read
  std::chrono::milliseconds backoff_max{5000};  // the wait doubles up to this while etcd fails
};

class ShardMapWatcher {
 public:
  using OnChange = std::function<void(const std::shared_ptr<const ShardMap>&)>;

  // REQUIRES: `client` outlives this. Throws std::invalid_argument on nonsense options.
  explicit ShardMapWatcher(etcd::Client& client, ShardMapWatcherOptions options = {},
                           OnChange on_change = {});
  ~ShardMapWatcher();  // stop()
  ShardMapWatcher(const ShardMapWatcher&) = delete;
  ShardMapWatcher& operator=(const ShardMapWatcher&) = delete;

  // Reads the map and starts watching it. unavailable when etcd cannot be read, not_found when
  // the key has no value, invalid_argument (or invalid_json) when the value is not a valid map;
  // then nothing was started. REQUIRES: called once, not on an event-loop thread (it blocks).
  Result<void> start();
  // Ends the watch and returns once it has ended (cancelled, not polled). Idempotent.
  void stop();

  // The newest valid map seen. REQUIRES: start() succeeded.
  std::shared_ptr<const ShardMap> current() const;
  // The mod_revision of the value current() was read from: what publish() compares against to
  // replace it (stale, and so refused, once anything else was written to the key).
  std::int64_t mod_revision() const;

  // Writes `next` to the key if its mod_revision is still `expected_mod_revision` (0: only if
  // the key has no value): the new mod_revision, or precondition_failed when someone else wrote
  // it first, invalid_argument when `next` is not a valid map (nothing is written), or the
  // client's errors. The watch then delivers it like any other write.
  boost::asio::awaitable<Result<std::int64_t>> publish(const ShardMap& next,
                                                       std::int64_t expected_mod_revision);

  // REQUIRES: called once per registry.
  void register_metrics(MetricsRegistry& registry) const;

 private:
  struct Stats;
  boost::asio::awaitable<void> watch();
  boost::asio::awaitable<Result<void>> reload();
  void on_response(const etcd::WatchResponse& response);
  // Takes `value` (written at revision `written_at`) if it is a valid map newer than the
  // current one.
  void consider(const std::string& value, std::int64_t written_at);
  void failing(const Error& error);

  etcd::Client& client_;
  const ShardMapWatcherOptions options_;
  const OnChange on_change_;
  std::shared_ptr<Stats> stats_;  // shared with the metric callbacks

  mutable std::mutex mu_;  // held only to copy or swap these two
  std::shared_ptr<const ShardMap> current_;
  std::int64_t mod_revision_ = 0;

  // The watcher's thread only (start() before spawning it).
  std::int64_t next_revision_ = 0;  // watch from here: past everything already looked at
  bool failing_ = false;

  std::unique_ptr<TaskGroup> tasks_;  // created by start()
};

}  // namespace ztm::storage
