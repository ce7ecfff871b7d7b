#include "storage/sharding/map_source.h"

#include <stdexcept>

namespace ztm::storage {

namespace {

std::shared_ptr<const ShardMap> checked(ShardMap map) {
  if (auto ok = validate(map); !ok) throw std::invalid_argument(ok.error().message);
  return std::make_shared<const ShardMap>(std::move(map));
}

}  // namespace

LocalMapSource::LocalMapSource(ShardMap map) : map_(checked(std::move(map))) {}

std::shared_ptr<const ShardMap> LocalMapSource::current() const {
  std::lock_guard lock(mu_);
  return map_;
}

void LocalMapSource::set(ShardMap map) {
  auto next = checked(std::move(map));
  std::lock_guard lock(mu_);
  map_ = std::move(next);
}

WatchedMapSource::WatchedMapSource(etcd::ClientOptions client, ShardMapWatcherOptions watcher)
    : client_(std::move(client)), watcher_(client_, std::move(watcher)) {}

void WatchedMapSource::register_metrics(MetricsRegistry& registry) const {
  client_.register_metrics(registry);
  watcher_.register_metrics(registry);
}

}  // namespace ztm::storage
