// ztm serve: wires the tiers together (store -> cache -> service -> API -> HTTP server), runs
// until SIGTERM/SIGINT, then shuts down gracefully:
//   1. /readyz fails (load balancers stop sending new work) for http.drain_delay_ms;
//   2. listeners close, idle keep-alive connections close;
//   3. in-flight requests finish (at most http.shutdown_timeout_ms) and get "Connection: close";
//   4. exit 0.
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <atomic>
#include <chrono>
#include <csignal>
#include <fmt/format.h>
#include <thread>

#include "api/api.h"
#include "app/accounts.h"
#include "app/outbox_relay.h"
#include "app/photo_worker.h"
#include "app/photos.h"
#include "core/task_group.h"
#include "cache/local/local_cache.h"
#include "cli/commands.h"
#include "cli/wiring.h"
#include "core/log.h"
#include "http/server.h"
#include "queue/open.h"
#include "sessions/open.h"

namespace ztm::cli {

namespace {

void register_server_metrics(MetricsRegistry& metrics, const http::Server& server) {
  metrics.callback("ztm_http_connections", "Open client connections.", {},
                   [&server] { return server.connections(); });
  metrics.callback("ztm_http_in_flight_requests", "Requests being handled.", {},
                   [&server] { return server.in_flight(); });
  metrics.callback("ztm_http_refused_connections_total", "Connections refused at the limit.", {},
                   [&server] { return static_cast<double>(server.refused_connections()); }, "counter");
}

void register_cache_metrics(MetricsRegistry& metrics, const Cache& cache) {
  const Labels l1 = {{"layer", "l1"}};
  auto stat = [&cache](std::uint64_t CacheStats::*field) {
    return [&cache, field] { return static_cast<double>(cache.stats().*field); };
  };
  metrics.callback("ztm_cache_hits_total", "Cache lookups that found a value.", l1,
                   stat(&CacheStats::hits), "counter");
  metrics.callback("ztm_cache_misses_total", "Cache lookups that found nothing.", l1,
                   stat(&CacheStats::misses), "counter");
  metrics.callback("ztm_cache_evictions_total", "Entries evicted to stay within the size bound.",
                   l1, stat(&CacheStats::evictions), "counter");
  metrics.callback("ztm_cache_expirations_total", "Entries dropped because their TTL ran out.", l1,
                   stat(&CacheStats::expirations), "counter");
  metrics.callback("ztm_cache_stale_sets_refused_total",
                   "Fills refused because a write invalidated the key meanwhile.", l1,
                   stat(&CacheStats::stale_sets_refused), "counter");
  metrics.callback("ztm_cache_entries", "Entries in the cache.", l1, stat(&CacheStats::entries));
  metrics.callback("ztm_cache_bytes", "Bytes charged to the cache.", l1, stat(&CacheStats::bytes));
}

// The L2 nodes' own evictions (cache::RedisCacheTier::refresh_node_stats) every 5 s, until
// `stop`, which it checks every 100 ms.
boost::asio::awaitable<void> refresh_l2_stats(cache::RedisCacheTier& tier,
                                              const std::atomic<bool>& stop) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  while (!stop) {
    co_await tier.refresh_node_stats();
    for (int i = 0; i < 50 && !stop; ++i) {
      timer.expires_after(std::chrono::milliseconds(100));
      co_await timer.async_wait(boost::asio::use_awaitable);
    }
  }
}

}  // namespace

int serve(const Config& config) {
  MetricsRegistry metrics;
  register_process_metrics(metrics);

  auto storage = open_storage(config, metrics, /*migrate=*/config.storage.migrate_on_start);
  std::unique_ptr<LocalCache> cache;
  if (config.cache.enabled) {
    // With L2 on, other servers' writes reach this L1 only by expiry: its TTL, jitter included,
    // stays within cache.l1_max_staleness_ms.
    const int jitter = config.cache.ttl_jitter_percent;
    const int ttl_ms = config.cache.l2_nodes.empty()
                           ? config.cache.ttl_ms
                           : std::min(config.cache.ttl_ms,
                                      std::max(1, config.cache.l1_max_staleness_ms * 100 / (100 + jitter)));
    cache = std::make_unique<LocalCache>(LocalCacheOptions{
        .policy = *parse_eviction_policy(config.cache.policy),
        .max_bytes = config.cache.max_bytes,
        .ttl = std::chrono::milliseconds(ttl_ms),
        .ttl_jitter_percent = jitter,
    });
    register_cache_metrics(metrics, *cache);
  }
  auto l2_cache = open_l2_cache(config, metrics);  // null without cache.l2_nodes
  IdGenerator ids(config.node_id);
  UserService users(storage.store(), cache.get(), l2_cache.get(), ids);
  metrics.callback("ztm_cache_coalesced_reads_total",
                   "Cache misses that waited for a load of the same key already in flight in this "
                   "process instead of reading below the cache.",
                   {}, [&users] { return static_cast<double>(users.coalesced_reads()); }, "counter");
  auto sessions = open_session_store(sessions_config(config), &metrics);
  PasswordHasher hasher(password_hasher_options(config.accounts));
  AccountService accounts(storage.store(), *sessions, hasher, ids,
                          {.session_ttl = std::chrono::seconds(config.sessions.ttl_s),
                           .attempts_per_account = config.accounts.login_attempts_per_account,
                           .attempts_per_address = config.accounts.login_attempts_per_address,
                           .window = std::chrono::seconds(config.accounts.login_window_s)});
  api::Auth auth(accounts, auth_options(config));
  // Photos: bytes by content in the blob store, jobs through the outbox to the queue; the relay
  // (and, for the single server, the workers) run on a loop of their own.
  auto blobs = open_blob_store(config, /*migrate=*/config.storage.migrate_on_start);
  auto queue = open_queue(queue_config(config));
  PhotoService photos(storage.photos(), *blobs, ids, photo_options(config));
  OutboxRelay relay(storage.photos(), *queue, {});
  std::unique_ptr<PhotoWorker> worker;
  TaskGroup background;
  background.spawn(relay.run());
  std::atomic<bool> stop_l2_stats{false};
  if (l2_cache)
    background.spawn(refresh_l2_stats(*l2_cache, stop_l2_stats));
  if (config.worker.in_process) {
    worker = std::make_unique<PhotoWorker>(*queue, storage.photos(), *blobs, ids, &metrics,
                                           worker_options(config));
    background.spawn(worker->run());
  }
  std::unique_ptr<api::StaticFiles> static_files;
  if (!config.http.static_dir.empty()) static_files = api::StaticFiles::load(config.http.static_dir);

  std::atomic<bool> draining{false};
  api::Api api({.max_json_depth = config.http.max_json_depth,
                .access_log = api::parse_access_log(config.log.access),
                .slow_ms = config.log.slow_ms,
                .max_upload_bytes = static_cast<std::size_t>(config.media.max_upload_bytes)},
               users, auth, photos, storage.store(), metrics, draining, static_files.get());

  const int threads = config.http.threads > 0 ? config.http.threads
                                              : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  http::Server server(
      {
          .address = config.http.address,
          .port = static_cast<unsigned short>(config.http.port),
          .threads = threads,
          .max_connections = config.http.max_connections,
          .max_header_bytes = static_cast<std::size_t>(config.http.max_header_bytes),
          .max_body_bytes = static_cast<std::size_t>(config.http.max_body_bytes),
          .idle_timeout = std::chrono::milliseconds(config.http.idle_timeout_ms),
          .header_timeout = std::chrono::milliseconds(config.http.header_timeout_ms),
          .body_timeout = std::chrono::milliseconds(config.http.body_timeout_ms),
          .write_timeout = std::chrono::milliseconds(config.http.write_timeout_ms),
          .body_limit_for = [&api](http::Verb m, std::string_view t) { return api.body_limit(m, t); },
      },
      [&api](http::Request& req) { return api.handle(req); });
  register_server_metrics(metrics, server);

  // Block the signals in every thread; the main thread waits for them below.
  boost::asio::io_context signals_ioc(1);
  boost::asio::signal_set signals(signals_ioc, SIGTERM, SIGINT);
  server.start();
  const std::string url = fmt::format("http://{}:{}", config.http.address, server.port());
  log::info("listening", {{"url", url}, {"threads", threads}, {"node_id", config.node_id},
                          {"storage", config.storage.backend},
                          {"cache", config.cache.enabled ? config.cache.policy : "off"},
                          {"sessions", config.sessions.backend}});
  fmt::print("ztm serve: listening on {}\n", url);
  std::fflush(stdout);

  int signal_number = 0;
  signals.async_wait([&](const boost::system::error_code&, int sig) { signal_number = sig; });
  signals_ioc.run();

  const auto started = std::chrono::steady_clock::now();
  log::info("shutting down", {{"signal", signal_number},
                              {"drain_delay_ms", config.http.drain_delay_ms},
                              {"in_flight", server.in_flight()}});
  draining = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(config.http.drain_delay_ms));
  server.drain();
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(config.http.shutdown_timeout_ms);
  while (server.connections() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const int abandoned = server.connections();
  server.stop();
  background.stop();  // the relay, then workers finish the jobs they hold
  log::info("stopped", {{"abandoned_connections", abandoned},
                        {"shutdown_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::steady_clock::now() - started)
                                            .count()}});
  return 0;
}

}  // namespace ztm::cli
