#include "cache/redis/redis_cache_tier.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <functional>
#include <random>
#include <stdexcept>

#include "cache/redis/cached_value_codec.h"
#include "cache/redis/lease_scripts.h"
#include "cache/stable_hash.h"

namespace ztm::cache {
namespace {

using Kind = SharedLookup::Kind;

std::string value_key(std::string_view key) {
  return fmt::format("c:{}", key);
}
std::string lease_key(std::string_view key) {
  return fmt::format("l:{}", key);
}

// Where this tier granted a lease, kept in SharedLease::tag as (node + 1) << 1 | gutter, so the
// zero of a default SharedLease is no lease of ours.
struct LeaseOrigin {
  int node = -1;  // -1: not granted by this tier
  bool gutter = false;
};
std::uint64_t lease_tag(int node, bool gutter) {
  return (static_cast<std::uint64_t>(node) + 1) << 1 | (gutter ? 1u : 0u);
}
LeaseOrigin lease_origin(const SharedLease& lease, int nodes) {
  const std::uint64_t slot = lease.tag >> 1;
  if (slot == 0 || slot > static_cast<std::uint64_t>(nodes)) return {};
  return {static_cast<int>(slot) - 1, (lease.tag & 1u) != 0};
}

void require_positive(std::chrono::milliseconds d, const char* what) {
  if (d.count() <= 0) throw std::invalid_argument(fmt::format("l2 cache: {} must be > 0", what));
}

const RedisCacheTierOptions& validated(const RedisCacheTierOptions& o) {
  if (o.nodes.empty()) throw std::invalid_argument("l2 cache: no nodes");
  require_positive(o.ttl, "ttl");
  require_positive(o.gutter_ttl, "gutter ttl");
  require_positive(o.lease_ttl, "lease ttl");
  require_positive(o.lease_wait, "lease wait");
  require_positive(o.timeout, "timeout");
  require_positive(o.cooldown, "cooldown");
  if (o.replicas < 1 || o.failure_threshold < 1)
    throw std::invalid_argument("l2 cache: replicas and failure_threshold must be >= 1");
  if (!o.clock) throw std::invalid_argument("l2 cache: the clock must be set");
  return o;
}

// Waits on the calling coroutine's executor.
boost::asio::awaitable<void> pause_for(std::chrono::milliseconds d) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  timer.expires_after(d);
  auto wait = timer.async_wait(boost::asio::use_awaitable);
  co_await std::move(wait);
}

}  // namespace

struct RedisCacheTier::Node {
  Node(const std::string& address, const RedisCacheTierOptions& o)
      : client([&] {
          redis::ConnectionOptions c;
          c.address = address;
          c.timeout = o.timeout;
          c.backoff_min = std::chrono::milliseconds(10);
          c.backoff_max = o.cooldown;
          c.clock = o.clock;
          c.auth = o.auth;
          c.faults = o.faults;
          return c;
        }()),
        breaker(
            {.failure_threshold = o.failure_threshold, .cooldown = o.cooldown, .clock = o.clock}) {}
  redis::Client client;
  CircuitBreaker breaker;
  std::atomic<std::uint64_t> flushes{0};
  std::atomic<std::uint64_t> evicted{0};  // INFO stats evicted_keys, as last read
};

struct RedisCacheTier::Counters {
  std::atomic<std::uint64_t> hits{0}, misses{0}, busy_waits{0}, busy_gave_up{0}, unavailable{0},
      fills{0}, stale_sets_refused{0}, erases{0}, erase_failures{0}, gutter_lookups{0},
      hot_key_lookups{0}, tokens{0}, replica_picks{0};
  std::uint64_t token_seed = std::random_device{}();
};

RedisCacheTier::RedisCacheTier(RedisCacheTierOptions options)
    : options_(validated(options)),
      ring_(options_.nodes, options_.virtual_nodes),
      counters_(std::make_unique<Counters>()),
      hot_(options_.hot_keys) {
  for (const auto& address : options_.nodes) {
    if (!redis::parse_address(address))
      throw std::invalid_argument("l2 cache: bad node " + address);
    nodes_.push_back(std::make_unique<Node>(address, options_));
  }
}

RedisCacheTier::~RedisCacheTier() = default;

std::string RedisCacheTier::new_token() {
  return fmt::format("{:x}.{:x}", counters_->token_seed,
                     counters_->tokens.fetch_add(1, std::memory_order_relaxed));
}

std::chrono::milliseconds RedisCacheTier::fill_ttl(std::string_view key, bool gutter) const {
  if (gutter) return options_.gutter_ttl;
  // +- 10% by key hash: entries filled together (a cold start) do not expire together.
  const auto base = options_.ttl.count();
  const auto spread = base / 10;
  if (spread == 0) return options_.ttl;
  const auto offset =
      static_cast<long long>(stable_hash64(key) % static_cast<std::uint64_t>(2 * spread + 1));
  return std::chrono::milliseconds(base - spread + offset);
}

bool RedisCacheTier::node_up(int node) const {
  return nodes_[static_cast<std::size_t>(node)]->breaker.allow();
}

boost::asio::awaitable<Result<redis::Reply>> RedisCacheTier::run(int node,
                                                                 std::vector<std::string> args) {
  auto& n = *nodes_[static_cast<std::size_t>(node)];
  auto call = n.client.command(std::move(args));
  auto reply = co_await std::move(call);
  if (reply && !reply->is_error()) {
    n.breaker.on_success();
  } else {
    n.breaker.on_failure();
    if (reply) co_return redis::error_from_reply(*reply, "l2 cache");
  }
  co_return reply;
}

boost::asio::awaitable<void> RedisCacheTier::probe_if_due(int node) {
  auto& n = *nodes_[static_cast<std::size_t>(node)];
  if (!n.breaker.try_start_probe()) co_return;
  // The node was out of service and may have missed deletes: it comes back empty or not at all.
  // FLUSHDB, not FLUSHALL: the service's ACL user may empty its own database, nothing more.
  std::vector<std::string> flush{"FLUSHDB"};
  auto call = n.client.command(std::move(flush));
  auto reply = co_await std::move(call);
  const bool ok = reply && !reply->is_error();
  if (ok) n.flushes.fetch_add(1, std::memory_order_relaxed);
  n.breaker.probe_done(ok);
}

namespace {

// The evicted_keys field of an INFO stats reply.
std::optional<std::uint64_t> evicted_keys(std::string_view info) {
  constexpr std::string_view kField = "evicted_keys:";
  const auto at = info.find(kField);
  if (at == std::string_view::npos) return std::nullopt;
  std::uint64_t n = 0;
  const char* first = info.data() + at + kField.size();
  const auto [end, ec] = std::from_chars(first, info.data() + info.size(), n);
  if (ec != std::errc{} || end == first) return std::nullopt;
  return n;
}

}  // namespace

boost::asio::awaitable<void> RedisCacheTier::refresh_stats() {
  for (int i = 0; i < ring_.size(); ++i) {
    auto& n = *nodes_[static_cast<std::size_t>(i)];
    if (!node_up(i)) continue;
    // Straight to the client, not run(): monitoring must not move the breaker.
    auto call = n.client.command({"INFO", "stats"});
    const auto reply = co_await std::move(call);
    if (!reply || reply->is_error()) continue;
    if (const auto count = evicted_keys(reply->str))
      n.evicted.store(*count, std::memory_order_relaxed);
  }
}

boost::asio::awaitable<SharedLookup> RedisCacheTier::get_or_lease(std::string_view key) {
  auto& c = *counters_;
  const auto order = ring_.successors(key, ring_.size());
  for (int node : order) co_await probe_if_due(node);

  // The node to ask: a hot key's replica, else the owner, else the first closed stand-in.
  int target = -1;
  bool gutter = false;
  const int replicas = std::min(options_.replicas, ring_.size());
  if (replicas > 1 && hot_.is_hot(key)) {
    const auto pick =
        static_cast<std::size_t>(c.replica_picks.fetch_add(1, std::memory_order_relaxed) %
                                 static_cast<std::uint64_t>(replicas));
    if (node_up(order[pick])) {
      target = order[pick];
      c.hot_key_lookups.fetch_add(1, std::memory_order_relaxed);
    }
  }
  for (std::size_t i = 0; target < 0 && i < order.size(); ++i) {
    if (node_up(order[i])) {
      target = order[i];
      gutter = i > 0;
    }
  }
  SharedLookup out;
  if (target < 0) {
    c.unavailable.fetch_add(1, std::memory_order_relaxed);
    co_return out;
  }
  if (gutter) c.gutter_lookups.fetch_add(1, std::memory_order_relaxed);

  {
    // A plain GET first: hits, the common case, cost Redis no script run (EVAL hashes its body).
    std::vector<std::string> get{"GET", value_key(key)};
    auto call = run(target, std::move(get));
    auto reply = co_await std::move(call);
    if (!reply) {
      c.unavailable.fetch_add(1, std::memory_order_relaxed);
      co_return out;
    }
    if (reply->type == redis::Reply::Type::string) {
      out.value = decode_cached_value(reply->str);
      if (out.value) {
        c.hits.fetch_add(1, std::memory_order_relaxed);
        out.kind = Kind::hit;
        co_return out;
      }
    }
  }
  const std::string token = new_token();
  const auto deadline = options_.clock->steady_now() + options_.lease_wait;
  auto backoff = std::chrono::milliseconds(2);
  bool waited = false;
  // Bounded by lease_wait: each round waits at least 2 ms.
  for (;;) {
    std::vector<std::string> args{"EVAL",
                                  scripts::kGetOrLease,
                                  "2",
                                  value_key(key),
                                  lease_key(key),
                                  token,
                                  std::to_string(options_.lease_ttl.count())};
    auto call = run(target, std::move(args));
    auto reply = co_await std::move(call);
    if (!reply || !reply->is_array() || reply->elements.empty()) break;  // -> unavailable
    const auto code = reply->elements[0].as_int().value_or(-1);
    if (code == 0 && reply->elements.size() == 2) {
      out.value = decode_cached_value(reply->elements[1].str);
      if (!out.value) break;
      c.hits.fetch_add(1, std::memory_order_relaxed);
      out.kind = Kind::hit;
      co_return out;
    }
    if (code == 1) {
      c.misses.fetch_add(1, std::memory_order_relaxed);
      out.kind = Kind::lease;
      out.lease = SharedLease{token, lease_tag(target, gutter)};
      co_return out;
    }
    if (code != 2) break;
    if (!waited) c.busy_waits.fetch_add(1, std::memory_order_relaxed);
    waited = true;
    if (options_.clock->steady_now() + backoff > deadline) {
      c.busy_gave_up.fetch_add(1, std::memory_order_relaxed);
      out.kind = Kind::busy;
      co_return out;
    }
    auto pause = pause_for(backoff);
    co_await std::move(pause);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(16));
  }
  c.unavailable.fetch_add(1, std::memory_order_relaxed);
  co_return out;
}

boost::asio::awaitable<bool> RedisCacheTier::fill(std::string_view key, CachedPtr value,
                                                  SharedLease lease) {
  const LeaseOrigin origin = lease_origin(lease, ring_.size());
  if (!value || origin.node < 0 || !node_up(origin.node)) co_return false;
  std::vector<std::string> args{"EVAL",
                                scripts::kFill,
                                "2",
                                value_key(key),
                                lease_key(key),
                                lease.token,
                                encode_cached_value(*value),
                                std::to_string(fill_ttl(key, origin.gutter).count())};
  auto call = run(origin.node, std::move(args));
  auto reply = co_await std::move(call);
  if (!reply) co_return false;
  if (reply->as_int() == 1) {
    counters_->fills.fetch_add(1, std::memory_order_relaxed);
    co_return true;
  }
  counters_->stale_sets_refused.fetch_add(1, std::memory_order_relaxed);
  co_return false;
}

boost::asio::awaitable<void> RedisCacheTier::release(std::string_view key, SharedLease lease) {
  const LeaseOrigin origin = lease_origin(lease, ring_.size());
  if (origin.node < 0 || !node_up(origin.node)) co_return;
  std::vector<std::string> args{"EVAL", scripts::kRelease, "1", lease_key(key), lease.token};
  auto call = run(origin.node, std::move(args));
  co_await std::move(call);  // a failed release costs waiters at most lease_wait
}

boost::asio::awaitable<void> RedisCacheTier::erase(std::string_view key) {
  counters_->erases.fetch_add(1, std::memory_order_relaxed);
  const auto order = ring_.successors(key, ring_.size());
  bool reached_a_closed_node = false;
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (static_cast<int>(i) >= options_.replicas && reached_a_closed_node) break;
    const int node = order[i];
    // A node whose breaker is not closed is skipped: it is flushed before it serves again.
    if (!node_up(node)) continue;
    std::vector<std::string> args{"DEL", value_key(key), lease_key(key)};
    auto call = run(node, std::move(args));
    auto reply = co_await std::move(call);
    if (!reply) {
      // It may hold the old value: out of service until a flush.
      counters_->erase_failures.fetch_add(1, std::memory_order_relaxed);
      nodes_[static_cast<std::size_t>(node)]->breaker.trip();
      continue;
    }
    reached_a_closed_node = true;
  }
}

void RedisCacheTier::record_access(std::string_view key) {
  if (hot_.record(key)) add_hot_key_series(key);
}

SharedCacheStats RedisCacheTier::stats() const {
  const auto& c = *counters_;
  auto get = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  return SharedCacheStats{
      .hits = get(c.hits),
      .misses = get(c.misses),
      .busy_waits = get(c.busy_waits),
      .busy_gave_up = get(c.busy_gave_up),
      .unavailable = get(c.unavailable),
      .fills = get(c.fills),
      .stale_sets_refused = get(c.stale_sets_refused),
      .erases = get(c.erases),
  };
}

RedisCacheTier::RingStats RedisCacheTier::ring_stats() const {
  const auto& c = *counters_;
  auto get = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  RingStats s{
      .erase_failures = get(c.erase_failures),
      .gutter_lookups = get(c.gutter_lookups),
      .hot_key_lookups = get(c.hot_key_lookups),
  };
  for (const auto& n : nodes_) {
    s.breaker_opens += n->breaker.opens();
    s.flushes += get(n->flushes);
  }
  return s;
}

void RedisCacheTier::add_hot_key_series(std::string_view key) {
  std::lock_guard lock(metrics_mu_);
  if (!registry_ || hot_series_.size() >= kMaxHotKeySeries ||
      std::find(hot_series_.begin(), hot_series_.end(), key) != hot_series_.end())
    return;
  hot_series_.emplace_back(key);
  registry_->callback("ztm_cache_hot_key_share",
                      "Share of sampled reads that asked for this key while it is hot (0: cooled).",
                      {{"key", std::string(key)}},
                      [this, k = std::string(key)] { return hot_.hot_share(k); });
}

void RedisCacheTier::register_metrics(MetricsRegistry& registry) {
  const Labels l2 = {{"layer", "l2"}};
  using Read = std::function<double()>;
  auto stat = [this](std::uint64_t SharedCacheStats::*field) -> Read {
    return [this, field] { return static_cast<double>(stats().*field); };
  };
  auto ring_stat = [this](std::uint64_t RingStats::*field) -> Read {
    return [this, field] { return static_cast<double>(ring_stats().*field); };
  };
  struct Row {
    const char* name;
    const char* help;
    Read value;
  };
  const Row rows[] = {
      {"ztm_cache_hits_total", "Cache lookups that found a value.", stat(&SharedCacheStats::hits)},
      {"ztm_cache_misses_total", "Cache lookups that found nothing.",
       stat(&SharedCacheStats::misses)},
      {"ztm_cache_stale_sets_refused_total",
       "Fills refused because a write invalidated the key meanwhile.",
       stat(&SharedCacheStats::stale_sets_refused)},
      {"ztm_cache_lease_waits_total", "L2 lookups that waited for another server's fill.",
       stat(&SharedCacheStats::busy_waits)},
      {"ztm_cache_lease_wait_timeouts_total",
       "L2 lookups that gave up waiting and read the store without filling.",
       stat(&SharedCacheStats::busy_gave_up)},
      {"ztm_cache_unavailable_total", "L2 lookups no cache node could serve (store read).",
       stat(&SharedCacheStats::unavailable)},
      {"ztm_cache_fills_total", "Values stored after a store read.",
       stat(&SharedCacheStats::fills)},
      {"ztm_cache_erases_total", "Delete-on-write invalidations.", stat(&SharedCacheStats::erases)},
      {"ztm_cache_erase_failures_total", "Deletes a node missed (it is flushed before reuse).",
       ring_stat(&RingStats::erase_failures)},
      {"ztm_cache_gutter_lookups_total", "L2 lookups served by a stand-in for a dead node.",
       ring_stat(&RingStats::gutter_lookups)},
      {"ztm_cache_breaker_opens_total", "Cache nodes taken out of service by their breaker.",
       ring_stat(&RingStats::breaker_opens)},
      {"ztm_cache_node_flushes_total", "Cache nodes emptied on their return to service.",
       ring_stat(&RingStats::flushes)},
      {"ztm_cache_hot_key_lookups_total", "L2 lookups of a hot key, spread over its replicas.",
       ring_stat(&RingStats::hot_key_lookups)},
  };
  for (const auto& r : rows) registry.callback(r.name, r.help, l2, r.value, "counter");
  for (int i = 0; i < ring_.size(); ++i) {
    registry.callback("ztm_cache_l2_node_up",
                      "Ring membership: 1 while the node takes requests (breaker closed).",
                      {{"node", ring_.name(i)}}, [this, i] { return node_up(i) ? 1.0 : 0.0; });
    registry.callback(
        "ztm_cache_evictions_total",
        "Entries evicted to stay within the size bound (L2: the node's own "
        "evicted_keys, read every few seconds).",
        {{"layer", "l2"}, {"node", ring_.name(i)}},
        [this, i] {
          return static_cast<double>(
              nodes_[static_cast<std::size_t>(i)]->evicted.load(std::memory_order_relaxed));
        },
        "counter");
    nodes_[static_cast<std::size_t>(i)]->client.register_metrics(registry, "l2:" + ring_.name(i));
  }
  std::lock_guard lock(metrics_mu_);
  registry_ = &registry;
}

}  // namespace ztm::cache
