#include "lab/state.h"

#include <boost/json.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "lab/template.h"

namespace ztm::lab {

namespace json = boost::json;

std::string state_path(const std::string& dir) {
  return dir + "/lab.json";
}
std::string marker_path(const std::string& dir) {
  return dir + "/.ztm-lab";
}
std::string control_path(const std::string& dir) {
  return dir + "/control.sock";
}

namespace {

json::array strings(const std::vector<std::string>& v) {
  return json::array(v.begin(), v.end());
}

std::vector<std::string> strings(const json::value& v) {
  std::vector<std::string> out;
  for (const auto& s : v.as_array()) out.emplace_back(s.as_string());
  return out;
}

}  // namespace

void save_state(const std::string& dir, const LabState& s) {
  json::array processes;
  for (const auto& p : s.processes)
    processes.push_back({{"name", p.name},
                         {"host", p.host},
                         {"pid", p.pid},
                         {"start_time", p.start_time},
                         {"argv", strings(p.argv)},
                         {"log", p.log}});
  const json::object doc = {
      {"version", 1},
      {"stage", s.stage},
      {"supervisor", {{"pid", s.supervisor_pid}, {"start_time", s.supervisor_start_time}}},
      {"netns", strings(s.netns)},
      {"links", strings(s.links)},
      {"processes", processes}};
  const std::string tmp = state_path(dir) + ".tmp";
  write_file(tmp, json::serialize(doc) + "\n");
  if (std::rename(tmp.c_str(), state_path(dir).c_str()) != 0)
    throw std::runtime_error("cannot write " + state_path(dir));
}

std::optional<LabState> load_state(const std::string& dir) {
  std::ifstream in(state_path(dir));
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  try {
    const auto doc = json::parse(text.str()).as_object();
    LabState s;
    s.stage = doc.at("stage").as_string();
    s.supervisor_pid = static_cast<pid_t>(doc.at("supervisor").at("pid").to_number<int>());
    s.supervisor_start_time = doc.at("supervisor").at("start_time").to_number<std::uint64_t>();
    s.netns = strings(doc.at("netns"));
    s.links = strings(doc.at("links"));
    for (const auto& v : doc.at("processes").as_array()) {
      const auto& p = v.as_object();
      s.processes.push_back({.name = std::string(p.at("name").as_string()),
                             .host = std::string(p.at("host").as_string()),
                             .pid = static_cast<pid_t>(p.at("pid").to_number<int>()),
                             .start_time = p.at("start_time").to_number<std::uint64_t>(),
                             .argv = strings(p.at("argv")),
                             .log = std::string(p.at("log").as_string())});
    }
    return s;
  } catch (const std::exception& e) {
    throw std::runtime_error(state_path(dir) + " is unreadable: " + e.what());
  }
}

}  // namespace ztm::lab
