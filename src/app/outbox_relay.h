#pragma once
// The transactional outbox's relay: publishes what the web tier committed in its outbox
// (photo_store.h) to the Queue, then deletes it. A message is deleted only after the queue
// acknowledged it, so a broker that is down delays jobs but loses none; a crash between publish
// and delete re-publishes with the same dedup id ("outbox-<id>"), which the queue absorbs. Every
// web server may run one: they may publish a message twice, never lose one.

#include <boost/asio/awaitable.hpp>
#include <chrono>

#include "queue/queue.h"
#include "storage/photo_store.h"

namespace ztm::app {

struct OutboxRelayOptions {
  int batch = 100;
  std::chrono::milliseconds idle_wait{100};    // the outbox was empty: look again after this
  std::chrono::milliseconds error_wait{1000};  // a store or the queue failed
};

class OutboxRelay {
 public:
  OutboxRelay(storage::PhotoStore& photos, queue::Queue& queue, OutboxRelayOptions options)
      : photos_(photos), queue_(queue), options_(options) {}
  // Passes until cancelled (TaskGroup::stop): cancellation aborts the wait between passes at
  // once; a pass in progress is not cut short (its published messages are deleted), so a stop
  // waits for at most one pass and causes no re-publishing. Returns normally.
  boost::asio::awaitable<void> run();
  // One pass: publishes and deletes at most one batch; how many were published.
  boost::asio::awaitable<Result<int>> relay_once();

 private:
  storage::PhotoStore& photos_;
  queue::Queue& queue_;
  OutboxRelayOptions options_;
};

}  // namespace ztm::app
