#pragma once
// HTTP handlers of photos, media and edit jobs. Thin: parse, call PhotoService, map the result.
//   POST   /users/{id}/photos   the owner (or an admin) uploads: raw image/jpeg|png|webp body, or
//                               multipart/form-data from a browser form -> 201 photo
//   GET    /users/{id}/photos   a page of the user's photos (?after&limit), oldest first
//   GET    /photos/{id}         metadata + URL                     DELETE /photos/{id} -> 204
//   GET    /media/{key}         the bytes, streamed in chunks: immutable, cacheable for a year,
//                                strong ETag
//   POST   /photos/{id}/edits   {"operations":[...]} -> 202 job    GET /jobs/{id} -> the job

#include <boost/asio/awaitable.hpp>

#include "api/auth.h"
#include "api/cache_policy.h"
#include "app/photos.h"
#include "http/message.h"

namespace ztm::api {

class PhotosApi {
 public:
  static constexpr int kDefaultPageSize = 20;
  static constexpr int kMaxPageSize = 100;

  PhotosApi(Auth& auth, app::PhotoService& photos, const CachePolicy& cache, int max_json_depth)
      : auth_(auth), photos_(photos), cache_(cache), max_json_depth_(max_json_depth) {}

  boost::asio::awaitable<http::Response> upload(http::Request& req);
  // From an upload's headers alone: the caller is logged in and may add photos to the user.
  boost::asio::awaitable<Result<void>> admit_upload(http::Request& head);
  boost::asio::awaitable<http::Response> get(http::Request& req);
  boost::asio::awaitable<http::Response> list(http::Request& req);  // GET /users/{id}/photos
  boost::asio::awaitable<http::Response> remove(http::Request& req);
  boost::asio::awaitable<http::Response> media(http::Request& req);
  boost::asio::awaitable<http::Response> edit(http::Request& req);
  boost::asio::awaitable<http::Response> job(http::Request& req);

 private:
  Auth& auth_;
  app::PhotoService& photos_;
  const CachePolicy& cache_;
  int max_json_depth_;
};

}  // namespace ztm::api
