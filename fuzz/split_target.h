#pragma once
// http/server.cc's split_target (private there), for the harnesses that build a Request from a
// parsed head as the server does. Keep the two alike.

#include "http/message.h"

namespace ztm::fuzz {

inline void split_target(http::Request& req) {
  const std::string_view target(req.msg.target().data(), req.msg.target().size());
  const auto qmark = target.find('?');
  req.path = target.substr(0, qmark);
  req.query = qmark == std::string_view::npos ? std::string_view{} : target.substr(qmark + 1);
}

}  // namespace ztm::fuzz
