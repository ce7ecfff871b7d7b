#pragma once
// How RedisCacheTier stores a CachedValue in a Redis string: "<version>:<data>" (decimal version,
// then the bytes as they are). The version comes first so a reader finds it without scanning the
// data, which may itself contain ':'.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "cache/cache.h"

namespace ztm::cache {

inline std::string encode_cached_value(const CachedValue& value) {
  return std::to_string(value.version) + ':' + value.data;
}

// nullptr when `bytes` is not in that form (then the tier treats the entry as a miss).
inline CachedPtr decode_cached_value(std::string_view bytes) {
  const auto colon = bytes.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 19) return nullptr;
  std::int64_t version = 0;
  for (char c : bytes.substr(0, colon)) {
    if (c < '0' || c > '9') return nullptr;
    version = version * 10 + (c - '0');
  }
  return std::make_shared<const CachedValue>(
      CachedValue{std::string(bytes.substr(colon + 1)), version});
}

}  // namespace ztm::cache
