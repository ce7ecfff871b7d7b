#pragma once
// cdn::Edge for a Varnish edge running deploy/varnish/edge.vcl: `PURGE /` on its admin listener
// with `Xkey-Purge: k1 k2 ...` (split over several requests so that no header line passes
// kMaxKeyBytes; Varnish refuses lines over 8 KB) and `X-Ztm-Synced-At: <unix seconds>` on the
// last one, so the lease moves on only after every key is gone. One connection per purge: purges
// are batched by EdgePurger, a few per second per edge.

#include <chrono>

#include "cdn/edge.h"

namespace ztm::cdn {

struct VarnishEdgeOptions {
  std::string name;                         // "edge1"
  std::string admin_url;                    // "http://10.77.1.81:6091": the admin listener
  std::chrono::milliseconds timeout{1000};  // connect, and each request's round trip
};

class VarnishEdge : public Edge {
 public:
  static constexpr std::size_t kMaxKeyBytes = 6 * 1024;

  // Throws std::invalid_argument for an admin_url that is not http://host:port.
  explicit VarnishEdge(VarnishEdgeOptions options);
  const std::string& name() const override { return options_.name; }
  boost::asio::awaitable<Result<void>> purge(std::vector<std::string> keys,
                                             std::optional<std::int64_t> synced_at_ms) override;

  // The Xkey-Purge values for `keys`: each at most kMaxKeyBytes (one key longer than that is
  // sent alone). At least one value (empty when there are no keys).
  static std::vector<std::string> key_lines(const std::vector<std::string>& keys);

 private:
  boost::asio::awaitable<Result<void>> send(std::string xkey, std::string synced_at);

  VarnishEdgeOptions options_;
  std::string host_;
  std::string port_;
};

}  // namespace ztm::cdn
