#pragma once
// The transactional outbox's relay: publishes what was committed in the outbox (photo_store.h)
// to its queues, then deletes it. A message is deleted only after every queue acknowledged it,
// so a broker that is down delays messages but loses none; a crash between publish and delete
// re-publishes with the same dedup id ("outbox-<id>[-<edge>]"), which the queue absorbs. Every
// web server may run one: they may publish a message twice, never lose one.
//   "jobs"    the job queue, as written
//   "change"  each CDN edge's purge queue: the union of a pass's keys (app/purge_keys.h) as one
//             {"keys":[...]} per edge (more only past 32 KB), so that a purge queue delivered
//             one message at a time still keeps up; without edges it is only deleted. After a pass
//             that drained the outbox, each edge's queue also gets {"sync_at":<unix ms>} with the
//             time the pass began: every change committed before it is on that queue before the
//             sync (docs/cdn.md, "Why sync_at means caught up"), so an edge that applied the sync
//             has applied them. At most one sync per sync_interval.
//   "follow"  no queue: the second copy of a follow edge (storage/follow_store.h), applied to the
//             database with apply_follow (the pair's version in the message), deleted only once the
//             apply succeeded. A failed apply stops the pass there (the later messages of the same
//             follower must not overtake it); applied again after a crash, it changes nothing.
//             Both users' documents show the counts: after the pass's applies the relay
//             invalidates them in the caches (`users`), and purges keys_for_follow (both users,
//             followers-{followee}, following-{follower}: app/purge_keys.h) at the edges with the
//             pass's changes (the message is deleted once its purge is, so a failed purge
//             re-applies it, which changes nothing, and purges again). Repeats count too: a repeat
//             may be the retry of a failed purge.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <mutex>

#include "core/clock.h"
#include "queue/queue.h"
#include "storage/follow_store.h"
#include "storage/photo_store.h"

namespace ztm::app {

class UserService;

// One CDN edge's purge queue.
struct EdgeQueue {
  std::string edge;  // "edge1": in dedup ids
  queue::Queue* queue = nullptr;
};

struct OutboxRelayOptions {
  int batch = 100;
  std::chrono::milliseconds idle_wait{100};    // the outbox was empty: look again after this
  std::chrono::milliseconds error_wait{1000};  // a store or the queue failed
  std::vector<EdgeQueue> edges;                // none: changes are dropped
  std::chrono::milliseconds sync_interval{250};
  const Clock* clock = &Clock::system();  // the sync's time and its interval
  UserService* users = nullptr;  // whose cached documents a follow's counts invalidate; may be null
};

class OutboxRelay {
 public:
  // `photos` holds the outbox; `follows` takes the follow messages (both are the same Database in
  // the composition root). REQUIRES: both and `queue` outlive this.
  OutboxRelay(storage::PhotoStore& photos, storage::FollowStore& follows, queue::Queue& queue,
              OutboxRelayOptions options)
      : photos_(photos), follows_(follows), queue_(queue), options_(std::move(options)) {}
  // Passes until cancelled (TaskGroup::stop): cancellation aborts the wait between passes at
  // once; a pass in progress is not cut short (its published messages are deleted), so a stop
  // waits for at most one pass and causes no re-publishing. Returns normally.
  boost::asio::awaitable<void> run();
  // One pass: publishes and deletes at most one batch; how many were published.
  boost::asio::awaitable<Result<int>> relay_once();
  // Something was committed: the next pass starts now rather than after idle_wait (cuts the
  // purge latency of a write to the time of one pass). Thread-safe; cheap when nobody waits.
  void wake();

 private:
  // The purges of a pass's changes on every edge's queue, as few messages as fit.
  boost::asio::awaitable<Result<void>> publish_purges(const std::vector<std::string>& keys,
                                                      std::string dedup);
  boost::asio::awaitable<Result<void>> publish_sync(std::int64_t at_ms);

  storage::PhotoStore& photos_;
  storage::FollowStore& follows_;
  queue::Queue& queue_;
  OutboxRelayOptions options_;
  std::chrono::steady_clock::time_point last_sync_{};
  std::atomic<bool> woken_{false};
  std::mutex timer_mu_;
  std::shared_ptr<boost::asio::steady_timer> timer_;  // run()'s wait, while run() lives
};

}  // namespace ztm::app
