#include "lab/load_balancer.h"

#include <algorithm>
#include <sstream>

#include "lab/health.h"

namespace ztm::lab {

namespace {

constexpr std::chrono::milliseconds kTimeout{1000};

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::stringstream in(line);
  for (std::string field; std::getline(in, field, sep);) out.push_back(field);
  return out;
}

// HAProxy answers a successful state change with nothing (or a blank line), an add with
// "New server registered.", a delete with "Server deleted."; anything else is an error.
std::string error_of(const std::optional<std::string>& answer) {
  if (!answer) return "HAProxy's runtime API does not answer";
  std::string text = *answer;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text.empty() || text.find("New server registered") != std::string::npos ||
      text.find("Server deleted") != std::string::npos)
    return "";
  return text;
}

}  // namespace

std::string haproxy_socket(const std::string& workdir) {
  return workdir + "/admin.sock";
}

std::optional<std::string> LoadBalancerApi::command(const std::string& line) const {
  return exchange_unix(socket_, line + "\n", kTimeout);
}

std::string LoadBalancerApi::add(const std::string& name, const std::string& address,
                                 int port) const {
  const std::string server = std::string(kPoolBackend) + "/" + name;
  if (auto e = error_of(command("add server " + server + " " + address + ":" +
                                std::to_string(port) + " " + kServerCheck));
      !e.empty())
    return e;
  if (auto e = error_of(command("enable health " + server)); !e.empty()) return e;
  return set_state(name, "ready");
}

std::string LoadBalancerApi::set_state(const std::string& name, const std::string& state) const {
  return error_of(
      command("set server " + std::string(kPoolBackend) + "/" + name + " state " + state));
}

std::string LoadBalancerApi::remove(const std::string& name) const {
  return error_of(command("del server " + std::string(kPoolBackend) + "/" + name));
}

std::optional<std::vector<PoolServer>> parse_pool(const std::string& show_stat) {
  if (show_stat.rfind("# ", 0) != 0) return std::nullopt;
  std::stringstream lines(show_stat);
  std::string header;
  std::getline(lines, header);
  const auto columns = split(header.substr(2), ',');
  auto index = [&](const std::string& name) {
    for (std::size_t i = 0; i < columns.size(); ++i)
      if (columns[i] == name) return i;
    return columns.size();
  };
  const auto px = index("pxname"), sv = index("svname"), scur = index("scur"),
             status = index("status");
  const std::size_t classes[] = {index("hrsp_1xx"), index("hrsp_2xx"), index("hrsp_3xx"),
                                 index("hrsp_4xx"), index("hrsp_5xx"), index("hrsp_other")};
  const std::size_t failures[] = {index("hrsp_5xx"), index("wretr"), index("eresp")};
  auto number = [](const std::vector<std::string>& f, std::size_t i) -> std::int64_t {
    return i < f.size() && !f[i].empty() ? std::stoll(f[i]) : 0;
  };
  std::vector<PoolServer> out;
  for (std::string line; std::getline(lines, line);) {
    const auto f = split(line, ',');
    if (f.size() <= std::max({px, sv, scur, status}) || f[px] != kPoolBackend ||
        f[sv] == "BACKEND" || f[sv] == "FRONTEND")
      continue;
    PoolServer s{.name = f[sv],
                 .status = f[status],
                 .sessions = static_cast<int>(number(f, scur)),
                 .responses_5xx = 0};
    for (auto i : failures) s.responses_5xx += number(f, i);
    for (auto i : classes) s.responses += number(f, i);
    s.responses += s.responses_5xx - number(f, classes[4]);  // the retried and aborted ones
    out.push_back(std::move(s));
  }
  return out;
}

std::optional<std::vector<PoolServer>> LoadBalancerApi::servers() const {
  auto answer = command("show stat");
  return answer ? parse_pool(*answer) : std::nullopt;
}

std::optional<PoolServer> LoadBalancerApi::server(const std::string& name) const {
  auto all = servers();
  if (!all) return std::nullopt;
  for (auto& s : *all)
    if (s.name == name) return s;
  return std::nullopt;
}

}  // namespace ztm::lab
