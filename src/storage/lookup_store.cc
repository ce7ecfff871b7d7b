#include "storage/lookup_store.h"

#include <fmt/format.h>

#include "core/mix64.h"

namespace ztm::storage {

Result<void> check_lookup(LookupKind kind, const std::string& key) {
  const auto k = static_cast<int>(kind);
  if (k < static_cast<int>(LookupKind::email) || k > static_cast<int>(LookupKind::job))
    return Error{Errc::invalid_argument, fmt::format("lookup: no kind {}", k)};
  if (key.empty() || key.size() > kMaxLookupKeyBytes)
    return Error{Errc::invalid_argument, fmt::format("lookup: a key is 1..{} bytes, not {}",
                                                     kMaxLookupKeyBytes, key.size())};
  if (key.find('\0') != std::string::npos)  // PostgreSQL's text cannot hold one
    return Error{Errc::invalid_argument, "lookup: a key has no NUL byte"};
  return {};
}

UserId lookup_placement(LookupKind kind, const std::string& key) {
  std::uint64_t h = 14695981039346656037ULL;
  for (const unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return static_cast<UserId>(mix64(h ^ static_cast<std::uint64_t>(kind)) >> 11);
}

}  // namespace ztm::storage
