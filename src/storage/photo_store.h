#pragma once
// Photos, edit jobs and the transactional outbox, as the web tier and the workers see them.
// Implemented by the SQL backends next to the users (SqliteStore, PgStore, ReplicaRouter: one
// database, so a job and its outbox message commit in one transaction) and by the unit-test
// fake. Every backend passes tests/storage/photo_conformance.h.
//
// Contract (as store.h): expected failures are Result errors — not_found, conflict (an id
// that exists), invalid_argument, unavailable, overloaded; never blocks the caller's thread.
//
// The outbox: create_job writes the job and an outbox message in ONE transaction, so a job
// exists exactly when its message will be published. The relay reads outbox_batch(), publishes
// each message (with its id as the queue's dedup id), then outbox_delete()s them; a crash in
// between re-publishes, which the queue's dedup (and idempotent workers) absorb. Messages come
// in commit order for each user; a sharded store keeps no order between users on two shards.
//
// Job life: queued -> running (start_job, once per delivery that begins work) -> done
// (complete_job, with the result photo, atomically) | failed (fail_job). done and failed are
// final: start/complete/fail on a final job change nothing and return it, so a redelivered
// message never makes a second result.

#include <boost/asio/awaitable.hpp>
#include <vector>

#include "core/result.h"
#include "storage/photo_record.h"

namespace ztm::storage {

class PhotoStore {
 public:
  virtual ~PhotoStore() = default;

  // REQUIRES: photo.id > 0, photo.owner_id names a user.
  virtual boost::asio::awaitable<Result<Photo>> create_photo(Photo photo) = 0;
  virtual boost::asio::awaitable<Result<Photo>> get_photo(PhotoId id) = 0;
  // Deletes the photo (jobs that refer to it keep their history).
  virtual boost::asio::awaitable<Result<DeletedPhoto>> delete_photo(PhotoId id) = 0;
  // Whether any photo here holds the blob (a sharded store asks every shard before a blob whose
  // last photo on one shard was deleted is removed).
  virtual boost::asio::awaitable<Result<bool>> blob_in_use(std::string blob_key) = 0;
  // `owner`'s photos with an id after `after`, by id, at most `limit` (1..1000).
  virtual boost::asio::awaitable<Result<PhotoPage>> list_photos(UserId owner, PhotoId after,
                                                                int limit) = 0;
  // What `owner` holds and runs now (zeros for a user with nothing). One indexed query; the
  // caller's quota check is not atomic with its write, so concurrent requests may overshoot a
  // quota by the requests in flight.
  virtual boost::asio::awaitable<Result<PhotoUsage>> photo_usage(UserId owner) = 0;

  // Stores `job` (status queued, attempts 0) and an outbox message with `outbox_payload`.
  virtual boost::asio::awaitable<Result<Job>> create_job(Job job, std::string outbox_payload) = 0;
  virtual boost::asio::awaitable<Result<Job>> get_job(JobId id) = 0;
  virtual boost::asio::awaitable<Result<Job>> start_job(JobId id) = 0;
  // Stores `result` (its source_id = the job's photo) and marks the job done, in one transaction.
  virtual boost::asio::awaitable<Result<Job>> complete_job(JobId id, Photo result) = 0;
  virtual boost::asio::awaitable<Result<Job>> fail_job(JobId id, std::string error) = 0;

  // The oldest outbox messages, at most `limit` (1..1000).
  virtual boost::asio::awaitable<Result<std::vector<OutboxMessage>>> outbox_batch(int limit) = 0;
  // Removes published messages; ids that are gone already are ignored.
  virtual boost::asio::awaitable<Result<void>> outbox_delete(std::vector<std::int64_t> ids) = 0;
};

}  // namespace ztm::storage
