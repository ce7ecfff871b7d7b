#include "lab/stages.h"

#include <stdexcept>

namespace ztm::lab {

namespace {

// Figure 1-1: the web app, the database (SQLite) and the cache (in-process) on one server.
Stage single() {
  return {.name = "single",
          .figure = "1-1 single server",
          .hosts = {{.name = "web1", .dc = "dc1", .number = 10, .roles = {"web", "db", "cache"},
                     .processes = {{.engine = "ztm", .params = {{"storage", "sqlite"}}}}}},
          .entry_host = "web1"};
}

// Figure 1-3: the web tier and the data tier on separate servers.
Stage db() {
  return {.name = "db",
          .figure = "1-3 web tier and data tier",
          .hosts = {{.name = "db1", .dc = "dc1", .number = 20, .roles = {"db"},
                     .processes = {{.engine = "postgres"}}},
                    {.name = "web1", .dc = "dc1", .number = 10, .roles = {"web", "cache"},
                     .processes = {{.engine = "ztm",
                                    .params = {{"storage", "postgres"}, {"db_host", "db1"}},
                                    .after = {"db1/postgres"}}}}},
          .entry_host = "web1"};
}

const std::vector<Stage>& stages() {
  static const std::vector<Stage> all = {single(), db()};
  return all;
}

}  // namespace

int dc_index(const std::string& dc) {
  if (dc.rfind("dc", 0) != 0) throw std::invalid_argument("bad data center name " + dc);
  const int n = std::stoi(dc.substr(2));
  if (n < 1 || n > 254) throw std::invalid_argument("bad data center name " + dc);
  return n;
}

std::string host_address(const HostDef& host) {
  return "10.77." + std::to_string(dc_index(host.dc)) + "." + std::to_string(host.number);
}

std::string dc_gateway(const std::string& dc) {
  return "10.77." + std::to_string(dc_index(dc)) + ".1";
}

std::string process_name(const HostDef& host, const ProcessDef& process) {
  return host.name + "/" + process.engine;
}

const Stage* find_stage(const std::string& name) {
  for (const auto& s : stages())
    if (s.name == name) return &s;
  return nullptr;
}

std::vector<std::string> stage_names() {
  std::vector<std::string> names;
  for (const auto& s : stages()) names.push_back(s.name);
  return names;
}

}  // namespace ztm::lab
