// The supervisor's `status` document (docs/lab.md, "status --json"): hosts, processes, the
// engines' live views, the web and worker tiers' scaling state, and the client groups.
#include <fmt/format.h>

#include "lab/cgroups.h"
#include "lab/network.h"
#include "lab/supervisor_class.h"

namespace ztm::lab {

namespace json = boost::json;

json::object Supervisor::status() const {
  json::array hosts;
  for (const auto& h : hosts_) {
    json::array processes;
    for (const auto& p : procs_) {
      if (p.host != &h) continue;
      json::object o = {
          {"name", p.name}, {"pid", p.pid}, {"state", p.state}, {"healthy", p.healthy}};
      if (!p.exit.empty()) o["exit"] = p.exit;
      if (!p.error.empty()) o["error"] = p.error;
      if (p.spec) o["log"] = p.spec->launch.log;
      processes.push_back(std::move(o));
    }
    json::object host = {{"name", h.name},
                         {"dc", h.dc},
                         {"address", host_address(h)},
                         {"roles", json::array(h.roles.begin(), h.roles.end())},
                         {"processes", processes}};
    if (h.public_number > 0) host["public_address"] = public_address(h);
    // The host's own CPU, memory and I/O (its cgroups); null where a controller is missing.
    const HostUsage u = host_usage(h.name);
    const auto or_null = [](const auto& v) { return v ? json::value(*v) : json::value(nullptr); };
    host["usage"] = {{"cpu_seconds", or_null(u.cpu_seconds)},
                     {"cpu_quota_cores", or_null(u.cpu_quota_cores)},  // null: no quota
                     {"cpu_throttled_seconds", or_null(u.cpu_throttled_seconds)},
                     {"memory_bytes", or_null(u.memory_bytes)},
                     {"io_read_bytes", or_null(u.io_read_bytes)},
                     {"io_write_bytes", or_null(u.io_write_bytes)}};
    for (const auto& p : procs_) {  // the engine's live view (Patroni: role, lag; HAProxy: pool)
      if (p.host != &h || !p.spec || !p.spec->describe) continue;
      if (p.state == "starting" || p.state == "running") {
        p.spec->describe(host);
      } else if (p.def->engine == "delay") {  // the host is up; its far links are cut
        host["delay"] = {{"down", true}};
      } else {
        host["role"] = "down";
        if (p.def->engine == "patroni") host["lag_bytes"] = nullptr;
      }
    }
    hosts.push_back(std::move(host));
  }
  json::object out = {{"stage", stage_.name},
                      {"figure", stage_.figure},
                      {"url", entry_url(stage_)},
                      {"hosts", hosts}};
  if (stage_.entry_tls_port > 0) {
    for (const auto& h : hosts_)
      if (h.name == stage_.entry_host && h.public_number > 0)
        out["https_url"] = fmt::format("https://{}:{}", public_address(h), stage_.entry_tls_port);
  }
  if (stage_.max_web > 0) {
    json::array decisions(decisions_.begin(), decisions_.end());
    out["autoscale"] = {
        {"enabled", autoscale_.enabled},
        {"min", autoscale_.min},
        {"max", autoscale_.max},
        {"up_rps", autoscale_.up_rps},
        {"down_rps", autoscale_.down_rps},
        {"load_rps_per_server",
         autoscaler_.load_rps() < 0 ? json::value(nullptr) : json::value(autoscaler_.load_rps())},
        {"servers", autoscaler_.sampled()},
        {"decisions", decisions}};
  }
  if (stage_.max_workers > 0) out["worker_autoscale"] = worker_autoscale_status();
  if (stage_.max_shards > 0) out["shard_map"] = shard_map_status();
  if (!stage_.client_groups.empty()) {
    json::array groups;
    for (const auto& g : stage_.client_groups)
      groups.push_back(json::object{{"name", g.name},
                                    {"netns", netns_name(g.name)},
                                    {"subnet", client_subnet(g)},
                                    {"address", client_address(g)},
                                    {"nearer", g.nearer}});
    out["client_groups"] = std::move(groups);
  }
  if (!busy_.empty()) out["busy"] = busy_;
  return out;
}

}  // namespace ztm::lab
