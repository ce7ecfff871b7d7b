#include "tests/support/nats_instance.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tests/support/child_process.h"

namespace ztm::test {
namespace {

using namespace std::chrono_literals;
constexpr const char* kBinary = "/usr/sbin/nats-server";
constexpr auto kStartBound = 20s;
constexpr auto kStopBound = 10s;

// One HTTP/1.0 GET to 127.0.0.1:port (the monitoring endpoint); the whole answer, or "" when
// nothing answers. Bounded by 1 s send and receive timeouts.
std::string http_get(int port, const std::string& path) {
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
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
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

}  // namespace

NatsInstance::NatsInstance() {
  if (access(kBinary, X_OK) != 0)
    throw std::runtime_error(std::string("NatsInstance: ") + kBinary +
                             " not found; install the Debian package nats-server "
                             "(scripts/lib/packages.sh lists it)");
  std::string pattern = "/tmp/ztm-nats-XXXXXX";
  if (!mkdtemp(pattern.data())) throw std::runtime_error("NatsInstance: mkdtemp failed");
  dir_ = pattern;
  port_ = free_port();
  monitor_port_ = free_port();
  start();
}

NatsInstance::~NatsInstance() {
  kill();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string NatsInstance::url() const {
  return "nats://127.0.0.1:" + std::to_string(port_);
}

bool NatsInstance::jetstream_ready() const {
  // 200 once JetStream is up and has recovered its streams from the store (2.9: /healthz checks
  // it).
  return http_get(monitor_port_, "/healthz").find(" 200 ") != std::string::npos;
}

void NatsInstance::start() {
  if (pid_ > 0) return;
  const std::string log = dir_ + "/log";
  const std::vector<std::string> args = {kBinary,
                                         "-a",
                                         "127.0.0.1",
                                         "-p",
                                         std::to_string(port_),
                                         "-m",
                                         std::to_string(monitor_port_),
                                         "-js",
                                         "-sd",
                                         dir_ + "/store"};
  pid_ = spawn(args, log);
  const auto until = std::chrono::steady_clock::now() + kStartBound;
  while (!jetstream_ready()) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("NatsInstance: nats-server exited at start; log " + log + ":\n" +
                               log_tail(log));
    }
    if (std::chrono::steady_clock::now() > until) {
      kill();
      throw std::runtime_error("NatsInstance: JetStream not ready in time; log " + log + ":\n" +
                               log_tail(log));
    }
    std::this_thread::sleep_for(10ms);  // the poll interval
  }
}

void NatsInstance::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  ::kill(pid_, SIGCONT);  // a paused server handles the SIGTERM once it runs again
  if (!wait_for_exit(pid_, kStopBound)) kill();
  pid_ = -1;
}

void NatsInstance::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void NatsInstance::pause() {
  if (pid_ > 0) ::kill(pid_, SIGSTOP);
}

void NatsInstance::resume() {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
}

NatsInstance& NatsInstance::shared() {
  static NatsInstance instance;
  return instance;
}

}  // namespace ztm::test
