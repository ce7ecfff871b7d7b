// The web tier at runtime (docs/load-balancer.md): `scale web=N`, the rolling `restart web`,
// and the autoscaler. Every change goes through the load balancer first, so that no client
// request fails: a new server joins the pool only once it is healthy; a leaving one is drained
// in HAProxy (no new requests, in-flight ones finish), put in MAINT, then stopped with SIGTERM
// (ztm serve drains too: /readyz 503, in-flight requests finish), then deleted from the pool.
#include <fmt/format.h>

#include <algorithm>
#include <csignal>

#include "lab/health.h"
#include "lab/network.h"
#include "lab/supervisor_class.h"

namespace ztm::lab {

namespace json = boost::json;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds kHealthyBound{30'000};  // a started web server answers /readyz
constexpr milliseconds kPoolBound{10'000};     // HAProxy's checks see it UP (rise 2 x 500 ms)
constexpr milliseconds kDrainBound{5'000};     // in-flight requests through a draining server
constexpr milliseconds kDeleteBound{5'000};    // HAProxy lets go of its connections to it
constexpr milliseconds kStopBound{10'000};     // ztm serve drains (drain delay, in-flight requests)
constexpr milliseconds kScrapeTimeout{300};
constexpr std::size_t kMaxDecisions = 20;

bool is_up(const std::optional<PoolServer>& s) {
  return s && s->status.rfind("UP", 0) == 0;
}

}  // namespace

bool Supervisor::pump_until(const std::function<bool()>& done, milliseconds bound) {
  const auto deadline = Clock::now() + bound;
  while (!done()) {
    if (signalled_ || Clock::now() > deadline) return false;
    poll_once(true);
  }
  return true;
}

std::optional<LoadBalancerApi> Supervisor::load_balancer() {
  for (const auto& p : procs_)
    if (p.def->engine == "haproxy" && p.pid != 0)
      return LoadBalancerApi(
          haproxy_socket(fmt::format("{}/hosts/{}/haproxy", dir_, p.host->name)));
  return std::nullopt;
}

std::vector<Proc*> Supervisor::numbered_procs(const std::function<bool(const Proc&)>& pick) {
  std::vector<Proc*> out;
  for (auto& p : procs_)
    if (pick(p)) out.push_back(&p);
  std::sort(out.begin(), out.end(), [](const Proc* a, const Proc* b) {
    return host_number(a->host->name) < host_number(b->host->name);
  });
  return out;
}

// The web servers (hosts with role web), by number.
std::vector<Proc*> Supervisor::web_procs() {
  return numbered_procs([](const Proc& p) {
    return p.def->engine == "ztm" && std::count(p.host->roles.begin(), p.host->roles.end(), "web");
  });
}

std::string Supervisor::wait_in_pool(const std::string& host, const std::string& want,
                                     milliseconds bound) {
  auto lb = load_balancer();
  if (!lb) return "the load balancer is not running";
  const bool ok = want == "UP" ? pump_until([&] { return is_up(lb->server(host)); }, bound)
                               : pump_until(
                                     [&] {
                                       auto s = lb->server(host);
                                       return !s || s->sessions == 0;
                                     },
                                     bound);
  return ok ? "" : fmt::format("{} not {} in HAProxy within {} ms", host, want, bound.count());
}

// SIGTERM (the engine's stop signal) and wait, serving `status` meanwhile, until it has exited;
// SIGKILL past kStopBound. The process ends "stopped", as with `chaos stop`.
void Supervisor::stop_gracefully(const std::string& name) {
  Proc* p = find(name);
  if (p->pid != 0 && p->spec) {
    ::kill(p->pid, p->spec->stop_signal);
    pump_until([&] { return find(name)->pid == 0; }, kStopBound);
  }
  stop(*find(name), SIGKILL, "stopped");  // only signals when it is still running
  find(name)->state = "stopped";
}

// A host made at runtime (a web server, a worker): its namespace and link, its one process
// started and waited for (healthy). "" or what went wrong; the host stays (remove it).
std::string Supervisor::add_runtime_host(HostDef def) {
  if (host(def.name)) return def.name + " exists already";
  hosts_.push_back(std::move(def));
  const HostDef& h = hosts_.back();
  try {
    add_host_network(h);
  } catch (const std::exception& e) {
    return fmt::format("network for {}: {}", h.name, e.what());
  }
  // The server first (prepared: config, seed; and spawned), then what runs beside it (a log
  // shipper, with --observe) as the loop finds its dependencies healthy. Only the server is
  // waited for: a side-car that cannot start (the log host is down) does not keep a server out
  // of the pool.
  for (const auto& p : h.processes) procs_.push_back({&h, &p, process_name(h, p)});
  const std::string name = process_name(h, h.processes.front());
  start(*find(name));
  pump_until([&] { return find(name)->healthy || find(name)->state == "exited"; }, kHealthyBound);
  if (!find(name)->healthy) return name + " did not become healthy: " + find(name)->error;
  return "";
}

// Stops every process of `host` gracefully (its stop signal, then SIGKILL past kStopBound) and
// removes it with its namespace and link.
void Supervisor::remove_runtime_host(const std::string& host) {
  for (Proc* p : targets(host)) stop_gracefully(p->name);
  std::erase_if(procs_, [&](const Proc& p) { return p.host->name == host; });
  hosts_.remove_if([&](const HostDef& h) { return h.name == host; });
  remove_host_network(host);
  save();
}

std::string Supervisor::add_web(int n) {
  const HostDef def = stage_.web_host(n);
  if (auto e = add_runtime_host(def); !e.empty()) return e;
  auto lb = load_balancer();
  if (!lb) return "the load balancer is not running";
  if (auto e = lb->add(def.name, host_address(def), kWebPort); !e.empty())
    return "HAProxy: add server " + def.name + ": " + e;
  return wait_in_pool(def.name, "UP", kPoolBound);
}

std::string Supervisor::remove_web(const std::string& host) {
  auto lb = load_balancer();
  if (lb && !lb->server(host)) lb.reset();  // it never joined the pool (it failed to start)
  if (lb) {
    lb->set_state(host, "drain");                         // no new requests; in-flight ones finish
    wait_in_pool(host, "without sessions", kDrainBound);  // bounded: a stuck request does not block
    lb->set_state(host, "maint");
  }
  for (Proc* p : targets(host)) stop_gracefully(p->name);
  std::string error;
  if (lb && !pump_until([&] { return lb->remove(host).empty(); }, kDeleteBound))
    error = "HAProxy: del server " + host + ": " + lb->remove(host);
  remove_runtime_host(host);
  return error;
}

std::string Supervisor::restart_web(const std::string& name) {
  const std::string host = find(name)->host->name;
  auto lb = load_balancer();
  if (!lb) return "the load balancer is not running";
  lb->set_state(host, "drain");
  wait_in_pool(host, "without sessions", kDrainBound);
  lb->set_state(host, "maint");
  stop_gracefully(name);
  start(*find(name));
  pump_until([&] { return find(name)->healthy || find(name)->state == "exited"; }, kHealthyBound);
  if (!find(name)->healthy) return name + " did not become healthy after the restart";
  if (auto e = lb->set_state(host, "ready"); !e.empty()) return "HAProxy: " + e;
  return wait_in_pool(host, "UP", kPoolBound);
}

// After HAProxy (re)starts its pool is the one in its config file (the stage's first servers):
// a restart of the load balancer forgets what was added or removed at runtime. Puts the live
// web tier back: adds the web hosts it lacks, deletes the servers whose host is gone.
void Supervisor::sync_pool() {
  pool_stale_ = false;
  auto lb = load_balancer();
  auto pool = lb ? lb->servers() : std::nullopt;
  if (!pool) return;
  std::vector<std::string> hosts;
  for (const Proc* p : web_procs()) hosts.push_back(p->host->name);
  for (const auto& s : *pool) {
    if (std::find(hosts.begin(), hosts.end(), s.name) != hosts.end()) continue;
    lb->set_state(s.name, "maint");
    if (auto e = lb->remove(s.name); !e.empty())
      progress(fmt::format("pool: del server {}: {}", s.name, e));
    else
      decide("pool: deleted " + s.name,
             "its host is gone; HAProxy restarted with its config file's pool");
  }
  for (const Proc* p : web_procs()) {
    const std::string& h = p->host->name;
    if (std::any_of(pool->begin(), pool->end(), [&](const PoolServer& s) { return s.name == h; }))
      continue;
    if (auto e = lb->add(h, host_address(*p->host), kWebPort); !e.empty())
      progress(fmt::format("pool: add server {}: {}", h, e));
    else
      decide("pool: added " + h, "HAProxy restarted with its config file's pool");
  }
}

void Supervisor::decide(const std::string& action, const std::string& reason) {
  const auto now =
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch());
  decisions_.push_back({{"at_ms", now.count()}, {"action", action}, {"reason", reason}});
  if (decisions_.size() > kMaxDecisions) decisions_.pop_front();
  progress(fmt::format("scaling: {} ({})", action, reason));
}

json::object Supervisor::scale(int web) {
  if (stage_.max_web == 0)
    return {{"ok", false},
            {"error", "stage " + stage_.name + " has no load balancer to scale behind"}};
  return resize({.tier = "web",
                 .prefix = "web",
                 .want = web,
                 .max = stage_.max_web,
                 .members = [this] { return web_procs(); },
                 .add = [this](int k) { return add_web(k); },
                 .remove = [this](const std::string& host) { return remove_web(host); }});
}

// One host at a time until the tier has `want`: adds the lowest free number, removes the
// highest. Answers with the tier's hosts afterwards.
json::object Supervisor::resize(const Tier& t) {
  if (t.want < 1 || t.want > t.max)
    return {{"ok", false}, {"error", fmt::format("{} must be 1..{}", t.tier, t.max)}};
  busy_ = fmt::format("scale {}={}", t.tier, t.want);
  std::string error;
  while (error.empty() && !signalled_) {
    auto members = t.members();
    const int n = static_cast<int>(members.size());
    if (n == t.want) break;
    if (n < t.want) {
      int k = 1;
      while (std::any_of(members.begin(), members.end(),
                         [&](const Proc* p) { return host_number(p->host->name) == k; }))
        ++k;
      decide(fmt::format("add {}{}", t.prefix, k), busy_);
      error = t.add(k);
    } else {
      const std::string host = members.back()->host->name;
      decide("remove " + host, busy_);
      error = t.remove(host);
    }
  }
  busy_.clear();
  json::array names;
  for (const Proc* p : t.members()) names.emplace_back(p->host->name);
  if (!error.empty()) return {{"ok", false}, {"error", error}, {t.tier, names}};
  return {{"ok", true}, {t.tier, names}};
}

json::object Supervisor::restart(const std::string& tier) {
  if (tier != "web" || stage_.max_web == 0)
    return {{"ok", false},
            {"error", "only the web tier behind a load balancer restarts: restart web"}};
  busy_ = "restart web";
  json::array names;
  std::vector<std::string> order;
  for (const Proc* p : web_procs()) order.push_back(p->name);
  for (const auto& name : order) {
    if (signalled_) break;
    decide("restart " + name, busy_);
    if (auto e = restart_web(name); !e.empty()) {
      busy_.clear();
      return {{"ok", false}, {"error", e}, {"processes", names}};
    }
    names.emplace_back(name);
  }
  busy_.clear();
  return {{"ok", true}, {"processes", names}};
}

json::object Supervisor::set_autoscale(const json::object& r) {
  if (stage_.max_web == 0)
    return {{"ok", false}, {"error", "stage " + stage_.name + " has no web tier to autoscale"}};
  AutoscalePolicy p = autoscale_;
  try {
    if (auto* v = r.if_contains("enabled")) p.enabled = v->as_bool();
    if (auto* v = r.if_contains("min")) p.min = static_cast<int>(v->to_number<std::int64_t>());
    if (auto* v = r.if_contains("max")) p.max = static_cast<int>(v->to_number<std::int64_t>());
    if (auto* v = r.if_contains("up_rps")) p.up_rps = v->to_number<double>();
    if (auto* v = r.if_contains("down_rps")) p.down_rps = v->to_number<double>();
  } catch (const std::exception& e) {
    return {{"ok", false}, {"error", std::string("bad autoscale request: ") + e.what()}};
  }
  if (p.min < 1 || p.min > p.max || p.max > stage_.max_web)
    return {{"ok", false}, {"error", fmt::format("need 1 <= min <= max <= {}", stage_.max_web)}};
  if (p.down_rps < 0 || p.down_rps >= p.up_rps)
    return {{"ok", false}, {"error", "need 0 <= down_rps < up_rps"}};
  autoscale_ = p;
  autoscaler_ = {};
  decide(p.enabled
             ? fmt::format(
                   "autoscale on: {}..{} servers, add above {} rps per server, remove below {}",
                   p.min, p.max, p.up_rps, p.down_rps)
             : "autoscale off",
         "ztm lab autoscale");
  return {{"ok", true}, {"status", status()}};
}

// Once a second while enabled: samples every healthy web server's /metrics and lets the
// policy (autoscaler.h) decide; a change goes through scale(), so it drains like any other.
void Supervisor::autoscale_tick() {
  if (!autoscale_.enabled || stage_.max_web == 0) return;
  const auto now = Clock::now();
  if (now - last_autoscale_ < std::chrono::seconds(1)) return;
  last_autoscale_ = now;
  std::map<std::string, double> counts;
  const auto webs = web_procs();
  for (const Proc* p : webs) {
    if (!p->healthy) continue;
    auto answer = http_request("GET", host_address(*p->host), kWebPort, "/metrics", kScrapeTimeout);
    if (answer && answer->status == 200) counts[p->host->name] = served_requests(answer->body);
  }
  const int n = static_cast<int>(webs.size());
  const auto decision = autoscaler_.sample(autoscale_, counts, n, now);
  if (decision.target == n) return;
  decide(fmt::format("autoscale web {} -> {}", n, decision.target), decision.reason);
  auto answer = scale(decision.target);
  if (!answer.at("ok").as_bool())
    decide("autoscale failed", std::string(answer.at("error").as_string()));
  autoscaler_.changed(Clock::now());
}

}  // namespace ztm::lab
