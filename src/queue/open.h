#pragma once
// Builds the Queue that config `queue.*` names (for cli/wiring.cc).

#include <memory>

#include "core/config.h"
#include "queue/queue.h"

namespace ztm {

// backend "embedded": EmbeddedQueue on queue.sqlite_path (the caller resolves an empty path to
// its default first). backend "nats": NatsQueue on queue.nats_url with the default stream,
// subject and consumer names (docs/queue.md); it does not need NATS to be up (calls fail with
// unavailable until it is). Throws std::runtime_error / std::invalid_argument on a bad
// configuration or an unopenable file (start-up errors).
std::unique_ptr<Queue> open_queue(const QueueConfig& config);

}  // namespace ztm
