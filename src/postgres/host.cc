#include "postgres/host.h"

#include <boost/asio/this_coro.hpp>
#include <stdexcept>
#include <utility>

#include "core/run_on.h"

namespace ztm::postgres {
using boost::asio::awaitable;

LoopPool::LoopPool(const boost::asio::any_io_executor& loop,
                   std::shared_ptr<const HostOptions> options)
    : options_(std::move(options)), strand_(boost::asio::make_strand(loop)) {
  for (int i = 0; i < options_->connections_per_loop; ++i)
    readers_.push_back(std::make_shared<Connection>(strand_, options_->connection, "ztm-read"));
  for (int i = 0; i < options_->write_connections_per_loop; ++i)
    writers_.push_back(std::make_shared<Connection>(strand_, options_->connection, "ztm-write"));
}

LoopPool::~LoopPool() {
  close();
}

awaitable<Result<QueryResult>> LoopPool::execute(const Statement& statement, Params params) {
  // Counted here, not per connection, so calls waiting for a connect count too.
  if (pending_ >= static_cast<std::size_t>(options_->max_pending))
    co_return Error{Errc::overloaded, "too many pending postgres requests on this event loop"};
  ++pending_;
  auto connection = pick(statement.writes ? writers_ : readers_);
  auto r = co_await connection->execute(statement, params);
  --pending_;
  co_return r;
}

// The ready connection with the fewest requests in flight; another one is connected only when
// every ready one is busy, so a lightly loaded lane keeps one connection and one pipeline, and a
// lane of writes grows to as many connections as it has concurrent commits.
std::shared_ptr<Connection> LoopPool::pick(const Lane& lane) {
  std::shared_ptr<Connection> ready, idle, connecting;
  for (const auto& c : lane) {
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
  return lane.front();  // all back off: it fails fast, naming the last error
}

void LoopPool::close() {
  std::lock_guard lock(close_mu_);
  if (closed_) return;
  closed_ = true;
  for (const Lane* lane : {&readers_, &writers_})
    for (const auto& c : *lane) c->close(Errc::unavailable, "postgres: the pool was closed");
}

Host::Host(HostOptions options) {
  if (options.connection.conninfo.empty())
    throw std::invalid_argument("postgres: the connection string is empty");
  if (options.connections_per_loop < 1 || options.write_connections_per_loop < 1 ||
      options.connection.timeout.count() < 1 || options.max_pending < 1)
    throw std::invalid_argument(
        "postgres: connections_per_loop, write_connections_per_loop, timeout and max_pending must "
        "be positive");
  options_ = std::make_shared<const HostOptions>(std::move(options));
}

Host::~Host() {
  std::lock_guard lock(mu_);
  for (auto& weak : pools_)
    if (auto pool = weak.lock()) pool->close();
}

awaitable<Result<QueryResult>> Host::execute(const Statement& statement, Params params) {
  auto pool = pool_for(co_await boost::asio::this_coro::executor);
  // `pool` (held by this frame) outlives the call; execute() runs on the pool's strand.
  auto call = run_on(pool->strand(), pool->execute(statement, std::move(params)));
  co_return co_await std::move(call);
}

std::shared_ptr<LoopPool> Host::pool_for(const boost::asio::any_io_executor& loop) {
  bool created = false;
  // The pool holds `options_`: its address stays unique while the pool lives.
  auto pool = std::static_pointer_cast<LoopPool>(loop_local(
      loop, options_.get(), [&] { return std::make_shared<LoopPool>(loop, options_); }, &created));
  if (created) {
    std::lock_guard lock(mu_);
    std::erase_if(pools_, [](const auto& w) { return w.expired(); });
    pools_.push_back(pool);
  }
  return pool;
}

}  // namespace ztm::postgres
