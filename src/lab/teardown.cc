// ztm lab down: removes everything the lab made, whether the supervisor is alive or not.
// Order matters: processes first (a process keeps its namespace alive), then links, then
// namespaces, then the directory.
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <thread>

#include "lab/cgroups.h"
#include "lab/control.h"
#include "lab/lab.h"
#include "lab/network.h"
#include "lab/process.h"
#include "lab/state.h"

namespace ztm::lab {

namespace {

using std::chrono::milliseconds;

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// Kills what lab.json names, when it is still the same process (pid and start time).
void kill_recorded(const LabState& state) {
  if (same_process(state.supervisor_pid, state.supervisor_start_time)) {
    fmt::print("down: supervisor (pid {}) did not stop: killing it\n", state.supervisor_pid);
    kill_and_wait(state.supervisor_pid, SIGKILL, milliseconds(2000));
  }
  for (const auto& p : state.processes) {
    if (p.pid > 0 && same_process(p.pid, p.start_time)) {
      fmt::print("down: killing {} (pid {})\n", p.name, p.pid);
      kill_and_wait(p.pid, SIGKILL, milliseconds(2000));
    }
  }
}

// Kills every process inside a lab namespace and waits until none is left.
bool empty_namespaces() {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    bool any = false;
    for (const auto& ns : list_lab_netns()) {
      for (pid_t pid : pids_in_netns(ns)) {
        if (!start_time(pid)) continue;  // a zombie holds no namespace
        any = true;
        ::kill(pid, SIGKILL);
      }
    }
    if (!any) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
}

// Removes every host's cgroups. A process killed above stays in its group until its parent
// reaps it: after a crash of the supervisor that is init, a moment later. So: up to 5 s.
bool remove_cgroups() {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    const auto errors = remove_lab_cgroups();
    if (errors.empty()) return true;
    if (std::chrono::steady_clock::now() > deadline) {
      for (const auto& err : errors) fmt::print(stderr, "down: {}\n", err);
      return false;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
}

}  // namespace

int down(const std::string& dir) {
  int failures = 0;
  std::optional<LabState> state;
  try {
    state = load_state(dir);
  } catch (const std::exception& e) {
    fmt::print(stderr, "down: {} (cleaning up by name)\n", e.what());
  }
  if (state && same_process(state->supervisor_pid, state->supervisor_start_time)) {
    fmt::print("down: stopping the processes of stage {}\n", state->stage);
    if (call_supervisor(dir, {{"op", "down"}}, milliseconds(30'000)))
      kill_and_wait(state->supervisor_pid, 0, milliseconds(3000));  // let it exit by itself
  }
  if (state) kill_recorded(*state);
  if (!empty_namespaces()) {
    fmt::print(stderr, "down: processes are still running inside ztm-* namespaces\n");
    ++failures;
  }
  if (!remove_cgroups()) ++failures;
  // Root sides of veths first (deleting one removes its peer), then bridges.
  auto links = list_lab_links();
  std::stable_partition(links.begin(), links.end(),
                        [](const std::string& l) { return !is_bridge(l); });
  for (const auto& link : links) {
    if (auto err = delete_link(link); !err.empty()) {
      fmt::print(stderr, "down: {}\n", err);
      ++failures;
    } else {
      fmt::print("down: deleted link {}\n", link);
    }
  }
  for (const auto& ns : list_lab_netns()) {
    if (auto err = delete_netns(ns); !err.empty()) {
      fmt::print(stderr, "down: {}\n", err);
      ++failures;
    } else {
      fmt::print("down: deleted namespace {}\n", ns);
    }
  }
  if (exists(marker_path(dir))) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    if (ec) {
      fmt::print(stderr, "down: cannot remove {}: {}\n", dir, ec.message());
      ++failures;
    } else {
      fmt::print("down: removed {}\n", dir);
    }
  } else if (exists(dir) && exists(state_path(dir))) {
    fmt::print(stderr, "down: {} has no marker {}: not removing it\n", dir, marker_path(dir));
  }
  if (failures == 0) fmt::print("down: nothing of the lab is left\n");
  return failures == 0 ? 0 : 1;
}

}  // namespace ztm::lab
