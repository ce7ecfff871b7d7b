// The worker hosts at runtime (stage queue, docs/lab.md "Workers"): `scale workers=N` and the
// worker autoscaler. Workers take no requests, so there is nothing to drain in a load balancer:
// a new worker host starts fetching jobs once it runs; a leaving one gets SIGTERM (ztm worker
// stops fetching, finishes the jobs in hand, exits 0) and is SIGKILLed only past the stop bound
// — its unacked jobs then come back to another worker after the queue's ack wait.
//
// The depth comes from NATS's monitoring endpoint (GET /jsz?streams=true on nats1:8222), not
// from a worker's ztm_queue_pending: the input of a scaler must not depend on what it scales
// (with every worker dead or replaced there would be no gauge to read), /jsz is one current
// number rather than one per worker sampled at different moments, and it costs no JetStream
// API call on the client port. Both count the same thing: the messages in the ZTM_JOBS
// work-queue stream (published, not yet acked).
#include <fmt/format.h>

#include <algorithm>

#include "lab/health.h"
#include "lab/supervisor_class.h"

namespace ztm::lab {

namespace json = boost::json;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds kScrapeTimeout{300};
constexpr const char* kJobStream = "ZTM_JOBS";  // queue/nats: NatsQueueOptions' stream

}  // namespace

std::vector<Proc*> Supervisor::worker_procs() {
  return numbered_procs([](const Proc& p) { return p.def->engine == "worker"; });
}

json::object Supervisor::scale_workers(int workers) {
  if (stage_.max_workers == 0)
    return {{"ok", false}, {"error", "stage " + stage_.name + " has no workers"}};
  return resize({.tier = "workers",
                 .prefix = "work",
                 .want = workers,
                 .max = stage_.max_workers,
                 .members = [this] { return worker_procs(); },
                 .add = [this](int k) { return add_runtime_host(stage_.worker_host(k)); },
                 .remove =
                     [this](const std::string& host) {
                       remove_runtime_host(host);  // SIGTERM: the worker finishes the jobs in hand
                       return std::string();
                     }});
}

json::object Supervisor::set_worker_autoscale(const json::object& r) {
  if (stage_.max_workers == 0)
    return {{"ok", false}, {"error", "stage " + stage_.name + " has no workers to autoscale"}};
  WorkerAutoscalePolicy p = worker_autoscale_;
  try {
    if (auto* v = r.if_contains("enabled")) p.enabled = v->as_bool();
    if (auto* v = r.if_contains("min")) p.min = static_cast<int>(v->to_number<std::int64_t>());
    if (auto* v = r.if_contains("max")) p.max = static_cast<int>(v->to_number<std::int64_t>());
    if (auto* v = r.if_contains("up_pending")) p.up_pending = v->to_number<std::int64_t>();
  } catch (const std::exception& e) {
    return {{"ok", false}, {"error", std::string("bad autoscale request: ") + e.what()}};
  }
  if (p.min < 1 || p.min > p.max || p.max > stage_.max_workers)
    return {{"ok", false},
            {"error", fmt::format("need 1 <= min <= max <= {}", stage_.max_workers)}};
  if (p.up_pending < 1) return {{"ok", false}, {"error", "need up_pending >= 1"}};
  worker_autoscale_ = p;
  worker_autoscaler_ = {};
  decide(p.enabled ? fmt::format(
                         "autoscale workers on: {}..{} workers, add above {} jobs pending, remove "
                         "when the queue is empty",
                         p.min, p.max, p.up_pending)
                   : "autoscale workers off",
         "ztm lab autoscale workers");
  return {{"ok", true}, {"status", status()}};
}

// Once a second while enabled: reads the queue's depth from NATS and lets the policy
// (autoscaler.h) decide; a change goes through scale_workers().
void Supervisor::worker_autoscale_tick() {
  if (!worker_autoscale_.enabled || stage_.max_workers == 0) return;
  const auto now = Clock::now();
  if (now - last_worker_autoscale_ < std::chrono::seconds(1)) return;
  last_worker_autoscale_ = now;
  std::optional<std::int64_t> pending;
  for (const auto& p : procs_)
    if (p.def->engine == "nats" && p.pid != 0)
      if (auto a = http_request("GET", host_address(*p.host), kNatsMonitorPort, "/jsz?streams=true",
                                kScrapeTimeout);
          a && a->status == 200)
        pending = stream_messages(a->body, kJobStream);
  const int n = static_cast<int>(worker_procs().size());
  const auto decision = worker_autoscaler_.sample(worker_autoscale_, pending, n, now);
  if (decision.target == n) return;
  decide(fmt::format("autoscale workers {} -> {}", n, decision.target), decision.reason);
  auto answer = scale_workers(decision.target);
  if (!answer.at("ok").as_bool())
    decide("autoscale workers failed", std::string(answer.at("error").as_string()));
  worker_autoscaler_.changed(Clock::now());
}

json::object Supervisor::worker_autoscale_status() const {
  const auto pending = worker_autoscaler_.pending();
  int workers = 0;
  for (const auto& p : procs_) workers += p.def->engine == "worker";
  return {{"enabled", worker_autoscale_.enabled},
          {"min", worker_autoscale_.min},
          {"max", worker_autoscale_.max},
          {"up_pending", worker_autoscale_.up_pending},
          {"up_after_s", worker_autoscale_.up_after.count()},
          {"down_after_s", worker_autoscale_.down_after.count()},
          {"pending", pending ? json::value(*pending) : json::value(nullptr)},
          {"workers", workers},
          {"decisions", json::array(decisions_.begin(), decisions_.end())}};
}

}  // namespace ztm::lab
