// Engine `haproxy`: the load balancer (HAProxy 2.6, Debian `haproxy`) on a host with a public
// address. Params: backends = "web1,web2" (the web hosts in the pool at start; the supervisor
// changes the pool at runtime through the stats socket, load_balancer.h), web_port (8080).
// TLS ends here: a self-signed certificate for the public address is made with openssl in the
// working directory. Runs as root in the foreground (-db), config deploy/haproxy/haproxy.cfg.
// Health: GET /lb-health (monitor-uri) on the public address answers 200. Describe: the pool
// (each server's HAProxy status and current sessions), refreshed by the health check.
#include <unistd.h>

#include <boost/json.hpp>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "lab/engines/certificate.h"
#include "lab/engines/engine.h"
#include "lab/health.h"
#include "lab/load_balancer.h"
#include "lab/template.h"

namespace ztm::lab {

namespace {

constexpr const char* kBinary = "/usr/sbin/haproxy";

}  // namespace

ProcessSpec prepare_haproxy(const EngineContext& c) {
  if (::access(kBinary, X_OK) != 0)
    throw std::runtime_error("haproxy: no /usr/sbin/haproxy: install haproxy");
  if (c.public_address.empty())
    throw std::runtime_error("haproxy: its host needs a public address");
  auto it = c.params.find("web_port");
  const int web_port = it == c.params.end() ? 8080 : std::stoi(it->second);
  std::string servers;
  std::stringstream backends(c.params.count("backends") ? c.params.at("backends") : "");
  for (std::string host; std::getline(backends, host, ',');)
    servers +=
        "    server " + host + " " + c.address_of(host) + ":" + std::to_string(web_port) + "\n";
  std::string origin_frontend;
  if (auto edges = c.params.find("edge_hosts"); edges != c.params.end() && !edges->second.empty()) {
    std::string addresses;
    std::stringstream names(edges->second);
    for (std::string host; std::getline(names, host, ',');)
      addresses += (addresses.empty() ? "" : " ") + c.address_of(host);
    origin_frontend = render_template("haproxy", "origin.cfg",
                                      {{"address", c.address},
                                       {"http_port", std::to_string(kLbHttpPort)},
                                       {"edge_addresses", addresses},
                                       {"backend", kPoolBackend}});
  }
  const std::string config = c.workdir + "/haproxy.cfg";
  const std::string socket = haproxy_socket(c.workdir);
  render_file("haproxy", "haproxy.cfg",
              {{"admin_socket", socket},
               {"address", c.address},
               {"metrics_port", std::to_string(kHaproxyMetricsPort)},
               {"public_address", c.public_address},
               {"http_port", std::to_string(kLbHttpPort)},
               {"https_port", std::to_string(kLbHttpsPort)},
               {"certificate", make_certificate("haproxy", c.workdir, "lb", c.public_address)},
               {"backend", kPoolBackend},
               {"server_check", kServerCheck},
               {"servers", servers},
               {"origin_frontend", origin_frontend}},
              config);

  ProcessSpec spec;
  spec.launch = {.argv = {kBinary, "-db", "-f", config},
                 .netns = c.netns,
                 .workdir = c.workdir,
                 .log = c.workdir + "/haproxy.log"};
  spec.stop_signal = SIGTERM;
  auto pool = std::make_shared<boost::json::array>();
  const std::string address = c.public_address;
  spec.healthy = [address, socket, pool](std::chrono::milliseconds timeout) {
    const bool up = http_ok(address, kLbHttpPort, "/lb-health", timeout);
    pool->clear();
    if (auto live = LoadBalancerApi(socket).servers())
      for (const auto& s : *live)
        pool->push_back({{"name", s.name}, {"status", s.status}, {"sessions", s.sessions}});
    return up;
  };
  spec.describe = [pool](boost::json::object& host) { host["pool"] = *pool; };
  return spec;
}

}  // namespace ztm::lab
