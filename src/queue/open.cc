#include "queue/open.h"

#include <stdexcept>

#include "queue/embedded/embedded_queue.h"
#include "queue/nats/nats_queue.h"

namespace ztm {

std::unique_ptr<Queue> open_queue(const QueueConfig& config) {
  QueueOptions queue;
  queue.ack_wait = std::chrono::milliseconds(config.ack_wait_ms);
  queue.max_deliveries = config.max_deliveries;
  if (config.backend == "embedded") {
    if (config.sqlite_path.empty())
      throw std::invalid_argument("queue.sqlite_path: empty (the caller resolves the default)");
    return std::make_unique<EmbeddedQueue>(
        EmbeddedQueueOptions{.path = config.sqlite_path, .queue = queue});
  }
  if (config.backend != "nats")
    throw std::invalid_argument("queue.backend: '" + config.backend +
                                "' is neither embedded nor nats");
  return std::make_unique<NatsQueue>(NatsQueueOptions{.url = config.nats_url, .queue = queue});
}

}  // namespace ztm
