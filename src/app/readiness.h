#pragma once
// Whether this server should be sent work (GET /readyz): it is not shutting down, and its data
// tier answers. Load balancers take a server out of their pool while it is not ready.

#include <atomic>
#include <boost/asio/awaitable.hpp>

#include "core/result.h"
#include "storage/store.h"

namespace ztm::app {

class Readiness {
 public:
  // REQUIRES: store outlives this.
  explicit Readiness(storage::Store& store) : store_(store) {}

  // From any thread: from now on the server is draining (never ready again).
  void start_draining() { draining_ = true; }
  bool draining() const { return draining_.load(std::memory_order_relaxed); }

  // The data tier's answer to a trivial query (Store::ping).
  boost::asio::awaitable<Result<void>> data_tier() { return store_.ping(); }

 private:
  storage::Store& store_;
  std::atomic<bool> draining_{false};
};

}  // namespace ztm::app
