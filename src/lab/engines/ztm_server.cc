// Engine `ztm`: the web service itself, `ztm serve`, run from the binary that runs the lab.
// Params: storage = sqlite (default; demo data seeded into the host's own database) |
// postgres (db_host = the host running PostgreSQL, or db_hosts = "db1,db2,db3"; demo data
// seeded there).
#include <sstream>
#include <stdexcept>
#include <vector>

#include "lab/engines/engine.h"
#include "lab/engines/postgres_credentials.h"
#include "lab/health.h"
#include "lab/template.h"

namespace ztm::lab {

namespace {

constexpr int kPort = 8080;

std::string param(const EngineContext& c, const std::string& key, const std::string& fallback) {
  auto it = c.params.find(key);
  return it == c.params.end() ? fallback : it->second;
}

}  // namespace

ProcessSpec prepare_ztm_server(const EngineContext& c) {
  const std::string storage = param(c, "storage", "sqlite");
  const std::string config = c.workdir + "/ztm.toml";
  Vars vars = {{"address", c.address},
               {"port", std::to_string(kPort)},
               {"node_id", std::to_string(std::stoi(c.address.substr(c.address.rfind('.') + 1)) % 128)},
               {"workdir", c.workdir}};
  if (storage == "postgres") {
    // db_host: one database server; db_hosts: "db1,db2,db3", every member of a replicated
    // cluster, in libpq's multi-host form (the server finds the primary and the replicas).
    std::vector<std::string> addresses;
    std::stringstream hosts(param(c, "db_hosts", param(c, "db_host", "")));
    for (std::string h; std::getline(hosts, h, ',');) addresses.push_back(c.address_of(h));
    if (addresses.empty()) throw std::runtime_error("ztm: storage=postgres needs db_host or db_hosts");
    vars["postgres_url"] = postgres_url(addresses);
  } else if (storage != "sqlite") {
    throw std::runtime_error("ztm: unknown storage " + storage);
  }
  render_file("ztm", "ztm-" + storage + ".toml", vars, config);

  const std::string exe = self_exe();
  const std::string log = c.workdir + "/ztm.log";
  // Seed from inside the host, as the server will connect: loads the demo users (John Smith is
  // user 12) unless the database has users already.
  Launch seed{.argv = {exe, "seed", "--config", config}, .netns = c.netns, .workdir = c.workdir,
              .log = log};
  auto status = run(seed, std::chrono::seconds(30));
  if (status != 0)
    throw std::runtime_error("ztm seed failed (" + log + "):\n" + tail(log, 10));

  ProcessSpec spec;
  spec.launch = {.argv = {exe, "serve", "--config", config}, .netns = c.netns,
                 .workdir = c.workdir, .log = log};
  spec.stop_signal = SIGTERM;
  const std::string address = c.address;
  spec.healthy = [address](std::chrono::milliseconds timeout) {
    return http_ok(address, kPort, "/readyz", timeout);
  };
  return spec;
}

}  // namespace ztm::lab
