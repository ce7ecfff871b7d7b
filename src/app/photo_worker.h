#pragma once
// The photo worker (figure 1-18's consumers): takes job messages from the Queue and runs their
// edit steps with libvips. At-least-once delivery meets idempotent work: a job that is already
// done or failed is acked without work, and PhotoStore::complete_job stores one result however
// many workers finish it.
//
// For each message: start_job -> the source photo's bytes -> the steps (on a bounded pool, with
// in_progress heartbeats to the queue while they run) -> the result's bytes (BlobStore) ->
// complete_job -> ack. Transient failures (a store, the blobs or the queue unavailable) nak the
// message for a retry with backoff. A job whose steps fail (a source that does not decode) is
// retried until its last delivery, then marked failed with the reason and dead-lettered, so a
// poison job stops, and other jobs are unaffected.
//
// Concurrency is bounded (options.concurrency consumers, each one job at a time); memory per job
// is bounded by the image limits. Stopping (cancelling run(), see TaskGroup) is graceful:
// consumers stop fetching, jobs in progress finish (acked), and run() returns; a job cut off by
// a crash is redelivered after the ack wait.

#include <boost/asio/awaitable.hpp>
#include <chrono>

#include "app/photos.h"
#include "core/blocking_pool.h"
#include "core/clock.h"
#include "core/ids.h"
#include "core/metrics.h"
#include "media/blob_store.h"
#include "media/image.h"
#include "queue/queue.h"
#include "storage/photo_store.h"

namespace ztm::app {

struct PhotoWorkerOptions {
  int concurrency = 2;                         // jobs at once (and image pool threads)
  std::chrono::milliseconds fetch_wait{500};   // one fetch waits at most this for a message
  std::chrono::milliseconds heartbeat{5'000};  // in_progress while a job runs (< the ack wait)
  int max_deliveries = 5;                      // the queue's: the last try fails the job
  media::ImageLimits limits;
  const Clock* clock = &Clock::system();  // job durations; must outlive the worker
};

class PhotoWorker {
 public:
  // `metrics` may be null. REQUIRES: every reference outlives this.
  PhotoWorker(queue::Queue& queue, storage::PhotoStore& photos, media::BlobStore& blobs,
              IdGenerator& ids, MetricsRegistry* metrics, PhotoWorkerOptions options);

  // The consumers, until cancelled; then returns (normally) when every consumer has finished
  // the job in its hands. A consumer waiting between fetches stops at once; one blocked inside a
  // fetch finishes that fetch first (and handles what it returns), so a stop may take up to
  // fetch_wait plus the jobs in hand.
  boost::asio::awaitable<void> run();

  // One delivery, start to ack/nak/dead letter (run() calls it; tests may too).
  boost::asio::awaitable<void> handle(queue::QueueMessage message);

 private:
  enum class Outcome { done, failed, retried, skipped };
  boost::asio::awaitable<Outcome> work(const queue::QueueMessage& message,
                                       const Result<JobMessage>& parsed);
  boost::asio::awaitable<void> consume();
  boost::asio::awaitable<bool> fetch_and_handle();
  boost::asio::awaitable<void> heartbeats(const queue::QueueMessage& message);
  boost::asio::awaitable<Result<media::EditedImage>> edit_with_heartbeat(
      const queue::QueueMessage& message, std::string source, const std::string& steps);
  void count(Outcome outcome, double seconds);

  queue::Queue& queue_;
  storage::PhotoStore& photos_;
  media::BlobStore& blobs_;
  IdGenerator& ids_;
  MetricsRegistry* metrics_;
  PhotoWorkerOptions options_;
  Histogram* duration_ = nullptr;
  BlockingPool pool_;
};

}  // namespace ztm::app
