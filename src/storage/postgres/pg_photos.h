#pragma once
// The photos, jobs and outbox statements (the SQL behind photo_store.h), run on one postgres::Host.
// PgStore runs them on its only host; ReplicaRouter on the primary. Each function has the
// semantics of the PhotoStore method of the same name; every multi-row change is ONE statement
// (data-modifying CTEs), hence one transaction.
//
// REQUIRES for every function: `host` outlives the call.

#include <boost/asio/awaitable.hpp>
#include <string>
#include <vector>

#include "core/result.h"
#include "postgres/host.h"
#include "storage/photo_record.h"

namespace ztm::storage {

boost::asio::awaitable<Result<Photo>> pg_create_photo(postgres::Host& host, Photo photo);
boost::asio::awaitable<Result<Photo>> pg_get_photo(postgres::Host& host, PhotoId id);
boost::asio::awaitable<Result<DeletedPhoto>> pg_delete_photo(postgres::Host& host, PhotoId id);
boost::asio::awaitable<Result<bool>> pg_blob_in_use(postgres::Host& host,
                                                    const std::string& blob_key);
boost::asio::awaitable<Result<PhotoUsage>> pg_photo_usage(postgres::Host& host, UserId owner);
boost::asio::awaitable<Result<PhotoPage>> pg_list_photos(postgres::Host& host, UserId owner,
                                                         PhotoId after, int limit);
boost::asio::awaitable<Result<Job>> pg_create_job(postgres::Host& host, Job job,
                                                  std::string outbox_payload);
boost::asio::awaitable<Result<Job>> pg_get_job(postgres::Host& host, JobId id);
boost::asio::awaitable<Result<Job>> pg_start_job(postgres::Host& host, JobId id);
boost::asio::awaitable<Result<Job>> pg_complete_job(postgres::Host& host, JobId id, Photo result);
boost::asio::awaitable<Result<Job>> pg_fail_job(postgres::Host& host, JobId id, std::string error);
boost::asio::awaitable<Result<std::vector<OutboxMessage>>> pg_outbox_batch(postgres::Host& host,
                                                                           int limit);
boost::asio::awaitable<Result<void>> pg_outbox_delete(postgres::Host& host,
                                                      std::vector<std::int64_t> ids);

}  // namespace ztm::storage
