#pragma once
// The load balancer's pool as the lab changes it at runtime: HAProxy's runtime API on its stats
// socket (level admin), one command per connection. The backend is named kPoolBackend in
// deploy/haproxy/haproxy.cfg; its servers are named after their hosts ("web4").
//
// HAProxy 2.6 facts this relies on (docs/lab.md, ENGINES.md): a server added at runtime starts
// in MAINT and does not inherit `default-server`, so kServerCheck is passed explicitly, then
// `enable health` and `set server ... state ready`; `del server` works only from MAINT and
// without connections; a reload would lose runtime-added servers (the lab never reloads).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ztm::lab {

inline constexpr const char* kPoolBackend = "web";
// Health checks of every pool server: GET /readyz every 500 ms, out after 2 failures (1 s),
// back in after 2 successes. The web servers' http.drain_delay_ms (1500) exceeds inter x fall,
// so HAProxy stops sending to a draining server before its listener closes.
inline constexpr const char* kServerCheck = "check inter 500 fall 2 rise 2";
inline constexpr int kDrainDelayMs = 1500;

struct PoolServer {
  std::string name;    // "web1"
  std::string status;  // HAProxy's: "UP", "DOWN", "MAINT", "DRAIN", "UP 1/2", "no check"
  int sessions = 0;    // current sessions (requests in flight through this server)
  // What the server answered since HAProxy started (or added the server), all of it and what
  // failed (`ztm lab deploy` judges a canary by them: the load balancer's view, whatever the
  // server says of itself). Failed: a 5xx passed on to the client (hrsp_5xx), an answer
  // HAProxy did not pass on but retried elsewhere (wretr: a GET that got a 5xx, a refused
  // connection) or an aborted response (eresp). Retried answers are in no hrsp_* counter.
  std::int64_t responses = 0;
  std::int64_t responses_5xx = 0;
};

class LoadBalancerApi {
 public:
  explicit LoadBalancerApi(std::string socket_path) : socket_(std::move(socket_path)) {}

  // Each returns "" or what went wrong (HAProxy's answer).
  std::string add(const std::string& name, const std::string& address, int port) const;
  std::string set_state(const std::string& name,
                        const std::string& state) const;  // ready|drain|maint
  std::string remove(const std::string& name) const;      // REQUIRES: in MAINT

  // The pool from `show stat`; nullopt when HAProxy does not answer.
  std::optional<std::vector<PoolServer>> servers() const;
  // The server's entry, nullopt when HAProxy does not answer or has no such server.
  std::optional<PoolServer> server(const std::string& name) const;

 private:
  std::optional<std::string> command(const std::string& line) const;
  std::string socket_;
};

// The servers of kPoolBackend in the CSV of `show stat`; nullopt when it is not that CSV.
std::optional<std::vector<PoolServer>> parse_pool(const std::string& show_stat);

// The stats socket of the haproxy engine whose working directory is `workdir`.
std::string haproxy_socket(const std::string& workdir);

}  // namespace ztm::lab
