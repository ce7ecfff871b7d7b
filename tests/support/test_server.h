#pragma once
// The web tier in-process, built by the composition root exactly as `ztm serve` builds it
// (node/node.h) from a Config: the single server's defaults (SQLite, L1 cache, SQLite sessions,
// the embedded queue, in-process photo workers) in a fresh directory, on port 0, with the demo
// data (whose accounts admin_token() and user_token() log in as). A test changes the Config
// (`configure`), never the wiring; its only seam is a gate in front of the database that can hold
// reads, to keep requests in flight.

#include <unistd.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "app/accounts.h"
#include "app/demo_data.h"
#include "app/passwords.h"
#include "app/readiness.h"
#include "core/run_sync.h"
#include "http/server.h"
#include "node/backends.h"
#include "node/node.h"
#include "queue/queue.h"
#include "storage/database.h"
#include "tests/support/eventually.h"

namespace ztm::test {

// A Database decorator whose get_user waits while the gate is closed. Waiters park on a timer
// that open_gate() cancels (on the waiter's own loop); nothing polls.
class GatedStore final : public storage::DatabaseWrapper {
 public:
  using storage::DatabaseWrapper::DatabaseWrapper;
  using storage::Store::create_user;
  using storage::Store::get_user;
  using storage::Store::list_users;

  void close_gate() {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  void open_gate() {
    std::lock_guard lock(mu_);
    closed_ = false;
    for (auto& timer : parked_)
      boost::asio::post(timer->get_executor(), [timer] { timer->cancel(); });
    parked_.clear();
  }
  int waiting() const { return waiting_.load(); }
  // Reads (get_user) fail with `error` until called again with nullopt.
  void fail_reads(std::optional<Error> error) {
    std::lock_guard lock(mu_);
    failure_ = std::move(error);
  }

  boost::asio::awaitable<Result<storage::StoredUser>> get_user(UserId id,
                                                               storage::Consistency c) override {
    auto timer = std::make_shared<boost::asio::steady_timer>(
        co_await boost::asio::this_coro::executor, boost::asio::steady_timer::time_point::max());
    bool park = false;
    std::optional<Error> failure;
    {
      std::lock_guard lock(mu_);
      if (closed_) parked_.push_back(timer), park = true;
      failure = failure_;
    }
    if (failure) co_return *failure;
    if (park) {
      ++waiting_;
      co_await timer->async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      --waiting_;
    }
    co_return co_await target().get_user(id, std::move(c));
  }

 private:
  std::mutex mu_;
  bool closed_ = false;
  std::optional<Error> failure_;
  std::vector<std::shared_ptr<boost::asio::steady_timer>> parked_;
  std::atomic<int> waiting_{0};
};

// The Config of a test server in `dir`: the single server's defaults, on port 0, two event
// loops, quick to start and to stop (cheap password hashing, short queue waits).
inline Config test_config(const std::string& dir) {
  Config c;
  c.node_id = 1;
  c.http.port = 0;
  c.http.threads = 2;
  c.http.shutdown_timeout_ms = 0;  // the test is over: in-flight requests are abandoned
  c.storage.sqlite_path = dir + "/ztm.db";
  c.storage.sqlite_threads = 2;
  // libsodium's minimum cost: integration tests are about behaviour, not the hash's strength.
  c.accounts.argon2_ops = 1;
  c.accounts.argon2_memory_kib = 8;
  c.log.access = "off";
  c.queue.outbox_poll_ms = 20;
  c.worker.fetch_wait_ms = 100;
  return c;
}

class TestServer {
 public:
  explicit TestServer(const std::function<void(Config&)>& configure = {}) {
    char dir[] = "/tmp/ztm-test-XXXXXX";
    dir_ = mkdtemp(dir);
    config_ = test_config(dir_);
    if (configure) configure(config_);
    validate(config_);
    node::Seams seams;
    seams.wrap_database = [this](storage::Database& backend) {
      auto gate = std::make_unique<GatedStore>(backend);
      gate_ = gate.get();
      return gate;
    };
    node_ = node::Node::web_server(config_, std::move(seams));
    const app::PasswordHasher hasher(node::password_hasher_options(config_.accounts));
    if (!run_sync(app::load_demo_data(node_->database(), hasher)))
      throw std::runtime_error("demo data failed");
    node_->start();
  }
  ~TestServer() {
    node_.reset();
    std::filesystem::remove_all(dir_);
  }

  const Config& config() const { return config_; }
  node::Node& node() { return *node_; }
  unsigned short port() const { return node_->port(); }
  http::Server& server() { return node_->http_server(); }
  GatedStore& gate() { return *gate_; }
  MetricsRegistry& metrics() { return node_->metrics(); }
  storage::Database& store() { return node_->database(); }
  sessions::SessionStore& sessions() { return *node_->sessions(); }
  queue::Queue& queue() { return node_->queue(); }
  app::AccountService& accounts() { return *node_->accounts(); }
  void start_draining() { node_->readiness().start_draining(); }
  // Where the local blob store keeps a blob (to damage one on purpose).
  std::string blob_path(const std::string& key) const {
    return dir_ + "/media/" + key.substr(0, 2) + "/" + key;
  }
  // A fresh session of the demo admin / of John Smith (user 12).
  std::string admin_token() { return token(app::kDemoAdminEmail, app::kDemoAdminPassword); }
  std::string user_token() { return token(app::kDemoUserEmail, app::kDemoUserPassword); }

 private:
  std::string token(const char* email, const char* password) {
    auto s = run_sync(accounts().log_in(email, password, "127.0.0.1"));
    if (!s) throw std::runtime_error("demo login failed: " + s.error().message);
    return s->token;
  }

  std::string dir_;
  Config config_;
  GatedStore* gate_ = nullptr;  // owned by the node
  std::unique_ptr<node::Node> node_;
};

}  // namespace ztm::test
