#include "core/result.h"

namespace ztm {

std::string_view to_string(Errc code) {
  switch (code) {
    case Errc::invalid_argument:
      return "invalid_argument";
    case Errc::invalid_json:
      return "invalid_json";
    case Errc::invalid_header:
      return "invalid_header";
    case Errc::invalid_parameter:
      return "invalid_parameter";
    case Errc::invalid_multipart:
      return "invalid_multipart";
    case Errc::unsupported_media_type:
      return "unsupported_media_type";
    case Errc::not_found:
      return "not_found";
    case Errc::precondition_failed:
      return "precondition_failed";
    case Errc::conflict:
      return "conflict";
    case Errc::unavailable:
      return "unavailable";
    case Errc::overloaded:
      return "overloaded";
    case Errc::unauthenticated:
      return "unauthenticated";
    case Errc::forbidden:
      return "forbidden";
    case Errc::rate_limited:
      return "rate_limited";
    case Errc::quota_exceeded:
      return "quota_exceeded";
    case Errc::moved:
      return "moved";
    case Errc::internal:
      return "internal";
  }
  return "internal";
}

}  // namespace ztm
