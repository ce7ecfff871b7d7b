#pragma once
// Whether this server should be sent work (GET /readyz): it is not shutting down, no backend
// refuses its configuration (core/faults.h: a Redis that refuses its credentials), and its data
// tier answers. Load balancers take a server out of their pool while it is not ready.
//
// A Redis that is merely down (sessions, L2) leaves the server ready: public reads still work,
// and every server would fail together. A refused password is this server's own fault, does not
// heal by waiting, and a rollout with a wrong secret should stop at its first server.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <string>

#include "core/faults.h"
#include "core/result.h"
#include "storage/store.h"

namespace ztm::app {

class Readiness {
 public:
  // REQUIRES: store and faults (null: none) outlive this.
  explicit Readiness(storage::Store& store, const Faults* faults = nullptr)
      : store_(store), faults_(faults) {}

  // From any thread: from now on the server is draining (never ready again).
  void start_draining() { draining_ = true; }
  bool draining() const { return draining_.load(std::memory_order_relaxed); }

  // The first configuration fault raised ("" = none).
  std::string fault() const { return faults_ ? faults_->first() : std::string(); }

  // The data tier's answer to a trivial query (Store::ping).
  boost::asio::awaitable<Result<void>> data_tier() { return store_.ping(); }

 private:
  storage::Store& store_;
  const Faults* faults_;
  std::atomic<bool> draining_{false};
};

}  // namespace ztm::app
