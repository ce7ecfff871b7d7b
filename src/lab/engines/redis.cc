// Engines `redis` and `sentinel`: the shared session store of the stateless web tier (Redis 7,
// Debian `redis-server`, `redis-sentinel`). Both run as root in the foreground, their config in
// the working directory (Sentinel rewrites its own and, on failover, the instances').
//   redis:    params role = primary | replica | cache, primary_host (the replica's upstream).
//             cache: a node of the web tier's L2 ring (figure 1-7), deploy/redis/cache.conf:
//             maxmemory with allkeys-lru, no persistence, no replica.
//             Health: ROLE answers; a replica only once its link to the primary is up.
//             Describe: "role" (primary | replica | cache | unknown) and, on replicas, "link".
//   sentinel: params primary_host (the primary at start), quorum (2).
//             Health: it names the primary of kSessionsMaster. Describe: "primary" (ip:port).
#include <unistd.h>

#include <boost/json.hpp>
#include <memory>
#include <stdexcept>
#include <vector>

#include "lab/engines/engine.h"
#include "lab/health.h"
#include "lab/template.h"

namespace ztm::lab {

namespace {

constexpr const char* kBinary = "/usr/bin/redis-server";

std::string param(const EngineContext& c, const std::string& key, const std::string& fallback) {
  auto it = c.params.find(key);
  return it == c.params.end() ? fallback : it->second;
}

// The values of a RESP answer, flattened: bulk and simple strings and integers, in order
// ("*2\r\n$10\r\n10.77.1.40\r\n$4\r\n6379\r\n" -> {"10.77.1.40", "6379"}). Enough for ROLE and
// SENTINEL get-master-addr-by-name; not a general parser.
std::vector<std::string> resp_values(const std::string& answer) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < answer.size()) {
    const auto end = answer.find("\r\n", pos);
    if (end == std::string::npos) break;
    const std::string line = answer.substr(pos, end - pos);
    pos = end + 2;
    if (line.empty() || line[0] == '*' || line[0] == '$') continue;
    out.push_back(line[0] == '+' || line[0] == ':' ? line.substr(1) : line);
  }
  return out;
}

void check_binary() {
  if (::access(kBinary, X_OK) != 0)
    throw std::runtime_error("no /usr/bin/redis-server: install redis-server");
}

}  // namespace

ProcessSpec prepare_redis(const EngineContext& c) {
  check_binary();
  const std::string role = param(c, "role", "primary");
  if (role != "primary" && role != "replica" && role != "cache")
    throw std::runtime_error("redis: role must be primary, replica or cache");
  const std::string config = c.workdir + "/redis.conf";
  render_file(
      "redis", role == "cache" ? "cache.conf" : "redis.conf",
      {{"address", c.address},
       {"port", std::to_string(kRedisPort)},
       {"workdir", c.workdir},
       {"replicaof", role == "replica" ? "replicaof " + c.address_of(param(c, "primary_host", "")) +
                                             " " + std::to_string(kRedisPort)
                                       : ""}},
      config);
  ProcessSpec spec;
  spec.launch = {.argv = {kBinary, config},
                 .netns = c.netns,
                 .workdir = c.workdir,
                 .log = c.workdir + "/redis.log"};
  spec.stop_signal = SIGTERM;
  auto live = std::make_shared<boost::json::object>();
  const std::string address = c.address;
  spec.healthy = [address, live, role](std::chrono::milliseconds timeout) {
    const auto v =
        resp_values(exchange(address, kRedisPort, "ROLE\r\nQUIT\r\n", timeout).value_or(""));
    live->clear();
    if (v.empty()) {
      (*live)["role"] = "unknown";
      return false;
    }
    if (v[0] == "master") {
      (*live)["role"] = role == "cache" ? "cache" : "primary";
      return true;
    }
    // slave, primary ip, port, link state (connect | connecting | sync | connected), offset
    (*live)["role"] = "replica";
    (*live)["link"] = v.size() > 3 ? v[3] : "unknown";
    return v.size() > 3 && v[3] == "connected";
  };
  spec.describe = [live](boost::json::object& host) {
    for (const auto& [k, v] : *live) host[k] = v;
  };
  return spec;
}

ProcessSpec prepare_sentinel(const EngineContext& c) {
  check_binary();
  const std::string config = c.workdir + "/sentinel.conf";
  render_file("redis", "sentinel.conf",
              {{"address", c.address},
               {"port", std::to_string(kSentinelPort)},
               {"workdir", c.workdir},
               {"master_name", kSessionsMaster},
               {"primary_address", c.address_of(param(c, "primary_host", ""))},
               {"redis_port", std::to_string(kRedisPort)},
               {"quorum", param(c, "quorum", "2")}},
              config);
  ProcessSpec spec;
  spec.launch = {.argv = {kBinary, config, "--sentinel"},
                 .netns = c.netns,
                 .workdir = c.workdir,
                 .log = c.workdir + "/sentinel.log"};
  spec.stop_signal = SIGTERM;
  auto primary = std::make_shared<std::string>();
  const std::string address = c.address;
  spec.healthy = [address, primary](std::chrono::milliseconds timeout) {
    const auto v = resp_values(exchange(address, kSentinelPort,
                                        std::string("SENTINEL get-master-addr-by-name ") +
                                            kSessionsMaster + "\r\nQUIT\r\n",
                                        timeout)
                                   .value_or(""));
    *primary = v.size() >= 2 ? v[0] + ":" + v[1] : "";
    return !primary->empty();
  };
  spec.describe = [primary](boost::json::object& host) {
    host["primary"] = primary->empty() ? boost::json::value(nullptr) : boost::json::value(*primary);
  };
  return spec;
}

}  // namespace ztm::lab
