#pragma once
// HTTP handlers of the users resource: thin — parse, call UserService, map the result.
// Reads are public (and edges may keep them: api/cache_policy.h); POST needs an admin,
// PUT/PATCH/DELETE the user itself or an admin.

#include <boost/asio/awaitable.hpp>

#include "api/auth.h"
#include "api/cache_policy.h"
#include "app/users.h"
#include "http/message.h"
#include "http/router.h"

namespace ztm::api {

class UsersApi {
 public:
  static constexpr int kDefaultPageSize = 20;
  static constexpr int kMaxPageSize = 100;

  UsersApi(app::UserService& users, Auth& auth, const CachePolicy& cache, int max_json_depth)
      : users_(users), auth_(auth), cache_(cache), max_json_depth_(max_json_depth) {}

  // GET /users/{id}: a read the cache answers is answered at once (http::Answer).
  http::Answer get(http::Request& req);
  boost::asio::awaitable<http::Response> list(http::Request& req);     // GET /users?after&limit
  boost::asio::awaitable<http::Response> create(http::Request& req);   // POST /users
  boost::asio::awaitable<http::Response> replace(http::Request& req);  // PUT /users/{id}
  boost::asio::awaitable<http::Response> patch(http::Request& req);    // PATCH /users/{id}
  boost::asio::awaitable<http::Response> remove(http::Request& req);   // DELETE /users/{id}

 private:
  // How fresh a read must be: a CDN edge's fetch for its cache (Ztm-Edge-Fetch from a trusted
  // proxy) wants the latest commit, past the caches and replicas (docs/cdn.md, "The origin's own
  // caches"); a client may ask for its own write's position (X-Ztm-Position); else any.
  Result<storage::Consistency> read_consistency(const http::Request& req) const;
  // GET /users/{id} past the in-process cache, and the answer from a document.
  boost::asio::awaitable<http::Response> read(http::Request& req, UserId id,
                                              storage::Consistency consistency);
  http::Response document_response(http::Request& req, UserId id,
                                   const app::UserDocument& doc) const;
  // A write's answer: the written user's document (with its counts) and ETag, as a GET's.
  boost::asio::awaitable<http::Response> written(unsigned status, const storage::StoredUser& s);
  // The id in the path, once the caller is known to be allowed to change that user.
  boost::asio::awaitable<Result<UserId>> owned_id(http::Request& req);

  app::UserService& users_;
  Auth& auth_;
  const CachePolicy& cache_;
  int max_json_depth_;
};

}  // namespace ztm::api
