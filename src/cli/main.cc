// ztm: the command table.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <csignal>
#include <functional>
#include <memory>

#include "cli/bench.h"
#include "cli/commands.h"
#include "cli/config_flags.h"
#include "cli/lab.h"
#include "cli/logs.h"
#include "cli/shard.h"
#include "core/log.h"

extern char** environ;

namespace {

struct Command {
  const char* name;
  const char* help;
  int (*run)(const ztm::Config&);
};

constexpr Command kCommands[] = {
    {"serve", "Run the web/API server (SQLite, in-process cache: the chapter's single server)",
     ztm::cli::serve},
    {"worker", "Run photo workers: take edit jobs from the queue and run them with libvips",
     ztm::cli::worker},
    {"migrate", "Apply pending database schema migrations", ztm::cli::migrate},
    {"seed", "Load the demo users (user 12 is John Smith) if the database has no users",
     ztm::cli::seed},
};

}  // namespace

int main(int argc, char** argv) {
  // Peers that go away are errors, not the end of the process: hiredis (Redis sessions, the L2
  // cache) writes with write(2), not send(MSG_NOSIGNAL), so a Redis node that dies mid-command
  // would raise SIGPIPE. Ignored, the write fails with EPIPE and the caller falls back.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"ztm: the web service of \"Scale from zero to millions of users\""};
  app.require_subcommand(1);
  std::vector<std::unique_ptr<ztm::cli::ConfigFlags>> flags;
  std::vector<std::pair<CLI::App*, const Command*>> commands;
  for (const auto& c : kCommands) {
    auto* sub = app.add_subcommand(c.name, c.help);
    flags.push_back(std::make_unique<ztm::cli::ConfigFlags>(*sub));
    commands.emplace_back(sub, &c);
  }
  auto* config_cmd = app.add_subcommand("config", "Inspect the configuration");
  config_cmd->require_subcommand(1);
  auto* print = config_cmd->add_subcommand("print", "Print the effective configuration as TOML");
  flags.push_back(std::make_unique<ztm::cli::ConfigFlags>(*print));
  static constexpr Command kPrint{"config print", "", ztm::cli::print_config};
  commands.emplace_back(print, &kPrint);

  auto* cdn = app.add_subcommand("cdn", "The CDN's edges (cdn.edge_admins): status, purge");
  cdn->require_subcommand(1);
  auto* cdn_status = cdn->add_subcommand(
      "status", "Each edge: reachable, the origin's health as it sees it, its purge lease");
  flags.push_back(std::make_unique<ztm::cli::ConfigFlags>(*cdn_status));
  static constexpr Command kCdnStatus{"cdn status", "", ztm::cli::cdn_status};
  commands.emplace_back(cdn_status, &kCdnStatus);
  auto* cdn_purge = cdn->add_subcommand("purge", "Purge URL paths or surrogate keys at every edge");
  cdn_purge->add_option("paths", ztm::cli::cdn_purge_args().paths, "URL paths, e.g. /users/12");
  cdn_purge->add_option("--key", ztm::cli::cdn_purge_args().keys,
                        "a surrogate key, e.g. user-12 (repeatable)");
  flags.push_back(std::make_unique<ztm::cli::ConfigFlags>(*cdn_purge));
  static constexpr Command kCdnPurge{"cdn purge", "", ztm::cli::cdn_purge};
  commands.emplace_back(cdn_purge, &kCdnPurge);

  auto lab = ztm::cli::add_lab_commands(app);
  auto logs = ztm::cli::add_logs_commands(app);
  auto bench = ztm::cli::add_bench_command(app);
  auto shard = ztm::cli::add_shard_commands(app);

  CLI11_PARSE(app, argc, argv);
  if (auto status = lab->run()) return *status;
  if (auto status = logs->run()) return *status;
  if (auto status = bench->run()) return *status;
  if (auto status = shard->run()) return *status;

  for (std::size_t i = 0; i < commands.size(); ++i) {
    if (!commands[i].first->parsed()) continue;
    ztm::Config config;
    try {
      config = flags[i]->load(environ);
    } catch (const ztm::ConfigError& e) {
      fmt::print(stderr, "ztm {}: configuration error: {}\n", commands[i].second->name, e.what());
      return 2;
    }
    try {
      // "ztm-web" for serve (the web tier), "ztm-worker", else "ztm-<command>".
      std::string service = commands[i].second->name;
      std::replace(service.begin(), service.end(), ' ', '-');
      service = "ztm-" + (service == "serve" ? std::string("web") : service);
      ztm::log::init(config.log.level, config.log.host, service);
      return commands[i].second->run(config);
    } catch (const std::exception& e) {
      fmt::print(stderr, "ztm {}: {}\n", commands[i].second->name, e.what());
      return 1;
    }
  }
  return 2;
}
