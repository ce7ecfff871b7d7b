#pragma once
// GET /cdn.json: the CDN's edges and the one the caller should prefer (docs/cdn.md, "Request
// routing"). The origin routes each client to a near edge by its address, as GeoDNS or anycast
// would: cdn.edge_networks maps client networks to edges, the longest prefix that holds the
// client's address wins, else the first edge. Every possible body is built once, at start.

#include <boost/asio/ip/address.hpp>
#include <string>
#include <vector>

#include "core/config.h"

namespace ztm::api {

class CdnJson {
 public:
  // REQUIRES: every network's edge is in `edges` (validate() checks cdn.edge_networks).
  CdnJson(const std::vector<NamedUrl>& edges, std::vector<EdgeNetwork> networks);

  // {"edges":[{"name":"edge1","url":"http://10.77.0.21"},...],"preferred":"edge2"} for a
  // client at `client`; "preferred" is null without edges. Allocates nothing.
  const std::string& body_for(const boost::asio::ip::address& client) const;

 private:
  struct Route {
    EdgeNetwork network;
    std::size_t body;  // index into bodies_
  };
  std::vector<std::string> bodies_;  // by edge index (the first: the default); {null} if none
  std::vector<Route> routes_;        // longest prefix first
};

}  // namespace ztm::api
