#include "queue/queue_checks.h"

#include <fmt/format.h>

namespace ztm::queue {

Result<void> check_options(const QueueOptions& o) {
  if (o.ack_wait.count() < 1 || o.max_deliveries < 1 || o.max_payload_bytes < 1)
    return Error{Errc::invalid_argument,
                 fmt::format("queue: ack_wait ({} ms), max_deliveries ({}) and max_payload_bytes "
                             "({}) must be positive",
                             o.ack_wait.count(), o.max_deliveries, o.max_payload_bytes)};
  return {};
}

Result<void> check_publish(const QueueOptions& o, const std::string& dedup_id,
                           const std::string& payload) {
  if (dedup_id.empty() || dedup_id.size() > 128)
    return Error{Errc::invalid_argument,
                 fmt::format("queue: a dedup id has 1..128 bytes, not {}", dedup_id.size())};
  // Control characters could break a header (NATS carries the id in Nats-Msg-Id).
  for (const char c : dedup_id)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return Error{Errc::invalid_argument, "queue: a dedup id has no control characters"};
  if (payload.size() > o.max_payload_bytes)
    return Error{Errc::invalid_argument,
                 fmt::format("queue: a payload of {} bytes exceeds the limit of {}", payload.size(),
                             o.max_payload_bytes)};
  return {};
}

Result<void> check_fetch(int max, std::chrono::milliseconds wait) {
  if (max < 1 || max > 256)
    return Error{Errc::invalid_argument, fmt::format("queue: fetch max {} is not in 1..256", max)};
  if (wait.count() < 0 || wait > std::chrono::minutes(5))
    return Error{Errc::invalid_argument,
                 fmt::format("queue: fetch wait {} ms is not in 0..300000", wait.count())};
  return {};
}

Result<void> check_handle(const QueueMessage& message) {
  if (!message.handle)
    return Error{Errc::invalid_argument, "queue: the message was not returned by fetch()"};
  return {};
}

Result<void> check_delay(std::chrono::milliseconds delay) {
  if (delay.count() < 0 || delay > std::chrono::hours(24))
    return Error{Errc::invalid_argument,
                 fmt::format("queue: nak delay {} ms is not in 0..86400000", delay.count())};
  return {};
}

Result<void> check_dead_letters(int max) {
  if (max < 1 || max > kMaxDeadLetters)
    return Error{Errc::invalid_argument,
                 fmt::format("queue: dead_letters max {} is not in 1..{}", max, kMaxDeadLetters)};
  return {};
}

std::string bounded_reason(std::string reason) {
  if (reason.size() <= kMaxReasonBytes) return reason;
  std::size_t end = kMaxReasonBytes;
  // Step back over UTF-8 continuation bytes (10xxxxxx) so no character is split.
  while (end > 0 && (static_cast<unsigned char>(reason[end]) & 0xC0) == 0x80) --end;
  reason.resize(end);
  return reason;
}

std::string over_delivered_reason(int deliveries) {
  return fmt::format("delivered {} times without an ack or a dead letter (consumers crashed?)",
                     deliveries);
}

}  // namespace ztm::queue
