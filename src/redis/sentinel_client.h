#pragma once
// The master of a Sentinel-monitored group (a primary + replicas), followed through failovers.
//
// Discovery: ask the sentinels in turn (the last one that answered first)
// `SENTINEL get-master-addr-by-name <name>`, then ask the answer `ROLE`; only a server that says
// "master" becomes the master. Commands go to it over one connection per event loop.
//
// Following a failover, by itself:
//  - a command that fails with unavailable (connection lost, timeout, refused) or gets a
//    -READONLY reply (a demoted master) marks the master suspect: the next command rediscovers
//    it first (on its own loop; concurrent callers on that loop wait for the one discovery);
//  - and at most every check_interval one command also starts a discovery in the background,
//    which notices a switch nobody failed on. It is driven by traffic, not by a timer, so an idle
//    loop is not kept alive.
// Commands in flight when the master dies fail with unavailable; nothing is retried.
//
// Threading and failure contracts: as for redis::Client (client.h). The master's address is
// shared by every loop (under a mutex); connections are per loop.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "redis/client.h"

namespace ztm::redis {

struct SentinelOptions {
  std::vector<std::string> sentinels;  // "host:port" each; at least one
  std::string master_name;             // as in the sentinels' `sentinel monitor <name> ...`
  // Timeout, back-off, faults for master and sentinels (no address); its credentials are the
  // master's (and the probed candidates'): the data nodes' ACL user.
  ConnectionOptions connection;
  Credentials sentinel_auth;  // the sentinels' own ACL user (a Sentinel has users of its own)
  std::chrono::milliseconds check_interval{1000};
};

// "a:1,b:2" -> {"a:1", "b:2"} (spaces ignored, empty items dropped).
std::vector<std::string> split_addresses(const std::string& list);

class SentinelClient final : public CommandRunner {
 public:
  // Throws std::invalid_argument on a bad sentinel address or an empty master name.
  explicit SentinelClient(SentinelOptions options);
  ~SentinelClient() override;
  SentinelClient(const SentinelClient&) = delete;
  SentinelClient& operator=(const SentinelClient&) = delete;

  boost::asio::awaitable<Result<Reply>> command(std::vector<std::string> args) override;
  // Also ztm_redis_master_switches_total.
  void register_metrics(MetricsRegistry& registry, const std::string& name) const override;

  // The master in use ("" before the first discovery), for logs and tests.
  std::string master() const;
  std::uint64_t master_switches() const;

  struct Shared;  // the master's address, shared by every loop

 private:
  std::shared_ptr<Shared> shared_;  // its address keys this client's loop states
  std::mutex mu_;
  std::vector<std::weak_ptr<LoopState>> states_;  // to close them in ~SentinelClient
};

}  // namespace ztm::redis
