#include "sessions/open.h"

#include <stdexcept>

#include "redis/sentinel_client.h"
#include "sessions/redis/redis_session_store.h"
#include "sessions/sqlite/sqlite_session_store.h"

namespace ztm {

std::unique_ptr<SessionStore> open_session_store(const SessionsConfig& config,
                                                 MetricsRegistry* metrics) {
  if (config.backend == "sqlite")
    return std::make_unique<SqliteSessionStore>(SqliteSessionOptions{.path = config.sqlite_path});
  if (config.backend != "redis")
    throw std::invalid_argument("sessions.backend: '" + config.backend +
                                "' is neither sqlite nor redis");
  redis::ConnectionOptions connection;
  connection.timeout = std::chrono::milliseconds(config.redis_timeout_ms);
  std::shared_ptr<redis::CommandRunner> client;
  if (!config.redis_sentinels.empty()) {
    client = std::make_shared<redis::SentinelClient>(
        redis::SentinelOptions{.sentinels = redis::split_addresses(config.redis_sentinels),
                               .master_name = config.redis_master_name,
                               .connection = connection});
  } else {
    connection.address = config.redis_address;
    client = std::make_shared<redis::Client>(connection);
  }
  if (metrics) client->register_metrics(*metrics, "sessions");
  return std::make_unique<RedisSessionStore>(client, RedisSessionOptions{});
}

}  // namespace ztm
