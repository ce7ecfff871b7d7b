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

#include <boost/asio/awaitable.hpp>
#include <string>

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
  // ok when absent. Callers remove a blob only when no photo refers to it.
  virtual boost::asio::awaitable<Result<void>> remove(std::string key) = 0;
};

}  // namespace ztm::media
