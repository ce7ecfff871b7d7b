#pragma once
// The Queue in its own SQLite file, for the single server: the web tier publishes, in-process
// workers fetch. WAL with synchronous=FULL, so publish() returning ok means the message is on
// disk (survives a crash of the process or of the machine).
//
// Layout (docs/queue.md): `messages` (one row per message not yet acked or dead-lettered;
// visible_at_ms says when a fetch may take it), `dedup_ids` (each id remembered for
// queue::kDedupWindow after its publish, even once the message is acked), `dead_letters`.
// fetch() claims rows in one transaction (visible_at_ms = now + ack_wait, deliveries + 1), so two
// fetches never hold one message while its ack_wait runs.
//
// Every SQLite call runs on the bounded pool of sqlite::Database (src/sqlite/database.h), never
// on the caller's event loop. fetch()'s
// wait runs on the caller's loop: it sleeps until a publish or nak of this process wakes it
// (at once), or poll_interval_ms passes (for writers in other processes). Bounded by `wait`.
//
// Time: visibility (ack_wait, nak delays, in_progress), the dedup window and the dead letters'
// times are the clock's wall time (options.clock->now(), Unix ms in the file, because they
// outlive the process); a test advances a ManualClock and the next fetch sees the message. The
// `wait` of fetch() is real time (the timer's clock): it bounds how long a caller is parked,
// whatever clock the messages follow; a waiting fetch notices a moved clock at its next poll.

#include <memory>
#include <string>

#include "core/clock.h"
#include "queue/queue.h"

namespace ztm::queue {

struct EmbeddedQueueOptions {
  std::string path;  // the database file; created (with its directory) if missing
  QueueOptions queue;
  int threads = 2;           // pool threads (and reader connections); one writer at a time
  int max_pending = 10'000;  // calls queued or running beyond which calls fail `overloaded`
  int busy_timeout_ms =
      5000;  // another process's write lock: waited for this long, then unavailable
  // A waiting fetch re-reads the file this often, for messages other processes publish (this
  // process's publishes wake it at once).
  int poll_interval_ms = 100;
  const Clock* clock = &Clock::system();  // see "Time" above; must outlive the queue
};

class EmbeddedQueue final : public Queue {
 public:
  // Opens (creates) the file and its tables. Throws std::runtime_error naming the path and the
  // reason when it cannot, std::invalid_argument on bad options or no clock (start-up errors).
  explicit EmbeddedQueue(EmbeddedQueueOptions options);
  // Joins the pool, then closes the file. REQUIRES: no call in flight.
  ~EmbeddedQueue() override;
  EmbeddedQueue(const EmbeddedQueue&) = delete;
  EmbeddedQueue& operator=(const EmbeddedQueue&) = delete;

  boost::asio::awaitable<Result<void>> publish(std::string dedup_id, std::string payload) override;
  boost::asio::awaitable<Result<std::vector<QueueMessage>>> fetch(
      int max, std::chrono::milliseconds wait) override;
  boost::asio::awaitable<Result<void>> ack(const QueueMessage& message) override;
  boost::asio::awaitable<Result<void>> nak(const QueueMessage& message,
                                           std::chrono::milliseconds delay) override;
  boost::asio::awaitable<Result<void>> in_progress(const QueueMessage& message) override;
  boost::asio::awaitable<Result<void>> dead_letter(const QueueMessage& message,
                                                   std::string reason) override;
  boost::asio::awaitable<Result<std::int64_t>> pending() override;
  boost::asio::awaitable<Result<std::optional<std::chrono::system_clock::time_point>>> oldest()
      override;
  boost::asio::awaitable<Result<std::vector<DeadLetter>>> dead_letters(int max) override;

  // Fetches of this process that found the queue empty and are waiting right now.
  int waiting_fetches() const;

 private:
  struct QueueDatabase;  // the connection and the pool; keeps sqlite3.h out of this header
  std::unique_ptr<QueueDatabase> db_;
};

}  // namespace ztm::queue
