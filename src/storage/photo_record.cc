#include "storage/photo_record.h"

namespace ztm::storage {

std::string_view to_string(JobStatus status) {
  switch (status) {
    case JobStatus::queued:
      return "queued";
    case JobStatus::running:
      return "running";
    case JobStatus::done:
      return "done";
    case JobStatus::failed:
      return "failed";
  }
  return "queued";
}

std::optional<JobStatus> parse_job_status(std::string_view text) {
  for (auto s : {JobStatus::queued, JobStatus::running, JobStatus::done, JobStatus::failed})
    if (to_string(s) == text) return s;
  return std::nullopt;
}

}  // namespace ztm::storage
