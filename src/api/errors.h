#pragma once
// The one place where errors become HTTP responses.

#include "core/result.h"
#include "http/message.h"

namespace ztm::api {

// Errc -> status: invalid_argument 422 (code "validation_failed"); invalid_json, invalid_header,
// invalid_parameter, invalid_multipart 400; unsupported_media_type 415; not_found 404,
// precondition_failed 412, conflict 409, unauthenticated 401 (WWW-Authenticate: Bearer),
// forbidden 403, rate_limited and quota_exceeded 429 with Retry-After (at least 1 s),
// unavailable/overloaded 503 with Retry-After, internal 500. The JSON error code is
// to_string(code) unless noted. A 5xx never shows the error's message (it names hosts, ports,
// files): it is kept in Response::detail, which the request's log line carries beside the
// request id the client sees in X-Request-Id.
http::Response error_response(const Error& error);

}  // namespace ztm::api
