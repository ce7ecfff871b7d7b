#include "lab/health.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <stdexcept>

namespace ztm::lab {

namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// A connected non-blocking TCP socket, or -1.
int connect_to(const std::string& address, int port, Clock::time_point deadline) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, address.c_str(), &sa.sin_addr) != 1) return -1;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0) return fd;
  if (errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    int err = 0;
    socklen_t len = sizeof(err);
    if (::poll(&p, 1, remaining_ms(deadline)) == 1 &&
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
      return fd;
  }
  ::close(fd);
  return -1;
}

bool send_all(int fd, const std::string& data, Clock::time_point deadline) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN) return false;
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, remaining_ms(deadline)) != 1) return false;
  }
  return true;
}

// Reads until `enough(data)` or EOF or the deadline.
template <typename Enough>
std::string receive(int fd, Clock::time_point deadline, Enough enough) {
  std::string data;
  char buf[1024];
  while (!enough(data)) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, remaining_ms(deadline)) != 1) break;
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    data.append(buf, static_cast<std::size_t>(n));
  }
  return data;
}

}  // namespace

bool tcp_accepting(const std::string& address, int port, std::chrono::milliseconds timeout) {
  const int fd = connect_to(address, port, Clock::now() + timeout);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

bool http_ok(const std::string& address, int port, const std::string& path,
             std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const int fd = connect_to(address, port, deadline);
  if (fd < 0) return false;
  const std::string request =
      "GET " + path + " HTTP/1.1\r\nHost: " + address + "\r\nConnection: close\r\n\r\n";
  std::string answer;
  if (send_all(fd, request, deadline))
    answer = receive(fd, deadline,
                     [](const std::string& d) { return d.find("\r\n") != std::string::npos; });
  ::close(fd);
  return answer.rfind("HTTP/1.1 200", 0) == 0 || answer.rfind("HTTP/1.0 200", 0) == 0;
}

std::optional<HttpAnswer> http_request(const std::string& method, const std::string& address,
                                       int port, const std::string& path,
                                       std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const int fd = connect_to(address, port, deadline);
  if (fd < 0) return std::nullopt;
  const std::string request = method + " " + path + " HTTP/1.1\r\nHost: " + address +
                              "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  std::string answer;
  if (send_all(fd, request, deadline))
    answer = receive(fd, deadline, [](const std::string&) { return false; });
  ::close(fd);
  const auto end = answer.find("\r\n\r\n");
  if (answer.rfind("HTTP/1.", 0) != 0 || answer.size() < 12 || end == std::string::npos)
    return std::nullopt;
  HttpAnswer out;
  try {
    out.status = std::stoi(answer.substr(9, 3));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  out.body = answer.substr(end + 4);
  return out;
}

namespace {

std::optional<std::string> exchange_fd(int fd, const std::string& request,
                                       Clock::time_point deadline,
                                       std::size_t max_bytes = SIZE_MAX) {
  if (fd < 0) return std::nullopt;
  std::optional<std::string> answer;
  if (send_all(fd, request, deadline))
    answer =
        receive(fd, deadline, [max_bytes](const std::string& d) { return d.size() >= max_bytes; });
  ::close(fd);
  return answer;
}

}  // namespace

std::optional<std::string> exchange(const std::string& address, int port,
                                    const std::string& request, std::chrono::milliseconds timeout,
                                    std::size_t max_bytes) {
  const auto deadline = Clock::now() + timeout;
  return exchange_fd(connect_to(address, port, deadline), request, deadline, max_bytes);
}

std::optional<std::string> exchange_unix(const std::string& path, const std::string& request,
                                         std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof(sa.sun_path)) return std::nullopt;
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  return exchange_fd(fd, request, deadline);
}

bool postgres_accepting(const std::string& address, int port, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const int fd = connect_to(address, port, deadline);
  if (fd < 0) return false;
  // StartupMessage: length, protocol 3.0, then name/value pairs and a final NUL.
  std::string body;
  const std::uint32_t protocol = htonl(196608);
  body.append(reinterpret_cast<const char*>(&protocol), 4);
  for (const char* s : {"user", "ztm", "database", "ztm", ""}) body.append(s, std::strlen(s) + 1);
  const std::uint32_t length = htonl(static_cast<std::uint32_t>(body.size() + 4));
  std::string message(reinterpret_cast<const char*>(&length), 4);
  message += body;
  std::string answer;
  if (send_all(fd, message, deadline)) {
    answer = receive(fd, deadline, [](const std::string& d) {
      if (d.empty()) return false;
      if (d[0] != 'E') return true;  // 'R': an authentication request
      if (d.size() < 5) return false;
      std::uint32_t len = 0;  // the whole error message, to see its SQLSTATE
      std::memcpy(&len, d.data() + 1, 4);
      return d.size() >= 1 + static_cast<std::size_t>(ntohl(len));
    });
  }
  ::close(fd);
  if (answer.empty()) return false;
  if (answer[0] == 'R') return true;
  return answer[0] == 'E' && answer.find("57P03") == std::string::npos;
}

std::optional<double> prometheus_sample(const std::string& text, const std::string& name) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind(name + " ", 0) == 0) {
      try {
        return std::stod(line.substr(name.size() + 1));
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
  return std::nullopt;
}

}  // namespace ztm::lab
