#include "lab/supervisor.h"

#include <boost/json.hpp>
#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fmt/format.h>
#include <optional>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "lab/control.h"
#include "lab/engines/engine.h"
#include "lab/network.h"
#include "lab/stages.h"
#include "lab/state.h"

namespace ztm::lab {

namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kHealthTimeout{500};
constexpr milliseconds kCheckStarting{100};  // until the first success: `up` waits on it
constexpr milliseconds kCheckRunning{1000};
constexpr milliseconds kStopTimeout{10'000};

// One process of the stage and its live state.
struct Proc {
  const HostDef* host;
  const ProcessDef* def;
  std::string name;                 // "web1/ztm"
  std::optional<ProcessSpec> spec;  // set once prepared
  std::string state = "pending";    // pending | starting | running | exited | stopped
  pid_t pid = 0;
  std::uint64_t start_time = 0;
  bool healthy = false;
  std::string exit;   // "status 1", "signal 9"
  std::string error;  // a failed prepare or spawn
  Clock::time_point next_check{};
};

std::string describe(int status) {
  return WIFEXITED(status) ? fmt::format("status {}", WEXITSTATUS(status))
                           : fmt::format("signal {}", WTERMSIG(status));
}

void progress(const std::string& line) {
  fmt::print("{}\n", line);
  std::fflush(stdout);
}

class Supervisor {
 public:
  Supervisor(std::string dir, Stage stage) : dir_(std::move(dir)), stage_(std::move(stage)) {
    for (const auto& h : stage_.hosts)
      for (const auto& p : h.processes) procs_.push_back({&h, &p, process_name(h, p)});
    state_.stage = stage_.name;
    state_.supervisor_pid = ::getpid();
    state_.supervisor_start_time = start_time(::getpid()).value_or(0);
  }

  int run() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    ::sigprocmask(SIG_BLOCK, &signals, nullptr);
    const int sig_fd = ::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
    save();
    try {
      build_network();
    } catch (const std::exception& e) {
      progress(fmt::format("network: failed: {}", e.what()));
      return 1;
    }
    const int listen_fd = listen_control(control_path(dir_));
    progress("supervisor: ready");
    while (!done_) {
      start_ready();
      reap();
      check_health();
      pollfd fds[2] = {{listen_fd, POLLIN, 0}, {sig_fd, POLLIN, 0}};
      if (::poll(fds, 2, 50) <= 0) continue;
      if (fds[1].revents & POLLIN) {
        progress("supervisor: signal received, stopping everything");
        stop_all();
        break;
      }
      if (fds[0].revents & POLLIN) {
        const int client = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (client >= 0) {
          handle(client);
          ::close(client);
        }
      }
    }
    ::close(listen_fd);
    ::unlink(control_path(dir_).c_str());
    progress("supervisor: exiting");
    return 0;
  }

 private:
  void build_network() {
    std::vector<std::string> dcs;
    for (const auto& h : stage_.hosts)
      if (std::find(dcs.begin(), dcs.end(), h.dc) == dcs.end()) dcs.push_back(h.dc);
    for (const auto& dc : dcs) {
      const std::string bridge = bridge_name(dc);
      state_.links.push_back(bridge);
      save();
      create_bridge(bridge, dc_gateway(dc) + "/24");
      progress(fmt::format("network: bridge {} {}/24", bridge, dc_gateway(dc)));
    }
    for (const auto& h : stage_.hosts) {
      const std::string ns = netns_name(h.name);
      state_.netns.push_back(ns);
      state_.links.push_back(ns);
      save();
      create_host(h.name, bridge_name(h.dc), host_address(h) + "/24", dc_gateway(h.dc));
      progress(fmt::format("network: host {} {} on {}", h.name, host_address(h), bridge_name(h.dc)));
    }
  }

  Proc* find(const std::string& name) {
    for (auto& p : procs_)
      if (p.name == name) return &p;
    return nullptr;
  }

  // Prepares and starts pending processes whose dependencies are healthy.
  void start_ready() {
    for (auto& p : procs_) {
      if (p.state != "pending") continue;
      bool ready = true;
      for (const auto& dep : p.def->after) {
        const Proc* d = find(dep);
        ready = ready && d && d->healthy;
      }
      if (ready) start(p);
    }
  }

  void start(Proc& p) {
    p.error.clear();
    p.exit.clear();
    try {
      if (!p.spec) {
        progress(fmt::format("{}: preparing", p.name));
        auto prepare = find_engine(p.def->engine);
        if (!prepare) throw std::runtime_error("unknown engine " + p.def->engine);
        const std::string workdir = fmt::format("{}/hosts/{}/{}", dir_, p.host->name, p.def->engine);
        std::filesystem::create_directories(workdir);
        EngineContext context{.host = p.host->name,
                              .address = host_address(*p.host),
                              .netns = netns_name(p.host->name),
                              .workdir = workdir,
                              .params = p.def->params,
                              .address_of = [this](const std::string& host) {
                                for (const auto& h : stage_.hosts)
                                  if (h.name == host) return host_address(h);
                                throw std::runtime_error("no host " + host + " in the stage");
                              }};
        p.spec = prepare(context);
      }
      p.pid = spawn(p.spec->launch);
      p.start_time = start_time(p.pid).value_or(0);
      p.state = "starting";
      p.healthy = false;
      p.next_check = Clock::now();
      progress(fmt::format("{}: started (pid {})", p.name, p.pid));
    } catch (const std::exception& e) {
      p.state = "exited";
      p.error = e.what();
      progress(fmt::format("{}: failed: {}", p.name, e.what()));
    }
    save();
  }

  void reap() {
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      for (auto& p : procs_) {
        if (p.pid != pid) continue;
        exited(p, status, "exited");
      }
    }
  }

  void exited(Proc& p, int status, const char* state) {
    ::kill(-p.pid, SIGKILL);  // what is left of its process group (e.g. PostgreSQL's children)
    if (p.spec && p.spec->after_exit) p.spec->after_exit();  // and of other sessions (Patroni's)
    p.state = state;
    p.exit = describe(status);
    p.pid = 0;
    p.start_time = 0;
    p.healthy = false;
    progress(fmt::format("{}: {} ({})", p.name, state, p.exit));
    save();
  }

  void check_health() {
    const auto now = Clock::now();
    for (auto& p : procs_) {
      if ((p.state != "starting" && p.state != "running") || now < p.next_check) continue;
      const bool healthy = p.spec->healthy(kHealthTimeout);
      if (healthy != p.healthy) progress(fmt::format("{}: {}", p.name, healthy ? "healthy" : "unhealthy"));
      p.healthy = healthy;
      if (healthy) p.state = "running";
      p.next_check = Clock::now() + (p.state == "running" ? kCheckRunning : kCheckStarting);
    }
  }

  // Signals `p` and waits (bounded) until it is reaped; SIGKILLs its group past the bound.
  void stop(Proc& p, int sig, const char* state) {
    if (p.pid == 0) {
      if (p.state == "pending" || p.state == "exited") p.state = state;
      return;
    }
    if (sig == SIGKILL) ::kill(-p.pid, SIGKILL);
    else ::kill(p.pid, sig);
    const auto deadline = Clock::now() + (sig == SIGKILL ? milliseconds(2000) : kStopTimeout);
    int status = 0;
    while (::waitpid(p.pid, &status, WNOHANG) == 0) {
      if (Clock::now() > deadline) {
        ::kill(-p.pid, SIGKILL);
        ::waitpid(p.pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
    exited(p, status, state);
  }

  void stop_all() {
    for (auto it = procs_.rbegin(); it != procs_.rend(); ++it) stop(*it, it->spec ? it->spec->stop_signal : SIGTERM, "stopped");
  }

  std::vector<Proc*> targets(const std::string& target) {
    std::vector<Proc*> out;
    for (auto& p : procs_)
      if (p.name == target || p.host->name == target) out.push_back(&p);
    return out;
  }

  void handle(int client) {
    auto request = read_request(client, milliseconds(1000));
    json::object answer;
    if (!request || !request->contains("op") || !request->at("op").is_string()) {
      write_answer(client, {{"ok", false}, {"error", "bad request"}});
      return;
    }
    const std::string op(request->at("op").as_string());
    if (op == "status") {
      write_answer(client, {{"ok", true}, {"status", status()}});
      return;
    }
    if (op == "down") {
      stop_all();
      done_ = true;
      write_answer(client, {{"ok", true}});
      return;
    }
    const auto* t = request->if_contains("target");
    const std::string target = t && t->is_string() ? std::string(t->as_string()) : "";
    auto procs = targets(target);
    if (procs.empty()) {
      write_answer(client, {{"ok", false}, {"error", "no host or process " + target}});
      return;
    }
    if (op != "kill" && op != "stop" && op != "start") {
      engine_action(client, op, target, procs);
      return;
    }
    json::array names;
    for (Proc* p : procs) {
      names.emplace_back(p->name);
      if (op == "kill") stop(*p, SIGKILL, "exited");
      else if (op == "stop") stop(*p, p->spec ? p->spec->stop_signal : SIGTERM, "stopped");
      else if (p->pid == 0) start(*p);
    }
    write_answer(client, {{"ok", true}, {"processes", names}});
  }

  // An engine's own chaos action (engine.h: ProcessSpec::actions) on the running processes of
  // `target` that have it; an error when none has it or one of them fails.
  void engine_action(int client, const std::string& op, const std::string& target,
                     const std::vector<Proc*>& procs) {
    json::array names;
    for (Proc* p : procs) {
      if (!p->spec || !p->spec->actions.contains(op)) continue;
      if (p->pid == 0) {
        write_answer(client, {{"ok", false}, {"error", p->name + " is not running"}});
        return;
      }
      progress(fmt::format("{}: {}", p->name, op));
      if (auto error = p->spec->actions.at(op)(); !error.empty()) {
        write_answer(client, {{"ok", false}, {"error", p->name + ": " + op + ": " + error}});
        return;
      }
      names.emplace_back(p->name);
    }
    if (names.empty()) {
      write_answer(client, {{"ok", false}, {"error", "unknown op " + op + " for " + target}});
      return;
    }
    write_answer(client, {{"ok", true}, {"processes", names}});
  }

  json::object status() const {
    json::array hosts;
    for (const auto& h : stage_.hosts) {
      json::array processes;
      for (const auto& p : procs_) {
        if (p.host != &h) continue;
        json::object o = {{"name", p.name}, {"pid", p.pid}, {"state", p.state}, {"healthy", p.healthy}};
        if (!p.exit.empty()) o["exit"] = p.exit;
        if (!p.error.empty()) o["error"] = p.error;
        if (p.spec) o["log"] = p.spec->launch.log;
        processes.push_back(std::move(o));
      }
      json::object host = {{"name", h.name}, {"dc", h.dc}, {"address", host_address(h)},
                           {"roles", json::array(h.roles.begin(), h.roles.end())},
                           {"processes", processes}};
      for (const auto& p : procs_) {  // the engine's live view (Patroni: role, lag)
        if (p.host != &h || !p.spec || !p.spec->describe) continue;
        if (p.state == "starting" || p.state == "running") {
          p.spec->describe(host);
        } else {
          host["role"] = "down";
          host["lag_bytes"] = nullptr;
        }
      }
      hosts.push_back(std::move(host));
    }
    std::string url;
    for (const auto& h : stage_.hosts)
      if (h.name == stage_.entry_host) url = fmt::format("http://{}:{}", host_address(h), stage_.entry_port);
    return {{"stage", stage_.name}, {"figure", stage_.figure}, {"url", url}, {"hosts", hosts}};
  }

  void save() {
    state_.processes.clear();
    for (const auto& p : procs_)
      state_.processes.push_back({.name = p.name, .host = p.host->name, .pid = p.pid,
                                  .start_time = p.start_time,
                                  .argv = p.spec ? p.spec->launch.argv : std::vector<std::string>{},
                                  .log = p.spec ? p.spec->launch.log : ""});
    save_state(dir_, state_);
  }

  std::string dir_;
  const Stage stage_;  // procs_ point into its hosts
  std::vector<Proc> procs_;
  LabState state_;
  bool done_ = false;
};

}  // namespace

int supervise(const std::string& dir, const std::string& stage_name, const std::string& hosts) {
  const Stage* stage = find_stage(stage_name);
  if (!stage) {
    progress("supervisor: unknown stage " + stage_name);
    return 2;
  }
  try {
    return Supervisor(dir, select_hosts(*stage, hosts)).run();
  } catch (const std::invalid_argument& e) {
    progress(fmt::format("supervisor: {}", e.what()));
    return 2;
  }
}

}  // namespace ztm::lab
