#pragma once
// Health checks the supervisor runs against its processes, from the root namespace through the
// data-center bridge (the way a client or load balancer sees the host). Each is bounded by
// `timeout` and never throws.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace ztm::lab {

struct HttpAnswer {
  int status = 0;    // 200
  std::string body;  // everything after the headers
};

// `METHOD path` (no body) with `Connection: close`, read until the server closes; nullopt when
// the connection fails, times out or the answer is not HTTP.
std::optional<HttpAnswer> http_request(const std::string& method, const std::string& address,
                                       int port, const std::string& path,
                                       std::chrono::milliseconds timeout);

// A TCP connection to address:port is accepted (for listeners that speak TLS, which the lab's
// checks do not: HAProxy in front of a CDN edge).
bool tcp_accepting(const std::string& address, int port, std::chrono::milliseconds timeout);

// `GET path` answered with status 200.
bool http_ok(const std::string& address, int port, const std::string& path,
             std::chrono::milliseconds timeout);

// Sends `request` over TCP (or a Unix socket for `exchange_unix`) and returns everything read
// until the peer closes, the timeout, or `max_bytes` were read (then a little more may be
// returned: a caller tells "too large" by the size); nullopt when it cannot connect or send. For
// line protocols that close after the request: Redis ("...\r\nQUIT\r\n"), HAProxy's
// runtime API (one command per connection); HTTP/1.0 requests.
std::optional<std::string> exchange(const std::string& address, int port,
                                    const std::string& request, std::chrono::milliseconds timeout,
                                    std::size_t max_bytes = SIZE_MAX);
std::optional<std::string> exchange_unix(const std::string& path, const std::string& request,
                                         std::chrono::milliseconds timeout);

// The value of an unlabelled sample in Prometheus text ("varnish_main_cache_hit 12"); nullopt
// when it is not there.
std::optional<double> prometheus_sample(const std::string& text, const std::string& name);

// PostgreSQL accepts connections: a startup message is answered with an authentication request,
// or with an error other than "the database system is starting up / shutting down" (SQLSTATE
// 57P03). The same test as pg_isready / PQping, without libpq.
bool postgres_accepting(const std::string& address, int port, std::chrono::milliseconds timeout);

}  // namespace ztm::lab
