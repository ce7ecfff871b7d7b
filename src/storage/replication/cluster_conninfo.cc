#include "storage/replication/cluster_conninfo.h"

#include <libpq-fe.h>

#include <map>
#include <memory>
#include <string_view>

namespace ztm::storage {
namespace {

std::vector<std::string> split_commas(std::string_view s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = s.find(',', start);
    out.emplace_back(s.substr(start, comma == std::string_view::npos ? s.npos : comma - start));
    if (comma == std::string_view::npos) return out;
    start = comma + 1;
  }
}

// A keyword/value pair in libpq's quoting: single quotes, with ' and \ escaped by a backslash.
std::string pair(const std::string& key, std::string_view value) {
  std::string out = key + "='";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "' ";
}

}  // namespace

Result<ClusterConninfo> split_cluster_conninfo(const std::string& conninfo) {
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options(
      PQconninfoParse(conninfo.c_str(), &error), &PQconninfoFree);
  if (!options) {
    std::string message = error ? error : "out of memory";
    PQfreemem(error);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    return Error{Errc::invalid_argument, "postgres connection string: " + message};
  }
  std::string common;  // every option but the host list and target_session_attrs
  std::map<std::string, std::string> listed;
  for (const PQconninfoOption* o = options.get(); o->keyword; ++o) {
    if (!o->val || !*o->val) continue;
    const std::string key = o->keyword;
    if (key == "host" || key == "hostaddr" || key == "port") {
      listed[key] = o->val;
    } else if (key != "target_session_attrs") {
      common += pair(key, o->val);
    }
  }
  // No host means libpq's default (the local socket): one host.
  const auto hosts = split_commas(listed.count("host") ? listed["host"] : "");
  const auto addrs =
      listed.count("hostaddr") ? split_commas(listed["hostaddr"]) : std::vector<std::string>{};
  const auto ports = split_commas(listed.count("port") ? listed["port"] : "");
  if ((ports.size() != 1 && ports.size() != hosts.size()) ||
      (!addrs.empty() && addrs.size() != hosts.size()))
    return Error{Errc::invalid_argument,
                 "postgres connection string: the host, hostaddr and port lists differ in length"};
  ClusterConninfo out;
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    const std::string& port = ports.size() == 1 ? ports[0] : ports[i];
    std::string one = common;
    if (!hosts[i].empty()) one += pair("host", hosts[i]);
    if (!addrs.empty() && !addrs[i].empty()) one += pair("hostaddr", addrs[i]);
    if (!port.empty()) one += pair("port", port);
    out.hosts.push_back(one + "target_session_attrs='any'");
    out.names.push_back((hosts[i].empty() ? std::string("localhost") : hosts[i]) + ":" +
                        (port.empty() ? std::string("5432") : port));
  }
  out.primary = common;
  for (const char* key : {"host", "hostaddr", "port"})
    if (listed.count(key)) out.primary += pair(key, listed[key]);
  out.primary += "target_session_attrs='read-write'";
  return out;
}

}  // namespace ztm::storage
