#pragma once
// Routes: a method and a path pattern whose segments are literals or {placeholders}
// ("/users/{id}"). The route table itself lives in api/routes.cc, in one function.

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <string>
#include <variant>
#include <vector>

#include "http/message.h"

namespace ztm::http {

// What a handler returns: the response itself when it has it at once (a read its cache answers:
// no coroutine frame, no round of the event loop; issue 12), else the coroutine that makes it.
using Answer = std::variant<Response, boost::asio::awaitable<Response>>;
using Handler = std::function<Answer(Request&)>;

class Router {
 public:
  static constexpr std::size_t kMaxSegments = 8;

  // REQUIRES: pattern starts with '/', has at most 2 placeholders and kMaxSegments segments;
  // (method, pattern) is new.
  void add(Verb method, std::string pattern, Handler handler);

  struct Match {
    const Handler* handler = nullptr;  // null: see status
    int endpoint = -1;                 // index into endpoints() when handler is set
    unsigned status = 0;               // 404 (no such path) or 405 (path exists, method does not)
    std::string allow;                 // with 405: the methods the path supports
  };
  // Fills req.params and req.route when the path matches. HEAD falls back to GET.
  Match match(Request& req) const;

  struct Endpoint {
    Verb method;
    std::string pattern;
  };
  // Every (method, pattern) in the order added; Match::endpoint indexes it (for metrics).
  const std::vector<Endpoint>& endpoints() const { return endpoints_; }

 private:
  struct Route {
    std::string pattern;
    std::vector<std::string> segments;  // "{...}" marks a placeholder
    struct Method {
      Verb verb;
      Handler handler;
      int endpoint;
    };
    std::vector<Method> methods;
  };
  std::vector<Route> routes_;
  std::vector<Endpoint> endpoints_;
};

}  // namespace ztm::http
