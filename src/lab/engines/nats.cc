// Engine `nats`: the message queue of figures 1-18/1-19, NATS with JetStream (Debian
// `nats-server`), in the foreground as user nats, its store in the working directory (`-sd`), so a
// killed or stopped server comes back with every stored job. Clients on kNatsPort, the
// monitoring endpoint (/healthz, /jsz) on kNatsMonitorPort.
// Health: GET /healthz answers 200 (the server and JetStream are up).
#include <unistd.h>

#include <stdexcept>

#include "lab/engines/engine.h"
#include "lab/engines/files.h"
#include "lab/health.h"

namespace ztm::lab {

namespace {

constexpr const char* kBinary = "/usr/sbin/nats-server";  // Debian's package puts it in sbin

}  // namespace

ProcessSpec prepare_nats(const EngineContext& c) {
  if (::access(kBinary, X_OK) != 0)
    throw std::runtime_error(std::string("no ") + kBinary + ": install nats-server");
  const passwd& pw = engine_user("nats", "nats-server");
  check_searchable("nats", c.workdir, pw);
  chown_to(c.workdir, pw);
  ProcessSpec spec;
  spec.launch = {.argv = {kBinary, "-js", "-sd", c.workdir + "/store", "-a", c.address, "-p",
                          std::to_string(kNatsPort), "-m", std::to_string(kNatsMonitorPort)},
                 .netns = c.netns,
                 .user = "nats",
                 .workdir = c.workdir,
                 .log = c.workdir + "/nats.log"};
  spec.stop_signal = SIGTERM;
  const std::string address = c.address;
  spec.healthy = [address](std::chrono::milliseconds timeout) {
    return http_ok(address, kNatsMonitorPort, "/healthz", timeout);
  };
  return spec;
}

}  // namespace ztm::lab
