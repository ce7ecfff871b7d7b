#pragma once
// The blob collector (docs/media.md, "Collecting the blobs kept by the grace rule"): the bytes of
// a photo deleted within media.blob_remove_grace_s of their upload are kept by the grace rule and
// recorded as a removal candidate; this runs PhotoService::collect_blobs every `interval` so
// that they go once the grace time has passed and no photo holds them. Every web server runs
// one: passes on several servers at once are safe (each step is idempotent), and a pass cut
// short by a stop or a crash leaves its candidates for the next one.
//
// Seen as ztm_blob_collector_candidates_total{outcome="removed|kept|in_use|failed"}, a log line
// per blob removed (info), and one warning per change of state (listing failing / working again).

#include <boost/asio/awaitable.hpp>
#include <chrono>

#include "app/photos.h"
#include "core/metrics.h"

namespace ztm::app {

struct BlobCollectorOptions {
  // Between passes; the first pass comes one interval after run() starts (servers that start
  // together do not all look at once, and a test's server does not pass while it sets up).
  std::chrono::milliseconds interval{std::chrono::seconds(60)};
  int batch = 500;  // candidates a pass takes at most (BlobStore::removal_candidates)
};

class BlobCollector {
 public:
  // REQUIRES: `photos` (and `metrics`, which may be null) outlive this.
  BlobCollector(PhotoService& photos, MetricsRegistry* metrics, BlobCollectorOptions options);
  // Passes until cancelled (TaskGroup::stop): the wait between passes ends at once, and a pass
  // in progress stops at its next step (which leaves its candidates for a later pass).
  boost::asio::awaitable<void> run();
  // One pass, counted in the metrics.
  boost::asio::awaitable<Result<BlobCollection>> collect_once();

 private:
  PhotoService& photos_;
  BlobCollectorOptions options_;
  Counter* removed_ = nullptr;
  Counter* kept_ = nullptr;
  Counter* in_use_ = nullptr;
  Counter* failed_ = nullptr;
  bool failing_ = false;
};

}  // namespace ztm::app
