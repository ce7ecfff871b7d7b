#include "api/cache_policy.h"

#include <fmt/format.h>

namespace ztm::api {

CachePolicy::CachePolicy(CachePolicyOptions options) {
  const auto windows = [&](int ttl_s) {
    return fmt::format("max-age={}, stale-while-revalidate={}, stale-if-error={}", ttl_s,
                       options.stale_while_revalidate_s, options.stale_if_error_s);
  };
  cdn_cache_control_ = {windows(options.ttl_s), windows(options.list_ttl_s),
                        windows(options.photo_ttl_s)};
}

void CachePolicy::public_read(const http::Request& req, http::Response& res, Read read,
                              std::string keys) const {
  if (req.msg.find("X-Ztm-Position") != req.msg.end()) return personal(res);
  res.header("Cache-Control", "no-cache");
  res.header("CDN-Cache-Control", cdn_cache_control_[static_cast<std::size_t>(read)]);
  res.header("Surrogate-Key", std::move(keys));
}

void CachePolicy::immutable(http::Response& res) {
  res.header("Cache-Control", "public, max-age=31536000, immutable");
}

void CachePolicy::personal(http::Response& res) {
  res.header("Cache-Control", "private, no-store");
}

void CachePolicy::no_store(http::Response& res) {
  res.header("Cache-Control", "no-store");
}

void CachePolicy::conditional(const http::Request& req, http::Response& res, std::string etag,
                              std::string body) {
  if (req.header(http::Field::if_none_match).find(etag) != std::string_view::npos) {
    res.status = 304;
  } else {
    res.body = std::move(body);
  }
  res.header("ETag", std::move(etag));
}

namespace {

std::uint64_t fnv1a(std::string_view bytes) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char ch : bytes) h = (h ^ ch) * 1099511628211ULL;
  return h;
}

}  // namespace

std::string content_etag(std::string_view bytes) {
  return fmt::format("\"{:016x}\"", fnv1a(bytes));
}

std::string document_etag(std::int64_t version, std::string_view bytes) {
  return fmt::format("\"{}-{:016x}\"", version, fnv1a(bytes));
}

}  // namespace ztm::api
