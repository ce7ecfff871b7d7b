#pragma once
// The HTTP API of the web tier: the route table (Api::add_routes, one function) and the
// middleware every request passes: request id, per-endpoint metrics, access log.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <random>

#include "api/accounts_api.h"
#include "api/admin_api.h"
#include "api/auth.h"
#include "api/cache_policy.h"
#include "api/cdn_json.h"
#include "api/follows_api.h"
#include "api/photos_api.h"
#include "api/purchases_api.h"
#include "api/static_files.h"
#include "api/users_api.h"
#include "app/readiness.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/metrics.h"
#include "http/router.h"
#include "http/server.h"

namespace ztm::api {

enum class AccessLog { all, errors, off };  // errors: status >= 400 or slower than slow_ms

// REQUIRES: one of "all", "errors", "off" (validated with the configuration).
AccessLog parse_access_log(std::string_view mode);

struct ApiOptions {
  int max_json_depth = 16;
  AccessLog access_log = AccessLog::errors;
  int slow_ms = 1000;
  std::size_t max_upload_bytes = 20 << 20;  // photo uploads (other bodies: http.max_body_bytes)
  const Clock* clock = &Clock::system();    // request latency; must outlive the Api
  CachePolicyOptions cache;                 // how long edges keep public reads
  std::vector<NamedUrl> edges;              // the CDN's edges (GET /cdn.json); none = no CDN
  std::vector<EdgeNetwork> edge_networks;   // which edge /cdn.json prefers for whom
  // Called after every successful unsafe request (a write may have committed outbox messages):
  // the outbox relay's wake(). May be empty.
  std::function<void()> on_write;
  // Of the requests without a sampled traceparent, the percent whose span is logged (log.*).
  int trace_sample_pct = 1;
};

class Api {
 public:
  // `static_files` may be null. /readyz answers from `readiness`.
  Api(ApiOptions options, app::UserService& users, Auth& auth, app::PhotoService& photos,
      app::FollowService& follows, app::PurchaseService& purchases, app::KpiService& kpis,
      app::Readiness& readiness, MetricsRegistry& metrics, const StaticFiles* static_files);
  ~Api();

  // The server's handler: the answer at once when the route's handler has it (a cache hit).
  http::Answer handle(http::Request& req);

  // http::ServerOptions::admit: a request with a body is refused from its headers when it
  // cannot succeed (no route, method not allowed, an upload that is anonymous or not the
  // owner's), before a byte of the body is read. Photo uploads may be larger than other bodies.
  boost::asio::awaitable<http::Admission> admit(http::Request& head);

 private:
  struct EndpointMetrics;
  void add_routes();
  void log_span(int endpoint, http::Request& req, const http::Response& res, double seconds);
  // Adds a GET route whose answers are public: readable cross-origin (a page on the origin
  // reads them from an edge), see finish().
  template <class Handler>
  void add_public_read(std::string pattern, Handler handler);
  http::Response unrouted(const http::Request& req, const http::Router::Match& match) const;
  http::Response unmatched(const http::Request& req, const http::Router::Match& match) const;
  // Request id, metrics and access log of a finished request; adds X-Request-Id (and the other
  // headers every answer has) to `res`, in place.
  void finish(int endpoint, http::Request& req, http::Response& res,
              std::chrono::steady_clock::time_point start);
  // finish() once a handler's coroutine has the answer.
  boost::asio::awaitable<http::Response> finish_later(int endpoint, http::Request& req,
                                                      boost::asio::awaitable<http::Response> answer,
                                                      std::chrono::steady_clock::time_point start);
  static http::Response internal_error(const std::exception& e);  // a handler threw: a bug
  boost::asio::awaitable<http::Response> ready(http::Request& req);
  void record(int endpoint, http::Request& req, const http::Response& res, double seconds);
  // The client's X-Request-Id when it is safe to echo (a view into req.msg), else a new one
  // written into req.request_id_buffer: no allocation either way.
  std::string_view request_id(http::Request& req);

  ApiOptions options_;
  CachePolicy cache_policy_;
  Auth& auth_;
  CdnJson cdn_json_;  // GET /cdn.json: the edges browsers may use, the caller's near one first
  UsersApi users_;
  AccountsApi accounts_;
  PhotosApi photos_;
  FollowsApi follows_;
  PurchasesApi purchases_;
  AdminApi admin_;
  app::Readiness& readiness_;
  MetricsRegistry& metrics_;
  const StaticFiles* static_files_;
  http::Router router_;
  std::vector<std::unique_ptr<EndpointMetrics>> endpoint_metrics_;  // last: unmatched
  std::vector<bool> public_endpoints_;                              // by endpoint index
  std::uint32_t id_prefix_;
};

}  // namespace ztm::api
