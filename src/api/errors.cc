#include "api/errors.h"

#include <algorithm>

namespace ztm::api {

http::Response error_response(const Error& error) {
  switch (error.code) {
    case Errc::invalid_argument:
      return http::json_error(422, "validation_failed", error.message);
    case Errc::invalid_json:
    case Errc::invalid_header:
    case Errc::invalid_parameter:
    case Errc::invalid_multipart:
      return http::json_error(400, to_string(error.code), error.message);
    case Errc::unsupported_media_type:
      return http::json_error(415, to_string(error.code), error.message);
    case Errc::not_found:
      return http::json_error(404, "not_found", error.message);
    case Errc::precondition_failed:
      return http::json_error(412, "precondition_failed", error.message);
    case Errc::conflict:
      return http::json_error(409, "conflict", error.message);
    case Errc::unauthenticated: {
      auto res = http::json_error(401, "unauthenticated", error.message);
      res.header("WWW-Authenticate", "Bearer");
      return res;
    }
    case Errc::forbidden:
      return http::json_error(403, "forbidden", error.message);
    case Errc::rate_limited:
    case Errc::quota_exceeded: {
      auto res = http::json_error(429, to_string(error.code), error.message);
      res.header("Retry-After", std::to_string(std::max(1, error.retry_after_s)));
      return res;
    }
    case Errc::unavailable:
    case Errc::moved:  // the sharded store retries it on the new map; if that fails, retry later
    case Errc::overloaded: {
      // The message names hosts, ports and files: it goes to the log, not to the client.
      auto res = http::json_error(
          503, error.code == Errc::overloaded ? "overloaded" : "unavailable",
          error.code == Errc::overloaded ? "the service is overloaded; retry after a moment"
                                         : "a backend is unavailable; retry after a moment");
      res.header("Retry-After", "1");
      res.detail = error.message;
      return res;
    }
    case Errc::internal:
      break;
  }
  auto res = http::json_error(500, "internal", "internal error");
  res.detail = error.message;
  return res;
}

}  // namespace ztm::api
