#include "storage/postgres/pg_host.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <stdexcept>
#include <utility>

namespace ztm::pg {
namespace {

using boost::asio::awaitable;

// The pools of every Host that has been used from one execution_context. Asio shuts a context's
// services down before destroying its reactor, which is exactly when the connections' sockets
// must be let go of.
class LoopPools final : public boost::asio::execution_context::service {
 public:
  static inline boost::asio::execution_context::id id;

  explicit LoopPools(boost::asio::execution_context& context) : service(context) {}

  // The pool of `options`' host on this context, created on first use.
  std::shared_ptr<LoopPool> find_or_create(const boost::asio::any_io_executor& loop,
                                           const std::shared_ptr<const HostOptions>& options,
                                           bool& created) {
    std::lock_guard lock(mu_);
    created = false;
    auto& pool = pools_[options.get()];  // the pool holds `options`: its address stays unique
    if (!pool) {
      pool = std::make_shared<LoopPool>(loop, options);
      created = true;
    }
    return pool;
  }

 private:
  void shutdown() override {
    std::map<const HostOptions*, std::shared_ptr<LoopPool>> pools;
    {
      std::lock_guard lock(mu_);
      pools.swap(pools_);
    }
    for (auto& entry : pools) entry.second->close();
  }

  std::mutex mu_;
  std::map<const HostOptions*, std::shared_ptr<LoopPool>> pools_;
};

// Runs the call on the pool's strand; the result travels through `out` (Result has no default
// constructor, which co_spawn would need for a non-void coroutine).
awaitable<void> run_on_pool(std::shared_ptr<LoopPool> pool, const Statement& statement,
                            Params params, std::optional<Result<QueryResult>>& out) {
  out.emplace(co_await pool->execute(statement, params));
}

}  // namespace

LoopPool::LoopPool(const boost::asio::any_io_executor& loop,
                   std::shared_ptr<const HostOptions> options)
    : options_(std::move(options)), strand_(boost::asio::make_strand(loop)) {
  const int n = options_->connections_per_loop < 1 ? 1 : options_->connections_per_loop;
  for (int i = 0; i < n; ++i)
    connections_.push_back(std::make_shared<Connection>(strand_, options_->connection));
}

LoopPool::~LoopPool() {
  close();
}

awaitable<Result<QueryResult>> LoopPool::execute(const Statement& statement, Params params) {
  std::size_t pending = 0;
  for (const auto& c : connections_) pending += c->in_flight();
  if (pending >= static_cast<std::size_t>(options_->max_pending))
    co_return Error{Errc::overloaded, "too many pending postgres requests on this event loop"};
  auto connection = pick();
  co_return co_await connection->execute(statement, params);
}

// The ready connection with the fewest requests in flight; another one is connected only when
// every ready one is busy, so a lightly loaded loop keeps one connection and one pipeline.
std::shared_ptr<Connection> LoopPool::pick() {
  std::shared_ptr<Connection> ready, idle, connecting;
  for (const auto& c : connections_) {
    if (c->ready()) {
      if (!ready || c->in_flight() < ready->in_flight()) ready = c;
    } else if (c->connecting()) {
      if (!connecting) connecting = c;
    } else if (!c->backing_off() && !idle) {
      idle = c;
    }
  }
  if (ready && (ready->in_flight() == 0 || !idle)) return ready;
  if (idle) return idle;
  if (connecting) return connecting;
  return connections_.front();  // all back off: it fails fast, naming the last error
}

void LoopPool::close() {
  std::lock_guard lock(close_mu_);
  if (closed_) return;
  closed_ = true;
  for (auto& c : connections_) c->close(Errc::unavailable, "postgres: the pool was closed");
}

Host::Host(HostOptions options) {
  if (options.connection.conninfo.empty())
    throw std::invalid_argument("postgres: the connection string is empty");
  if (options.connections_per_loop < 1 || options.connection.timeout.count() < 1 ||
      options.max_pending < 1)
    throw std::invalid_argument(
        "postgres: connections_per_loop, timeout and max_pending must be positive");
  options_ = std::make_shared<const HostOptions>(std::move(options));
}

Host::~Host() {
  std::lock_guard lock(mu_);
  for (auto& weak : pools_)
    if (auto pool = weak.lock()) pool->close();
}

awaitable<Result<QueryResult>> Host::execute(const Statement& statement, Params params) {
  auto pool = pool_for(co_await boost::asio::this_coro::executor);
  std::optional<Result<QueryResult>> out;
  co_await boost::asio::co_spawn(pool->strand(), run_on_pool(pool, statement, params, out),
                                 boost::asio::use_awaitable);
  co_return std::move(*out);
}

std::shared_ptr<LoopPool> Host::pool_for(const boost::asio::any_io_executor& loop) {
  auto& context = boost::asio::query(loop, boost::asio::execution::context);
  bool created = false;
  auto pool = boost::asio::use_service<LoopPools>(context).find_or_create(loop, options_, created);
  if (created) {
    std::lock_guard lock(mu_);
    std::erase_if(pools_, [](const auto& w) { return w.expired(); });
    pools_.push_back(pool);
  }
  return pool;
}

}  // namespace ztm::pg
