#include "tests/support/child_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/eventually.h"

namespace ztm::test {

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  const bool ok = fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  if (fd >= 0) close(fd);
  if (!ok) throw std::runtime_error("cannot find a free port");
  return ntohs(a.sin_port);
}

pid_t spawn(const std::vector<std::string>& args, const std::string& log, const RunAs& as) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed for " + args.front());
  if (pid > 0) return pid;
  // The child: only async-signal-safe calls until exec.
  if (as.drop && (setgroups(0, nullptr) != 0 || setgid(as.gid) != 0 || setuid(as.uid) != 0))
    _exit(126);
  prctl(PR_SET_PDEATHSIG, SIGQUIT);  // after setuid, which clears it
  if (getppid() != parent) _exit(125);
  const int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  const int in = open("/dev/null", O_RDONLY);
  if (out < 0 || in < 0) _exit(124);
  dup2(in, 0);
  dup2(out, 1);
  dup2(out, 2);
  execv(argv[0], argv.data());
  _exit(127);
}

bool wait_for_exit(pid_t pid, std::chrono::steady_clock::duration bound, int* status) {
  int ignored = 0;
  const auto until = std::chrono::steady_clock::now() + bound;
  while (true) {
    const pid_t r = waitpid(pid, status ? status : &ignored, WNOHANG);
    if (r == pid || r < 0) return true;
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the poll interval
  }
}

std::string log_tail(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  if (text.size() > 3000) text = "..." + text.substr(text.size() - 3000);
  return text;
}

std::string http_request(int port, const std::string& method, const std::string& path,
                         const std::string& body) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  timeval tv{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string answer;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string request = method + " " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n";
    if (!body.empty())
      request +=
          "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\n";
    request += "\r\n" + body;
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char buf[4096];
      for (int i = 0; i < 64; ++i) {  // bounded: 256 KiB at most
        const ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        answer.append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  close(fd);
  return answer;
}

std::string engine_dir(const std::string& name, const std::string& binary,
                       const std::string& package) {
  if (access(binary.c_str(), X_OK) != 0)
    throw std::runtime_error(binary + " not found; install the Debian package " + package +
                             " (scripts/lib/packages.sh lists it)");
  std::string pattern = "/tmp/ztm-" + name + "-XXXXXX";
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed for " + pattern);
  return pattern;
}

void EngineProcess::start(const std::vector<std::string>& args, const std::string& log,
                          const std::function<bool()>& ready,
                          std::chrono::steady_clock::duration bound, const std::string& what) {
  if (pid_ > 0) return;
  pid_ = spawn(args, log);
  const bool up = eventually(
      [&] {
        if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
          pid_ = -1;
          throw std::runtime_error(what + " exited at start; log " + log + ":\n" + log_tail(log));
        }
        return ready();
      },
      std::chrono::duration_cast<std::chrono::milliseconds>(bound), std::chrono::milliseconds(10));
  if (!up) {
    kill();
    throw std::runtime_error(what + " not ready in time; log " + log + ":\n" + log_tail(log));
  }
}

void EngineProcess::stop(std::chrono::steady_clock::duration bound) {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  ::kill(pid_, SIGCONT);
  if (!wait_for_exit(pid_, bound)) kill();
  pid_ = -1;
}

void EngineProcess::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

namespace {

// Whether every thread of `pid` is stopped ('T' in /proc/PID/task/TID/stat) or gone.
bool all_threads_stopped(pid_t pid) {
  const std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
    std::ifstream in(task.path() / "stat");
    std::string stat;
    std::getline(in, stat);
    const auto close = stat.rfind(')');  // the state follows the command, which may hold spaces
    if (close == std::string::npos || close + 2 >= stat.size()) continue;  // the thread is gone
    const char state = stat[close + 2];
    if (state != 'T' && state != 't' && state != 'Z' && state != 'X') return false;  // Z, X: gone
  }
  return !ec;
}

}  // namespace

void stop_process(pid_t pid) {
  ::kill(pid, SIGSTOP);
  if (!eventually([pid] { return all_threads_stopped(pid); }, std::chrono::seconds(5),
                  std::chrono::milliseconds(1)))
    throw std::runtime_error("process " + std::to_string(pid) + " did not stop on SIGSTOP");
}

void EngineProcess::pause() {
  if (pid_ > 0) stop_process(pid_);
}

void EngineProcess::resume() {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
}

}  // namespace ztm::test
