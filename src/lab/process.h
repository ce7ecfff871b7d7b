#pragma once
// Starting and identifying the lab's processes. A process runs inside its host's namespace,
// as its engine's user, in its own process group (so a "server crash" can kill all of it),
// with stdout and stderr appended to its log file.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ztm::lab {

struct Launch {
  std::vector<std::string> argv;  // argv[0] is an absolute path
  std::string netns;              // "" = stay in the caller's namespace
  std::string user;               // "" = stay root; else setgid/initgroups/setuid to this user
  std::string workdir;
  std::string log;                   // appended to
  std::vector<std::string> env;      // NAME=value added to a minimal environment
  std::string stdin_path;            // "" = /dev/null
  bool new_session = false;          // setsid() instead of a new process group only
  bool inherit_env = false;          // keep the caller's environment (plus `env`)
  std::vector<std::string> cgroups;  // cgroup.procs files the child joins first (cgroups.h)
  std::string exe;                   // the file executed: "" = argv[0]; kThisBinary (below)
  std::optional<mode_t> umask;       // the child's file-creation mask; nullopt = the caller's
};

// Launch::exe for a process of this very binary (ztm serve, ztm worker, the lab's own helpers):
// the child is a fork of the supervisor, so it executes the supervisor's binary even after the
// file on disk was rebuilt or removed (argv[0], its path, then only names it).
inline constexpr const char* kThisBinary = "/proc/self/exe";

// Forks and execs; the child becomes a process-group leader. Returns the pid.
// Throws std::runtime_error when the fork fails, the user is unknown or the log cannot be opened;
// failures in the child (setns, exec) end it with status 127 and a line in the log.
pid_t spawn(const Launch& launch);

// Runs to completion (bounded by `timeout`, then SIGKILL); returns the exit status or nullopt
// when it was killed or timed out. For prepare steps such as initdb and seeding.
std::optional<int> run(const Launch& launch, std::chrono::milliseconds timeout);

// The start time of `pid` in clock ticks since boot (/proc/<pid>/stat field 22); nullopt when
// there is no such live process (zombies count as gone). pid + start time identify a process
// across pid reuse.
std::optional<std::uint64_t> start_time(pid_t pid);

// True when `pid` exists, is not a zombie and started at `started`.
bool same_process(pid_t pid, std::uint64_t started);

// Sends `sig` to `pid`'s process group, then polls (bounded) until `pid` is gone (reaped by its
// parent or a zombie). Returns whether it is gone.
bool kill_and_wait(pid_t pid, int sig, std::chrono::milliseconds timeout);

// The last `lines` lines of a file ("" when unreadable).
std::string tail(const std::string& path, int lines);

// The absolute path of the running binary (/proc/self/exe).
std::string self_exe();

}  // namespace ztm::lab
