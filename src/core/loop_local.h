#pragma once
// What a client keeps on one event loop (io_context): connections that are only ever touched on
// that loop. Clients of several servers (Redis, PostgreSQL) find theirs with loop_local(): the
// first call from a loop creates it (under a mutex); later calls find it again.
//
// The states live in an Asio service of the loop's execution_context, so they are closed when the
// context shuts down (run_sync's private io_context, a server's loops), never later: Asio shuts
// services down before destroying its reactor, which is exactly when the connections' sockets
// must be let go of.

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>

namespace ztm {

class LoopLocal {
 public:
  virtual ~LoopLocal() = default;
  // Drops every connection. Idempotent. Called from the loop's shutdown (the loop has stopped)
  // or by the owner.
  virtual void close() = 0;
};

// The state of `owner` on the loop of `loop`, made by `make` on first use (then `*created` is
// set, when given). `owner` must stay unique while the state lives: pass the address of an
// object the state itself keeps alive.
std::shared_ptr<LoopLocal> loop_local(const boost::asio::any_io_executor& loop, const void* owner,
                                      const std::function<std::shared_ptr<LoopLocal>()>& make,
                                      bool* created = nullptr);

}  // namespace ztm
