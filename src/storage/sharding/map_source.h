#pragma once
// Where the sharded store (sharded_store.h) takes its bucket map from. A MapSource answers the
// newest map it has; the store decides whether to follow it (check_successor) and routes every
// call by the map it follows.
//   - LocalMapSource: a map held in memory (a map file read once at start); set() offers the
//     next one (tests play a mover with it).
//   - WatchedMapSource: the map kept current from etcd (ShardMapWatcher), with the client it
//     reads through; it owns both, so destroying it stops the watch before the client goes.

#include <memory>
#include <mutex>

#include "core/metrics.h"
#include "core/result.h"
#include "etcd/client.h"
#include "storage/sharding/map_watcher.h"
#include "storage/sharding/shard_map.h"

namespace ztm::storage {

class MapSource {
 public:
  virtual ~MapSource() = default;
  // The newest map this source has; never null. Called by every store call, from any thread:
  // waits for nothing beyond a pointer copy.
  virtual std::shared_ptr<const ShardMap> current() const = 0;
  // The etcd the map comes from, if it does (where the store's load report goes); else null.
  virtual etcd::Client* etcd_client() { return nullptr; }
};

class LocalMapSource final : public MapSource {
 public:
  // Throws std::invalid_argument unless validate(map) accepts it.
  explicit LocalMapSource(ShardMap map);
  std::shared_ptr<const ShardMap> current() const override;
  // Offers `map` as the newest (whether it is followed is the store's decision). Throws
  // std::invalid_argument unless validate(map) accepts it. Any thread.
  void set(ShardMap map);

 private:
  mutable std::mutex mu_;  // held to copy or swap the pointer only
  std::shared_ptr<const ShardMap> map_;
};

class WatchedMapSource final : public MapSource {
 public:
  // Throws std::invalid_argument on nonsense options (the client's, the watcher's).
  WatchedMapSource(etcd::ClientOptions client, ShardMapWatcherOptions watcher);
  ~WatchedMapSource() override = default;  // the watcher (declared last) stops first

  // ShardMapWatcher::start(): reads the map (bounded) and starts watching it; unavailable,
  // not_found or invalid_argument as it says. REQUIRES: called once, off the event loops.
  Result<void> start() { return watcher_.start(); }
  // REQUIRES: start() succeeded.
  std::shared_ptr<const ShardMap> current() const override { return watcher_.current(); }
  etcd::Client* etcd_client() override { return &client_; }
  // The client's ztm_etcd_* and the watcher's ztm_shard_map_* series. Once per registry.
  void register_metrics(MetricsRegistry& registry) const;

 private:
  etcd::Client client_;
  ShardMapWatcher watcher_;
};

}  // namespace ztm::storage
