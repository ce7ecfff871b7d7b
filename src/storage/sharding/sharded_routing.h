#pragma once
// ShardedStore's routing, shared by its two source files (sharded_store.cc: construction, the
// map, opening shards, users and accounts, lookup rows, follows; sharded_store_photos.cc: photos,
// jobs, the outbox, the KPIs). Not an interface: include it from those two files only.
//
// read() and write() run one call on the shard the current map names for a placement (a user id,
// or a lookup key's placement); write() holds the call while its bucket is fenced and retries a
// shard's `moved` once on a newer map, with Hold (sharded_store.h says how, and how long).

#include <fmt/format.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "storage/sharding/sharded_store.h"

namespace ztm::storage {
namespace sharded_routing {

using boost::asio::awaitable;
using SteadyTime = std::chrono::steady_clock::time_point;  // Clock::steady_now()'s

// A held write looks at the map this often, on its own executor (sharded_store.h says why).
inline constexpr std::chrono::milliseconds kHoldLook{5};

inline std::string tag_position(std::size_t shard, const std::string& position) {
  return position.empty() ? position : fmt::format("{}:{}", shard, position);
}

template <class T>
concept Positioned = requires(T& t) {
  t.position;
};

// A write's position names the shard that made it (StoredUser, Committed; others have none).
template <class T>
Result<T> tagged(std::size_t shard, Result<T> r) {
  if constexpr (Positioned<T>) {
    if (r.ok()) r->position = tag_position(shard, r->position);
  }
  return r;
}

}  // namespace sharded_routing

using sharded_routing::awaitable;

struct ShardedStore::Stats {
  std::atomic<std::uint64_t> holding{0};
  std::atomic<std::uint64_t> held{0};
  std::atomic<std::uint64_t> hold_micros{0};
  std::atomic<std::uint64_t> overflows{0};
  std::atomic<std::uint64_t> timeouts{0};
  std::atomic<std::uint64_t> moved_retries{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::int64_t> routed_version{0};
};

// One write's waits for a map: counted once however often it waits, all of them within one
// deadline from its first wait.
class ShardedStore::Hold {
 public:
  explicit Hold(ShardedStore& store) : store_(store), stats_(*store.stats_) {}
  ~Hold() {
    if (!since_) return;
    stats_.holding.fetch_sub(1, std::memory_order_relaxed);
    stats_.hold_micros.fetch_add(
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                       store_.options_.clock->steady_now() - *since_)
                                       .count()),
        std::memory_order_relaxed);
  }
  Hold(const Hold&) = delete;
  Hold& operator=(const Hold&) = delete;

  // The store's map once `ready` holds for it; unavailable, saying `why`, when the hold is full
  // or its time has run out.
  awaitable<Result<std::shared_ptr<const ShardMap>>> until(
      std::function<bool(const ShardMap&)> ready, std::string why) {
    if (auto map = store_.snapshot(); ready(*map)) co_return map;
    const ShardedStoreOptions& options = store_.options_;
    if (options.hold.count() == 0)
      co_return Error{Errc::unavailable, why + "; writes are not held"};
    if (!since_) {
      if (stats_.holding.fetch_add(1, std::memory_order_relaxed) >=
          static_cast<std::uint64_t>(options.max_held)) {
        stats_.holding.fetch_sub(1, std::memory_order_relaxed);
        stats_.overflows.fetch_add(1, std::memory_order_relaxed);
        co_return Error{Errc::unavailable, why + "; the hold is full"};
      }
      since_ = options.clock->steady_now();
      deadline_ = *since_ + options.hold;
      stats_.held.fetch_add(1, std::memory_order_relaxed);
    }
    boost::asio::steady_timer look(co_await boost::asio::this_coro::executor);
    for (;;) {
      auto map = store_.snapshot();
      if (ready(*map)) co_return map;
      const auto now = options.clock->steady_now();
      if (now >= deadline_) {
        stats_.timeouts.fetch_add(1, std::memory_order_relaxed);
        co_return Error{Errc::unavailable, fmt::format("{}; still so after holding the write {} ms",
                                                       why, options.hold.count())};
      }
      look.expires_after(std::min<sharded_routing::SteadyTime::duration>(sharded_routing::kHoldLook,
                                                                         deadline_ - now));
      auto [ec] = co_await look.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      if (ec == boost::asio::error::operation_aborted)
        co_return Error{Errc::unavailable, why + "; the held write was cancelled"};
    }
  }

 private:
  ShardedStore& store_;
  Stats& stats_;
  std::optional<sharded_routing::SteadyTime> since_;
  sharded_routing::SteadyTime deadline_;
};

template <class T>
awaitable<Result<T>> ShardedStore::on_shard(std::size_t index, const ShardMap& map, Call<T> call) {
  load_->record_shard(index);
  auto db = co_await open_shard(index, map);
  if (!db.ok()) co_return std::move(db).error();
  auto result = co_await call(**db, index);
  co_return sharded_routing::tagged(index, std::move(result));
}

// Never held; a moved (the bucket left the shard after this server's map was read: only a server
// behind the map, by more than a move's finalise_grace) goes once more on a newer map.
template <class T>
awaitable<Result<T>> ShardedStore::read(UserId placement, Call<T> call, bool user) {
  load_->record(placement, false, user);
  const auto map = snapshot();
  const auto shard = static_cast<std::size_t>(map->shard_of(placement));
  auto run = on_shard(shard, *map, call);
  auto first = co_await std::move(run);
  if (first.ok() || first.error().code != Errc::moved) co_return first;
  Hold hold(*this);
  auto again = after_moved(hold, placement, *map, shard, std::move(call));
  co_return co_await std::move(again);
}

// Held while the bucket is fenced; a moved (this server's map is behind the shards) waits for a
// newer map and goes once more, where that one says.
template <class T>
awaitable<Result<T>> ShardedStore::write(UserId placement, Call<T> call, bool user) {
  load_->record(placement, true, user);
  const int bucket = bucket_of(placement);
  Hold hold(*this);
  auto map = snapshot();
  if (map->fenced(bucket)) {
    auto waiting = hold.until([bucket](const ShardMap& m) { return !m.fenced(bucket); },
                              fmt::format("bucket {} is being moved", bucket));
    auto unfenced = co_await std::move(waiting);
    if (!unfenced.ok()) co_return std::move(unfenced).error();
    map = std::move(*unfenced);
  }
  const auto first_shard = static_cast<std::size_t>(map->shard_of(placement));
  auto run = on_shard(first_shard, *map, call);
  auto first = co_await std::move(run);
  if (first.ok() || first.error().code != Errc::moved) co_return first;
  auto again = after_moved(hold, placement, *map, first_shard, std::move(call));
  co_return co_await std::move(again);
}

template <class T>
awaitable<Result<T>> ShardedStore::after_moved(Hold& hold, UserId placement, const ShardMap& map,
                                               std::size_t refused, Call<T> call) {
  stats_->moved_retries.fetch_add(1, std::memory_order_relaxed);
  const int bucket = bucket_of(placement);
  const std::int64_t routed = map.version;
  auto waiting = hold.until(
      [bucket, routed](const ShardMap& m) { return m.version > routed && !m.fenced(bucket); },
      fmt::format("bucket {}: shard {} answered moved (map version {} is stale) and no newer "
                  "map assigns it",
                  bucket, map.shards[refused].name, routed));
  auto newer = co_await std::move(waiting);
  if (!newer.ok()) co_return std::move(newer).error();
  const ShardMap& fresh = **newer;
  const auto second_shard = static_cast<std::size_t>(fresh.shard_of(placement));
  auto again = on_shard(second_shard, fresh, std::move(call));
  auto second = co_await std::move(again);
  if (!second.ok() && second.error().code == Errc::moved)
    co_return Error{
        Errc::unavailable,
        fmt::format("bucket {}: shard {} answered moved on map version {} too (the map is "
                    "behind the shards): {}",
                    bucket, fresh.shards[second_shard].name, fresh.version,
                    second.error().message)};
  co_return second;
}

}  // namespace ztm::storage
