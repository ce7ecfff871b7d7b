// Engines of `--observe` (observe.h, docs/observability.md):
//   prometheus:        Prometheus 2.42 (Debian `prometheus`) as user prometheus on the obs host,
//                      deploy/prometheus/prometheus.yml and rules.yml; targets from the files the
//                      supervisor writes (observe.h), alerts to the obs host's Alertmanager.
//                      Health: /-/ready.
//   alertmanager:      Alertmanager 0.25 (Debian `prometheus-alertmanager`), one instance (no
//                      cluster gossip), deploy/alertmanager/alertmanager.yml. Health: /-/ready.
//   host-exporter:     `ztm lab host-exporter`: every lab host's CPU, memory and I/O from its own
//                      cgroups (host_exporter.h). Health: /metrics answers.
//   node-exporter:     Debian's node exporter with only its filesystem collector: the lab's
//                      hosts share one machine's disks, so one exporter tells their free space.
//   postgres-exporter: beside PostgreSQL (or Patroni), as the lab's role. Health: / answers.
//   redis-exporter:    beside a Redis. Health: / answers.
//   dashboard:         `ztm lab dashboard` (dashboard.h): the page, the lab's status and
//                      Prometheus's query API on one origin. Health: /healthz (the page need not
//                      be built for the lab to come up).
// Every listener is on the host's private address.
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#include "lab/engines/engine.h"
#include "lab/engines/files.h"
#include "lab/engines/postgres_credentials.h"
#include "lab/engines/redis_users.h"
#include "lab/health.h"
#include "lab/secrets.h"
#include "lab/template.h"

namespace ztm::lab {

namespace {

constexpr const char* kPrometheusUser = "prometheus";  // made by Debian's prometheus package

void require(const char* binary, const char* package) {
  if (::access(binary, X_OK) != 0)
    throw std::runtime_error(std::string("no ") + binary + ": install " + package);
}

std::string listen(const EngineContext& c, int port) {
  return c.address + ":" + std::to_string(port);
}

// A process of an exporter or a service that answers `path` on the host's `port` when healthy.
ProcessSpec http_process(const EngineContext& c, std::vector<std::string> argv, int port,
                         std::string path, const std::string& user = "") {
  const bool ours = !argv.empty() && argv.front() == self_exe();
  ProcessSpec spec;
  spec.launch = {
      .argv = std::move(argv),
      .netns = c.netns,
      .user = user,
      .workdir = c.workdir,
      .log = c.workdir + "/" + std::filesystem::path(c.workdir).filename().string() + ".log"};
  if (ours) spec.launch.exe = kThisBinary;
  spec.stop_signal = SIGTERM;
  spec.healthy = [address = c.address, port, path](std::chrono::milliseconds timeout) {
    return http_ok(address, port, path, timeout);
  };
  return spec;
}

// The working directory and its data directory belong to user prometheus.
void own_workdir(const EngineContext& c, const std::string& engine) {
  const passwd& pw = engine_user(kPrometheusUser, "prometheus");
  check_searchable(engine, c.workdir, pw);
  chown_to(c.workdir, pw);
  make_dir(c.workdir + "/data", pw);
}

}  // namespace

ProcessSpec prepare_prometheus(const EngineContext& c) {
  constexpr const char* kBinary = "/usr/bin/prometheus";
  require(kBinary, "prometheus");
  own_workdir(c, "prometheus");
  const std::string config = c.workdir + "/prometheus.yml";
  render_file("prometheus", "prometheus.yml",
              {{"alertmanager", listen(c, kAlertmanagerPort)},
               {"targets", (std::filesystem::path(c.workdir).parent_path() / "targets").string()}},
              config);
  std::filesystem::copy_file(deploy_dir() + "/prometheus/rules.yml", c.workdir + "/rules.yml",
                             std::filesystem::copy_options::overwrite_existing);
  return http_process(
      c,
      {kBinary, "--config.file=" + config, "--storage.tsdb.path=" + c.workdir + "/data",
       "--storage.tsdb.retention.time=1d", "--web.listen-address=" + listen(c, kPrometheusPort)},
      kPrometheusPort, "/-/ready", kPrometheusUser);
}

ProcessSpec prepare_alertmanager(const EngineContext& c) {
  constexpr const char* kBinary = "/usr/bin/prometheus-alertmanager";
  require(kBinary, "prometheus-alertmanager");
  own_workdir(c, "alertmanager");
  const std::string config = c.workdir + "/alertmanager.yml";
  render_file("alertmanager", "alertmanager.yml", {}, config);
  return http_process(
      c,
      {kBinary, "--config.file=" + config, "--storage.path=" + c.workdir + "/data",
       "--web.listen-address=" + listen(c, kAlertmanagerPort), "--cluster.listen-address="},
      kAlertmanagerPort, "/-/ready", kPrometheusUser);
}

ProcessSpec prepare_host_exporter(const EngineContext& c) {
  return http_process(c,
                      {self_exe(), "lab", "host-exporter", "--listen", c.address, "--port",
                       std::to_string(kHostExporterPort)},
                      kHostExporterPort, "/metrics");
}

ProcessSpec prepare_node_exporter(const EngineContext& c) {
  constexpr const char* kBinary = "/usr/bin/prometheus-node-exporter";
  require(kBinary, "prometheus-node-exporter");
  return http_process(c,
                      {kBinary, "--collector.disable-defaults", "--collector.filesystem",
                       "--web.listen-address=" + listen(c, kNodeExporterPort)},
                      kNodeExporterPort, "/", kPrometheusUser);
}

ProcessSpec prepare_postgres_exporter(const EngineContext& c) {
  constexpr const char* kBinary = "/usr/bin/prometheus-postgres-exporter";
  require(kBinary, "prometheus-postgres-exporter");
  auto spec = http_process(c, {kBinary, "--web.listen-address=" + listen(c, kPostgresExporterPort)},
                           kPostgresExporterPort, "/", kPrometheusUser);
  spec.launch.env = {"DATA_SOURCE_NAME=" + postgres_url(postgres_password(c.lab_dir), {c.address}) +
                     "?sslmode=disable"};
  return spec;
}

ProcessSpec prepare_redis_exporter(const EngineContext& c) {
  constexpr const char* kBinary = "/usr/bin/prometheus-redis-exporter";
  require(kBinary, "prometheus-redis-exporter");
  auto spec = http_process(
      c,
      {kBinary, "-redis.addr", "redis://" + c.address + ":" + std::to_string(kRedisPort),
       "-web.listen-address", listen(c, kRedisExporterPort)},
      kRedisExporterPort, "/", kPrometheusUser);
  // As the read-only monitor user (deploy/redis/*.conf); in the environment, not on the command
  // line that `ps` shows everyone (/proc/PID/environ is the process owner's only).
  spec.launch.env = {std::string("REDIS_USER=") + kRedisMonitor.name,
                     "REDIS_PASSWORD=" + lab_secret(c.lab_dir, kRedisMonitor.secret)};
  return spec;
}

ProcessSpec prepare_dashboard(const EngineContext& c) {
  // The working directory is <lab dir>/hosts/obs/dashboard: the status is the supervisor's there.
  const auto lab_dir = std::filesystem::path(c.workdir).parent_path().parent_path().parent_path();
  return http_process(c,
                      {self_exe(), "lab", "dashboard", "--listen", c.address, "--port",
                       std::to_string(kDashboardPort), "--prometheus", listen(c, kPrometheusPort),
                       "--dir", lab_dir.string()},
                      kDashboardPort, "/healthz");
}

}  // namespace ztm::lab
