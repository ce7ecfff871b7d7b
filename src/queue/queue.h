#pragma once
// The message queue of the chapter (figure 1-18): a durable buffer between producers (the web
// tier, through the outbox relay) and consumers (the photo workers), so that each side scales
// and fails on its own. Backends: embedded/ (durable in SQLite, for the single server) and nats/
// (NATS JetStream: a work-queue stream, a durable pull consumer). Both pass
// tests/queue/queue_conformance.h.
//
// Delivery is at least once: a message fetched and not acked within ack_wait (or nak'ed) is
// delivered again, to any consumer, with `deliveries` one higher. Consumers must be idempotent.
// A message is delivered at most max_deliveries times; the consumer that sees
// deliveries == max_deliveries and still fails calls dead_letter(). A message that would be
// delivered with deliveries > max_deliveries (a consumer crashed on every attempt) is
// dead-lettered by fetch() itself and not returned: it is never processed again.
//
// Contract for every method:
//  - Expected failures are Result errors: unavailable (the broker or database is unreachable; a
//    retry may succeed), overloaded (a bounded queue of calls is full), invalid_argument
//    (payload too large, empty dedup id). Never a hang: every wait is bounded.
//  - publish() returning ok means the message is durable (survives a broker or process restart).
//  - Thread-safe; callable from any event loop.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace ztm::queue {

struct QueueOptions {
  std::chrono::milliseconds ack_wait{30'000};  // unacked for this long: redelivered
  int max_deliveries = 5;
  std::size_t max_payload_bytes = 64 * 1024;
};

struct QueueMessage {
  std::string id;  // stable across deliveries of one message (stream sequence, row id)
  std::string payload;
  int deliveries = 1;            // 1 on the first delivery
  std::shared_ptr<void> handle;  // the backend's, for ack/nak/in_progress/dead_letter
};

class Queue {
 public:
  virtual ~Queue() = default;

  // Appends a message. `dedup_id` (1..128 bytes, no control characters) makes publishing
  // idempotent: a second publish with the same id (within a window of at least 2 minutes) stores
  // nothing and succeeds — the outbox relay re-publishes what it is not sure was stored.
  virtual boost::asio::awaitable<Result<void>> publish(std::string dedup_id,
                                                       std::string payload) = 0;

  // Up to `max` messages (1..256), waiting at most `wait` for the first; an empty vector when
  // none came. Each stays invisible to other fetches until acked, nak'ed or ack_wait passes.
  virtual boost::asio::awaitable<Result<std::vector<QueueMessage>>> fetch(
      int max, std::chrono::milliseconds wait) = 0;

  // Done: never delivered again.
  virtual boost::asio::awaitable<Result<void>> ack(const QueueMessage& message) = 0;
  // Not done: deliver again after `delay` (to any consumer).
  virtual boost::asio::awaitable<Result<void>> nak(const QueueMessage& message,
                                                   std::chrono::milliseconds delay) = 0;
  // Still working: restarts the ack_wait clock (a heartbeat for long jobs).
  virtual boost::asio::awaitable<Result<void>> in_progress(const QueueMessage& message) = 0;
  // Gives up: the message leaves the queue for good and goes to the dead-letter store/subject
  // with `reason` (inspectable with dead_letters()).
  virtual boost::asio::awaitable<Result<void>> dead_letter(const QueueMessage& message,
                                                           std::string reason) = 0;

  // Messages published and not yet acked or dead-lettered (the depth workers scale by).
  virtual boost::asio::awaitable<Result<std::int64_t>> pending() = 0;
  // When the oldest of those was published (wall time, to the millisecond); nullopt when there
  // is none. Its age is how long the queue's oldest work has waited (an alert, not a scaler).
  virtual boost::asio::awaitable<Result<std::optional<std::chrono::system_clock::time_point>>>
  oldest() = 0;

  // The most recent dead letters (payload and reason), newest last, at most `max`.
  struct DeadLetter {
    std::string payload;
    std::string reason;
  };
  virtual boost::asio::awaitable<Result<std::vector<DeadLetter>>> dead_letters(int max) = 0;
};

}  // namespace ztm::queue
