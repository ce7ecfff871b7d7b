// Engines `redis` and `sentinel`: the shared session store of the stateless web tier (Redis 7,
// Debian `redis-server`, `redis-sentinel`). Both run as user `redis` in the foreground, their
// config in the working directory (0700, theirs), written 0600 (it holds passwords) and kept so
// with umask 077: Sentinel rewrites its own and, on failover, the instances' files.
// Every client authenticates: the default user is off, the ACL users and their passwords are
// the lab's (redis_users.h, deploy/redis/*.conf, docs/security.md "Redis").
//   redis:    params role = primary | replica | cache, primary_host (the replica's upstream).
//             cache: a node of the web tier's L2 ring (figure 1-7), deploy/redis/cache.conf:
//             maxmemory with allkeys-lru, no persistence, no replica.
//             Health (as user monitor): ROLE answers; a replica only once its link to the
//             primary is up. Describe: "role" (primary | replica | cache | unknown) and, on
//             replicas, "link".
//   sentinel: params primary_host (the primary at start), quorum (2).
//             Health: it names the primary of kSessionsMaster. Describe: "primary" (ip:port).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include "lab/engines/engine.h"
#include "lab/engines/files.h"
#include "lab/engines/redis_users.h"
#include "lab/health.h"
#include "lab/secrets.h"
#include "lab/template.h"

namespace ztm::lab {

namespace {

constexpr const char* kBinary = "/usr/bin/redis-server";
constexpr const char* kUser = "redis";

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

// The users' names and passwords, as the templates name them ({{service_user}}, ...).
Vars user_vars(const EngineContext& c) {
  Vars vars;
  for (const auto& [role, user] :
       {std::pair{"service", kRedisService}, std::pair{"replica", kRedisReplica},
        std::pair{"sentinel", kRedisSentinel}, std::pair{"monitor", kRedisMonitor}}) {
    vars[std::string(role) + "_user"] = user.name;
    vars[std::string(role) + "_password"] = lab_secret(c.lab_dir, user.secret);
  }
  return vars;
}

// The working directory and the config file for user redis: the directory 0700 and the file
// 0600 (it holds the passwords), both owned by redis; written before redis owns the directory.
void write_config(const EngineContext& c, const std::string& file, const Vars& vars,
                  const std::string& path, const passwd& pw) {
  check_searchable("redis", c.workdir, pw);
  const int dir = open_no_links(c.workdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const bool private_dir = dir >= 0 && ::fchmod(dir, 0700) == 0;
  const int saved = errno;
  if (dir >= 0) ::close(dir);
  if (!private_dir)
    throw std::runtime_error("chmod 0700 " + c.workdir + ": " + std::strerror(saved));
  render_file("redis", file, vars, path, 0600);
  chown_to(path, pw);
  chown_to(c.workdir, pw);
}

// One exchange with a Redis or Sentinel as the monitor user: AUTH, `command`, QUIT. The values
// after AUTH's +OK (resp_values), or none when AUTH or the connection failed.
std::vector<std::string> ask(const std::string& address, int port, const std::string& password,
                             const std::string& command, std::chrono::milliseconds timeout) {
  auto v = resp_values(exchange(address, port,
                                std::string("AUTH ") + kRedisMonitor.name + " " + password +
                                    "\r\n" + command + "\r\nQUIT\r\n",
                                timeout)
                           .value_or(""));
  if (v.empty() || v[0] != "OK") return {};
  v.erase(v.begin());
  return v;
}

}  // namespace

ProcessSpec prepare_redis(const EngineContext& c) {
  check_binary();
  const passwd& pw = engine_user(kUser, "redis-server");
  const std::string role = param(c, "role", "primary");
  if (role != "primary" && role != "replica" && role != "cache")
    throw std::runtime_error("redis: role must be primary, replica or cache");
  const std::string config = c.workdir + "/redis.conf";
  Vars vars = user_vars(c);
  vars.merge(Vars{
      {"address", c.address},
      {"port", std::to_string(kRedisPort)},
      {"workdir", c.workdir},
      {"replicaof", role == "replica" ? "replicaof " + c.address_of(param(c, "primary_host", "")) +
                                            " " + std::to_string(kRedisPort)
                                      : ""}});
  write_config(c, role == "cache" ? "cache.conf" : "redis.conf", vars, config, pw);
  ProcessSpec spec;
  spec.launch = {.argv = {kBinary, config},
                 .netns = c.netns,
                 .user = kUser,
                 .workdir = c.workdir,
                 .log = c.workdir + "/redis.log",
                 .umask = 077};
  spec.stop_signal = SIGTERM;
  auto live = std::make_shared<boost::json::object>();
  const std::string address = c.address;
  const std::string password = vars.at("monitor_password");
  spec.healthy = [address, password, live, role](std::chrono::milliseconds timeout) {
    const auto v = ask(address, kRedisPort, password, "ROLE", timeout);
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
  const passwd& pw = engine_user(kUser, "redis-sentinel");
  const std::string config = c.workdir + "/sentinel.conf";
  Vars vars = user_vars(c);
  vars.merge(Vars{{"address", c.address},
                  {"port", std::to_string(kSentinelPort)},
                  {"workdir", c.workdir},
                  {"master_name", kSessionsMaster},
                  {"primary_address", c.address_of(param(c, "primary_host", ""))},
                  {"redis_port", std::to_string(kRedisPort)},
                  {"quorum", param(c, "quorum", "2")}});
  write_config(c, "sentinel.conf", vars, config, pw);
  ProcessSpec spec;
  spec.launch = {.argv = {kBinary, config, "--sentinel"},
                 .netns = c.netns,
                 .user = kUser,
                 .workdir = c.workdir,
                 .log = c.workdir + "/sentinel.log",
                 .umask = 077};
  spec.stop_signal = SIGTERM;
  auto primary = std::make_shared<std::string>();
  const std::string address = c.address;
  const std::string password = vars.at("monitor_password");
  spec.healthy = [address, password, primary](std::chrono::milliseconds timeout) {
    const auto v = ask(address, kSentinelPort, password,
                       std::string("SENTINEL get-master-addr-by-name ") + kSessionsMaster, timeout);
    *primary = v.size() >= 2 ? v[0] + ":" + v[1] : "";
    return !primary->empty();
  };
  spec.describe = [primary](boost::json::object& host) {
    host["primary"] = primary->empty() ? boost::json::value(nullptr) : boost::json::value(*primary);
  };
  return spec;
}

}  // namespace ztm::lab
