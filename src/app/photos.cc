#include "app/photos.h"

#include <fmt/format.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "app/photo_edits.h"
#include "core/log.h"

namespace ztm::app {

using storage::Job;
using storage::JobId;
using storage::JobStatus;
using storage::Photo;
using storage::PhotoId;
using storage::PhotoStore;
using storage::PhotoUsage;

namespace {

using boost::asio::awaitable;

Result<void> allowed(const Principal& who, UserId owner, std::string_view what) {
  if (who.user_id == owner || who.admin()) return {};
  return Error{Errc::forbidden, fmt::format("only the owner or an admin may {}", what)};
}

// Retry-After of a full quota: jobs in flight finish within seconds; stored photos and bytes
// free up only when the user deletes some, so a retry is not worth it soon.
constexpr int kRetryJobsS = 10;
constexpr int kRetryStorageS = 3600;

Error quota_exceeded(std::string what, int retry_after_s) {
  return Error{Errc::quota_exceeded, std::move(what), retry_after_s};
}

// Whether the owner may store `more_bytes` in one more photo (0 before the size is known).
Result<void> storage_quota(const PhotoUsage& usage, const PhotoQuotas& quotas,
                           std::int64_t more_bytes) {
  if (usage.photos >= quotas.max_photos)
    return quota_exceeded(
        fmt::format("the user has {} photos, the most allowed; delete some first", usage.photos),
        kRetryStorageS);
  const bool full = more_bytes > 0 ? usage.bytes + more_bytes > quotas.max_bytes
                                   : usage.bytes >= quotas.max_bytes;
  if (full)
    return quota_exceeded(
        fmt::format("the user's photos take {} bytes{}, over the {} allowed; "
                    "delete some first",
                    usage.bytes,
                    more_bytes ? fmt::format(" (+{} for this one)", more_bytes) : std::string(),
                    quotas.max_bytes),
        kRetryStorageS);
  return {};
}

}  // namespace

std::string job_message(JobId id, const JobOrigin& origin) {
  boost::json::object message{{"job", id}};
  if (!origin.request_id.empty()) message["request_id"] = origin.request_id;
  if (!origin.traceparent.empty()) message["traceparent"] = origin.traceparent;
  return boost::json::serialize(message);
}

Result<JobMessage> parse_job_message(std::string_view payload) {
  boost::system::error_code ec;
  auto doc = boost::json::parse(payload, ec);
  const auto* obj = ec ? nullptr : doc.if_object();
  const auto* id = obj ? obj->if_contains("job") : nullptr;
  if (!id || !id->is_int64() || id->as_int64() <= 0)
    return Error{Errc::invalid_argument,
                 "not a job message: " + std::string(payload.substr(0, 100))};
  auto text = [obj](const char* key) {
    const auto* v = obj->if_contains(key);
    return v && v->is_string() && v->as_string().size() <= 128 ? std::string(v->as_string())
                                                               : std::string();
  };
  return JobMessage{
      .job = id->as_int64(),
      .origin = {.request_id = text("request_id"), .traceparent = text("traceparent")}};
}

PhotoService::PhotoService(PhotoStore& photos, media::BlobStore& blobs, IdGenerator& ids,
                           PhotoOptions options)
    : photos_(photos),
      blobs_(blobs),
      ids_(ids),
      options_(options),
      pool_(options.image_threads, options.image_max_pending) {}

awaitable<Result<Photo>> PhotoService::upload(Principal who, UserId owner, std::string bytes) {
  if (auto ok = allowed(who, owner, "add photos to this user"); !ok)
    co_return std::move(ok).error();
  auto usage = co_await photos_.photo_usage(owner);
  if (!usage) co_return std::move(usage).error();
  if (auto room = storage_quota(*usage, options_.quotas, 0); !room)
    co_return std::move(room).error();
  // Nothing is stored before libvips has read the header and decoded the whole image; what is
  // stored is its fresh encoding, without metadata (where a photo was taken is private) or
  // trailing bytes, and the key is the hash of those bytes.
  const auto limits = options_.limits;
  auto clean =
      co_await pool_.run([&bytes, &limits] { return media::sanitize_upload(bytes, limits); });
  if (!clean) co_return std::move(clean).error();
  const media::ImageInfo info = clean->info;
  const auto size = static_cast<std::int64_t>(clean->bytes.size());
  if (auto room = storage_quota(*usage, options_.quotas, size); !room)
    co_return std::move(room).error();
  Photo photo{ids_.next(),
              owner,
              media::blob_key(clean->bytes, media::extension(info.format)),
              std::string(media::content_type(info.format)),
              info.width,
              info.height,
              size,
              0};
  std::string key = photo.blob_key;
  auto stored = co_await blobs_.put(std::move(key), std::move(clean->bytes));
  if (!stored) co_return std::move(stored).error();
  co_return co_await photos_.create_photo(std::move(photo));
}

awaitable<Result<Photo>> PhotoService::get(PhotoId id) {
  co_return co_await photos_.get_photo(id);
}

awaitable<Result<storage::PhotoPage>> PhotoService::list(UserId owner, PhotoId after, int limit) {
  co_return co_await photos_.list_photos(owner, after, limit);
}

awaitable<Result<void>> PhotoService::remove(Principal who, PhotoId id) {
  auto photo = co_await photos_.get_photo(id);
  if (!photo) co_return std::move(photo).error();
  if (auto ok = allowed(who, photo->owner_id, "delete this photo"); !ok)
    co_return std::move(ok).error();
  auto deleted = co_await photos_.delete_photo(id);
  if (!deleted) co_return std::move(deleted).error();
  // A failure here leaves unreferenced bytes behind, never a photo without its bytes. A blob put
  // within the grace time stays too: an upload of the same bytes may have put them (a no-op but
  // for the "put at" time) and be about to create its photo, which blob_in_use could not see yet
  // (docs/media.md, "Deleting while the same bytes are uploaded"). The blob store records it as
  // a removal candidate, which collect_blobs removes once the grace time has passed.
  if (deleted->blob_in_use) co_return Result<void>{};
  auto gone = co_await blobs_.remove(std::move(deleted->blob_key), options_.blob_remove_grace);
  if (!gone) co_return std::move(gone).error();
  co_return Result<void>{};
}

awaitable<Result<BlobCollection>> PhotoService::collect_blobs(int limit) {
  const auto grace = options_.blob_remove_grace;
  auto candidates = co_await blobs_.removal_candidates(grace, limit);
  if (!candidates) co_return std::move(candidates).error();
  BlobCollection done;
  auto failed = [&done](const std::string& key, const Error& error) {
    ++done.failed;
    log::warn("blob collector: a candidate stays", {{"key", key}, {"error", error.message}});
  };
  for (const std::string& key : *candidates) {
    auto used = co_await photos_.blob_in_use(key);
    if (!used) {
      failed(key, used.error());
      continue;
    }
    if (*used) {
      // Unless it was put since the listing: then a deletion may have kept it meanwhile.
      auto forgotten = co_await blobs_.forget_candidate(key, grace);
      if (!forgotten)
        failed(key, forgotten.error());
      else
        ++done.in_use;
      continue;
    }
    auto gone = co_await blobs_.remove(key, grace);
    if (!gone) {
      failed(key, gone.error());
    } else if (*gone) {
      ++done.removed;
      log::info("blob collector: removed a blob no photo holds", {{"key", key}});
    } else {
      ++done.kept;
    }
  }
  co_return done;
}

awaitable<Result<Job>> PhotoService::edit(Principal who, PhotoId id,
                                          std::vector<media::Operation> steps, JobOrigin origin) {
  auto photo = co_await photos_.get_photo(id);
  if (!photo) co_return std::move(photo).error();
  if (auto ok = allowed(who, photo->owner_id, "edit this photo"); !ok)
    co_return std::move(ok).error();
  media::ImageInfo source{media::Format::jpeg, photo->width, photo->height};
  if (auto valid = media::validate_operations(steps, source, options_.limits); !valid)
    co_return std::move(valid).error();
  // The job will store a photo of the owner's: it needs room, and a slot among their jobs.
  auto usage = co_await photos_.photo_usage(photo->owner_id);
  if (!usage) co_return std::move(usage).error();
  if (usage->jobs_in_flight >= options_.quotas.max_jobs_in_flight)
    co_return quota_exceeded(
        fmt::format("the user has {} edit jobs queued or running, the most allowed; wait for one "
                    "to finish",
                    usage->jobs_in_flight),
        kRetryJobsS);
  if (auto room = storage_quota(*usage, options_.quotas, 0); !room)
    co_return std::move(room).error();
  Job job{ids_.next(), id, photo->owner_id, operations_to_json(steps), JobStatus::queued, 0, "", 0};
  std::string message = job_message(job.id, origin);
  co_return co_await photos_.create_job(std::move(job), std::move(message));
}

awaitable<Result<Job>> PhotoService::job(JobId id) {
  co_return co_await photos_.get_job(id);
}

awaitable<Result<media::BlobReader>> PhotoService::media(std::string key) {
  if (!media::valid_blob_key(key)) co_return Error{Errc::not_found, "no such media"};
  co_return co_await media::BlobReader::open(blobs_, std::move(key));
}

}  // namespace ztm::app
