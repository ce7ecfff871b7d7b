#include "lab/supervisor.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <csignal>
#include <filesystem>
#include <thread>

#include "lab/cgroups.h"
#include "lab/control.h"
#include "lab/network.h"
#include "lab/observe.h"
#include "lab/supervisor_class.h"

namespace ztm::lab {

namespace json = boost::json;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds kHealthTimeout{500};
constexpr milliseconds kCheckStarting{100};  // until the first success: `up` waits on it
constexpr milliseconds kCheckRunning{1000};
constexpr milliseconds kStopTimeout{10'000};

std::string describe(int status) {
  return WIFEXITED(status) ? fmt::format("status {}", WEXITSTATUS(status))
                           : fmt::format("signal {}", WTERMSIG(status));
}

}  // namespace

void progress(const std::string& line) {
  fmt::print("{}\n", line);
  std::fflush(stdout);
}

Supervisor::Supervisor(std::string dir, Stage stage)
    // Canonical: open_no_links (engines/files.h) refuses any symbolic link below it, so one
    // above it (/var/run -> /run) must be resolved here, by root, once.
    : dir_(std::filesystem::weakly_canonical(dir)),
      stage_(std::move(stage)),
      hosts_(stage_.hosts.begin(), stage_.hosts.end()) {
  for (const auto& h : hosts_)
    for (const auto& p : h.processes) procs_.push_back({&h, &p, process_name(h, p)});
  state_.stage = stage_.name;
  state_.supervisor_pid = ::getpid();
  state_.supervisor_start_time = start_time(::getpid()).value_or(0);
}

int Supervisor::run() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  ::sigprocmask(SIG_BLOCK, &signals, nullptr);
  signal_fd_ = ::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
  save();
  try {
    build_network();
  } catch (const std::exception& e) {
    progress(fmt::format("network: failed: {}", e.what()));
    return 1;
  }
  listen_fd_ = listen_control(control_path(dir_));
  progress("supervisor: ready");
  while (!done_) {
    if (!poll_once(false) && !done_) {
      autoscale_tick();
      worker_autoscale_tick();
    }
    if (pool_stale_ && !done_) sync_pool();
    if (signalled_ && !done_) {  // a signal or `down` came during a long operation
      stop_all();
      done_ = true;
    }
  }
  if (down_client_ >= 0) {
    write_answer(down_client_, {{"ok", true}});
    ::close(down_client_);
  }
  ::close(listen_fd_);
  ::unlink(control_path(dir_).c_str());
  progress("supervisor: exiting");
  return 0;
}

// One turn of the loop: start what can start, reap, health-check, then wait (50 ms) for a
// signal or a request. `busy`: inside a long operation, only `status` is served. Returns
// whether anything arrived.
bool Supervisor::poll_once(bool busy) {
  housekeeping();
  pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {signal_fd_, POLLIN, 0}};
  if (::poll(fds, 2, 50) <= 0) return false;
  if (fds[1].revents & POLLIN) {
    signalfd_siginfo info;
    while (::read(signal_fd_, &info, sizeof(info)) > 0) {
    }
    progress("supervisor: signal received, stopping everything");
    signalled_ = true;
    if (!busy) {
      stop_all();
      done_ = true;
    }
    return true;
  }
  if (fds[0].revents & POLLIN) {
    const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client >= 0) {
      if (busy)
        handle_busy(client);
      else
        handle(client);
      if (client != down_client_) ::close(client);
    }
  }
  return true;
}

void Supervisor::housekeeping() {
  start_ready();
  reap();
  check_health();
}

Proc* Supervisor::find(const std::string& name) {
  for (auto& p : procs_)
    if (p.name == name) return &p;
  return nullptr;
}

// Prepares and starts pending processes whose dependencies are healthy.
void Supervisor::start_ready() {
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

void Supervisor::start(Proc& p) {
  p.error.clear();
  p.exit.clear();
  try {
    if (!p.spec) {
      progress(fmt::format("{}: preparing", p.name));
      auto prepare = find_engine(p.def->engine);
      if (!prepare) throw std::runtime_error("unknown engine " + p.def->engine);
      const std::string workdir = fmt::format("{}/hosts/{}/{}", dir_, p.host->name, p.def->engine);
      std::filesystem::create_directories(workdir);
      auto host_named = [this](const std::string& name) -> const HostDef& {
        if (const HostDef* h = host(name)) return *h;
        throw std::runtime_error("no host " + name + " in the stage");
      };
      EngineContext context{
          .host = p.host->name,
          .address = host_address(*p.host),
          .public_address = p.host->public_number > 0 ? public_address(*p.host) : "",
          .netns = netns_name(p.host->name),
          .workdir = workdir,
          .lab_dir = dir_,
          .params = p.def->params,
          .address_of =
              [host_named](const std::string& host) { return host_address(host_named(host)); },
          .public_address_of =
              [host_named](const std::string& host) {
                const HostDef& h = host_named(host);
                return h.public_number > 0 ? public_address(h) : std::string();
              }};
      p.spec = prepare(context);
      // A web server added after a deploy runs the deployed binary (deploy.cc).
      if (p.def->engine == "ztm" && !web_binary_.path.empty()) {
        p.spec->launch.argv.at(0) = web_binary_.path;
        p.spec->launch.exe = web_binary_.exe;
      }
    }
    p.spec->launch.cgroups = host_cgroups(p.host->name, p.host->cpus);
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

void Supervisor::reap() {
  int status = 0;
  pid_t pid;
  while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
    for (auto& p : procs_) {
      if (p.pid != pid) continue;
      exited(p, status, "exited");
    }
  }
}

void Supervisor::exited(Proc& p, int status, const char* state) {
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

void Supervisor::check_health() {
  const auto now = Clock::now();
  for (auto& p : procs_) {
    if ((p.state != "starting" && p.state != "running") || now < p.next_check) continue;
    const bool healthy = p.spec->healthy(kHealthTimeout);
    if (healthy != p.healthy)
      progress(fmt::format("{}: {}", p.name, healthy ? "healthy" : "unhealthy"));
    if (healthy && p.state == "starting" && p.def->engine == "haproxy") pool_stale_ = true;
    p.healthy = healthy;
    if (healthy) p.state = "running";
    p.next_check = Clock::now() + (p.state == "running" ? kCheckRunning : kCheckStarting);
  }
}

// Signals `p` and waits (bounded) until it is reaped; SIGKILLs its group past the bound.
void Supervisor::stop(Proc& p, int sig, const char* state) {
  if (p.pid == 0) {
    if (p.state == "pending" || p.state == "exited") p.state = state;
    return;
  }
  if (sig == SIGKILL)
    ::kill(-p.pid, SIGKILL);
  else
    ::kill(p.pid, sig);
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

// Every process is signalled once no running process of another engine starts `after` it (web
// servers before their databases, Patroni before etcd; a replica's Patroni, which starts after
// the primary's, stops beside it), and the signalled ones are reaped together: a teardown takes
// its longest chain of stops, not their sum (stage cache: 12 s, of which 10.5 s were its three
// Patroni nodes stopped one after the other). Each has kStopTimeout, then SIGKILL.
void Supervisor::stop_all() {
  struct Stopping {
    Proc* p;
    Clock::time_point deadline;
  };
  std::vector<Stopping> stopping;
  auto needed = [&](const Proc& p) {  // by a running client of it
    for (const auto& q : procs_)
      if (q.pid != 0 && q.def->engine != p.def->engine &&
          std::find(q.def->after.begin(), q.def->after.end(), p.name) != q.def->after.end())
        return true;
    return false;
  };
  auto signalled = [&](const Proc& p) {
    return std::any_of(stopping.begin(), stopping.end(),
                       [&](const Stopping& s) { return s.p == &p; });
  };
  for (;;) {
    for (auto& p : procs_) {
      if (p.pid == 0) {
        if (p.state == "pending" || p.state == "exited") p.state = "stopped";
      } else if (!signalled(p) && !needed(p)) {
        ::kill(p.pid, p.spec ? p.spec->stop_signal : SIGTERM);
        stopping.push_back({&p, Clock::now() + kStopTimeout});
      }
    }
    if (stopping.empty()) break;
    std::this_thread::sleep_for(milliseconds(10));
    for (auto it = stopping.begin(); it != stopping.end();) {
      int status = 0;
      const bool late = Clock::now() > it->deadline;
      if (late) ::kill(-it->p->pid, SIGKILL);
      if (::waitpid(it->p->pid, &status, late ? 0 : WNOHANG) == 0) {
        ++it;
        continue;
      }
      exited(*it->p, status, "stopped");
      it = stopping.erase(it);
    }
  }
  save();
}

std::vector<Proc*> Supervisor::targets(const std::string& target) {
  std::vector<Proc*> out;
  for (auto& p : procs_)
    if (p.name == target || p.host->name == target) out.push_back(&p);
  return out;
}

void Supervisor::handle(int client) {
  auto request = read_request(client, milliseconds(1000));
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
  if (op == "scale") {  // {"web": N} | {"workers": N} | {"shards": N}
    const std::string tier = request->contains("workers")  ? "workers"
                             : request->contains("shards") ? "shards"
                                                           : "web";
    const auto* n = request->if_contains(tier);
    if (!n || !n->is_int64()) {
      write_answer(client, {{"ok", false}, {"error", "scale needs " + tier + "=N"}});
      return;
    }
    const int want = static_cast<int>(n->as_int64());
    write_answer(client, tier == "workers"  ? scale_workers(want)
                         : tier == "shards" ? scale_shards(want)
                                            : scale(want));
    return;
  }
  if (op == "deploy") {
    write_answer(client, deploy(*request));
    return;
  }
  if (op == "restart") {
    const auto* tier = request->if_contains("tier");
    write_answer(client, restart(tier && tier->is_string() ? std::string(tier->as_string()) : ""));
    return;
  }
  if (op == "autoscale") {
    const auto* tier = request->if_contains("tier");
    const bool workers = tier && tier->is_string() && tier->as_string() == "workers";
    write_answer(client, workers ? set_worker_autoscale(*request) : set_autoscale(*request));
    return;
  }
  const auto* t = request->if_contains("target");
  const std::string target = t && t->is_string() ? std::string(t->as_string()) : "";
  if (op == "cut" || op == "heal") {
    const auto* peer = request->if_contains("peer");
    write_answer(
        client,
        partition(op, target, peer && peer->is_string() ? std::string(peer->as_string()) : ""));
    return;
  }
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
    if (op == "kill")
      stop(*p, SIGKILL, "exited");
    else if (op == "stop")
      stop(*p, p->spec ? p->spec->stop_signal : SIGTERM, "stopped");
    else if (p->pid == 0)
      start(*p);
  }
  write_answer(client, {{"ok", true}, {"processes", names}});
}

const HostDef* Supervisor::host(const std::string& name) const {
  for (const auto& h : hosts_)
    if (h.name == name) return &h;
  return nullptr;
}

json::object Supervisor::partition(const std::string& op, const std::string& a,
                                   const std::string& b) {
  const HostDef* ha = host(a);
  const HostDef* hb = host(b);
  if (!ha || !hb || ha == hb)
    return {{"ok", false},
            {"error", op + " needs two hosts of the stage (got '" + a + "', '" + b + "')"}};
  auto addresses = [](const HostDef& h) {
    std::vector<std::string> out{host_address(h)};
    if (h.public_number > 0) out.push_back(public_address(h));
    return out;
  };
  const auto change = op == "cut" ? cut_routes : heal_routes;
  std::string error = change(ha->name, addresses(*hb));
  if (error.empty()) error = change(hb->name, addresses(*ha));
  if (!error.empty()) return {{"ok", false}, {"error", error}};
  progress(fmt::format("chaos {}: {} <-> {}", op, a, b));
  return {{"ok", true}, {"processes", json::array{}}};
}

// During a long operation: `status` is answered, `down` aborts the operation and is answered
// once everything has stopped, anything else is refused.
void Supervisor::handle_busy(int client) {
  auto request = read_request(client, milliseconds(1000));
  const std::string op = request && request->contains("op") && request->at("op").is_string()
                             ? std::string(request->at("op").as_string())
                             : "";
  if (op == "status") {
    write_answer(client, {{"ok", true}, {"status", status()}});
  } else if (op == "down" && down_client_ < 0) {
    signalled_ = true;
    down_client_ = client;
  } else {
    write_answer(client, {{"ok", false}, {"error", "busy: " + busy_ + " in progress"}});
  }
}

// An engine's own chaos action (engine.h: ProcessSpec::actions) on the running processes of
// `target` that have it; an error when none has it or one of them fails.
void Supervisor::engine_action(int client, const std::string& op, const std::string& target,
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

void Supervisor::save() {
  if (host(kObsHost)) {  // --observe: what Prometheus scrapes follows the hosts
    std::vector<const HostDef*> hosts;
    for (const auto& h : hosts_) hosts.push_back(&h);
    try {
      write_scrape_targets(fmt::format("{}/hosts/{}", dir_, kObsHost), scrape_targets(hosts));
    } catch (const std::exception& e) {
      progress(fmt::format("supervisor: scrape targets: {}", e.what()));
    }
  }
  state_.processes.clear();
  for (const auto& p : procs_)
    state_.processes.push_back({.name = p.name,
                                .host = p.host->name,
                                .pid = p.pid,
                                .start_time = p.start_time,
                                .argv = p.spec ? p.spec->launch.argv : std::vector<std::string>{},
                                .log = p.spec ? p.spec->launch.log : ""});
  save_state(dir_, state_);
}

Stage planned_stage(const UpOptions& options) {
  const Stage* stage = find_stage(options.stage);
  if (!stage) {
    std::string names;
    for (const auto& n : stage_names()) names += (names.empty() ? "" : ", ") + n;
    throw std::invalid_argument(fmt::format("no stage '{}' (stages: {})", options.stage, names));
  }
  Stage planned = select_hosts(*stage, options.hosts);
  if (options.observe) planned = observed(std::move(planned));
  return with_cpu_quotas(std::move(planned), options.cpus);
}

int supervise(const std::string& dir, const UpOptions& options) {
  std::optional<Stage> stage;
  try {
    stage = planned_stage(options);
  } catch (const std::invalid_argument& e) {
    progress(fmt::format("supervisor: {}", e.what()));
    return 2;
  }
  return Supervisor(dir, std::move(*stage)).run();
}

}  // namespace ztm::lab
