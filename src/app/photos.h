#pragma once
// Photos and edit jobs (the chapter's figure 1-18): the web tier checks an upload, stores its
// bytes by content (BlobStore) and its metadata (PhotoStore); an edit request is validated up
// front and becomes a job, committed together with an outbox message (photo_store.h) that the
// OutboxRelay publishes to the Queue; PhotoWorker (photo_worker.h) does the work.
//
// Errors: invalid_argument (422: not an image, truncated, too many pixels, bad steps, an edit
// over the cost budget), forbidden (403: another user's photo), quota_exceeded (429: the owner's
// photos, bytes or jobs in flight), not_found, unavailable / overloaded (503).

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <string>

#include "app/accounts.h"
#include "core/blocking_pool.h"
#include "core/ids.h"
#include "media/blob_store.h"
#include "media/image.h"
#include "storage/photo_store.h"

namespace ztm::app {

// Per user, counted for a photo's owner (PhotoStore::photo_usage): beyond them, uploads and
// edits are quota_exceeded (429 with Retry-After).
struct PhotoQuotas {
  std::int64_t max_photos = 5000;                  // uploads and edit results
  std::int64_t max_bytes = std::int64_t{2} << 30;  // their stored bytes
  std::int64_t max_jobs_in_flight = 10;            // queued or running
};

struct PhotoOptions {
  media::ImageLimits limits;
  int image_threads = 2;  // the pool that checks uploads (libvips), off the event loops
  int image_max_pending = 64;
  PhotoQuotas quotas;
  // remove() leaves a photo's bytes in place when they were put within this (BlobStore::remove):
  // an upload of the same bytes may have put them and not yet created its photo. It must exceed
  // the longest time from an upload's put to its create_photo (the data tier's hold, 15 s, plus
  // request timeouts); bytes kept and left unreferenced are garbage, not a broken photo.
  std::chrono::seconds blob_remove_grace = std::chrono::minutes(10);
};

// What one pass of the blob collector did with the candidates it listed (collect_blobs).
struct BlobCollection {
  int removed = 0;  // no photo held the blob: gone (removed now, or by another pass first)
  int kept = 0;     // put again since it was listed: a later pass looks again
  int in_use = 0;   // a photo holds it: no longer a candidate (that photo's deletion decides)
  int failed = 0;   // a store failed: still a candidate, for a later pass
};

// The request that asked for a job, carried in its queue message so that the worker's log lines
// and span join the request's (docs/observability.md). Either may be empty.
struct JobOrigin {
  std::string request_id;
  std::string traceparent;  // the web request's span, the job's parent (core/trace.h)
};
struct JobMessage {
  storage::JobId job = 0;
  JobOrigin origin;
};

class PhotoService {
 public:
  // REQUIRES: every reference outlives this.
  PhotoService(storage::PhotoStore& photos, media::BlobStore& blobs, IdGenerator& ids,
               PhotoOptions options);

  // `who` uploads `bytes` as a photo of user `owner` (themselves, or anyone for an admin). What
  // is stored is media::sanitize_upload's re-encoding (no metadata), under the owner's quotas.
  boost::asio::awaitable<Result<storage::Photo>> upload(Principal who, UserId owner,
                                                        std::string bytes);
  boost::asio::awaitable<Result<storage::Photo>> get(storage::PhotoId id);
  // A page of `owner`'s photos (empty for a user without photos, or with no such user).
  boost::asio::awaitable<Result<storage::PhotoPage>> list(UserId owner, storage::PhotoId after,
                                                          int limit);
  // Deletes the photo, and its bytes when no other photo uses them and they were not put within
  // options.blob_remove_grace (an upload of the same bytes may be about to use them).
  boost::asio::awaitable<Result<void>> remove(Principal who, storage::PhotoId id);
  // One pass of the blob collector: the bytes that remove() kept because they were put recently
  // go once they are older than options.blob_remove_grace and no photo holds them. At most
  // `limit` removal candidates (BlobStore::removal_candidates), each: blob_in_use, then
  // BlobStore::remove with the grace time (which checks the put time again, atomically with a
  // put) or, when a photo holds it, BlobStore::forget_candidate. Safe to run on several servers
  // at once and to cut short anywhere (every step is idempotent; docs/media.md, "Collecting the
  // blobs kept by the grace rule"). Logs each blob removed (info); an error only when the
  // candidates cannot be listed.
  boost::asio::awaitable<Result<BlobCollection>> collect_blobs(int limit);
  // Validates the steps against the photo and queues a job (202 Accepted in the API); the
  // job's message carries `origin`.
  boost::asio::awaitable<Result<storage::Job>> edit(Principal who, storage::PhotoId id,
                                                    std::vector<media::Operation> steps,
                                                    JobOrigin origin = {});
  boost::asio::awaitable<Result<storage::Job>> job(storage::JobId id);
  // A blob to stream (GET /media/{key}): its size, then its bytes chunk by chunk, so that a
  // reader never holds the whole blob. not_found for a malformed key.
  boost::asio::awaitable<Result<media::BlobReader>> media(std::string key);

 private:
  storage::PhotoStore& photos_;
  media::BlobStore& blobs_;
  IdGenerator& ids_;
  PhotoOptions options_;
  BlockingPool pool_;
};

// The queue message of a job: {"job":<id>,"request_id":"...","traceparent":"..."}.
std::string job_message(storage::JobId id, const JobOrigin& origin = {});
// invalid_argument when the payload is not a job message (an origin field that is not a string
// of at most 128 bytes is dropped: it only labels logs).
Result<JobMessage> parse_job_message(std::string_view payload);

}  // namespace ztm::app
