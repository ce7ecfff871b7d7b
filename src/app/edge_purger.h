#pragma once
// Purges one CDN edge from its purge queue (docs/cdn.md, "Purge on write"): the outbox relay
// turns every committed change into a message {"keys":[...]} on each edge's queue, and, after a
// pass that drained the outbox, {"sync_at":<unix ms>} ("every change committed before this has
// been published"). The purger fetches a batch, sends the union of its keys and its newest sync
// to the edge, and acks the batch only after the edge confirmed it; until then it retries the
// same purge (20 ms doubling to 1 s) and keeps the batch in progress, never nak'ing (a nak would
// let a later sync overtake an earlier purge). Every web server runs one per edge; they share the
// edge's queue, which delivers one message at a time across all of them (node/backends.cc), so
// the edge applies purges and syncs in the order they were published, whoever takes them; a
// message is purged by one of them (twice at worst, which is harmless).
//
// Seen as: ztm_cdn_purges_total{edge}, ztm_cdn_purge_failures_total{edge},
// ztm_cdn_edge_synced_at_seconds{edge} (the newest sync the edge confirmed), and one warning per
// change of state (failing / confirmed again).

#include <boost/asio/awaitable.hpp>
#include <chrono>

#include "cdn/edge.h"
#include "core/clock.h"
#include "core/metrics.h"
#include "queue/queue.h"

namespace ztm::app {

struct EdgePurgerOptions {
  int batch = 256;
  std::chrono::milliseconds fetch_wait{500};
  std::chrono::milliseconds first_retry{20};
  std::chrono::milliseconds max_retry{1000};
  std::chrono::milliseconds heartbeat{1000};  // in_progress while retrying (< the queue's ack_wait)
  // When the heartbeat is due (its monotonic time; the waits between retries are real timers).
  const Clock* clock = &Clock::system();  // must outlive the purger
};

class EdgePurger {
 public:
  // REQUIRES: every reference outlives this; `metrics` may be null.
  EdgePurger(queue::Queue& queue, cdn::Edge& edge, MetricsRegistry* metrics,
             EdgePurgerOptions options = {});
  // Batches until cancelled (TaskGroup::stop); a batch cut short is delivered again later.
  boost::asio::awaitable<void> run();
  // One batch: fetched, purged at the edge (retried until it confirms), acked. How many
  // messages it held (0: none came within fetch_wait); an error when the queue failed or the
  // wait between retries was cancelled.
  boost::asio::awaitable<Result<int>> purge_once();

 private:
  queue::Queue& queue_;
  cdn::Edge& edge_;
  EdgePurgerOptions options_;
  Counter* purges_ = nullptr;
  Counter* failures_ = nullptr;
  Gauge* synced_at_ = nullptr;
  bool failing_ = false;
};

}  // namespace ztm::app
