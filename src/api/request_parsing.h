#pragma once
// Reading what clients send: JSON bodies (with a depth limit), ids in paths, If-Match.
// Failures are Errors; api/errors.cc turns them into 4xx responses.

#include <boost/json/value.hpp>
#include <optional>
#include <string>

#include "app/users.h"
#include "core/result.h"
#include "http/message.h"

namespace ztm::api {

// REQUIRES: a JSON content type (application/json, application/merge-patch+json or any
// application/*+json); otherwise unsupported_media_type. Syntax errors and excessive nesting:
// invalid_json.
Result<boost::json::value> parse_json_body(const http::Request& req, int max_depth);

// A positive integer id no larger than 2^53-1; otherwise not_found (no such resource can exist).
Result<UserId> parse_id(std::string_view text);

// If-Match: "*" or a list of strong entity tags ("3", "4"); weak tags never match (RFC 9110).
// A user document's tag ("3-<hash>", api/cache_policy.h DocumentEtag) stands for its version:
// a write conflicts with another write, never with a change of the follow counts since the GET.
app::Precondition parse_if_match(std::string_view header);

// X-Ztm-Position (read-your-writes, see app/users.h): absent -> any position; else 1..64
// characters of [0-9A-Za-z/:] (an opaque token the service handed out), else invalid_header.
Result<storage::Consistency> parse_position(const http::Request& req);

// Idempotency-Key on POST /users and POST /purchases: absent -> nullopt; else 1..200 visible ASCII
// characters, else invalid_header.
Result<std::optional<std::string>> parse_idempotency_key(const http::Request& req);

// A page of a list (GET /users, GET /users/{id}/photos): ?after=<id>&limit=<n>. `after`
// defaults to 0 (the start), `limit` to `default_limit`; otherwise invalid_parameter.
struct PageQuery {
  std::int64_t after = 0;
  int limit = 0;
};
Result<PageQuery> parse_page(const http::Request& req, int default_limit, int max_limit);

}  // namespace ztm::api
