#include "lab/process.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "lab/engines/files.h"
#include "lab/network.h"

extern char** environ;

namespace ztm::lab {

namespace {

// Writes a message to fd 2 from the forked child (async-signal-safe) and exits 127.
[[noreturn]] void child_fail(const char* what) {
  const char* err = std::strerror(errno);
  const char* parts[] = {"ztm lab: ", what, ": ", err, "\n"};
  for (const char* p : parts) {
    if (::write(2, p, std::strlen(p)) < 0) break;
  }
  ::_exit(127);
}

}  // namespace

pid_t spawn(const Launch& launch) {
  // Everything the child needs is built before fork: after it only async-signal-safe calls.
  std::vector<char*> argv;
  for (const auto& a : launch.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"};
  uid_t uid = 0;
  gid_t gid = 0;
  if (!launch.user.empty()) {
    const passwd* pw = ::getpwnam(launch.user.c_str());
    if (!pw) throw std::runtime_error("no such user: " + launch.user);
    uid = pw->pw_uid;
    gid = pw->pw_gid;
    env_strings.push_back(std::string("HOME=") + pw->pw_dir);
    env_strings.push_back("USER=" + launch.user);
  } else {
    env_strings.push_back("HOME=/root");
  }
  if (launch.inherit_env) {
    env_strings.clear();
    for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
  }
  for (const auto& e : launch.env) env_strings.push_back(e);
  std::vector<char*> envp;
  for (const auto& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const std::string ns_path = launch.netns.empty() ? "" : netns_path(launch.netns);
  const int log_fd = open_no_links(launch.log, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (log_fd < 0)
    throw std::runtime_error("cannot open " + launch.log + ": " + std::strerror(errno));
  const std::string& user = launch.user;
  const char* stdin_path = launch.stdin_path.empty() ? "/dev/null" : launch.stdin_path.c_str();
  const bool new_session = launch.new_session;
  std::vector<int> cgroup_fds;  // opened here: after the fork only write() and close()
  for (const auto& procs : launch.cgroups) {
    const int fd = ::open(procs.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      for (int f : cgroup_fds) ::close(f);
      ::close(log_fd);
      throw std::runtime_error("cannot open " + procs + ": " + std::strerror(errno));
    }
    cgroup_fds.push_back(fd);
  }
  const auto close_cgroup_fds = [&cgroup_fds] {
    for (int f : cgroup_fds) ::close(f);
  };

  const char* exe = launch.exe.empty() ? launch.argv.at(0).c_str() : launch.exe.c_str();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    close_cgroup_fds();
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    if (new_session)
      ::setsid();
    else
      ::setpgid(0, 0);
    const int null_fd = ::open(stdin_path, O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    // "0" moves the writer: this process joins the host's groups, and so does all it forks.
    for (int fd : cgroup_fds)
      if (::write(fd, "0", 1) != 1) child_fail("joining the host's cgroup");
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::signal(SIGCHLD, SIG_DFL);
    if (!ns_path.empty() && !enter_netns(ns_path.c_str())) child_fail("setns");
    if (!user.empty()) {
      if (::setgid(gid) != 0) child_fail("setgid");
      if (::initgroups(user.c_str(), gid) != 0) child_fail("initgroups");
      if (::setuid(uid) != 0) child_fail("setuid");
    }
    if (!launch.workdir.empty() && ::chdir(launch.workdir.c_str()) != 0) child_fail("chdir");
    if (launch.umask) ::umask(*launch.umask);
    // Nothing else the caller holds goes with it: not a lock the caller's caller took (a test's
    // `flock ... ztm lab up` would stay locked as long as the lab runs), not a socket.
    ::close_range(3, ~0U, 0);
    ::execve(exe, argv.data(), envp.data());
    child_fail(argv[0]);
  }
  ::close(log_fd);
  close_cgroup_fds();
  if (!new_session)
    ::setpgid(pid, pid);  // also in the parent: no race with an early kill of the group
  return pid;
}

std::optional<int> run(const Launch& launch, std::chrono::milliseconds timeout) {
  const pid_t pid = spawn(launch);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? std::optional<int>(WEXITSTATUS(status)) : std::nullopt;
    if (r < 0 && errno != EINTR) return std::nullopt;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::optional<std::uint64_t> start_time(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Field 2 (comm) may contain spaces and parentheses: fields are counted after the last ')'.
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  std::string state;
  fields >> state;  // field 3
  if (state == "Z" || state == "X") return std::nullopt;
  for (int i = 4; i <= 22; ++i) fields >> field;
  try {
    return std::stoull(field);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

bool same_process(pid_t pid, std::uint64_t started) {
  auto t = start_time(pid);
  return t && *t == started;
}

bool kill_and_wait(pid_t pid, int sig, std::chrono::milliseconds timeout) {
  if (pid <= 0) return true;
  if (::kill(-pid, sig) != 0) ::kill(pid, sig);  // not a group leader (e.g. the supervisor)
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (start_time(pid)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

std::string tail(const std::string& path, int lines) {
  // Logs live in directories their engines' users own: read without following a link there.
  const int fd = open_no_links(path, O_RDONLY);
  if (fd < 0) return "";
  std::string text;
  char buffer[65536];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) {
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > (1u << 20)) text.erase(0, text.size() - (1u << 20));  // the last MiB
  }
  ::close(fd);
  std::istringstream in(text);
  std::vector<std::string> last;
  for (std::string line; std::getline(in, line);) {
    last.push_back(line);
    if (static_cast<int>(last.size()) > lines) last.erase(last.begin());
  }
  std::string out;
  for (const auto& l : last) out += l + "\n";
  return out;
}

std::string self_exe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) throw std::runtime_error("cannot read /proc/self/exe");
  return std::string(buf, static_cast<std::size_t>(n));
}

}  // namespace ztm::lab
