#pragma once
// Reading what clients send: JSON bodies (with a depth limit), ids in paths, If-Match.
// Failures come back as ready-made 4xx responses.

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <variant>

#include "app/users.h"
#include "http/message.h"

namespace ztm::api {

// Either the parsed value or the response that explains why there is none.
template <class T>
using Parsed = std::variant<T, http::Response>;

// REQUIRES: a JSON content type (application/json, application/merge-patch+json or any
// application/*+json); otherwise 415. Syntax errors and excessive nesting: 400.
Parsed<boost::json::value> parse_json_body(const http::Request& req, int max_depth);

// A positive integer id no larger than 2^53-1; otherwise 404 (no such resource can exist).
Parsed<UserId> parse_id(std::string_view text);

// If-Match: "*" or a list of strong entity tags ("3", "4"); weak tags never match (RFC 9110).
Precondition parse_if_match(std::string_view header);

// X-Ztm-Position (read-your-writes, see app/users.h): absent -> any position; else 1..64
// characters of [0-9A-Za-z/] (an opaque token the service handed out), else 400.
Parsed<Consistency> parse_position(const http::Request& req);

// Idempotency-Key on POST /users: absent -> nullopt; else 1..200 visible ASCII characters, else
// 400.
Parsed<std::optional<std::string>> parse_idempotency_key(const http::Request& req);

// A strong entity tag for a version: "\"3\"".
std::string etag(std::int64_t version);

}  // namespace ztm::api
