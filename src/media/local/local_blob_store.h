#pragma once
// Blobs as files in one local directory, for the single server: `<dir>/<key[0:2]>/<key>` (256
// sub-directories keep each directory small).
//
// Every call runs on a bounded BlockingPool of its own, never on the caller's event loop.
// put() is atomic and durable: the bytes go to a temporary file in the same sub-directory, which
// is fsync'ed and renamed over the final name, then the directory is fsync'ed; a reader sees the
// whole blob or none, also after a crash. Since a key names its content, a put of a blob that
// already exists only sets the file's mtime to now: the mtime is the blob's "put at" time, which
// remove() checks. A put's touch and a removal's check-and-unlink hold a lock on the file (flock:
// shared, exclusive), so they never interleave. Temporary files left by a crash
// (".<key>.XXXXXX") are not collected.
//
// Removal candidates are empty files `<dir>/.pending/<key>`: made (and fsync'ed) by a removal
// that keeps a blob, under the blob's lock, before it returns; dropped with the blob, or by
// forget_candidate under the blob's lock (docs/media.md, "Collecting the blobs kept by the grace
// rule"). A pass lists that one directory and stats each candidate's blob.

#include <memory>
#include <string>

#include "core/clock.h"
#include "media/blob_store.h"

namespace ztm {
class BlockingPool;
}

namespace ztm::media {

struct LocalBlobStoreOptions {
  std::string dir;         // created (with its parents) if missing
  int threads = 2;         // pool threads
  int max_pending = 1000;  // calls queued or running beyond which calls fail `overloaded`
  // What "now" is when a blob is put (its mtime) and when its put time is compared with a grace
  // time. Must outlive the store.
  const Clock* clock = &Clock::system();
};

class LocalBlobStore final : public BlobStore {
 public:
  // Creates the directory if missing. Throws std::runtime_error naming the directory and the
  // reason when it cannot (a start-up error).
  explicit LocalBlobStore(LocalBlobStoreOptions options);
  // REQUIRES: no call in flight.
  ~LocalBlobStore() override;
  LocalBlobStore(const LocalBlobStore&) = delete;
  LocalBlobStore& operator=(const LocalBlobStore&) = delete;

  // invalid_argument for a malformed key or one that is not blob_key(bytes, its extension);
  // unavailable when the file system refuses (full, read-only, permissions).
  boost::asio::awaitable<Result<void>> put(std::string key, std::string bytes) override;
  boost::asio::awaitable<Result<std::string>> get(std::string key) override;
  boost::asio::awaitable<Result<std::uint64_t>> size(std::string key) override;
  boost::asio::awaitable<Result<std::string>> read(std::string key, std::uint64_t offset,
                                                   std::size_t max_bytes) override;
  boost::asio::awaitable<Result<bool>> remove(std::string key,
                                              std::chrono::seconds unless_put_within) override;
  boost::asio::awaitable<Result<std::vector<std::string>>> removal_candidates(
      std::chrono::seconds put_before, int limit) override;
  boost::asio::awaitable<Result<void>> forget_candidate(
      std::string key, std::chrono::seconds unless_put_within) override;

 private:
  std::string dir_;
  const Clock& clock_;
  std::unique_ptr<BlockingPool> pool_;
};

}  // namespace ztm::media
