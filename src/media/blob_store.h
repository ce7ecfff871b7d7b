#pragma once
// Where photo bytes live, by content: the key is the SHA-256 of the bytes plus the extension
// ("<64 hex>.jpg"), so a blob never changes once written (GET /media/{key} is immutable and
// cacheable for a year) and storing the same bytes twice is a no-op. Backends: a local directory
// (the single server) and PostgreSQL (the scaled-out lab: blobs are replicated with everything
// else and survive the loss of any web or worker host). Both pass
// tests/media/blob_store_conformance.h.
//
// Contract: expected failures are Result errors (not_found, unavailable, invalid_argument for a
// malformed key); never blocks an event loop; put() returning ok means durable.
//
// A blob is read whole (get: an edit's source, which libvips decodes anyway) or in bounded
// pieces (size, then read at an offset; BlobReader): GET /media streams, so that a reader holds
// one chunk, whatever the blob's size and however slowly its client reads (docs/media.md,
// "Streaming a blob").
//
// Removal candidates (docs/media.md, "Collecting the blobs kept by the grace rule"): remove()
// records the key durably before it decides, and forgets it only with the blob, so a blob it
// kept stays a candidate, across crashes too, until the blob collector
// (PhotoService::collect_blobs) lists it once its put time is old, removes it when no photo
// holds it, or drops the candidate when one does.
//
// BlobStoreWrapper forwards every call to another BlobStore (as storage::DatabaseWrapper): a
// test's decorator derives from it and overrides only what it changes.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace ztm::media {

// "<sha256 hex of bytes>.<ext>"
std::string blob_key(std::string_view bytes, std::string_view ext);
// 64 lower-case hex characters, '.', then jpg|png|webp.
bool valid_blob_key(std::string_view key);

class BlobStore {
 public:
  virtual ~BlobStore() = default;
  // REQUIRES: key == blob_key(bytes, ext) (backends may check).
  virtual boost::asio::awaitable<Result<void>> put(std::string key, std::string bytes) = 0;
  virtual boost::asio::awaitable<Result<std::string>> get(std::string key) = 0;
  // The blob's length in bytes, without reading it. not_found when absent.
  virtual boost::asio::awaitable<Result<std::uint64_t>> size(std::string key) = 0;
  // At most `max_bytes` of the blob from byte `offset`: fewer only where the blob ends, none
  // from its end on. not_found when absent (also when removed since size()).
  virtual boost::asio::awaitable<Result<std::string>> read(std::string key, std::uint64_t offset,
                                                           std::size_t max_bytes) = 0;
  // Removes the blob unless it was put (or put again: a put of an existing key refreshes its
  // "put at" time) within the last `unless_put_within`; atomic with respect to put(), so a put
  // that returned ok either refreshed the blob before this looked at it (kept) or wrote it anew
  // after it was removed. True when the blob is gone (removed now, or absent); false when it was
  // kept because it was put recently. Callers remove a blob only when no photo refers to it;
  // the grace time covers an upload that put the blob and has not created its photo yet
  // (docs/media.md, "Deleting while the same bytes are uploaded").
  //
  // A blob that exists becomes a removal candidate before the decision (durable, like a put),
  // and stops being one only when it is removed: a blob kept is a candidate, whatever crashes.
  virtual boost::asio::awaitable<Result<bool>> remove(std::string key,
                                                      std::chrono::seconds unless_put_within) = 0;
  // Removal candidates whose blob was put at least `put_before` ago (or is absent: a candidate
  // whose removal was cut short), oldest put first, at most `limit` (check_candidate_limit). Only a
  // hint: remove() checks the put time again.
  virtual boost::asio::awaitable<Result<std::vector<std::string>>> removal_candidates(
      std::chrono::seconds put_before, int limit) = 0;
  // The key is no longer a candidate (a photo holds the blob, so that photo's deletion decides
  // again), unless the blob was put within `unless_put_within`: then a deletion may have kept it
  // since the caller looked at the photos, and the candidate stays for a later pass. Atomic with
  // respect to put() and remove(). Ok when the key is no candidate.
  virtual boost::asio::awaitable<Result<void>> forget_candidate(
      std::string key, std::chrono::seconds unless_put_within) = 0;
};

// removal_candidates' limit: invalid_argument unless 1..kMaxCandidates.
inline constexpr int kMaxCandidates = 1000;
Result<void> check_candidate_limit(int limit);

class BlobStoreWrapper : public BlobStore {
 public:
  // REQUIRES: target outlives this.
  explicit BlobStoreWrapper(BlobStore& target) : target_(target) {}
  BlobStore& target() const { return target_; }

  boost::asio::awaitable<Result<void>> put(std::string key, std::string bytes) override {
    return target_.put(std::move(key), std::move(bytes));
  }
  boost::asio::awaitable<Result<std::string>> get(std::string key) override {
    return target_.get(std::move(key));
  }
  boost::asio::awaitable<Result<std::uint64_t>> size(std::string key) override {
    return target_.size(std::move(key));
  }
  boost::asio::awaitable<Result<std::string>> read(std::string key, std::uint64_t offset,
                                                   std::size_t max_bytes) override {
    return target_.read(std::move(key), offset, max_bytes);
  }
  boost::asio::awaitable<Result<bool>> remove(std::string key,
                                              std::chrono::seconds unless_put_within) override {
    return target_.remove(std::move(key), unless_put_within);
  }
  boost::asio::awaitable<Result<std::vector<std::string>>> removal_candidates(
      std::chrono::seconds put_before, int limit) override {
    return target_.removal_candidates(put_before, limit);
  }
  boost::asio::awaitable<Result<void>> forget_candidate(
      std::string key, std::chrono::seconds unless_put_within) override {
    return target_.forget_candidate(std::move(key), unless_put_within);
  }

 private:
  BlobStore& target_;
};

// The chunk a streamed blob is read in. 64 KiB: what one reader holds (beside the kernel's socket
// buffer); as large as the HTTP server's read chunk; per chunk, a file read or one PostgreSQL
// round trip that fetches about 33 of the table's ~2 KB TOAST pieces, so a 20 MB photo is 320
// calls, whose cost beside the bytes' is small.
inline constexpr std::size_t kBlobChunk = 64 * 1024;

// One blob read front to back in chunks of kBlobChunk: the size is known before the first byte
// (Content-Length). The reader keeps none of the bytes; its caller holds the chunk last returned.
class BlobReader {
 public:
  // not_found when absent. `store` must outlive the reader.
  static boost::asio::awaitable<Result<BlobReader>> open(BlobStore& store, std::string key);

  std::uint64_t size() const { return size_; }
  bool done() const { return offset_ >= size_; }
  // The next kBlobChunk bytes (fewer only as the last chunk). REQUIRES: !done().
  // not_found when the blob was removed since open(); unavailable when it ends early.
  boost::asio::awaitable<Result<std::string>> next();

 private:
  BlobReader(BlobStore& store, std::string key, std::uint64_t size)
      : store_(&store), key_(std::move(key)), size_(size) {}

  BlobStore* store_;
  std::string key_;
  std::uint64_t size_;
  std::uint64_t offset_ = 0;
};

}  // namespace ztm::media
