#pragma once
// The Queue on NATS JetStream, shared by every web server and worker (docs/queue.md):
//  - a work-queue stream (`stream`, subject `subject`, file storage, a dedup window of
//    queue::kDedupWindow): a message is removed when acked;
//  - one durable pull consumer (`consumer`: explicit ack, AckWait = ack_wait) that every worker
//    process binds to, so each message goes to one fetch at a time;
//  - dead letters published to `dead_subject`, kept by a second stream (`stream`_DEAD, limits
//    retention) so that dead_letters() can read them back; the reason travels in the header
//    Ztm-Reason.
// The server does not cap deliveries (MaxDeliver unlimited): fetch() dead-letters a message
// delivered more than max_deliveries times itself, and a failure to do so only delays it (it is
// delivered again and retried), where a server cap would strand it in the stream.
//
// libnats blocks: every call runs on a bounded BlockingPool (fetches on one of their own), never
// on the caller's event loop, with the call timeout on each request. The connection reconnects by
// itself after a NATS restart; meanwhile calls fail with unavailable at once. The stream and
// consumer are created or updated on the first call that finds NATS up (so start-up does not need
// NATS), and again after a call finds them missing.

#include <memory>
#include <string>

#include "queue/queue.h"

namespace ztm::queue {

struct NatsQueueOptions {
  std::string url = "nats://127.0.0.1:4222";  // or several, comma-separated
  QueueOptions queue;
  std::string stream = "ZTM_JOBS";
  std::string subject = "ztm.jobs";
  std::string consumer = "ztm-workers";  // durable name: no '.'
  std::string dead_subject = "ztm.jobs.dead";
  int timeout_ms = 2000;  // connect, and each request's round trip
  int threads = 4;        // pool threads for publish, ack and the rest: at most this many at once
  int fetch_threads = 4;  // a second pool, for fetches (each blocks a thread up to its wait), so
                          // that long polls never hold up publishes and acks
  int max_pending =
      10'000;  // calls queued or running (per pool) beyond which calls fail `overloaded`
  // The consumer's MaxAckPending: messages delivered and not yet acked, across every process
  // bound to it. 1 makes the queue strictly sequential — the next message is delivered only
  // after the previous one was acked, and a message whose AckWait passed is delivered again
  // before any later one — which the CDN's purge queues need (docs/cdn.md).
  int max_ack_pending = 20'000;
};

class NatsQueue final : public Queue {
 public:
  // Does not need NATS up. Throws std::invalid_argument on bad options, std::runtime_error when
  // libnats cannot start (start-up errors).
  explicit NatsQueue(NatsQueueOptions options);
  // Joins the pool, then closes the connection. REQUIRES: no call in flight. Messages still held
  // keep what they need alive (their ack then fails with unavailable).
  ~NatsQueue() override;
  NatsQueue(const NatsQueue&) = delete;
  NatsQueue& operator=(const NatsQueue&) = delete;

  boost::asio::awaitable<Result<void>> publish(std::string dedup_id, std::string payload) override;
  boost::asio::awaitable<Result<std::vector<QueueMessage>>> fetch(
      int max, std::chrono::milliseconds wait) override;
  boost::asio::awaitable<Result<void>> ack(const QueueMessage& message) override;
  boost::asio::awaitable<Result<void>> nak(const QueueMessage& message,
                                           std::chrono::milliseconds delay) override;
  boost::asio::awaitable<Result<void>> in_progress(const QueueMessage& message) override;
  boost::asio::awaitable<Result<void>> dead_letter(const QueueMessage& message,
                                                   std::string reason) override;
  // The messages in the work-queue stream: exactly those not acked or dead-lettered.
  boost::asio::awaitable<Result<std::int64_t>> pending() override;
  boost::asio::awaitable<Result<std::optional<std::chrono::system_clock::time_point>>> oldest()
      override;
  boost::asio::awaitable<Result<std::vector<DeadLetter>>> dead_letters(int max) override;

 private:
  struct JetStream;  // the connection, subscriptions and pool; keeps nats.h out of this header
  std::unique_ptr<JetStream> js_;
};

}  // namespace ztm::queue
