#include "lab/host_exporter.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <functional>
#include <optional>

namespace ztm::lab {

namespace {

constexpr std::size_t kMaxRequest = 8192;
constexpr int kTimeoutSeconds = 2;

// Reads the request head (bounded in size and time): its first line, "" when none came.
std::string request_line(int fd) {
  std::string head;
  char buf[1024];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < kMaxRequest) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    head.append(buf, static_cast<std::size_t>(n));
  }
  return head.substr(0, head.find("\r\n"));
}

void write_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n <= 0) return;  // the scraper went away
    done += static_cast<std::size_t>(n);
  }
}

std::string answer(const std::string& line) {
  const bool metrics = line.rfind("GET /metrics ", 0) == 0;
  std::string body = "not found\n";
  if (metrics) {
    std::vector<std::pair<std::string, HostUsage>> usage;
    for (const auto& host : lab_cgroup_hosts()) usage.emplace_back(host, host_usage(host));
    body = host_metrics(usage);
  }
  return fmt::format(
      "HTTP/1.1 {}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n"
      "Connection: close\r\n\r\n{}",
      metrics ? "200 OK" : "404 Not Found", body.size(), body);
}

}  // namespace

std::string host_metrics(const std::vector<std::pair<std::string, HostUsage>>& usage) {
  using Figure = std::function<std::optional<double>(const HostUsage&)>;
  struct Series {
    const char* labels;  // after host's: ",direction=\"read\""
    Figure figure;
  };
  std::string out;
  // One metric: its header, then a sample per series and host that has the figure.
  auto metric = [&](const char* name, const char* type, const char* help,
                    std::initializer_list<Series> series) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    for (const auto& one : series)
      for (const auto& [host, u] : usage)
        if (const auto value = one.figure(u))
          out += fmt::format("{}{{host=\"{}\"{}}} {}\n", name, host, one.labels, *value);
  };
  auto figure = [](auto HostUsage::*field) -> Figure {
    return [field](const HostUsage& u) -> std::optional<double> {
      if (!(u.*field)) return std::nullopt;
      return static_cast<double>(*(u.*field));
    };
  };
  metric("ztm_host_cpu_seconds_total", "counter",
         "CPU time used by the lab host's processes (its cgroup).",
         {{"", figure(&HostUsage::cpu_seconds)}});
  metric("ztm_host_memory_bytes", "gauge",
         "Memory the lab host's processes hold (resident and page cache).",
         {{"", figure(&HostUsage::memory_bytes)}});
  metric("ztm_host_io_bytes_total", "counter",
         "Bytes the lab host's processes read and wrote on block devices.",
         {{",direction=\"read\"", figure(&HostUsage::io_read_bytes)},
          {",direction=\"write\"", figure(&HostUsage::io_write_bytes)}});
  return out;
}

int serve_host_metrics(const std::string& address, int port) {
  std::signal(SIGPIPE, SIG_IGN);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (fd < 0 || ::inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 16) != 0) {
    fmt::print(stderr, "host-exporter: cannot listen on {}:{}: {}\n", address, port,
               std::strerror(errno));
    return 1;
  }
  fmt::print(stderr, "host-exporter: serving /metrics on {}:{}\n", address, port);
  for (;;) {
    const int client = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    const timeval timeout{.tv_sec = kTimeoutSeconds, .tv_usec = 0};
    ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    write_all(client, answer(request_line(client)));
    ::close(client);
  }
}

}  // namespace ztm::lab
