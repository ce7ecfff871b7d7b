#pragma once
// Redis clients as the tiers above see them: send a command, get a reply.
//
//   Client          one server ("host:port"): a connection per event loop (redis::Connection).
//                   The cache tier's ring holds one per node.
//   SentinelClient  (sentinel_client.h) the current master of a Sentinel-monitored group.
//
// Threading contract (both): command() may be called from coroutines on any number of event loops,
// from any thread. Each loop gets its own connection(s), created lazily on that loop and touched
// only on that loop's strand; command() hops onto the strand and back to the caller's executor.
// The destructor closes the connections it created. REQUIRES: no call in flight on any loop (stop
// or drain the loops first).
//
// Failure contract: see redis/connection.h. A command is never retried here: a write may have
// been applied before the connection failed.

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/metrics.h"
#include "redis/connection.h"
#include "redis/loop_state.h"

namespace ztm::redis {

class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  // Sends `args` (binary-safe argv) and returns the reply (error replies included), or
  // unavailable / overloaded. REQUIRES: args non-empty.
  virtual boost::asio::awaitable<Result<Reply>> command(std::vector<std::string> args) = 0;
  // ztm_redis_* counters, labelled {client=name}.
  virtual void register_metrics(MetricsRegistry& registry, const std::string& name) const = 0;
};

// Sends `args` (moved from) through `runner`; a transport failure or an error reply (mapped by
// error_from_reply, naming `what`) becomes an Error. The argv is a named lvalue so that no
// class-type temporary sits inside the caller's co_await (GCC 12, see storage/store.h).
boost::asio::awaitable<Result<Reply>> command_checked(CommandRunner& runner,
                                                      std::vector<std::string>& args,
                                                      const char* what);

// Registers the counters of `counters` as
// ztm_redis_{commands,failures,timeouts,connects,auth_failures}_total.
void register_counters(MetricsRegistry& registry, const std::string& name,
                       std::shared_ptr<const Counters> counters);

class Client final : public CommandRunner {
 public:
  // Throws std::invalid_argument when the address or the timeout is invalid (a start-up error).
  explicit Client(ConnectionOptions options);
  ~Client() override;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  boost::asio::awaitable<Result<Reply>> command(std::vector<std::string> args) override;
  void register_metrics(MetricsRegistry& registry, const std::string& name) const override;
  const std::string& address() const { return options_.address; }

 private:
  ConnectionOptions options_;
  std::shared_ptr<Counters> counters_;  // its address keys this client's loop states
  std::mutex mu_;
  std::vector<std::weak_ptr<LoopState>> states_;  // to close them in ~Client
};

}  // namespace ztm::redis
