#include "storage/sharding/map_watcher.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>

#include "core/log.h"
#include "core/run_sync.h"

namespace ztm::storage {

namespace asio = boost::asio;

struct ShardMapWatcher::Stats {
  std::atomic<std::int64_t> version{0};
  std::atomic<std::uint64_t> updates{0};
  std::atomic<std::uint64_t> rejected{0};
};

ShardMapWatcher::ShardMapWatcher(etcd::Client& client, ShardMapWatcherOptions options,
                                 OnChange on_change)
    : client_(client),
      options_(std::move(options)),
      on_change_(std::move(on_change)),
      stats_(std::make_shared<Stats>()) {
  if (options_.key.empty()) throw std::invalid_argument("shard map watcher: an empty key");
  if (options_.backoff_min.count() < 1 || options_.backoff_max < options_.backoff_min)
    throw std::invalid_argument("shard map watcher: need 0 < backoff_min <= backoff_max");
}

ShardMapWatcher::~ShardMapWatcher() {
  stop();
}

Result<void> ShardMapWatcher::start() {
  auto read = run_sync(client_.get(options_.key));
  if (!read) {
    auto error = std::move(read).error();
    error.message = error.code == Errc::not_found
                        ? "no shard map in etcd at " + options_.key
                        : "cannot read the shard map at " + options_.key + ": " + error.message;
    return error;
  }
  auto map = parse_shard_map(read->value);
  if (!map)
    return Error{map.error().code, "the shard map in etcd at " + options_.key +
                                       " is not valid: " + map.error().message};
  stats_->version = map->version;
  {
    std::lock_guard lock(mu_);
    current_ = std::make_shared<const ShardMap>(std::move(*map));
    mod_revision_ = read->mod_revision;
  }
  next_revision_ = read->revision + 1;
  log::info("shard map loaded", {{"key", options_.key},
                                 {"version", stats_->version.load()},
                                 {"mod_revision", read->mod_revision}});
  tasks_ = std::make_unique<TaskGroup>();
  tasks_->spawn(watch());
  return {};
}

void ShardMapWatcher::stop() {
  if (tasks_) tasks_->stop();
}

std::shared_ptr<const ShardMap> ShardMapWatcher::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

std::int64_t ShardMapWatcher::mod_revision() const {
  std::lock_guard lock(mu_);
  return mod_revision_;
}

asio::awaitable<Result<std::int64_t>> ShardMapWatcher::publish(const ShardMap& next,
                                                               std::int64_t expected_mod_revision) {
  if (auto valid = validate(next); !valid) co_return std::move(valid).error();
  auto put = client_.put_if(options_.key, to_json(next), expected_mod_revision);
  co_return co_await std::move(put);
}

void ShardMapWatcher::register_metrics(MetricsRegistry& registry) const {
  auto stats = stats_;
  registry.callback("ztm_shard_map_version", "The version of the bucket map this server uses.", {},
                    [stats] { return static_cast<double>(stats->version.load()); });
  registry.callback(
      "ztm_shard_map_updates_total", "Newer bucket maps taken from the watch of etcd.", {},
      [stats] { return static_cast<double>(stats->updates.load()); }, "counter");
  registry.callback(
      "ztm_shard_map_rejected_total",
      "Values of the bucket map's key ignored: not a valid map, or a version not newer.", {},
      [stats] { return static_cast<double>(stats->rejected.load()); }, "counter");
}

asio::awaitable<void> ShardMapWatcher::watch() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  // Waits before the next attempt; stop() cancels the wait, which throws and ends the task.
  auto back_off = [&](int failures) {
    const auto delay = options_.backoff_min * (1LL << std::min(failures, 20));
    timer.expires_after(std::min<std::chrono::milliseconds>(delay, options_.backoff_max));
    return timer.async_wait(asio::use_awaitable);
  };
  int failures = 0;
  for (bool reread = false;; reread = true) {
    if (reread) {
      auto loaded = co_await reload();
      if (!loaded) {
        failing(loaded.error());
        co_await back_off(failures++);
        continue;
      }
    }
    bool accepted = false;
    etcd::WatchCallback on_message = [&](const etcd::WatchResponse& response) {
      if (!accepted && failing_) log::info("shard map watch resumed", {{"key", options_.key}});
      accepted = true;
      failing_ = false;
      on_response(response);
    };
    // Named, not temporaries inside co_await (GCC 12, see storage/store.h).
    auto watching = client_.watch(options_.key, next_revision_, std::move(on_message));
    auto ended = co_await std::move(watching);
    const auto state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) co_return;  // stop()
    if (!accepted) {
      failing(ended.error());
    } else {
      // Expected now and then (etcd restarted, a silent stream closed): re-read and go on.
      log::write(spdlog::level::debug, "shard map watch ended",
                 {{"key", options_.key}, {"error", ended.error().message}});
      // Only a connection lost resets the back-off: a compacted start revision (conflict) or a
      // server answering nonsense (internal) would otherwise be retried at once, forever.
      if (ended.error().code == Errc::unavailable) failures = 0;
    }
    co_await back_off(failures++);
  }
}

asio::awaitable<Result<void>> ShardMapWatcher::reload() {
  auto call = client_.get(options_.key);
  auto read = co_await std::move(call);
  if (!read && read.error().code == Errc::not_found) {
    // Deleted: keep the map; the watch from where it was will see the key written again.
    log::warn("shard map deleted in etcd; keeping the map",
              {{"key", options_.key}, {"version", stats_->version.load()}});
    co_return Result<void>{};
  }
  if (!read) co_return std::move(read).error();
  consider(read->value, read->mod_revision);
  next_revision_ = std::max(next_revision_, read->revision + 1);
  co_return Result<void>{};
}

void ShardMapWatcher::on_response(const etcd::WatchResponse& response) {
  for (const auto& event : response.events) {
    next_revision_ = std::max(next_revision_, event.mod_revision + 1);
    if (event.type == etcd::WatchEvent::Type::del) {
      log::warn("shard map deleted in etcd; keeping the map",
                {{"key", options_.key}, {"version", stats_->version.load()}});
      continue;
    }
    consider(event.value, event.mod_revision);
  }
}

void ShardMapWatcher::consider(const std::string& value, std::int64_t written_at) {
  if (written_at == mod_revision()) return;  // the value current() came from
  const std::int64_t version = stats_->version.load();
  auto map = parse_shard_map(value);
  if (!map || map->version <= version) {
    stats_->rejected.fetch_add(1);
    log::error(
        map ? "shard map in etcd is not newer; ignored" : "shard map in etcd is not valid; ignored",
        {{"key", options_.key},
         {"mod_revision", written_at},
         {"version", version},
         {"error", map ? "version " + std::to_string(map->version) : map.error().message}});
    return;
  }
  auto next = std::make_shared<const ShardMap>(std::move(*map));
  {
    std::lock_guard lock(mu_);
    current_ = next;
    mod_revision_ = written_at;
  }
  stats_->version = next->version;
  stats_->updates.fetch_add(1);
  log::info("shard map updated", {{"key", options_.key},
                                  {"from_version", version},
                                  {"version", next->version},
                                  {"mod_revision", written_at}});
  if (on_change_) on_change_(next);
}

void ShardMapWatcher::failing(const Error& error) {
  if (failing_) return;
  failing_ = true;
  log::warn("shard map watch failing; keeping the map",
            {{"key", options_.key}, {"version", stats_->version.load()}, {"error", error.message}});
}

}  // namespace ztm::storage
