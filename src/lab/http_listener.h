#pragma once
// The lab's own small HTTP services (the hosts' exporter, the dashboard: host_exporter.h,
// dashboard.h): a blocking listener on raw sockets, every connection bounded in time and in the
// size of its request head, one answer per connection (`Connection: close`). Enough for one
// Prometheus scraping or one browser watching; not a general server (src/http is).

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace ztm::lab {

struct HttpReply {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // more, e.g. Cache-Control
};

// "HTTP/1.1 200 OK\r\n...": the whole answer with Content-Length and Connection: close.
std::string format_reply(const HttpReply& reply);

// The request line of a request head ("GET /metrics HTTP/1.1"); "" when the head has none.
std::string request_line_of(const std::string& head);

struct ListenerLimits {
  std::size_t max_head = 8192;         // bytes of request head read at most
  std::chrono::seconds io_timeout{2};  // the request head in all, and each write
  int max_connections = 1;             // answered at once (each on its own thread past 1)
};

// Listens on address:port and answers every connection with `handle(request line)` until
// killed; past `max_connections` at once a connection is answered 503 at once. Returns 1 (with
// "<name>: cannot listen ..." on stderr) when it cannot listen.
int serve_http(const std::string& name, const std::string& address, int port,
               const ListenerLimits& limits,
               const std::function<HttpReply(const std::string& request_line)>& handle);

}  // namespace ztm::lab
