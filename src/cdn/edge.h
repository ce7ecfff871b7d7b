#pragma once
// A CDN edge as the web tier sees it (docs/cdn.md): something that drops what it keeps under
// surrogate keys, and records how far the purge stream has caught up (its lease: an edge whose
// last sync is older than the lease stops serving mutable content from its cache).
// Backends: varnish/ (HTTP PURGE to Varnish's admin listener, deploy/varnish/edge.vcl).

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace ztm::cdn {

class Edge {
 public:
  virtual ~Edge() = default;
  virtual const std::string& name() const = 0;
  // Drops every object tagged with any of `keys` (hard: not served again, not even stale), then,
  // with `synced_at_ms`, records that every change committed before it has been purged here.
  // Ok only when the edge confirmed all of it; unavailable when it cannot be reached or refused.
  virtual boost::asio::awaitable<Result<void>> purge(std::vector<std::string> keys,
                                                     std::optional<std::int64_t> synced_at_ms) = 0;
};

}  // namespace ztm::cdn
