// Engines `logs` and `log-shipper` of `--observe` (observe.h, docs/observability.md): the lab's
// logs in one place, with Debian's rsyslog (imfile, RELP).
//   logs:        on the obs host: RELP on its private address :2514, every host's lines into
//                <workdir>/files/<host>/<yyyy-mm-dd>.jsonl (deploy/rsyslog/log-host.conf).
//                Health: :2514 accepts connections.
//   log-shipper: on every host: reads hosts/<host>/<service>/*.log and sends each line to the
//                log host (deploy/rsyslog/shipper.conf); RELP's acknowledgements and a disk
//                queue mean a log host down for a while loses nothing. It listens on nothing:
//                healthy once started (what it fails to deliver waits in its queue).
// Both run rsyslogd in the foreground as the lab's user ztm-logs (files.h: engines' logs are
// world-readable, and a link an engine's user put among them must not be read as root), in UTC
// (the day of a file name is a UTC day).
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#include "lab/engines/engine.h"
#include "lab/engines/files.h"
#include "lab/health.h"
#include "lab/template.h"

namespace ztm::lab {

namespace {

constexpr const char* kRsyslogd = "/usr/sbin/rsyslogd";

ProcessSpec rsyslog(const EngineContext& c, const std::string& config) {
  if (::access(kRsyslogd, X_OK) != 0)
    throw std::runtime_error(std::string("no ") + kRsyslogd + ": install rsyslog rsyslog-relp");
  const passwd& pw = system_user("ztm-logs", c.workdir + "/useradd.log");
  check_searchable("rsyslog", c.workdir, pw);
  chown_to(c.workdir, pw);
  make_dir(c.workdir + "/spool", pw);
  ProcessSpec spec;
  spec.launch = {.argv = {kRsyslogd, "-n", "-f", config, "-i", c.workdir + "/rsyslogd.pid"},
                 .netns = c.netns,
                 .user = pw.pw_name,
                 .workdir = c.workdir,
                 .log = c.workdir + "/rsyslogd.log",
                 .env = {"TZ=UTC"}};
  spec.stop_signal = SIGTERM;
  return spec;
}

}  // namespace

std::string log_files_dir(const std::string& logs_workdir) {
  return logs_workdir + "/files";
}

ProcessSpec prepare_log_host(const EngineContext& c) {
  const std::string workdir = std::filesystem::absolute(c.workdir).string();
  const std::string config = workdir + "/log-host.conf";
  render_file("rsyslog", "log-host.conf",
              {{"workdir", workdir},
               {"address", c.address},
               {"port", std::to_string(kRelpPort)},
               {"logdir", log_files_dir(workdir)}},
              config);
  ProcessSpec spec = rsyslog(c, config);
  make_dir(log_files_dir(workdir), system_user("ztm-logs", c.workdir + "/useradd.log"));
  spec.healthy = [address = c.address](std::chrono::milliseconds timeout) {
    return tcp_accepting(address, kRelpPort, timeout);
  };
  return spec;
}

ProcessSpec prepare_log_shipper(const EngineContext& c) {
  const std::string workdir = std::filesystem::absolute(c.workdir).string();
  const std::string config = workdir + "/shipper.conf";
  render_file("rsyslog", "shipper.conf",
              {{"workdir", workdir},
               {"host", c.host},
               {"host_dir", std::filesystem::path(workdir).parent_path().string()},
               {"log_host", c.address_of(kObsHostName)},
               {"port", std::to_string(kRelpPort)}},
              config);
  ProcessSpec spec = rsyslog(c, config);
  spec.healthy = [](std::chrono::milliseconds) { return true; };
  return spec;
}

}  // namespace ztm::lab
