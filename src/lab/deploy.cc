// `ztm lab deploy BINARY` (docs/lab.md, "Deploying"): a new build of the web tier, canary first.
//   1. The binary is copied into the lab (DIR/bin/ztm-<n>): what runs does not change under it.
//   2. Canary: the first web server is drained in HAProxy, stopped, started on the new binary and
//      put back (the rolling restart's steps), then watched for `canary_s`: its 5xx share of the
//      responses HAProxy got from it (the load balancer's view, whatever the server says of
//      itself), its health, and, when the stage is observed, the API's fast burn-rate alert.
//   3. The others, one at a time, the same way.
// Any failure (a server that does not come back healthy and UP, a canary over the error budget
// or the alert firing) rolls back every server already replaced to the binary it ran, the same
// way. The worker hosts keep their binary (they run `ztm worker`; not a web deploy).
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>

#include "lab/health.h"
#include "lab/observe.h"
#include "lab/supervisor_class.h"

namespace ztm::lab {

namespace json = boost::json;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds kLookEvery{250};
constexpr milliseconds kAlertEvery{2000};
constexpr milliseconds kQueryTimeout{500};
// ALERTS{alertname="ApiErrorBudgetBurnFast",alertstate="firing"}, URL-encoded.
constexpr const char* kFastBurnQuery =
    "/api/v1/query?query=ALERTS%7Balertname%3D%22ApiErrorBudgetBurnFast%22%2C"
    "alertstate%3D%22firing%22%7D";

// Prometheus on the obs host says the fast burn-rate alert fires; false when it cannot tell.
bool fast_burn_firing(const std::string& obs_address) {
  auto answer = http_request("GET", obs_address, kPrometheusPort, kFastBurnQuery, kQueryTimeout);
  if (!answer || answer->status != 200) return false;
  boost::system::error_code ec;
  const auto doc = json::parse(answer->body, ec);
  const auto* result = ec ? nullptr : doc.find_pointer("/data/result", ec);
  return result && result->is_array() && !result->as_array().empty();
}

}  // namespace

std::string Supervisor::restart_web_as(const std::string& name, const Binary& binary) {
  Proc* p = find(name);
  if (!p || !p->spec) return name + " was never started";
  p->spec->launch.argv.at(0) = binary.path;
  p->spec->launch.exe = binary.exe;
  return restart_web(name);
}

// Watches the canary for `policy.canary` (serving status meanwhile): "" when it held, else why
// it failed. `seen` gets what HAProxy counted from it (retried answers count as failed).
std::string Supervisor::watch_canary(const std::string& name, const DeployPolicy& policy,
                                     json::object& seen) {
  auto lb = load_balancer();
  const std::string host = find(name)->host->name;
  const auto base = lb ? lb->server(host) : std::nullopt;
  if (!base) return "the load balancer does not answer for " + host;
  const HostDef* obs = this->host(kObsHost);
  // The alert is the whole API's: one that already fires (an earlier bad canary's 5 minutes,
  // another incident) says nothing of this canary. Only its starting during the watch counts.
  const bool firing_before = obs && fast_burn_firing(host_address(*obs));
  std::string failure;
  auto next_look = Clock::now(), next_alert = Clock::now();
  std::int64_t responses = 0, errors = 0;
  pump_until(
      [&] {
        const auto now = Clock::now();
        if (now >= next_look) {
          next_look = now + kLookEvery;
          const auto s = lb->server(host);
          const Proc* p = find(name);
          if (!s || s->status.rfind("UP", 0) != 0)
            failure = fmt::format("{} left the pool ({})", host, s ? s->status : "gone");
          else if (p->state != "running" || !p->healthy)
            failure = fmt::format("{} is {}{}", name, p->state, p->healthy ? "" : ", unhealthy");
          if (s) {
            responses = s->responses - base->responses;
            errors = s->responses_5xx - base->responses_5xx;
          }
          if (failure.empty() && responses >= std::max<std::int64_t>(policy.min_requests, 1) &&
              static_cast<double>(errors) > policy.max_error_ratio * static_cast<double>(responses))
            failure =
                fmt::format("{}: {} of {} responses 5xx ({:.0f} %), above {:.1f} %", host, errors,
                            responses, 100.0 * errors / responses, 100 * policy.max_error_ratio);
        }
        if (failure.empty() && obs && !firing_before && now >= next_alert) {
          next_alert = now + kAlertEvery;
          if (fast_burn_firing(host_address(*obs)))
            failure = "the API's fast burn-rate alert fires (ApiErrorBudgetBurnFast)";
        }
        return !failure.empty();
      },
      policy.canary);
  seen = {{"host", host}, {"responses", responses}, {"responses_5xx", errors}};
  if (failure.empty() && responses < policy.min_requests)
    failure = fmt::format("{} got {} requests in the canary window, fewer than the {} asked", host,
                          responses, policy.min_requests);
  if (failure.empty() && signalled_) failure = "interrupted";
  return failure;
}

json::object Supervisor::deploy(const json::object& request) {
  if (stage_.max_web == 0)
    return {{"ok", false},
            {"error", "stage " + stage_.name + " has no web tier behind a load balancer"}};
  DeployPolicy policy;
  std::string source;
  try {
    source = std::string(request.at("binary").as_string());
    if (auto* v = request.if_contains("canary_ms"))
      policy.canary = milliseconds(v->to_number<std::int64_t>());
    if (auto* v = request.if_contains("max_error_ratio"))
      policy.max_error_ratio = v->to_number<double>();
    if (auto* v = request.if_contains("min_requests"))
      policy.min_requests = v->to_number<std::int64_t>();
  } catch (const std::exception& e) {
    return {{"ok", false}, {"error", std::string("bad deploy request: ") + e.what()}};
  }
  struct stat st {};
  if (source.empty() || source[0] != '/' || ::stat(source.c_str(), &st) != 0 ||
      !S_ISREG(st.st_mode) || ::access(source.c_str(), X_OK) != 0)
    return {{"ok", false},
            {"error", source + " is not an executable file (give an absolute path)"}};
  if (policy.canary.count() < 0 || policy.max_error_ratio < 0 || policy.max_error_ratio > 1 ||
      policy.min_requests < 0)
    return {{"ok", false},
            {"error", "need canary >= 0, 0 <= max_error_ratio <= 1, min_requests >= 0"}};

  // A copy the lab owns.
  const std::string binary = fmt::format("{}/bin/ztm-{}", dir_, ++deploys_);
  try {
    std::filesystem::create_directories(dir_ + "/bin");
    std::filesystem::copy_file(source, binary, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::permissions(binary, std::filesystem::perms(0755));
  } catch (const std::exception& e) {
    return {{"ok", false}, {"error", std::string("copying the binary: ") + e.what()}};
  }
  busy_ = "deploy " + binary;
  std::vector<std::string> order;
  std::map<std::string, Binary> before;  // what each server ran (this binary: kThisBinary)
  for (const Proc* p : web_procs()) {
    order.push_back(p->name);
    before[p->name] = p->spec ? Binary{p->spec->launch.argv.at(0), p->spec->launch.exe}
                              : Binary{self_exe(), kThisBinary};
  }
  json::array replaced;
  json::object canary;
  std::string failure;
  for (std::size_t i = 0; i < order.size() && failure.empty(); ++i) {
    decide(fmt::format("deploy: {} on {}", i == 0 ? "canary" : "roll", order[i]), busy_);
    failure = restart_web_as(order[i], {binary, ""});
    replaced.emplace_back(order[i]);  // even half-way: it is rolled back too
    if (failure.empty() && i == 0) failure = watch_canary(order[i], policy, canary);
  }
  if (failure.empty()) {
    web_binary_ = {binary, ""};  // web servers added from now on run it too
    busy_.clear();
    return {{"ok", true}, {"binary", binary}, {"deployed", replaced}, {"canary", canary}};
  }
  decide("deploy: rolling back " + json::serialize(replaced), failure);
  json::array rolled_back;
  std::string rollback_error;
  for (auto it = replaced.rbegin(); it != replaced.rend() && !signalled_; ++it) {
    const std::string name(it->as_string());
    if (auto e = restart_web_as(name, before[name]); !e.empty())
      rollback_error += (rollback_error.empty() ? "" : "; ") + e;
    rolled_back.emplace_back(name);
  }
  busy_.clear();
  json::object answer{
      {"ok", false},
      {"error", "deploy failed: " + failure + "; rolled back " + json::serialize(rolled_back)},
      {"binary", binary},
      {"rolled_back", rolled_back},
      {"canary", canary}};
  if (!rollback_error.empty()) answer["rollback_error"] = rollback_error;
  return answer;
}

}  // namespace ztm::lab
