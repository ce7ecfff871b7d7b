#pragma once
// Who may store an answer, and for how long (RFC 9111, 5861, 8246, 9213): the table of
// docs/cdn.md in one place. Browsers revalidate public reads on every use (`Cache-Control:
// no-cache` with a strong ETag: a 304 costs no body); our edges keep them (`CDN-Cache-Control`)
// until a write purges their `Surrogate-Key`s. Those two go to our edges' fetches only
// (Auth::edge_fetch): any other CDN honours `CDN-Cache-Control` too, and could not be purged;
// and the keys name our cache's structure, nobody else's business. Content-addressed URLs are
// immutable. Every other answer is `no-store`: Api::finish adds it where a handler chose
// nothing, so no answer leaves without a policy.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "api/auth.h"
#include "http/message.h"

namespace ztm::api {

struct CachePolicyOptions {
  int ttl_s = 3600;          // a user: purged on write, so the TTL only bounds memory
  int list_ttl_s = 300;      // pages of users or photos: the widest key sets, kept shortest
  int photo_ttl_s = 86'400;  // a photo's metadata never changes (it is deleted)
  int stale_while_revalidate_s = 30;
  int stale_if_error_s = 300;
};

class CachePolicy {
 public:
  enum class Read { user, list, photo };

  // `auth` tells our edges' fetches (Auth::edge_fetch) from everyone else's requests.
  CachePolicy(CachePolicyOptions options, const Auth& auth);

  // A public read that browsers revalidate on every use and, when an edge of ours fetches it,
  // that the edge may store for `read`'s TTL under `keys` (space-separated, e.g. "user-12"). A
  // request with X-Ztm-Position (a writer reading its own write) gets a personal answer
  // instead: it is fresher than anything an edge may hold.
  void public_read(const http::Request& req, http::Response& res, Read read,
                   std::string_view keys) const;

  // The URL changes whenever the bytes do (a content hash in it): anyone may keep it a year.
  static void immutable(http::Response& res);
  static void personal(http::Response& res);  // private, no-store: only the caller's
  static void no_store(http::Response& res);

  // The conditional GET: a 304 without body when If-None-Match names `etag` (weak comparison,
  // so W/"3" and lists match), else 200 with a copy of `body`. Sets ETag either way.
  static void conditional(const http::Request& req, http::Response& res, std::string_view etag,
                          std::string_view body);

 private:
  // By Read: the CDN-Cache-Control line of its windows (a ready-made header line).
  std::array<std::string, 3> edge_lines_;
  const Auth& auth_;
};

// A strong entity tag from the bytes themselves (FNV-1a, 64 bits: a validator, not a security
// boundary): for answers without a version of their own (pages, static files).
std::string content_etag(std::string_view bytes);
// A user document's entity tag, "<version>-<content hash>": the document carries counts that
// change under one version (app/users.h), so the bytes decide whether a copy is current, and the
// version leads so that If-Match on a write compares it (api/request_parsing.h).
// Made from the bytes' FNV-1a (cache::CachedValue::digest), in a fixed buffer: a cached read's
// tag costs no pass over the bytes and no allocation (issue 12).
class DocumentEtag {
 public:
  DocumentEtag(std::int64_t version, std::uint64_t digest);
  std::string_view view() const { return {text_.data(), size_}; }

 private:
  std::array<char, 40> text_;  // '"' + up to 20 digits + '-' + 16 hex + '"'
  std::size_t size_ = 0;
};

}  // namespace ztm::api
