#include "media/blob_store.h"

#include <fmt/format.h>
#include <sodium.h>

#include <algorithm>
#include <array>

namespace ztm::media {

std::string blob_key(std::string_view bytes, std::string_view ext) {
  // libsodium wants sodium_init() before any use; it is idempotent and thread-safe, and a
  // function-local static runs it once.
  static const int sodium = sodium_init();
  (void)sodium;
  std::array<unsigned char, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256(digest.data(), reinterpret_cast<const unsigned char*>(bytes.data()),
                     bytes.size());
  constexpr std::string_view kHex = "0123456789abcdef";
  std::string key;
  key.reserve(2 * digest.size() + 1 + ext.size());
  for (const unsigned char b : digest) {
    key += kHex[b >> 4];
    key += kHex[b & 0xF];
  }
  key += '.';
  key += ext;
  return key;
}

bool valid_blob_key(std::string_view key) {
  constexpr std::size_t kHexChars = 2 * crypto_hash_sha256_BYTES;
  if (key.size() <= kHexChars + 1 || key[kHexChars] != '.') return false;
  for (const char c : key.substr(0, kHexChars))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  const auto ext = key.substr(kHexChars + 1);
  return ext == "jpg" || ext == "png" || ext == "webp";
}

boost::asio::awaitable<Result<BlobReader>> BlobReader::open(BlobStore& store, std::string key) {
  auto length = co_await store.size(key);
  if (!length) co_return std::move(length).error();
  co_return BlobReader(store, std::move(key), *length);
}

boost::asio::awaitable<Result<std::string>> BlobReader::next() {
  const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(kBlobChunk, size_ - offset_));
  auto chunk = co_await store_->read(key_, offset_, want);
  if (!chunk) co_return std::move(chunk).error();
  // A blob never changes, so a short read means it went away under us (or the storage lies):
  // an error, never an empty chunk a caller would loop on.
  if (chunk->size() != want)
    co_return Error{Errc::unavailable, fmt::format("blob {} ended at {} of {} bytes", key_,
                                                   offset_ + chunk->size(), size_)};
  offset_ += want;
  co_return chunk;
}

Result<void> check_candidate_limit(int limit) {
  if (limit >= 1 && limit <= kMaxCandidates) return {};
  return Error{Errc::invalid_argument,
               fmt::format("removal candidates: a limit of {} (1..{})", limit, kMaxCandidates)};
}

}  // namespace ztm::media
