#pragma once
// Sessions and rate counters in Redis, shared by every web server (docs/sessions.md has the key
// layout). Each call is one Lua script or command, so it is atomic on the server; the scripts
// compute the user-set key from the session value, so this needs one Redis (or a Sentinel-
// managed primary), not Redis Cluster.
//
// Failure: the redis client's errors pass through (unavailable: unreachable, timeout, failover in
// progress); an error reply maps with redis::error_from_reply (-READONLY -> unavailable).

#include <memory>
#include <string>

#include "redis/client.h"
#include "sessions/session_store.h"

namespace ztm::sessions {

struct RedisSessionOptions {
  std::string prefix = "ztm:";  // keys: <prefix>s:<key>, <prefix>u:<user>, <prefix>rw:<key>
};

class RedisSessionStore final : public SessionStore {
 public:
  RedisSessionStore(std::shared_ptr<redis::CommandRunner> redis, RedisSessionOptions options);

  boost::asio::awaitable<Result<void>> create(std::string key, SessionData data,
                                              std::chrono::milliseconds ttl) override;
  boost::asio::awaitable<Result<SessionData>> touch(std::string key,
                                                    std::chrono::milliseconds ttl) override;
  boost::asio::awaitable<Result<void>> revoke(std::string key) override;
  boost::asio::awaitable<Result<void>> revoke_user(UserId user) override;
  boost::asio::awaitable<Result<RateCount>> hit(std::string key,
                                                std::chrono::milliseconds window) override;
  boost::asio::awaitable<Result<void>> ping() override;

  redis::CommandRunner& redis() { return *redis_; }

 private:
  // Sends args; a transport failure or an error reply becomes an Error.
  boost::asio::awaitable<Result<redis::Reply>> send(std::vector<std::string>& args,
                                                    const char* what);

  std::shared_ptr<redis::CommandRunner> redis_;
  RedisSessionOptions options_;
};

}  // namespace ztm::sessions
