#include "node/node.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <thread>

#include "api/api.h"
#include "app/accounts.h"
#include "app/activity.h"
#include "app/blob_collector.h"
#include "app/edge_purger.h"
#include "app/follows.h"
#include "app/kpis.h"
#include "app/outbox_relay.h"
#include "app/passwords.h"
#include "app/photo_worker.h"
#include "app/photos.h"
#include "app/purchases.h"
#include "app/readiness.h"
#include "app/users.h"
#include "cache/local/local_cache.h"
#include "cache/redis/redis_cache_tier.h"
#include "http/server.h"
#include "kpi/active_users_sketch.h"
#include "media/blob_store.h"
#include "node/backends.h"
#include "queue/queue.h"
#include "sessions/session_store.h"
#include "storage/metered_store.h"

namespace ztm::node {

using app::AccountService;
using app::EdgePurger;
using app::EdgePurgerOptions;
using app::OutboxRelay;
using app::OutboxRelayOptions;
using app::PasswordHasher;
using app::PhotoService;
using app::PhotoWorker;
using app::Readiness;
using app::UserService;
using cache::Cache;
using cache::CacheStats;
using storage::Database;
using storage::MeteredStore;

namespace {

using std::chrono::milliseconds;

void register_server_metrics(MetricsRegistry& metrics, const http::Server& server) {
  metrics.callback("ztm_http_connections", "Open client connections.", {},
                   [&server] { return server.connections(); });
  metrics.callback("ztm_http_in_flight_requests", "Requests being handled.", {},
                   [&server] { return server.in_flight(); });
  metrics.callback(
      "ztm_http_refused_connections_total", "Connections refused at the limit.", {},
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

// Runs `step`, then again every `period`, until cancelled (TaskGroup::stop).
boost::asio::awaitable<void> every(milliseconds period,
                                   std::function<boost::asio::awaitable<void>()> step) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  for (;;) {
    co_await step();
    timer.expires_after(period);
    auto [ec] = co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    if (ec) co_return;  // cancelled
  }
}

api::AuthOptions auth_options(const Config& config) {
  api::AuthOptions options;
  try {
    options.trusted_proxies = api::parse_address_list(config.http.trusted_proxies);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string("option 'http.trusted_proxies': ") + e.what());
  }
  const auto& secure = config.sessions.cookie_secure;
  options.cookie_secure = secure == "always"  ? api::CookieSecure::always
                          : secure == "never" ? api::CookieSecure::never
                                              : api::CookieSecure::auto_;
  return options;
}

api::ApiOptions api_options(const Config& config, const Clock& clock) {
  return {.max_json_depth = config.http.max_json_depth,
          .access_log = api::parse_access_log(config.log.access),
          .slow_ms = config.log.slow_ms,
          .max_upload_bytes = static_cast<std::size_t>(config.media.max_upload_bytes),
          .clock = &clock,
          .cache = {.ttl_s = config.cdn.ttl_s,
                    .list_ttl_s = config.cdn.list_ttl_s,
                    .photo_ttl_s = config.cdn.photo_ttl_s,
                    .stale_while_revalidate_s = config.cdn.stale_while_revalidate_s,
                    .stale_if_error_s = config.cdn.stale_if_error_s},
          .edges = parse_named_urls(config.cdn.edges),
          .edge_networks = parse_edge_networks(config.cdn.edge_networks),
          .trace_sample_pct = config.log.trace_sample_pct};
}

http::ServerOptions server_options(const Config& config, int threads) {
  const HttpConfig& h = config.http;
  return {
      .address = h.address,
      .port = static_cast<unsigned short>(h.port),
      .threads = threads,
      .max_connections = h.max_connections,
      .max_connections_per_address = h.max_connections_per_address,
      .unlimited_addresses = auth_options(config).trusted_proxies,
      .max_header_bytes = static_cast<std::size_t>(h.max_header_bytes),
      .max_body_bytes = static_cast<std::size_t>(h.max_body_bytes),
      .first_request_timeout = milliseconds(h.first_request_timeout_ms),
      .idle_timeout = milliseconds(h.idle_timeout_ms),
      .header_timeout = milliseconds(h.header_timeout_ms),
      .body_timeout = milliseconds(h.body_timeout_ms),
      .body_min_rate = static_cast<std::uint64_t>(h.body_min_rate),
      .write_timeout = milliseconds(h.write_timeout_ms),
  };
}

}  // namespace

Node::Node(const Config& config, const Clock& clock)
    : config_(config), clock_(clock), ids_(config.node_id, clock) {
  register_process_metrics(metrics_);
}

Node::~Node() {
  shutdown();
}

std::unique_ptr<Node> Node::web_server(const Config& config, Seams seams) {
  std::unique_ptr<Node> node(new Node(config, seams.clock ? *seams.clock : Clock::system()));
  node->open_data_tier(seams);
  node->build_web_server();
  return node;
}

std::unique_ptr<Node> Node::photo_worker(const Config& config, Seams seams) {
  std::unique_ptr<Node> node(new Node(config, seams.clock ? *seams.clock : Clock::system()));
  node->open_data_tier(seams);
  node->build_photo_worker();
  return node;
}

Database& Node::database() {
  return *database_;
}

unsigned short Node::port() const {
  return http_->port();
}

void Node::open_data_tier(Seams& seams) {
  const bool migrate = config_.storage.migrate_on_start;
  backend_ = open_database(config_, metrics_, clock_, migrate);
  Database* below_metering = backend_.get();
  if (seams.wrap_database) {
    wrapped_ = seams.wrap_database(*backend_);
    below_metering = wrapped_.get();
  }
  database_ = std::make_unique<MeteredStore>(*below_metering, metrics_, clock_);
  readiness_ = std::make_unique<Readiness>(*database_, &faults_);
  blobs_ = open_blob_store(config_, clock_, migrate);
  queue_ = open_queue(config_, clock_);
}

void Node::build_web_server() {
  l1_ = open_local_cache(config_, clock_);
  if (l1_) register_cache_metrics(metrics_, *l1_);
  l2_ = open_l2_cache(config_, metrics_, clock_, &faults_);
  users_ = std::make_unique<UserService>(*database_, *database_, l1_.get(), l2_.get(), ids_);
  metrics_.callback(
      "ztm_cache_coalesced_reads_total",
      "Cache misses that waited for a load of the same key already in flight in this process "
      "instead of reading below the cache.",
      {}, [users = users_.get()] { return static_cast<double>(users->coalesced_reads()); },
      "counter");
  sessions_ = open_session_store(config_, metrics_, clock_, &faults_);
  hasher_ = std::make_unique<PasswordHasher>(password_hasher_options(config_.accounts));
  sketch_ = open_active_user_sketch(config_, metrics_, clock_, &faults_);
  auto activity = activity_options(config_);
  activity.clock = &clock_;
  activity_ = std::make_unique<app::ActivityTracker>(*database_, *sketch_, activity, &metrics_);
  // Gauges only when they are refreshed: a gauge never computed would read 0, not "unknown".
  kpis_ = std::make_unique<app::KpiService>(
      *database_, *sketch_, clock_, config_.kpi.refresh_interval_ms > 0 ? &metrics_ : nullptr);
  purchases_ = std::make_unique<app::PurchaseService>(*database_, ids_);
  accounts_ = std::make_unique<AccountService>(*database_, *sessions_, *hasher_, ids_,
                                               account_options(config_, clock_), activity_.get());
  auth_ = std::make_unique<api::Auth>(*accounts_, auth_options(config_));
  photos_ = std::make_unique<PhotoService>(*database_, *blobs_, ids_, photo_options(config_));
  follows_ = std::make_unique<app::FollowService>(*database_, *database_, *users_);

  OutboxRelayOptions relay{.idle_wait = milliseconds(config_.queue.outbox_poll_ms),
                           .clock = &clock_,
                           .users = users_.get()};
  for (const auto& admin : parse_named_urls(config_.cdn.edge_admins)) {
    purge_queues_.push_back(open_purge_queue(config_, clock_, admin.name));
    edges_.push_back(open_edge(admin));
    purgers_.push_back(std::make_unique<EdgePurger>(
        *purge_queues_.back(), *edges_.back(), &metrics_, EdgePurgerOptions{.clock = &clock_}));
    relay.edges.push_back({admin.name, purge_queues_.back().get()});
  }
  relay_ = std::make_unique<OutboxRelay>(*database_, *database_, *queue_, std::move(relay));
  if (config_.media.blob_collect_interval_s > 0)
    collector_ = std::make_unique<app::BlobCollector>(
        *photos_, &metrics_,
        app::BlobCollectorOptions{.interval =
                                      std::chrono::seconds(config_.media.blob_collect_interval_s)});
  if (config_.worker.in_process) add_in_process_workers();

  if (!config_.http.static_dir.empty()) {
    std::vector<std::string> edge_origins;
    for (const auto& edge : parse_named_urls(config_.cdn.edges)) edge_origins.push_back(edge.url);
    static_files_ = api::StaticFiles::load(config_.http.static_dir, edge_origins);
  }
  auto options_for_api = api_options(config_, clock_);
  options_for_api.on_write = [relay = relay_.get()] { relay->wake(); };
  api_ =
      std::make_unique<api::Api>(std::move(options_for_api), *users_, *auth_, *photos_, *follows_,
                                 *purchases_, *kpis_, *readiness_, metrics_, static_files_.get());
  const int threads = config_.http.threads > 0
                          ? config_.http.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  auto options = server_options(config_, threads);
  options.admit = [api = api_.get()](http::Request& head) { return api->admit(head); };
  threads_ = threads;
  http_ = std::make_unique<http::Server>(
      std::move(options), [api = api_.get()](http::Request& req) { return api->handle(req); });
  register_server_metrics(metrics_, *http_);
}

void Node::add_in_process_workers() {
  auto options = worker_options(config_);
  options.clock = &clock_;
  worker_ = std::make_unique<PhotoWorker>(*queue_, *database_, *blobs_, ids_, &metrics_, options);
}

void Node::build_photo_worker() {
  add_in_process_workers();
  queue_depth_ = &metrics_.gauge("ztm_queue_pending", "Jobs in the queue not yet done (sampled).");
  queue_age_ =
      &metrics_.gauge("ztm_queue_oldest_age_seconds",
                      "How long the oldest job not yet done has waited (sampled; 0: none).");

  // Health and metrics only: a worker takes no requests.
  threads_ = 1;
  auto options = server_options(config_, threads_);
  http_ = std::make_unique<http::Server>(
      std::move(options), [this](http::Request& req) -> boost::asio::awaitable<http::Response> {
        http::Response res;
        if (req.path == "/metrics") {
          res.content_type = "text/plain; version=0.0.4; charset=utf-8";
          res.body = metrics_.render();
        } else if (req.path == "/healthz" || req.path == "/readyz") {
          if (readiness_->draining())
            res = http::json_error(503, "draining", "the worker is stopping");
          else
            res.body = R"({"status":"ok"})";
        } else {
          res = http::json_error(404, "not_found", "a worker serves /healthz and /metrics");
        }
        co_return res;
      });
}

void Node::start() {
  http_->start();
  // Background work runs on a loop of its own, never on the HTTP loops.
  if (relay_) background_.spawn(relay_->run());
  for (auto& purger : purgers_) background_.spawn(purger->run());
  if (collector_) background_.spawn(collector_->run());
  if (worker_) background_.spawn(worker_->run());
  if (activity_) background_.spawn(activity_->run(milliseconds(config_.kpi.activity_flush_ms)));
  if (kpis_ && config_.kpi.refresh_interval_ms > 0)
    background_.spawn(kpis_->run(milliseconds(config_.kpi.refresh_interval_ms)));
  if (l2_)  // the L2 nodes' own evictions, for ztm_cache_evictions_total{layer="l2"}
    background_.spawn(
        every(milliseconds(5000), [tier = l2_.get()] { return tier->refresh_stats(); }));
  // The sessions' Redis answers a PING now and every 5 s: credentials it refuses show in /readyz
  // before the first login, and clear once it accepts them (the L2 nodes: refresh_stats above).
  if (sessions_ && config_.sessions.backend == "redis")
    background_.spawn(
        every(milliseconds(5000), [store = sessions_.get()]() -> boost::asio::awaitable<void> {
          (void)co_await store->ping();
        }));
  if (queue_depth_)  // what workers are scaled by
    background_.spawn(every(milliseconds(1000), [this]() -> boost::asio::awaitable<void> {
      if (auto n = co_await queue_->pending()) queue_depth_->set(static_cast<double>(*n));
      if (auto t = co_await queue_->oldest()) {
        const std::chrono::duration<double> age =
            *t ? std::max(clock_.now() - **t, std::chrono::system_clock::duration::zero())
               : std::chrono::system_clock::duration::zero();
        queue_age_->set(age.count());
      }
    }));
  started_ = true;
}

int Node::shutdown() {
  if (stopped_) return 0;
  stopped_ = true;
  int abandoned = 0;
  if (started_) {
    readiness_->start_draining();
    std::this_thread::sleep_for(milliseconds(config_.http.drain_delay_ms));
    http_->drain();
    // Real time, not the node's clock: this waits for sockets to close.
    abandoned = http_->wait_closed(milliseconds(config_.http.shutdown_timeout_ms));
    http_->stop();
  }
  background_.stop();  // the relay, then workers finish the jobs they hold
  return abandoned;
}

}  // namespace ztm::node
