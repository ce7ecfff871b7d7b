// SqliteStore's PhotoStore half (photo_store.h): photos, jobs and the outbox, in the same
// database file as the users, so a job and its outbox message commit in one transaction.
#include <fmt/format.h>

#include "sqlite/database.h"
#include "storage/sqlite/sqlite_store.h"

namespace ztm::storage {
namespace {

using boost::asio::awaitable;
using sqlite::Connection;
using sqlite::Statement;
using sqlite::WriteTransaction;

#define ZTM_NOW "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
#define ZTM_PHOTO_COLUMNS "id, owner_id, blob_key, content_type, width, height, bytes, source_id"
#define ZTM_JOB_COLUMNS \
  "id, photo_id, owner_id, operations, status, result_photo_id, error, attempts"
namespace sql {
constexpr const char* photo_insert =
    "INSERT INTO photos(" ZTM_PHOTO_COLUMNS
    ", created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, " ZTM_NOW ")";
constexpr const char* photo_get = "SELECT " ZTM_PHOTO_COLUMNS " FROM photos WHERE id = ?1";
constexpr const char* photo_delete = "DELETE FROM photos WHERE id = ?1 RETURNING blob_key";
constexpr const char* blob_users = "SELECT count(*) FROM photos WHERE blob_key = ?1";
// photos_owner (migration 5) holds (owner_id, rowid): the page is an index range.
constexpr const char* photo_list =
    "SELECT " ZTM_PHOTO_COLUMNS " FROM photos WHERE owner_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3";
// Both counts use the owner indexes of migration 5 (the jobs one holds only jobs in flight).
constexpr const char* photo_usage =
    "SELECT (SELECT count(*) FROM photos WHERE owner_id = ?1), "
    "(SELECT coalesce(sum(bytes), 0) FROM photos WHERE owner_id = ?1), "
    "(SELECT count(*) FROM jobs WHERE owner_id = ?1 AND status IN ('queued', 'running'))";
constexpr const char* job_insert = "INSERT INTO jobs(" ZTM_JOB_COLUMNS
                                   ", created_at, updated_at) VALUES(?1, ?2, ?3, ?4, 'queued', 0, "
                                   "'', 0, " ZTM_NOW ", " ZTM_NOW ")";
constexpr const char* outbox_insert =
    "INSERT INTO outbox(payload, created_at) VALUES(?1, " ZTM_NOW ")";
constexpr const char* job_get = "SELECT " ZTM_JOB_COLUMNS " FROM jobs WHERE id = ?1";
// The job moves on only from a non-final state; a final one comes back as it is.
constexpr const char* job_start =
    "UPDATE jobs SET status = 'running', attempts = attempts + 1, updated_at = " ZTM_NOW
    " WHERE id = ?1 AND status IN ('queued', 'running')";
constexpr const char* job_done =
    "UPDATE jobs SET status = 'done', result_photo_id = ?2, updated_at = " ZTM_NOW
    " WHERE id = ?1 AND status IN ('queued', 'running')";
constexpr const char* job_fail =
    "UPDATE jobs SET status = 'failed', error = ?2, updated_at = " ZTM_NOW
    " WHERE id = ?1 AND status IN ('queued', 'running')";
constexpr const char* outbox_batch = "SELECT id, payload, topic FROM outbox ORDER BY id LIMIT ?1";
constexpr const char* outbox_delete = "DELETE FROM outbox WHERE id = ?1";
}  // namespace sql
#undef ZTM_JOB_COLUMNS
#undef ZTM_PHOTO_COLUMNS
#undef ZTM_NOW

void bind_photo(Statement& st, const Photo& p) {
  st.bind(1, p.id);
  st.bind(2, p.owner_id);
  st.bind(3, p.blob_key);
  st.bind(4, p.content_type);
  st.bind(5, std::int64_t{p.width});
  st.bind(6, std::int64_t{p.height});
  st.bind(7, p.bytes);
  st.bind(8, p.source_id);
}

Photo read_photo(Statement& st) {
  return Photo{st.column_int64(0),
               st.column_int64(1),
               st.column_text(2),
               st.column_text(3),
               static_cast<int>(st.column_int64(4)),
               static_cast<int>(st.column_int64(5)),
               st.column_int64(6),
               st.column_int64(7)};
}

Result<Job> read_job(Statement& st) {
  auto status = parse_job_status(st.column_text(4));
  if (!status) return Error{Errc::internal, "sqlite: a job with an unknown status"};
  return Job{st.column_int64(0),
             st.column_int64(1),
             st.column_int64(2),
             st.column_text(3),
             *status,
             st.column_int64(5),
             st.column_text(6),
             static_cast<int>(st.column_int64(7))};
}

Result<void> insert_photo(Connection& w, const Photo& photo) {
  auto st = w.prepare(sql::photo_insert);
  if (!st.ok()) return std::move(st).error();
  bind_photo(*st, photo);
  const int rc = st->step();
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
    return Error{Errc::conflict, fmt::format("photo {} already exists", photo.id)};
  if (rc != SQLITE_DONE) return w.error(rc, "create_photo");
  return {};
}

Result<Job> job_in(Connection& c, JobId id) {
  auto st = c.prepare(sql::job_get);
  if (!st.ok()) return std::move(st).error();
  st->bind(1, id);
  const int rc = st->step();
  if (rc == SQLITE_DONE) return Error{Errc::not_found, fmt::format("job {} not found", id)};
  if (rc != SQLITE_ROW) return c.error(rc, "get_job");
  return read_job(*st);
}

// Runs `update` (?1 = the job id, then `bind` for the rest) and, inside the same transaction,
// `before` first (e.g. storing the result photo); returns the job as it is afterwards. A final
// job is left alone (and `before` is not run).
template <class Bind, class Before>
Result<Job> advance_job(Connection& w, JobId id, const char* update, Bind bind, Before before) {
  WriteTransaction txn(w);
  if (auto b = txn.begin(); !b.ok()) return std::move(b).error();
  auto current = job_in(w, id);
  if (!current) return current;
  if (current->status == JobStatus::done || current->status == JobStatus::failed) return current;
  if (auto r = before(); !r.ok()) return std::move(r).error();
  {
    auto st = w.prepare(update);
    if (!st.ok()) return std::move(st).error();
    st->bind(1, id);
    bind(*st);
    if (int rc = st->step(); rc != SQLITE_DONE) return w.error(rc, "update job");
  }
  auto after = job_in(w, id);
  if (!after) return after;
  if (auto c = txn.commit(); !c.ok()) return std::move(c).error();
  return after;
}

Result<void> nothing_before() {
  return {};
}

}  // namespace

awaitable<Result<Photo>> SqliteStore::create_photo(Photo photo) {
  if (photo.id <= 0) co_return Error{Errc::invalid_argument, "photo id must be positive"};
  co_return co_await db_->write<Photo>([&photo](Connection& w) -> Result<Photo> {
    if (auto r = insert_photo(w, photo); !r.ok()) return std::move(r).error();
    return photo;
  });
}

awaitable<Result<Photo>> SqliteStore::get_photo(PhotoId id) {
  co_return co_await db_->read<Photo>(
      sql::photo_get, [id](Statement& st, Connection& c) -> Result<Photo> {
        st.bind(1, id);
        const int rc = st.step();
        if (rc == SQLITE_DONE) return Error{Errc::not_found, fmt::format("photo {} not found", id)};
        if (rc != SQLITE_ROW) return c.error(rc, "get_photo");
        return read_photo(st);
      });
}

awaitable<Result<DeletedPhoto>> SqliteStore::delete_photo(PhotoId id) {
  co_return co_await db_->write<DeletedPhoto>([id](Connection& w) -> Result<DeletedPhoto> {
    WriteTransaction txn(w);
    if (auto b = txn.begin(); !b.ok()) return std::move(b).error();
    DeletedPhoto out;
    {
      auto st = w.prepare(sql::photo_delete);
      if (!st.ok()) return std::move(st).error();
      st->bind(1, id);
      const int rc = st->step();
      if (rc == SQLITE_DONE) return Error{Errc::not_found, fmt::format("photo {} not found", id)};
      if (rc != SQLITE_ROW) return w.error(rc, "delete_photo");
      out.blob_key = st->column_text(0);
      if (int done = st->step(); done != SQLITE_DONE) return w.error(done, "delete_photo");
    }
    {
      auto st = w.prepare(sql::blob_users);
      if (!st.ok()) return std::move(st).error();
      st->bind(1, out.blob_key);
      if (int rc = st->step(); rc != SQLITE_ROW) return w.error(rc, "delete_photo (blob users)");
      out.blob_in_use = st->column_int64(0) > 0;
    }
    if (auto c = txn.commit(); !c.ok()) return std::move(c).error();
    return out;
  });
}

awaitable<Result<bool>> SqliteStore::blob_in_use(std::string blob_key) {
  co_return co_await db_->read<bool>(sql::blob_users,
                                     [&blob_key](Statement& st, Connection& c) -> Result<bool> {
                                       st.bind(1, blob_key);
                                       if (int rc = st.step(); rc != SQLITE_ROW)
                                         return c.error(rc, "blob_in_use");
                                       return st.column_int64(0) > 0;
                                     });
}

awaitable<Result<PhotoPage>> SqliteStore::list_photos(UserId owner, PhotoId after, int limit) {
  if (limit < 1 || limit > 1000)
    co_return Error{Errc::invalid_argument, fmt::format("limit {} is not in 1..1000", limit)};
  co_return co_await db_->read<PhotoPage>(
      sql::photo_list, [owner, after, limit](Statement& st, Connection& c) -> Result<PhotoPage> {
        st.bind(1, owner);
        st.bind(2, after);
        st.bind(3, std::int64_t{limit} + 1);  // one row more tells whether there are more
        PhotoPage page;
        int rc;
        while ((rc = st.step()) == SQLITE_ROW) {
          if (page.photos.size() == static_cast<std::size_t>(limit)) {
            page.more = true;
            return page;
          }
          page.photos.push_back(read_photo(st));
        }
        if (rc != SQLITE_DONE) return c.error(rc, "list_photos");
        return page;
      });
}

awaitable<Result<PhotoUsage>> SqliteStore::photo_usage(UserId owner) {
  co_return co_await db_->read<PhotoUsage>(
      sql::photo_usage, [owner](Statement& st, Connection& c) -> Result<PhotoUsage> {
        st.bind(1, owner);
        if (int rc = st.step(); rc != SQLITE_ROW) return c.error(rc, "photo_usage");
        return PhotoUsage{st.column_int64(0), st.column_int64(1), st.column_int64(2)};
      });
}

awaitable<Result<Job>> SqliteStore::create_job(Job job, std::string outbox_payload) {
  if (job.id <= 0) co_return Error{Errc::invalid_argument, "job id must be positive"};
  co_return co_await db_->write<Job>([&job, &outbox_payload](Connection& w) -> Result<Job> {
    WriteTransaction txn(w);
    if (auto b = txn.begin(); !b.ok()) return std::move(b).error();
    {
      auto st = w.prepare(sql::job_insert);
      if (!st.ok()) return std::move(st).error();
      st->bind(1, job.id);
      st->bind(2, job.photo_id);
      st->bind(3, job.owner_id);
      st->bind(4, job.operations);
      const int rc = st->step();
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        return Error{Errc::conflict, fmt::format("job {} already exists", job.id)};
      if (rc != SQLITE_DONE) return w.error(rc, "create_job");
    }
    {
      auto st = w.prepare(sql::outbox_insert);
      if (!st.ok()) return std::move(st).error();
      st->bind(1, outbox_payload);
      if (int rc = st->step(); rc != SQLITE_DONE) return w.error(rc, "create_job (outbox)");
    }
    if (auto c = txn.commit(); !c.ok()) return std::move(c).error();
    return Job{job.id, job.photo_id, job.owner_id, job.operations, JobStatus::queued, 0, "", 0};
  });
}

awaitable<Result<Job>> SqliteStore::get_job(JobId id) {
  co_return co_await db_->read<Job>(
      sql::job_get, [id](Statement& st, Connection& c) -> Result<Job> {
        st.bind(1, id);
        const int rc = st.step();
        if (rc == SQLITE_DONE) return Error{Errc::not_found, fmt::format("job {} not found", id)};
        if (rc != SQLITE_ROW) return c.error(rc, "get_job");
        return read_job(st);
      });
}

awaitable<Result<Job>> SqliteStore::start_job(JobId id) {
  co_return co_await db_->write<Job>([id](Connection& w) {
    return advance_job(
        w, id, sql::job_start, [](Statement&) {}, nothing_before);
  });
}

awaitable<Result<Job>> SqliteStore::complete_job(JobId id, Photo result) {
  co_return co_await db_->write<Job>([id, &result](Connection& w) {
    return advance_job(
        w, id, sql::job_done, [&result](Statement& st) { st.bind(2, result.id); },
        [&w, &result] { return insert_photo(w, result); });
  });
}

awaitable<Result<Job>> SqliteStore::fail_job(JobId id, std::string error) {
  co_return co_await db_->write<Job>([id, &error](Connection& w) {
    return advance_job(
        w, id, sql::job_fail, [&error](Statement& st) { st.bind(2, error); }, nothing_before);
  });
}

awaitable<Result<std::vector<OutboxMessage>>> SqliteStore::outbox_batch(int limit) {
  if (limit < 1 || limit > 1000)
    co_return Error{Errc::invalid_argument, fmt::format("limit {} is not in 1..1000", limit)};
  co_return co_await db_->read<std::vector<OutboxMessage>>(
      sql::outbox_batch,
      [limit](Statement& st, Connection& c) -> Result<std::vector<OutboxMessage>> {
        st.bind(1, std::int64_t{limit});
        std::vector<OutboxMessage> out;
        int rc;
        while ((rc = st.step()) == SQLITE_ROW)
          out.push_back({st.column_int64(0), st.column_text(1), st.column_text(2)});
        if (rc != SQLITE_DONE) return c.error(rc, "outbox_batch");
        return out;
      });
}

awaitable<Result<void>> SqliteStore::outbox_delete(std::vector<std::int64_t> ids) {
  co_return co_await db_->write<void>([&ids](Connection& w) -> Result<void> {
    WriteTransaction txn(w);
    if (auto b = txn.begin(); !b.ok()) return std::move(b).error();
    for (const auto id : ids) {
      auto st = w.prepare(sql::outbox_delete);
      if (!st.ok()) return std::move(st).error();
      st->bind(1, id);
      if (int rc = st->step(); rc != SQLITE_DONE) return w.error(rc, "outbox_delete");
    }
    return txn.commit();
  });
}

}  // namespace ztm::storage
