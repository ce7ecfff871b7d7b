#pragma once
// The lab's network: hosts are network namespaces on per-data-center bridges. Everything here is
// named with kPrefix; nothing without it is ever touched. All `ip` (iproute2) calls live in
// network.cc and run with an argv vector, never a shell string.

#include <sys/types.h>

#include <string>
#include <vector>

namespace ztm::lab {

inline constexpr const char* kPrefix = "ztm-";

// "web1" -> "ztm-web1": the host's namespace and the root side of its veth pair.
std::string netns_name(const std::string& host);
// "dc1" -> "ztm-dc1": the data center's bridge.
std::string bridge_name(const std::string& dc);

// Creates the bridge with `cidr` (e.g. "10.77.1.1/24") and sets it up.
// Throws std::runtime_error with ip's message.
void create_bridge(const std::string& bridge, const std::string& cidr);

// Creates namespace ztm-<name>, loopback up, a veth pair (ztm-<name> on `bridge`, eth0 inside)
// with `cidr` on eth0 and no route beyond that subnet: a client group on the public network
// (stages.h, ClientGroup). Throws std::runtime_error.
void create_client(const std::string& name, const std::string& bridge, const std::string& cidr);

// Creates namespace ztm-<host>, loopback up, a veth pair (ztm-<host> on `bridge`, eth0 inside)
// with `cidr` on eth0 and a route to the lab (10.77.0.0/16, nothing else) via `gateway`. Throws
// std::runtime_error.
void create_host(const std::string& host, const std::string& bridge, const std::string& cidr,
                 const std::string& gateway);

// The public side of a host that has a public address (the load balancer): a second veth pair,
// "ztm-<host>p" on `bridge` (ztm-public), eth1 in the namespace with `cidr`. Replies to public
// clients leave through eth1 (its subnet is directly connected). Throws std::runtime_error.
std::string public_link_name(const std::string& host);  // "ztm-lb1p"
void add_public_link(const std::string& host, const std::string& bridge, const std::string& cidr);

// A partition (ztm lab chaos cut/heal): in namespace ztm-<host>, a blackhole route to each of
// `addresses` (host routes, /32), so that nothing leaves the host for them; its replies to them
// are dropped too, so both hosts' routes make the cut two-way. Idempotent; `heal` removes the
// routes `cut` added (a missing one is not an error). Returns an error message or "".
std::string cut_routes(const std::string& host, const std::vector<std::string>& addresses);
std::string heal_routes(const std::string& host, const std::vector<std::string>& addresses);

// True for a lab bridge (deleted after the veths attached to it).
bool is_bridge(const std::string& link);

// Names of existing namespaces / links that start with kPrefix.
std::vector<std::string> list_lab_netns();
std::vector<std::string> list_lab_links();

// Pids of the processes whose network namespace is `netns` (a name under /run/netns).
std::vector<pid_t> pids_in_netns(const std::string& netns);

// Deletes a link / namespace; a missing one is not an error. REQUIRES: name starts with kPrefix.
// Returns an error message or "".
std::string delete_link(const std::string& name);
std::string delete_netns(const std::string& name);

// In a forked child: joins namespace `netns`. Returns false (errno set) on failure.
// Async-signal-safe given a pre-built path.
bool enter_netns(const char* netns_path);
std::string netns_path(const std::string& netns);  // "/run/netns/<netns>"

}  // namespace ztm::lab
