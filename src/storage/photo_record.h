#pragma once
// Photos and edit jobs as the data tier stores them (the chapter's message-queue example,
// figure 1-18), and the outbox that carries new jobs to the queue.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/ids.h"

namespace ztm::storage {

using PhotoId = std::int64_t;
using JobId = std::int64_t;

struct Photo {
  PhotoId id = 0;
  UserId owner_id = 0;
  std::string blob_key;      // media/blob_store.h: "<sha256>.<ext>"
  std::string content_type;  // "image/jpeg" | "image/png" | "image/webp"
  int width = 0;
  int height = 0;
  std::int64_t bytes = 0;
  PhotoId source_id = 0;  // the photo an edit job made this one from; 0 for an upload
  bool operator==(const Photo&) const = default;
};

enum class JobStatus { queued, running, done, failed };
std::string_view to_string(JobStatus status);
std::optional<JobStatus> parse_job_status(std::string_view text);

struct Job {
  JobId id = 0;
  PhotoId photo_id = 0;  // the source photo
  UserId owner_id = 0;
  std::string operations;  // the validated edit steps, JSON
  JobStatus status = JobStatus::queued;
  PhotoId result_photo_id = 0;  // done: the photo the job made
  std::string error;            // failed: why
  int attempts = 0;             // start_job calls (deliveries that began work)
  bool operator==(const Job&) const = default;
};

// A message the web tier committed together with its job; the relay publishes and deletes it.
struct OutboxMessage {
  std::int64_t id = 0;  // ascending in commit order; the queue's dedup id
  std::string payload;
};

// What one user holds and runs (photo_usage): the basis of the per-user quotas.
struct PhotoUsage {
  std::int64_t photos = 0;  // photos they own (uploads and edit results)
  std::int64_t bytes = 0;   // the sum of those photos' sizes (a shared blob counts per photo)
  std::int64_t jobs_in_flight = 0;  // their jobs queued or running
  bool operator==(const PhotoUsage&) const = default;
};

// A page of one user's photos (list_photos), oldest first.
struct PhotoPage {
  std::vector<Photo> photos;
  bool more = false;  // photos after the last one exist
};

// What delete_photo leaves behind: the blob, and whether another photo still uses it.
struct DeletedPhoto {
  std::string blob_key;
  bool blob_in_use = false;
};

}  // namespace ztm::storage
