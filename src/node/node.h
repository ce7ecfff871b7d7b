#pragma once
// The composition root: one process of the system — a web server (`ztm serve`) or a photo worker
// (`ztm worker`) — built from a Config. Every backend is chosen here (through backends.h) and
// nowhere else; `ztm serve`, `ztm worker` and the in-process integration tests all build their
// object graph with Node, so the tests exercise the production graph (metered database, L1
// options, L2 when configured). Tests may add Seams; they never wire a second graph.
//
// The web server's graph (data flows down):
//   http::Server -> api::Api -> UserService, AccountService, PhotoService, Readiness
//     UserService    -> L1 LocalCache, L2 RedisCacheTier (optional) -> Database
//     AccountService -> Database, SessionStore, PasswordHasher
//     PhotoService   -> Database (photos, jobs, outbox), BlobStore
//     PurchaseService -> Database (purchases)
//     KpiService     -> Database (rollups), ActiveUserSketch (in-process, or the sessions' Redis)
//     AccountService -> ActivityTracker (who is active today) -> Database, ActiveUserSketch
//   background: OutboxRelay (outbox -> Queue), PhotoWorker (in-process workers), BlobCollector
//     (bytes kept by the grace rule), L2 node stats, the activity tracker's flushes, the KPI
//     gauges' refresh, a PING of the sessions' Redis
// The worker's graph: PhotoWorker (Queue -> libvips -> BlobStore, Database) and a health and
// metrics server. The Database is the chosen backend wrapped in MeteredStore.
//
// Shutdown (shutdown(), also run by the destructor): /readyz turns 503 for http.drain_delay_ms
// (load balancers stop sending new work); listeners and idle connections close; in-flight
// requests finish, for at most http.shutdown_timeout_ms; then background work stops (the relay;
// workers finish the jobs they hold). The sharded database's map watcher (storage.shard_map =
// etcd://...) is owned by the database and stops when it is destroyed, after everything above.

#include <functional>
#include <memory>

#include "core/clock.h"
#include "core/config.h"
#include "core/faults.h"
#include "core/ids.h"
#include "core/metrics.h"
#include "core/task_group.h"
#include "http/router.h"
#include "storage/database.h"

namespace ztm {
namespace api {
class Api;
class Auth;
class StaticFiles;
}  // namespace api
namespace app {
class AccountService;
class ActivityTracker;
class BlobCollector;
class EdgePurger;
class FollowService;
class KpiService;
class OutboxRelay;
class PasswordHasher;
class PhotoService;
class PhotoWorker;
class PurchaseService;
class Readiness;
class UserService;
}  // namespace app
namespace cdn {
class Edge;
}  // namespace cdn
namespace cache {
class LocalCache;
class SharedCache;
}  // namespace cache
namespace http {
class Server;
}  // namespace http
namespace kpi {
class ActiveUserSketch;
}  // namespace kpi
namespace media {
class BlobStore;
}  // namespace media
namespace queue {
class Queue;
}  // namespace queue
namespace sessions {
class SessionStore;
}  // namespace sessions
namespace storage {
class MeteredStore;
}  // namespace storage
}  // namespace ztm

namespace ztm::node {

// What a test may change in the production graph.
struct Seams {
  // The one clock every part of the node reads time from (ids, TTLs, breakers, sessions, queue,
  // latency); null = the real clock. Must outlive the node.
  const Clock* clock = nullptr;
  // Wraps the chosen database backend, below the metering decorator (e.g. a gate that holds
  // reads). The returned wrapper must refer to `backend`, which outlives it.
  std::function<std::unique_ptr<storage::Database>(storage::Database& backend)> wrap_database;
};

class Node {
 public:
  // `ztm serve`: the web tier (API, caches, sessions, photos, outbox relay; workers too when
  // worker.in_process). Opens every backend (and migrates when storage.migrate_on_start); binds
  // and serves nothing before start(). Throws on start-up errors.
  static std::unique_ptr<Node> web_server(const Config& config, Seams seams = {});
  // `ztm worker`: photo workers, with /healthz, /readyz and /metrics on http.address:http.port.
  static std::unique_ptr<Node> photo_worker(const Config& config, Seams seams = {});

  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Binds the listeners (throws std::system_error naming the address), starts the event loops
  // and the background work.
  void start();
  // The graceful shutdown above; returns the connections still open at the timeout (closed
  // anyway). Blocks the calling thread (not an event loop). Idempotent.
  int shutdown();

  const Config& config() const { return config_; }
  unsigned short port() const;
  int threads() const { return threads_; }
  MetricsRegistry& metrics() { return metrics_; }
  // The database as every service sees it (the metering decorator over the backend).
  storage::Database& database();
  storage::MeteredStore& metered_database() { return *database_; }
  app::Readiness& readiness() { return *readiness_; }
  http::Server& http_server() { return *http_; }
  queue::Queue& queue() { return *queue_; }
  // Web server only (null in a worker); l1/l2 are null when that cache layer is off.
  cache::LocalCache* l1_cache() { return l1_.get(); }
  cache::SharedCache* l2_cache() { return l2_.get(); }
  sessions::SessionStore* sessions() { return sessions_.get(); }
  app::AccountService* accounts() { return accounts_.get(); }
  app::ActivityTracker* activity() { return activity_.get(); }
  app::KpiService* kpis() { return kpis_.get(); }
  kpi::ActiveUserSketch* sketch() { return sketch_.get(); }

 private:
  Node(const Config& config, const Clock& clock);
  void open_data_tier(Seams& seams);
  void build_web_server();
  void build_photo_worker();
  void add_in_process_workers();
  void make_http_server(http::Handler handler, int threads);

  const Config config_;
  const Clock& clock_;
  int threads_ = 1;
  MetricsRegistry metrics_;
  Faults faults_;  // refused credentials (Redis), for /readyz; outlives every client
  IdGenerator ids_;
  // Declared in dependency order: destroyed in reverse, users before what they use.
  std::unique_ptr<storage::Database> backend_;
  std::unique_ptr<storage::Database> wrapped_;  // a test's seam around backend_, or null
  std::unique_ptr<storage::MeteredStore> database_;
  std::unique_ptr<app::Readiness> readiness_;
  std::unique_ptr<media::BlobStore> blobs_;
  std::unique_ptr<queue::Queue> queue_;
  std::unique_ptr<cache::LocalCache> l1_;
  std::unique_ptr<cache::SharedCache> l2_;
  std::unique_ptr<app::UserService> users_;
  std::unique_ptr<sessions::SessionStore> sessions_;
  std::unique_ptr<app::PasswordHasher> hasher_;
  std::unique_ptr<kpi::ActiveUserSketch> sketch_;
  std::unique_ptr<app::ActivityTracker> activity_;
  std::unique_ptr<app::KpiService> kpis_;
  std::unique_ptr<app::PurchaseService> purchases_;
  std::unique_ptr<app::AccountService> accounts_;
  std::unique_ptr<api::Auth> auth_;
  std::unique_ptr<app::PhotoService> photos_;
  std::unique_ptr<app::FollowService> follows_;
  // The CDN's purge path, one of each per edge in cdn.edge_admins (docs/cdn.md).
  std::vector<std::unique_ptr<queue::Queue>> purge_queues_;
  std::vector<std::unique_ptr<cdn::Edge>> edges_;
  std::vector<std::unique_ptr<app::EdgePurger>> purgers_;
  std::unique_ptr<app::OutboxRelay> relay_;
  std::unique_ptr<app::BlobCollector> collector_;  // null when media.blob_collect_interval_s = 0
  std::unique_ptr<app::PhotoWorker> worker_;
  std::unique_ptr<api::StaticFiles> static_files_;
  std::unique_ptr<api::Api> api_;
  std::unique_ptr<http::Server> http_;
  Gauge* queue_depth_ = nullptr;  // a worker's sample of the queue's depth
  Gauge* queue_age_ = nullptr;    // ... and of how long its oldest job has waited
  TaskGroup background_;          // last: stopped before anything it uses is destroyed
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace ztm::node
