#pragma once
// The L2 cache tier: several Redis nodes (each `maxmemory` + allkeys-lru/lfu) on a consistent-hash
// ring, implementing SharedCache (cache/shared_cache.h) with memcache-style leases.
//
// On each node a key k is two Redis keys: "c:k" (the value, "<version>:<data>" as
// cached_value_codec.h writes it, with a TTL) and "l:k" (the lease: a random token, PX lease_ttl).
// Three Lua scripts make each step atomic on the node (lease_scripts.h): get-or-lease (GET, else
// SET NX the lease), fill (SET the value only if the lease still holds this token, then drop the
// lease), release. erase is DEL of both keys, so a fill that raced a write finds another token,
// or none, and is refused. A SharedLease's tag names the node that granted it and whether that
// node stood in for a dead owner (its fill then lives only gutter_ttl); callers never read it.
//
// Which node: the key's owner on the ring, unless its circuit breaker is open; then the first
// node clockwise whose breaker is closed serves as the owner's stand-in (gutter): same protocol,
// fills live only gutter_ttl. No node closed -> unavailable (the caller reads the store).
//
// Deletes reach every node that may serve the key: its first `replicas` ring nodes (the owner
// and its stand-in / hot-key replica) plus the first closed node if none of those is closed. A
// node that misses a delete (a failed DEL, or skipped while its breaker is open) is never read
// again before it is emptied: a failed DEL trips its breaker, and a breaker closes only after a
// FLUSHDB succeeded (the half-open probe). So an L2 value is never older than the last completed
// write, except across an asymmetric partition (one web server cannot reach a node that others
// still use), where l2 ttl bounds it.
//
// Hot keys (core/hot_keys.h, fed by record_access): lookups of a hot key go to one of its first
// `replicas` ring nodes at random, each running its own lease, so one node does not carry it.
//
// Failure behaviour: every command is bounded by `timeout`; a failure counts against the node's
// breaker (`failure_threshold` in a row open it for `cooldown`) and makes this lookup
// unavailable (no retry); nothing throws. Thread-safety: as SharedCache.

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cache/redis/circuit_breaker.h"
#include "cache/redis/consistent_hash_ring.h"
#include "cache/shared_cache.h"
#include "core/clock.h"
#include "core/hot_keys.h"
#include "core/metrics.h"
#include "redis/client.h"

namespace ztm::cache {

struct RedisCacheTierOptions {
  std::vector<std::string> nodes;  // "host:port" each, at least one
  int virtual_nodes = ConsistentHashRing::kDefaultVirtualNodes;
  std::chrono::milliseconds ttl{300'000};        // of a fill (+- 10%, by key hash)
  std::chrono::milliseconds gutter_ttl{10'000};  // of a fill on a stand-in for a dead owner
  std::chrono::milliseconds lease_ttl{2'000};    // a crashed filler's lease expires after this
  std::chrono::milliseconds lease_wait{300};     // busy: re-check for at most this long
  std::chrono::milliseconds timeout{100};        // each Redis command, connect included
  int replicas = 2;                              // nodes a hot key is spread over (>= 1)
  int failure_threshold = 3;
  std::chrono::milliseconds cooldown{500};  // open breaker -> next probe
  HotKeyOptions hot_keys;
  // The breakers' cool-downs and the lease_wait bound run on its monotonic time (the pauses
  // between lease re-checks are real timers; with a ManualClock a busy lookup waits until the
  // lease is filled, released or expires on the node: lease_ttl, Redis's clock). Fills' TTLs
  // are Redis's own (PX). Must outlive the tier.
  const Clock* clock = &Clock::system();
  redis::Credentials auth;   // every node's (redis/connection.h "Authentication")
  Faults* faults = nullptr;  // where a node's refusal of them is raised; must outlive the tier
};

class RedisCacheTier final : public SharedCache {
 public:
  // Throws std::invalid_argument (a start-up error) on no nodes, a bad address, a duplicate,
  // non-positive durations, or no clock.
  explicit RedisCacheTier(RedisCacheTierOptions options);
  ~RedisCacheTier() override;
  RedisCacheTier(const RedisCacheTier&) = delete;
  RedisCacheTier& operator=(const RedisCacheTier&) = delete;

  boost::asio::awaitable<SharedLookup> get_or_lease(std::string_view key) override;
  boost::asio::awaitable<bool> fill(std::string_view key, CachedPtr value,
                                    SharedLease lease) override;
  boost::asio::awaitable<void> release(std::string_view key, SharedLease lease) override;
  boost::asio::awaitable<void> erase(std::string_view key) override;
  void record_access(std::string_view key) override;
  SharedCacheStats stats() const override;

  // The ring's own counters, beside the lease protocol's (stats()), each a sum over the nodes.
  struct RingStats {
    std::uint64_t erase_failures = 0;   // a node missed a delete (it is flushed before reuse)
    std::uint64_t gutter_lookups = 0;   // lookups served by a stand-in for a dead node
    std::uint64_t breaker_opens = 0;    // a node taken out of service
    std::uint64_t flushes = 0;          // a node returned to service, emptied first
    std::uint64_t hot_key_lookups = 0;  // lookups of a hot key (spread over its replicas)
  };
  RingStats ring_stats() const;

  std::vector<HotKey> hot_keys() const { return hot_.hot_keys(); }
  const ConsistentHashRing& ring() const { return ring_; }
  // Whether node i takes requests (its breaker is closed).
  bool node_up(int node) const;

  // Reads each node's own evictions (INFO stats evicted_keys: entries Redis dropped at its
  // maxmemory) into ztm_cache_evictions_total{layer="l2",node}. Run it every few seconds (ztm
  // serve does, on its background loop); nodes out of service are skipped, and a failure here
  // does not count against a node's breaker.
  boost::asio::awaitable<void> refresh_stats() override;

  // ztm_cache_* {layer="l2"} counters, ztm_cache_l2_node_up{node},
  // ztm_cache_evictions_total{layer="l2",node} (see refresh_stats), the nodes' ztm_redis_*
  // client counters, and ztm_cache_hot_key_share{key}: one series per key that has been hot
  // (0 once it cooled), added when it first turns hot, at most kMaxHotKeySeries of them.
  // `registry` must outlive the tier. Call at most once.
  void register_metrics(MetricsRegistry& registry);
  static constexpr std::size_t kMaxHotKeySeries = 256;

 private:
  struct Node;
  struct Counters;

  // Runs one command on a node, feeding its breaker; failures are values.
  boost::asio::awaitable<Result<redis::Reply>> run(int node, std::vector<std::string> args);
  // If node's breaker is due for a probe, runs it (FLUSHDB) now.
  boost::asio::awaitable<void> probe_if_due(int node);
  std::chrono::milliseconds fill_ttl(std::string_view key, bool gutter) const;
  std::string new_token();
  void add_hot_key_series(std::string_view key);

  const RedisCacheTierOptions options_;
  const ConsistentHashRing ring_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::unique_ptr<Counters> counters_;
  HotKeyDetector hot_;
  std::mutex metrics_mu_;
  MetricsRegistry* registry_ = nullptr;  // guarded by metrics_mu_
  std::vector<std::string> hot_series_;  // keys with a hot-key series; guarded by metrics_mu_
};

}  // namespace ztm::cache
