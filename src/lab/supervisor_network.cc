// The supervisor's hosts on the network: the bridges and hosts of the stage at start, and web
// hosts added or removed at runtime (scaling.cc). Every resource is recorded in lab.json before
// it is made, so `down` finds it even if the supervisor dies halfway.
#include <fmt/format.h>

#include <algorithm>

#include "lab/cgroups.h"
#include "lab/network.h"
#include "lab/supervisor_class.h"

namespace ztm::lab {

void Supervisor::build_network() {
  std::vector<std::string> nets;
  for (const auto& h : hosts_) {
    if (std::find(nets.begin(), nets.end(), h.dc) == nets.end()) nets.push_back(h.dc);
    if (h.public_number > 0 && std::find(nets.begin(), nets.end(), kPublicNet) == nets.end())
      nets.push_back(kPublicNet);
  }
  if (!stage_.client_groups.empty() &&
      std::find(nets.begin(), nets.end(), kPublicNet) == nets.end())
    nets.push_back(kPublicNet);
  for (const auto& net : nets) {
    const std::string bridge = bridge_name(net);
    const std::string gateway = net == kPublicNet ? public_gateway() : dc_gateway(net);
    state_.links.push_back(bridge);
    save();
    create_bridge(bridge, gateway + "/24");
    progress(fmt::format("network: bridge {} {}/24", bridge, gateway));
  }
  for (const auto& h : hosts_) add_host_network(h);
  for (const auto& g : stage_.client_groups) {
    const std::string ns = netns_name(g.name);
    state_.netns.push_back(ns);
    state_.links.push_back(ns);
    save();
    create_client(g.name, bridge_name(kPublicNet), client_address(g) + "/24");
    progress(fmt::format("network: clients {} {} ({}) on {}", g.name, client_address(g),
                         client_subnet(g), bridge_name(kPublicNet)));
  }
}

void Supervisor::add_host_network(const HostDef& h) {
  const std::string ns = netns_name(h.name);
  state_.netns.push_back(ns);
  state_.links.push_back(ns);
  if (h.public_number > 0) state_.links.push_back(public_link_name(h.name));
  save();
  create_host(h.name, bridge_name(h.dc), host_address(h) + "/24", dc_gateway(h.dc));
  progress(fmt::format("network: host {} {} on {}", h.name, host_address(h), bridge_name(h.dc)));
  if (h.public_number > 0) {
    add_public_link(h.name, bridge_name(kPublicNet), public_address(h) + "/24");
    progress(fmt::format("network: host {} public {} on {}", h.name, public_address(h),
                         bridge_name(kPublicNet)));
  }
}

// REQUIRES: no process runs in the host any more.
void Supervisor::remove_host_network(const std::string& host) {
  const std::string ns = netns_name(host);
  for (const auto& err : {delete_link(ns), delete_netns(ns)})
    if (!err.empty()) progress(fmt::format("network: {}", err));
  std::erase(state_.netns, ns);
  std::erase(state_.links, ns);
  for (const auto& err : remove_host_cgroups(host)) progress(fmt::format("cgroups: {}", err));
  progress(fmt::format("network: host {} removed", host));
  save();
}

}  // namespace ztm::lab
