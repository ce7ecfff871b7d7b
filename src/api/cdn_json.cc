#include "api/cdn_json.h"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace ztm::api {

namespace {

std::string body(const std::vector<NamedUrl>& edges, boost::json::value preferred) {
  boost::json::array list;
  for (const auto& e : edges) list.push_back(boost::json::object{{"name", e.name}, {"url", e.url}});
  return boost::json::serialize(
      boost::json::object{{"edges", std::move(list)}, {"preferred", std::move(preferred)}});
}

// The address as IPv6 (IPv4 as IPv4-mapped), the form EdgeNetwork holds.
std::array<unsigned char, 16> as_v6(const boost::asio::ip::address& a) {
  if (a.is_v4())
    return boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, a.to_v4()).to_bytes();
  return a.to_v6().to_bytes();
}

bool holds(const EdgeNetwork& net, const std::array<unsigned char, 16>& a) {
  const int whole = net.prefix / 8;
  if (!std::equal(a.begin(), a.begin() + whole, net.address.begin())) return false;
  if (net.prefix % 8 == 0) return true;
  const unsigned mask = (0xff00u >> (net.prefix % 8)) & 0xffu;
  return (a[whole] & mask) == net.address[whole];
}

}  // namespace

CdnJson::CdnJson(const std::vector<NamedUrl>& edges, std::vector<EdgeNetwork> networks) {
  if (edges.empty()) bodies_.push_back(body(edges, nullptr));
  for (const auto& e : edges) bodies_.push_back(body(edges, boost::json::value(e.name)));
  std::stable_sort(networks.begin(), networks.end(),
                   [](const EdgeNetwork& a, const EdgeNetwork& b) { return a.prefix > b.prefix; });
  for (auto& net : networks) {
    const auto edge = std::find_if(edges.begin(), edges.end(),
                                   [&](const NamedUrl& e) { return e.name == net.edge; });
    if (edge == edges.end()) continue;  // validate() refuses it; never prefer an unknown edge
    routes_.push_back({std::move(net), static_cast<std::size_t>(edge - edges.begin())});
  }
}

const std::string& CdnJson::body_for(const boost::asio::ip::address& client) const {
  const auto bytes = as_v6(client);
  for (const auto& r : routes_)
    if (holds(r.network, bytes)) return bodies_[r.body];
  return bodies_.front();
}

}  // namespace ztm::api
