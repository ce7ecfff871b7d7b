#pragma once
// The whole web tier in-process, as `ztm serve` wires it (SQLite store, L1 cache, users service,
// accounts and SQLite sessions, API, HTTP server), on port 0 with a fresh database and the demo data
// (whose accounts admin_token() and user_token() log in as). Tests can hold storage calls at a gate to
// keep requests in flight.

#include <unistd.h>

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <memory>
#include <thread>

#include "api/api.h"
#include "app/demo_data.h"
#include "app/outbox_relay.h"
#include "app/photo_worker.h"
#include "app/photos.h"
#include "core/task_group.h"
#include "media/local/local_blob_store.h"
#include "queue/embedded/embedded_queue.h"
#include "queue/nats/nats_queue.h"
#include "cache/local/local_cache.h"
#include "core/run_sync.h"
#include "http/server.h"
#include "storage/sqlite/sqlite_store.h"
#include "tests/support/eventually.h"
#include "sessions/sqlite/sqlite_session_store.h"

namespace ztm::test {

// A Store decorator whose get_user waits while the gate is closed.
class GatedStore final : public Store {
 public:
  using Store::create_user;
  using Store::get_user;
  using Store::list_users;
  explicit GatedStore(Store& inner) : inner_(inner) {}
  void close_gate() { open_ = false; }
  void open_gate() { open_ = true; }
  int waiting() const { return waiting_.load(); }

  boost::asio::awaitable<Result<StoredUser>> get_user(UserId id, Consistency c) override {
    if (!open_) {
      ++waiting_;
      boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
      while (!open_) {  // polls the gate every millisecond; the test bounds the wait
        timer.expires_after(std::chrono::milliseconds(1));
        co_await timer.async_wait(boost::asio::use_awaitable);
      }
      --waiting_;
    }
    co_return co_await inner_.get_user(id, std::move(c));
  }
  boost::asio::awaitable<Result<UserPage>> list_users(UserId after, int limit,
                                                      Consistency c) override {
    return inner_.list_users(after, limit, std::move(c));
  }
  boost::asio::awaitable<Result<StoredUser>> create_user(
      User user, std::optional<std::string> key) override {
    return inner_.create_user(std::move(user), std::move(key));
  }
  boost::asio::awaitable<Result<StoredUser>> update_user(User user, std::optional<std::int64_t> v) override {
    return inner_.update_user(std::move(user), v);
  }
  boost::asio::awaitable<Result<Committed>> delete_user(UserId id,
                                                        std::optional<std::int64_t> v) override {
    return inner_.delete_user(id, v);
  }
  boost::asio::awaitable<Result<std::int64_t>> count_users() override { return inner_.count_users(); }
  boost::asio::awaitable<Result<StoredUser>> create_account(User user, Account account) override {
    return inner_.create_account(std::move(user), std::move(account));
  }
  boost::asio::awaitable<Result<Account>> find_account(std::string email) override {
    return inner_.find_account(std::move(email));
  }
  boost::asio::awaitable<Result<void>> ping() override { return inner_.ping(); }

 private:
  Store& inner_;
  std::atomic<bool> open_{true};
  std::atomic<int> waiting_{0};
};

struct TestServerOptions {
  http::ServerOptions http{.threads = 2};
  bool cache = true;
  std::string static_dir;
  int max_json_depth = 16;
  AccountOptions accounts{};
  api::AuthOptions auth{};
  // Photos: the outbox relay and photo workers run in-process (the single server) unless off.
  bool photo_workers = true;
  PhotoWorkerOptions worker{.concurrency = 2, .fetch_wait = std::chrono::milliseconds(100)};
  QueueOptions queue{};
  std::string nats_url;  // set: the queue is NATS JetStream there, else the embedded queue
};

class TestServer {
 public:
  explicit TestServer(TestServerOptions options = {}) {
    char dir[] = "/tmp/ztm-test-XXXXXX";
    dir_ = mkdtemp(dir);
    sqlite_ = std::make_unique<SqliteStore>(SqliteOptions{.path = dir_ + "/ztm.db", .threads = 2});
    if (!sqlite_->migrate()) throw std::runtime_error("migrate failed");
    gate_ = std::make_unique<GatedStore>(*sqlite_);
    if (!run_sync(load_demo_data(*gate_, hasher_))) throw std::runtime_error("demo data failed");
    sessions_ = std::make_unique<SqliteSessionStore>(SqliteSessionOptions{.path = dir_ + "/sessions.db"});
    if (options.cache) cache_ = std::make_unique<LocalCache>(LocalCacheOptions{});
    users_ = std::make_unique<UserService>(*gate_, cache_.get(), ids_);
    accounts_ = std::make_unique<AccountService>(*gate_, *sessions_, hasher_, ids_, options.accounts);
    auth_ = std::make_unique<api::Auth>(*accounts_, options.auth);
    blobs_ = std::make_unique<media::LocalBlobStore>(media::LocalBlobStoreOptions{.dir = dir_ + "/media"});
    if (options.nats_url.empty())
      queue_ = std::make_unique<EmbeddedQueue>(EmbeddedQueueOptions{.path = dir_ + "/queue.db", .queue = options.queue});
    else
      queue_ = std::make_unique<NatsQueue>(NatsQueueOptions{.url = options.nats_url, .queue = options.queue});
    photos_ = std::make_unique<PhotoService>(*sqlite_, *blobs_, ids_, PhotoOptions{.limits = options.worker.limits});
    media_dir_ = dir_ + "/media";
    relay_ = std::make_unique<OutboxRelay>(*sqlite_, *queue_, OutboxRelayOptions{.idle_wait = std::chrono::milliseconds(20)});
    worker_ = std::make_unique<PhotoWorker>(*queue_, *sqlite_, *blobs_, ids_, &metrics_, options.worker);
    if (options.photo_workers) {
      background_.spawn(relay_->run());
      background_.spawn(worker_->run());
    }
    if (!options.static_dir.empty()) static_files_ = api::StaticFiles::load(options.static_dir);
    api_ = std::make_unique<api::Api>(api::ApiOptions{.max_json_depth = options.max_json_depth, .access_log = api::AccessLog::off,
                                                      .max_upload_bytes = options.worker.limits.max_bytes},
                                      *users_, *auth_, *photos_, *gate_, metrics_, draining, static_files_.get());
    auto http_options = options.http;
    http_options.body_limit_for = [this](http::Verb m, std::string_view t) { return api_->body_limit(m, t); };
    server_ = std::make_unique<http::Server>(http_options, [this](http::Request& r) { return api_->handle(r); });
    server_->start();
  }
  ~TestServer() {
    server_.reset();
    background_.stop();
    api_.reset();
    worker_.reset();
    relay_.reset();
    photos_.reset();
    queue_.reset();
    blobs_.reset();
    auth_.reset();
    accounts_.reset();
    sessions_.reset();
    users_.reset();
    gate_.reset();
    sqlite_.reset();
    std::filesystem::remove_all(dir_);
  }

  unsigned short port() const { return server_->port(); }
  http::Server& server() { return *server_; }
  GatedStore& gate() { return *gate_; }
  MetricsRegistry& metrics() { return metrics_; }
  Store& store() { return *gate_; }
  SessionStore& sessions() { return *sessions_; }
  PhotoStore& photo_store() { return *sqlite_; }
  Queue& queue() { return *queue_; }
  // Where the local blob store keeps a blob (to damage one on purpose).
  std::string blob_path(const std::string& key) const { return media_dir_ + "/" + key.substr(0, 2) + "/" + key; }
  AccountService& accounts() { return *accounts_; }
  // A fresh session of the demo admin / of John Smith (user 12).
  std::string admin_token() { return token(kDemoAdminEmail, kDemoAdminPassword); }
  std::string user_token() { return token(kDemoUserEmail, kDemoUserPassword); }

  std::atomic<bool> draining{false};

 private:
  std::string token(const char* email, const char* password) {
    auto s = run_sync(accounts_->log_in(email, password, "127.0.0.1"));
    if (!s) throw std::runtime_error("demo login failed: " + s.error().message);
    return s->token;
  }

  std::string dir_;
  MetricsRegistry metrics_;
  // libsodium's minimum cost: integration tests are about behaviour, not the hash's strength.
  PasswordHasher hasher_{{.threads = 2, .max_pending = 256, .ops = 1, .memory_bytes = 8192}};
  std::unique_ptr<SqliteSessionStore> sessions_;
  IdGenerator ids_{1};
  std::unique_ptr<SqliteStore> sqlite_;
  std::unique_ptr<GatedStore> gate_;
  std::unique_ptr<LocalCache> cache_;
  std::unique_ptr<UserService> users_;
  std::unique_ptr<AccountService> accounts_;
  std::unique_ptr<api::Auth> auth_;
  std::unique_ptr<media::LocalBlobStore> blobs_;
  std::string media_dir_;
  std::unique_ptr<Queue> queue_;
  std::unique_ptr<PhotoService> photos_;
  std::unique_ptr<OutboxRelay> relay_;
  std::unique_ptr<PhotoWorker> worker_;
  TaskGroup background_;
  std::unique_ptr<api::StaticFiles> static_files_;
  std::unique_ptr<api::Api> api_;
  std::unique_ptr<http::Server> server_;
};

}  // namespace ztm::test
