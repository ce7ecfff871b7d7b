#include "storage/postgres/pg_photos.h"

#include <fmt/format.h>

#include <array>
#include <span>

namespace ztm::storage {
namespace {

using postgres::Host;
using postgres::QueryResult;
using postgres::Statement;

using boost::asio::awaitable;

#define ZTM_PHOTO_COLUMNS "id, owner_id, blob_key, content_type, width, height, bytes, source_id"
#define ZTM_JOB_COLUMNS \
  "id, photo_id, owner_id, operations, status, result_photo_id, error, attempts"
constexpr Statement kPhotoInsert{"ztm_create_photo", "INSERT INTO photos(" ZTM_PHOTO_COLUMNS
                                                     ") VALUES($1, $2, $3, $4, $5, $6, $7, $8)"};
constexpr Statement kPhotoGet{"ztm_get_photo",
                              "SELECT " ZTM_PHOTO_COLUMNS " FROM photos WHERE id = $1"};
// The statement sees the table as it was before its own DELETE: other users of the blob are
// the other rows with that key.
constexpr Statement kBlobInUse{"ztm_blob_in_use",
                               "SELECT 1 FROM photos WHERE blob_key = $1 LIMIT 1"};
constexpr Statement kPhotoDelete{
    "ztm_delete_photo",
    "WITH d AS (DELETE FROM photos WHERE id = $1 RETURNING blob_key) SELECT d.blob_key, "
    "(SELECT count(*) FROM photos p WHERE p.blob_key = d.blob_key AND p.id <> $1) FROM d"};
// One more row than asked tells whether there are more (migration 6's index).
constexpr Statement kPhotoList{"ztm_list_photos", "SELECT " ZTM_PHOTO_COLUMNS
                                                  " FROM photos WHERE owner_id = $1 AND id > $2 "
                                                  "ORDER BY id LIMIT $3"};
// Both counts use the owner indexes of migration 5 (the jobs one holds only jobs in flight).
constexpr Statement kPhotoUsage{
    "ztm_photo_usage",
    "SELECT (SELECT count(*) FROM photos WHERE owner_id = $1), "
    "(SELECT coalesce(sum(bytes), 0)::bigint FROM photos WHERE owner_id = $1), "
    "(SELECT count(*) FROM jobs WHERE owner_id = $1 AND status IN ('queued', 'running'))"};
constexpr Statement kJobInsert{
    "ztm_create_job",
    "WITH j AS (INSERT INTO jobs(id, photo_id, owner_id, operations, status) "
    "VALUES($1, $2, $3, $4, 'queued') RETURNING id) "
    "INSERT INTO outbox(payload) SELECT $5 FROM j"};
constexpr Statement kJobGet{"ztm_get_job", "SELECT " ZTM_JOB_COLUMNS " FROM jobs WHERE id = $1"};
// A job moves on only from a non-final state (a concurrent finisher's row lock is waited for,
// then the condition re-checked); no row back: final already, or missing.
constexpr Statement kJobStart{
    "ztm_start_job",
    "UPDATE jobs SET status = 'running', attempts = attempts + 1, updated_at = now() "
    "WHERE id = $1 AND status IN ('queued', 'running') RETURNING " ZTM_JOB_COLUMNS};
constexpr Statement kJobDone{
    "ztm_complete_job",
    "WITH j AS (UPDATE jobs SET status = 'done', result_photo_id = $1, updated_at = now() "
    "WHERE id = $9 AND status IN ('queued', 'running') RETURNING id) "
    "INSERT INTO photos(" ZTM_PHOTO_COLUMNS ") SELECT $1, $2, $3, $4, $5, $6, $7, $8 FROM j"};
constexpr Statement kJobFail{
    "ztm_fail_job",
    "UPDATE jobs SET status = 'failed', error = $2, updated_at = now() "
    "WHERE id = $1 AND status IN ('queued', 'running') RETURNING " ZTM_JOB_COLUMNS};
constexpr Statement kOutboxBatch{"ztm_outbox_batch",
                                 "SELECT id, payload, topic FROM outbox ORDER BY id LIMIT $1"};
constexpr Statement kOutboxDelete{"ztm_outbox_delete",
                                  "DELETE FROM outbox WHERE id = ANY($1::bigint[])"};
#undef ZTM_JOB_COLUMNS
#undef ZTM_PHOTO_COLUMNS

// The text parameters $1..$8 of a photo row, plus one more ($9).
struct PhotoParams {
  explicit PhotoParams(const Photo& p)
      : id(std::to_string(p.id)),
        owner(std::to_string(p.owner_id)),
        width(std::to_string(p.width)),
        height(std::to_string(p.height)),
        bytes(std::to_string(p.bytes)),
        source(std::to_string(p.source_id)),
        values{id.c_str(),    owner.c_str(),  p.blob_key.c_str(), p.content_type.c_str(),
               width.c_str(), height.c_str(), bytes.c_str(),      source.c_str(),
               nullptr} {}
  std::string id, owner, width, height, bytes, source;
  std::array<const char*, 9> values;
};

Result<Photo> read_photo(const QueryResult& r, int row) {
  const auto id = r.int64(row, 0), owner = r.int64(row, 1), width = r.int64(row, 4),
             height = r.int64(row, 5), bytes = r.int64(row, 6), source = r.int64(row, 7);
  if (!id || !owner || !width || !height || !bytes || !source)
    return Error{Errc::internal, "postgres: malformed photo row"};
  return Photo{*id,
               *owner,
               std::string(r.text(row, 2)),
               std::string(r.text(row, 3)),
               static_cast<int>(*width),
               static_cast<int>(*height),
               *bytes,
               *source};
}

Result<Job> read_job(const QueryResult& r, int row) {
  const auto id = r.int64(row, 0), photo = r.int64(row, 1), owner = r.int64(row, 2),
             result = r.int64(row, 5), attempts = r.int64(row, 7);
  const auto status = parse_job_status(r.text(row, 4));
  if (!id || !photo || !owner || !result || !attempts || !status)
    return Error{Errc::internal, "postgres: malformed job row"};
  return Job{*id,
             *photo,
             *owner,
             std::string(r.text(row, 3)),
             *status,
             *result,
             std::string(r.text(row, 6)),
             static_cast<int>(*attempts)};
}

Result<void> check_text(std::initializer_list<const std::string*> fields) {
  for (const std::string* s : fields)
    if (s->find('\0') != std::string::npos)
      return Error{Errc::invalid_argument, "text fields must not contain NUL characters"};
  return {};
}

// After an UPDATE ... RETURNING that matched nothing: the job as it is (final), or not_found.
awaitable<Result<Job>> job_or_missing(Host& host, Result<QueryResult> updated, JobId id) {
  if (!updated.ok()) co_return std::move(updated).error();
  if (updated->rows() == 1) co_return read_job(*updated, 0);
  co_return co_await pg_get_job(host, id);
}

}  // namespace

awaitable<Result<Photo>> pg_create_photo(Host& host, Photo photo) {
  if (photo.id <= 0) co_return Error{Errc::invalid_argument, "photo id must be positive"};
  if (auto c = check_text({&photo.blob_key, &photo.content_type}); !c.ok())
    co_return std::move(c).error();
  PhotoParams p(photo);
  auto r = co_await host.execute(kPhotoInsert, std::span<const char* const>(p.values).first(8));
  if (!r.ok()) {
    Error e = std::move(r).error();
    if (e.code == Errc::conflict) e.message = fmt::format("photo {} already exists", photo.id);
    co_return e;
  }
  co_return photo;
}

awaitable<Result<Photo>> pg_get_photo(Host& host, PhotoId id) {
  const std::string id_text = std::to_string(id);
  const std::array<const char*, 1> params{id_text.c_str()};
  auto r = co_await host.execute(kPhotoGet, params);
  if (!r.ok()) co_return std::move(r).error();
  if (r->rows() == 0) co_return Error{Errc::not_found, fmt::format("photo {} not found", id)};
  co_return read_photo(*r, 0);
}

awaitable<Result<DeletedPhoto>> pg_delete_photo(Host& host, PhotoId id) {
  const std::string id_text = std::to_string(id);
  const std::array<const char*, 1> params{id_text.c_str()};
  auto r = co_await host.execute(kPhotoDelete, params);
  if (!r.ok()) co_return std::move(r).error();
  if (r->rows() == 0) co_return Error{Errc::not_found, fmt::format("photo {} not found", id)};
  const auto others = r->int64(0, 1);
  if (!others) co_return Error{Errc::internal, "postgres: malformed delete_photo row"};
  co_return DeletedPhoto{std::string(r->text(0, 0)), *others > 0};
}

awaitable<Result<bool>> pg_blob_in_use(Host& host, const std::string& blob_key) {
  if (blob_key.find('\0') != std::string::npos) co_return false;  // no key holds one
  const std::array<const char*, 1> params{blob_key.c_str()};
  auto r = co_await host.execute(kBlobInUse, params);
  if (!r.ok()) co_return std::move(r).error();
  co_return r->rows() > 0;
}

awaitable<Result<PhotoPage>> pg_list_photos(Host& host, UserId owner, PhotoId after, int limit) {
  if (limit < 1 || limit > 1000)
    co_return Error{Errc::invalid_argument, fmt::format("limit {} is not in 1..1000", limit)};
  const std::string owner_text = std::to_string(owner), after_text = std::to_string(after),
                    limit_text = std::to_string(limit + 1);
  const std::array<const char*, 3> params{owner_text.c_str(), after_text.c_str(),
                                          limit_text.c_str()};
  auto r = co_await host.execute(kPhotoList, params);
  if (!r.ok()) co_return std::move(r).error();
  PhotoPage page;
  for (int row = 0; row < r->rows(); ++row) {
    if (row == limit) {
      page.more = true;
      break;
    }
    auto photo = read_photo(*r, row);
    if (!photo.ok()) co_return std::move(photo).error();
    page.photos.push_back(std::move(photo).value());
  }
  co_return page;
}

awaitable<Result<PhotoUsage>> pg_photo_usage(Host& host, UserId owner) {
  const std::string owner_text = std::to_string(owner);
  const std::array<const char*, 1> params{owner_text.c_str()};
  auto r = co_await host.execute(kPhotoUsage, params);
  if (!r.ok()) co_return std::move(r).error();
  const auto photos = r->int64(0, 0), bytes = r->int64(0, 1), jobs = r->int64(0, 2);
  if (r->rows() != 1 || !photos || !bytes || !jobs)
    co_return Error{Errc::internal, "postgres: malformed photo_usage row"};
  co_return PhotoUsage{*photos, *bytes, *jobs};
}

awaitable<Result<Job>> pg_create_job(Host& host, Job job, std::string outbox_payload) {
  if (job.id <= 0) co_return Error{Errc::invalid_argument, "job id must be positive"};
  if (auto c = check_text({&job.operations, &outbox_payload}); !c.ok())
    co_return std::move(c).error();
  const std::string id = std::to_string(job.id), photo = std::to_string(job.photo_id),
                    owner = std::to_string(job.owner_id);
  const std::array<const char*, 5> params{id.c_str(), photo.c_str(), owner.c_str(),
                                          job.operations.c_str(), outbox_payload.c_str()};
  auto r = co_await host.execute(kJobInsert, params);
  if (!r.ok()) {
    Error e = std::move(r).error();
    if (e.code == Errc::conflict) e.message = fmt::format("job {} already exists", job.id);
    co_return e;
  }
  co_return Job{
      job.id, job.photo_id, job.owner_id, std::move(job.operations), JobStatus::queued, 0, "", 0};
}

awaitable<Result<Job>> pg_get_job(Host& host, JobId id) {
  const std::string id_text = std::to_string(id);
  const std::array<const char*, 1> params{id_text.c_str()};
  auto r = co_await host.execute(kJobGet, params);
  if (!r.ok()) co_return std::move(r).error();
  if (r->rows() == 0) co_return Error{Errc::not_found, fmt::format("job {} not found", id)};
  co_return read_job(*r, 0);
}

awaitable<Result<Job>> pg_start_job(Host& host, JobId id) {
  const std::string id_text = std::to_string(id);
  const std::array<const char*, 1> params{id_text.c_str()};
  auto r = co_await host.execute(kJobStart, params);
  co_return co_await job_or_missing(host, std::move(r), id);
}

awaitable<Result<Job>> pg_complete_job(Host& host, JobId id, Photo result) {
  if (auto c = check_text({&result.blob_key, &result.content_type}); !c.ok())
    co_return std::move(c).error();
  PhotoParams p(result);
  const std::string id_text = std::to_string(id);
  p.values[8] = id_text.c_str();
  auto r = co_await host.execute(kJobDone, p.values);
  if (!r.ok()) {
    Error e = std::move(r).error();
    if (e.code == Errc::conflict) e.message = fmt::format("photo {} already exists", result.id);
    co_return e;
  }
  auto job = co_await pg_get_job(host, id);
  if (!job.ok()) {  // the result committed: whatever failed, running this again is not "not done"
    Error e = std::move(job).error();
    e.outcome_unknown = e.code == Errc::unavailable;
    co_return e;
  }
  co_return job;
}

awaitable<Result<Job>> pg_fail_job(Host& host, JobId id, std::string error) {
  if (auto c = check_text({&error}); !c.ok()) co_return std::move(c).error();
  const std::string id_text = std::to_string(id);
  const std::array<const char*, 2> params{id_text.c_str(), error.c_str()};
  auto r = co_await host.execute(kJobFail, params);
  co_return co_await job_or_missing(host, std::move(r), id);
}

awaitable<Result<std::vector<OutboxMessage>>> pg_outbox_batch(Host& host, int limit) {
  if (limit < 1 || limit > 1000)
    co_return Error{Errc::invalid_argument, fmt::format("limit {} is not in 1..1000", limit)};
  const std::string limit_text = std::to_string(limit);
  const std::array<const char*, 1> params{limit_text.c_str()};
  auto r = co_await host.execute(kOutboxBatch, params);
  if (!r.ok()) co_return std::move(r).error();
  std::vector<OutboxMessage> out;
  for (int i = 0; i < r->rows(); ++i) {
    const auto id = r->int64(i, 0);
    if (!id) co_return Error{Errc::internal, "postgres: malformed outbox row"};
    out.push_back({*id, std::string(r->text(i, 1)), std::string(r->text(i, 2))});
  }
  co_return out;
}

awaitable<Result<void>> pg_outbox_delete(Host& host, std::vector<std::int64_t> ids) {
  if (ids.empty()) co_return Result<void>{};
  std::string array = "{";
  for (std::size_t i = 0; i < ids.size(); ++i) array += (i ? "," : "") + std::to_string(ids[i]);
  array += "}";
  const std::array<const char*, 1> params{array.c_str()};
  auto r = co_await host.execute(kOutboxDelete, params);
  if (!r.ok()) co_return std::move(r).error();
  co_return Result<void>{};
}

}  // namespace ztm::storage
