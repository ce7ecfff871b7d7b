#pragma once
// The photos, jobs and outbox statements (the SQL behind photo_store.h), run on one pg::Host.
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

namespace ztm::pg {

boost::asio::awaitable<Result<Photo>> create_photo(Host& host, Photo photo);
boost::asio::awaitable<Result<Photo>> get_photo(Host& host, PhotoId id);
boost::asio::awaitable<Result<DeletedPhoto>> delete_photo(Host& host, PhotoId id);
boost::asio::awaitable<Result<PhotoUsage>> photo_usage(Host& host, UserId owner);
boost::asio::awaitable<Result<Job>> create_job(Host& host, Job job, std::string outbox_payload);
boost::asio::awaitable<Result<Job>> get_job(Host& host, JobId id);
boost::asio::awaitable<Result<Job>> start_job(Host& host, JobId id);
boost::asio::awaitable<Result<Job>> complete_job(Host& host, JobId id, Photo result);
boost::asio::awaitable<Result<Job>> fail_job(Host& host, JobId id, std::string error);
boost::asio::awaitable<Result<std::vector<OutboxMessage>>> outbox_batch(Host& host, int limit);
boost::asio::awaitable<Result<void>> outbox_delete(Host& host, std::vector<std::int64_t> ids);

}  // namespace ztm::pg
