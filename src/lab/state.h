#pragma once
// DIR/lab.json: the topology and every resource the lab made, so that `down` can clean up even
// when the supervisor is gone. Namespaces and links are recorded before they are created,
// processes right after they are spawned. Written atomically (temp file + rename).

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ztm::lab {

struct ProcessRecord {
  std::string name;  // "web1/ztm"
  std::string host;
  pid_t pid = 0;                 // 0: not running
  std::uint64_t start_time = 0;  // with pid, identifies the process (see process.h)
  std::vector<std::string> argv;
  std::string log;
};

struct LabState {
  std::string stage;
  pid_t supervisor_pid = 0;
  std::uint64_t supervisor_start_time = 0;
  std::vector<std::string> netns;  // "ztm-web1"
  std::vector<std::string> links;  // "ztm-dc1", "ztm-web1"
  std::vector<ProcessRecord> processes;
};

std::string state_path(const std::string& dir);    // DIR/lab.json
std::string marker_path(const std::string& dir);   // DIR/.ztm-lab
std::string control_path(const std::string& dir);  // DIR/control.sock

// Throws std::runtime_error when it cannot write.
void save_state(const std::string& dir, const LabState& state);
// nullopt when there is no lab.json; throws std::runtime_error when it is unreadable.
std::optional<LabState> load_state(const std::string& dir);

}  // namespace ztm::lab
