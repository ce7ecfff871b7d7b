#include "api/cache_policy.h"

#include <fmt/format.h>

#include <charconv>

#include "core/stable_hash.h"

namespace ztm::api {

CachePolicy::CachePolicy(CachePolicyOptions options, const Auth& auth) : auth_(auth) {
  const auto line = [&](int ttl_s) {
    return fmt::format(
        "CDN-Cache-Control: max-age={}, stale-while-revalidate={}, stale-if-error={}\r\n", ttl_s,
        options.stale_while_revalidate_s, options.stale_if_error_s);
  };
  edge_lines_ = {line(options.ttl_s), line(options.list_ttl_s), line(options.photo_ttl_s)};
}

void CachePolicy::public_read(const http::Request& req, http::Response& res, Read read,
                              std::string_view keys) const {
  if (req.find_header("X-Ztm-Position")) return personal(res);
  res.header_lines("Cache-Control: no-cache\r\n");
  if (!auth_.edge_fetch(req)) return;
  res.header_lines(edge_lines_[static_cast<std::size_t>(read)]);
  res.header("Surrogate-Key", keys);
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

void CachePolicy::conditional(const http::Request& req, http::Response& res, std::string_view etag,
                              std::string_view body) {
  if (req.header(http::Field::if_none_match).find(etag) != std::string_view::npos) {
    res.status = 304;
  } else {
    res.set_body(body);
  }
  res.header("ETag", etag);
}

std::string content_etag(std::string_view bytes) {
  return fmt::format("\"{:016x}\"", tag_hash64(bytes));
}

DocumentEtag::DocumentEtag(std::int64_t version, std::uint64_t digest) {
  // "<version>-<digest as 16 hex digits>", quoted: what fmt's "\"{}-{:016x}\"" wrote before.
  char* p = text_.data();
  *p++ = '"';
  p = std::to_chars(p, text_.data() + 21, version).ptr;
  *p++ = '-';
  static constexpr char kHex[] = "0123456789abcdef";
  for (int shift = 60; shift >= 0; shift -= 4) *p++ = kHex[(digest >> shift) & 0xf];
  *p++ = '"';
  size_ = static_cast<std::size_t>(p - text_.data());
}

}  // namespace ztm::api
