#pragma once
// The host and port of an "http://host:port" URL (an edge's admin listener or exporter, as
// cdn.edge_admins and cdn.edge_metrics name them; parse_named_urls checked their form).

#include <optional>
#include <string>
#include <string_view>

namespace ztm {

struct HostPort {
  std::string host;  // an IPv6 address without its brackets
  int port = 0;
};

// "http://10.77.1.81:6091" -> {"10.77.1.81", 6091}; "http://[::1]:80/x" -> {"::1", 80};
// nullopt when the scheme is not http:// or the port is missing or not 1..65535.
std::optional<HostPort> http_host_port(std::string_view url);

}  // namespace ztm
