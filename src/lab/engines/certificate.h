#pragma once
// TLS for the lab's public addresses: HAProxy ends TLS on the load balancer (engines/haproxy.cc)
// and in front of each CDN edge (engines/varnish.cc) with a self-signed certificate.

#include <string>

namespace ztm::lab {

// Makes a self-signed certificate for the IP `address` with openssl in `workdir`:
// <name>.key, <name>.crt (what a client pins: curl --cacert) and <name>.pem (both, as HAProxy
// wants them). Returns the .pem's path. Throws std::runtime_error naming `engine`.
std::string make_certificate(const std::string& engine, const std::string& workdir,
                             const std::string& name, const std::string& address);

}  // namespace ztm::lab
