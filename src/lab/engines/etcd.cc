// Engine `etcd`: etcd 3.4 (Debian `etcd-server`), a single-member cluster on its host — the DCS
// where Patroni keeps the leader key (one member is enough for the lab: the chapter's failover
// is about the database tier). Runs as user `etcd`, data under the engine's working directory,
// config rendered from deploy/etcd/etcd.yml. Health: `GET /health` answers 200 (etcd has a
// leader and serves reads).
#include <unistd.h>

#include <stdexcept>

#include "lab/engines/engine.h"
#include "lab/engines/files.h"
#include "lab/health.h"
#include "lab/template.h"

namespace ztm::lab {

namespace {

constexpr const char* kUser = "etcd";
constexpr const char* kBinary = "/usr/bin/etcd";

}  // namespace

ProcessSpec prepare_etcd(const EngineContext& c) {
  const passwd& pw = engine_user(kUser, "etcd-server");
  if (::access(kBinary, X_OK) != 0)
    throw std::runtime_error("etcd: no /usr/bin/etcd: install etcd-server");
  check_searchable("etcd", c.workdir, pw);
  chown_to(c.workdir, pw);
  const std::string config = c.workdir + "/etcd.yml";
  const std::string log = c.workdir + "/etcd.log";
  render_file("etcd", "etcd.yml",
              {{"name", c.host},
               {"address", c.address},
               {"client_port", std::to_string(kEtcdClientPort)},
               {"peer_port", std::to_string(kEtcdPeerPort)},
               {"data_dir", c.workdir + "/data"}},
              config);
  write_file(log, "");
  chown_to(log, pw);

  ProcessSpec spec;
  spec.launch = {.argv = {kBinary, "--config-file", config},
                 .netns = c.netns,
                 .user = kUser,
                 .workdir = c.workdir,
                 .log = log};
  spec.stop_signal = SIGTERM;
  const std::string address = c.address;
  spec.healthy = [address](std::chrono::milliseconds timeout) {
    return http_ok(address, kEtcdClientPort, "/health", timeout);
  };
  return spec;
}

}  // namespace ztm::lab
