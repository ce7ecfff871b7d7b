// ztm lab: the command-line surface of src/lab (docs/lab.md).
#include "cli/lab.h"

#include <fmt/format.h>

#include "lab/dashboard.h"
#include "lab/delay.h"
#include "lab/host_exporter.h"
#include "lab/lab.h"
#include "lab/supervisor.h"

namespace ztm::cli {

namespace {

class Lab final : public Subcommand {
 public:
  explicit Lab(CLI::App& app) {
    lab_ = app.add_subcommand("lab",
                              "Bring up a stage of the chapter on this machine, each "
                              "server its own network host, and break it (root)");
    lab_->require_subcommand(1);
    const std::string dir_help =
        "the lab's state directory (env ZTM_LAB_DIR, default /run/ztm-lab)";
    up_ = lab_->add_subcommand("up", "Bring up a stage and wait until every process is healthy");
    up_->add_option("--stage", up_options_.stage,
                    "single (figure 1-1) | db (figure 1-3) | replication (figures 1-5/1-6) | "
                    "lb (figure 1-4) | stateless (figure 1-14) | cache (figure 1-7) | "
                    "queue (figures 1-18/1-19) | cdn (figure 1-11) | sharding (shard clusters "
                    "under a bucket map)")
        ->required();
    up_->add_option("--hosts", up_options_.hosts,
                    "only these hosts of the stage, e.g. etcd1,db1,db2,db3 (its data tier)");
    up_->add_flag("--observe", up_options_.observe,
                  "add a host `obs` watching the stage: Prometheus with the alert rules, "
                  "Alertmanager, an exporter beside each engine, every host's own CPU, memory "
                  "and I/O (docs/observability.md)");
    up_->add_option("--cpus", up_options_.cpus,
                    "CPU quotas, so that a server is as big as configured: NAME=CORES,... where "
                    "NAME is a host (web1) or a role (web, db, cache); e.g. web=0.5,db1=1");
    status_ = lab_->add_subcommand("status", "Hosts, roles, addresses, processes and health");
    status_->add_flag("--json", json_, "machine-readable (docs/lab.md)");
    chaos_ = lab_->add_subcommand("chaos", "Break or repair a host, a process or a link");
    chaos_
        ->add_option("action", action_,
                     "kill (SIGKILL) | stop (graceful, stays down) | start | "
                     "pause-replay | resume-replay (a PostgreSQL replica's WAL replay) | "
                     "cut | heal (all traffic between two hosts, both ways)")
        ->required()
        ->check(CLI::IsMember(
            {"kill", "stop", "start", "pause-replay", "resume-replay", "cut", "heal"}));
    chaos_->add_option("target", target_, "a host (web1, db2) or a process (web1/ztm)")->required();
    chaos_->add_option("peer", peer_, "cut, heal: the other host (cut db2 db1)");
    scale_ = lab_->add_subcommand("scale",
                                  "Add or remove web servers behind the load balancer, draining "
                                  "each one that leaves (stages lb, stateless, queue), or worker "
                                  "hosts (stage queue), or shard clusters (stage sharding)");
    scale_->add_option("tier", scale_spec_, "web=N (1..6) | workers=N (1..4) | shards=N (4..5)")
        ->required();
    deploy_ = lab_->add_subcommand(
        "deploy",
        "Deploy a new ztm binary to the web tier: a canary server first, watched (its 5xx share "
        "through HAProxy, the fast burn-rate alert), then the others one by one, each drained; "
        "any failure rolls every replaced server back");
    deploy_->add_option("binary", deploy_settings_.binary, "the new ztm binary")
        ->required()
        ->check(CLI::ExistingFile);
    deploy_
        ->add_option("--canary-ms", deploy_settings_.canary_ms,
                     "how long the canary is watched before the others (20000)")
        ->check(CLI::Range(0, 600'000));
    deploy_
        ->add_option("--max-error-ratio", deploy_settings_.max_error_ratio,
                     "the canary's largest acceptable share of 5xx responses (0.05)")
        ->check(CLI::Range(0.0, 1.0));
    deploy_
        ->add_option("--min-requests", deploy_settings_.min_requests,
                     "requests the canary must serve to be judged (0: judged by health alone "
                     "when the lab is idle)")
        ->check(CLI::NonNegativeNumber);
    restart_ = lab_->add_subcommand("restart",
                                    "Restart every server of a tier one by one with no failed "
                                    "request (drain, SIGTERM, start, healthy, ready)");
    restart_->add_option("tier", tier_, "web")->required()->check(CLI::IsMember({"web"}));
    autoscale_ = lab_->add_subcommand("autoscale",
                                      "Let the lab add and remove web servers by the load per "
                                      "server (from their /metrics), or workers by the queue's "
                                      "depth (from NATS's /jsz)");
    autoscale_->add_option("tier", auto_.tier, "web (default) | workers")
        ->check(CLI::IsMember({"web", "workers"}));
    autoscale_->add_option("--min", auto_.min, "fewest web servers (2) or workers (1)")
        ->check(CLI::Range(1, 6));
    autoscale_->add_option("--max", auto_.max, "most web servers (6) or workers (4)")
        ->check(CLI::Range(1, 6));
    autoscale_
        ->add_option("--up-pending", auto_.up_pending,
                     "workers: add one when the jobs pending stay above this for 3 s")
        ->check(CLI::PositiveNumber);
    autoscale_->add_option("--up-rps", auto_.up_rps,
                           "add a server when requests/s per server stay above");
    autoscale_->add_option("--down-rps", auto_.down_rps, "remove one when they stay below");
    autoscale_->add_flag("--off", autoscale_off_, "stop autoscaling (the servers stay)");
    down_ =
        lab_->add_subcommand("down", "Remove every process, namespace, link and file of the lab");
    supervise_ = lab_->add_subcommand("supervise", "");  // hidden: started by `up`
    supervise_->group("");
    supervise_->add_option("--stage", up_options_.stage)->required();
    supervise_->add_option("--hosts", up_options_.hosts);
    supervise_->add_flag("--observe", up_options_.observe);
    supervise_->add_option("--cpus", up_options_.cpus);
    host_exporter_ = lab_->add_subcommand("host-exporter", "");  // hidden: engine host-exporter
    host_exporter_->group("");
    host_exporter_->add_option("--listen", listen_)->required();
    host_exporter_->add_option("--port", port_)->required();
    delay_ = lab_->add_subcommand("delay", "");  // hidden: engine delay (lab/delay.h)
    delay_->group("");
    delay_->add_option("--queue", delay_options_.queue)->required();
    delay_->add_option("--ms", delay_options_.delay_ms)->required()->check(CLI::Range(0, 10'000));
    delay_->add_option("--max-held", delay_options_.max_held)->check(CLI::Range(1, 1'000'000));
    delay_->add_option("--stats", delay_options_.stats);
    dashboard_ = lab_->add_subcommand("dashboard", "");  // hidden: engine dashboard
    dashboard_->group("");
    dashboard_->add_option("--listen", listen_)->required();
    dashboard_->add_option("--port", port_)->required();
    dashboard_->add_option("--prometheus", prometheus_)->required();
    for (auto* c : {up_, status_, chaos_, scale_, deploy_, restart_, autoscale_, down_, supervise_,
                    dashboard_})
      c->add_option("--dir", dir_, dir_help);
  }

  std::optional<int> run() override {
    if (!lab_->parsed()) return std::nullopt;
    const std::string dir = dir_.empty() ? lab::default_dir() : dir_;
    try {
      if (up_->parsed()) return lab::up(dir, up_options_);
      if (status_->parsed()) return lab::status(dir, json_);
      if (chaos_->parsed()) return lab::chaos(dir, action_, target_, peer_);
      if (scale_->parsed()) {
        const auto eq = scale_spec_.find('=');
        const std::string tier = scale_spec_.substr(0, eq);
        if (eq == std::string::npos || (tier != "web" && tier != "workers" && tier != "shards")) {
          fmt::print(stderr, "ztm lab scale: say web=N, workers=N or shards=N\n");
          return 2;
        }
        return lab::scale(dir, tier, std::stoi(scale_spec_.substr(eq + 1)));
      }
      if (restart_->parsed()) return lab::restart(dir, tier_);
      if (deploy_->parsed()) return lab::deploy(dir, deploy_settings_);
      if (autoscale_->parsed()) {
        auto_.enabled = !autoscale_off_;
        auto_.min_given = autoscale_->count("--min") > 0;
        auto_.max_given = autoscale_->count("--max") > 0;
        return lab::autoscale(dir, auto_);
      }
      if (down_->parsed()) return lab::down(dir);
      if (supervise_->parsed()) return lab::supervise(dir, up_options_);
      if (host_exporter_->parsed()) return lab::serve_host_metrics(listen_, port_);
      if (delay_->parsed()) return lab::run_delay(delay_options_);
      if (dashboard_->parsed())
        return lab::serve_dashboard(
            {.address = listen_, .port = port_, .lab_dir = dir, .prometheus = prometheus_});
    } catch (const std::exception& e) {
      fmt::print(stderr, "ztm lab: {}\n", e.what());
      return 1;
    }
    return 2;
  }

 private:
  CLI::App* lab_;
  CLI::App* up_;
  CLI::App* status_;
  CLI::App* chaos_;
  CLI::App* scale_;
  CLI::App* restart_;
  CLI::App* deploy_;
  CLI::App* autoscale_;
  CLI::App* down_;
  CLI::App* supervise_;
  CLI::App* host_exporter_;
  CLI::App* dashboard_;
  CLI::App* delay_;
  lab::DelayOptions delay_options_;
  std::string prometheus_;
  std::string dir_;
  lab::UpOptions up_options_;
  std::string listen_;
  int port_ = 0;
  std::string action_;
  std::string target_;
  std::string peer_;
  bool json_ = false;
  std::string scale_spec_;
  std::string tier_;
  lab::AutoscaleSettings auto_;
  lab::DeploySettings deploy_settings_;
  bool autoscale_off_ = false;
};

}  // namespace

std::unique_ptr<Subcommand> add_lab_commands(CLI::App& app) {
  return std::make_unique<Lab>(app);
}

}  // namespace ztm::cli
