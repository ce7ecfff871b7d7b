#pragma once
// One PostgreSQL server as this process sees it: per event loop, a small pool of pipelined
// connections (postgres::Connection). PgStore runs its statements through one Host; the replica
// router (ReplicaRouter) holds one Host per server and chooses among them; PgBlobStore has its own.
//
// Threading contract:
//  - execute() may be called from coroutines on any number of event loops (io_contexts), from
//    any thread. The first call from a loop creates that loop's pool (under a mutex); later calls
//    find it again. A loop's connections are only ever touched on that loop's strand: execute()
//    hops onto the strand for the call and back to the caller's executor for the result, so a
//    loop run by several threads is safe too.
//  - A loop's pool is a LoopLocal (core/loop_local.h) of that loop's execution_context, so it is
//    closed when the context shuts down (run_sync's private io_context, a server's loops), never
//    later.
//  - ~Host closes every pool it created. REQUIRES: no call is in flight on any loop (stop or
//    drain the loops first), as for every Store.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "core/loop_local.h"
#include "postgres/connection.h"

namespace ztm::postgres {

// Reads and writes take separate connections (Statement::writes decides), because they want
// opposite things. A read costs the server CPU only: many requests pipelined on few connections
// share round trips and wake-ups, so a few read connections go a long way. A write waits for its
// commit's WAL flush, and one backend commits its pipeline's statements one after another, so
// concurrent commits -- which PostgreSQL flushes together (group commit) -- need as many
// connections as there are writes worth flushing at once.
struct HostOptions {
  ConnectionOptions connection;
  int connections_per_loop = 2;         // >= 1: for reads; each is pipelined
  int write_connections_per_loop = 16;  // >= 1: for statements that write
  int max_pending = 10000;  // requests in flight on one loop (reads and writes) -> overloaded
};

// The connections of one host on one event loop: a lane of read connections and a lane of write
// connections, each opened on demand (see pick()). pg_stat_activity shows them as application
// "ztm-read" and "ztm-write" unless the connection string names one. Internal to Host (public
// for its tests).
class LoopPool final : public LoopLocal {
 public:
  LoopPool(const boost::asio::any_io_executor& loop, std::shared_ptr<const HostOptions> options);
  ~LoopPool() override;
  LoopPool(const LoopPool&) = delete;
  LoopPool& operator=(const LoopPool&) = delete;

  const Strand& strand() const { return strand_; }
  // REQUIRES: on strand().
  boost::asio::awaitable<Result<QueryResult>> execute(const Statement& statement, Params params);
  // Fails what is in flight and disconnects. Idempotent. REQUIRES: on strand(), or the loop is
  // not running.
  void close() override;

 private:
  using Lane = std::vector<std::shared_ptr<Connection>>;
  static std::shared_ptr<Connection> pick(const Lane& lane);

  std::shared_ptr<const HostOptions> options_;
  Strand strand_;
  Lane readers_;
  Lane writers_;
  std::size_t pending_ = 0;  // calls in execute(), waiting for a connect included
  std::mutex close_mu_;      // close() may come from ~Host and from the loop's shutdown
  bool closed_ = false;
};

class Host {
 public:
  explicit Host(HostOptions options);
  ~Host();
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  // Runs `statement` on a connection of the calling loop's pool; resumes on the caller's
  // executor. `params` (Params; nullptr = NULL) must stay valid until this returns.
  boost::asio::awaitable<Result<QueryResult>> execute(const Statement& statement, Params params);

  const HostOptions& options() const { return *options_; }

 private:
  std::shared_ptr<LoopPool> pool_for(const boost::asio::any_io_executor& loop);

  std::shared_ptr<const HostOptions> options_;  // its address keys this host's pools
  std::mutex mu_;
  std::vector<std::weak_ptr<LoopPool>> pools_;  // to close them in ~Host
};

}  // namespace ztm::postgres
