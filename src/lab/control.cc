#include "lab/control.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "lab/state.h"

namespace ztm::lab {

namespace {

using Clock = std::chrono::steady_clock;

sockaddr_un address(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof(sa.sun_path)) throw std::runtime_error("socket path too long: " + path);
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  return sa;
}

// Reads up to the first newline (bounded); "" on timeout or EOF before one.
std::string read_line(int fd, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string data;
  char buf[4096];
  while (data.find('\n') == std::string::npos) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1) return "";
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) return "";
    data.append(buf, static_cast<std::size_t>(n));
  }
  return data.substr(0, data.find('\n'));
}

void write_line(int fd, const std::string& line) {
  std::string data = line + "\n";
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<std::size_t>(n);
  }
}

std::optional<boost::json::object> parse_object(const std::string& line) {
  boost::system::error_code ec;
  auto v = boost::json::parse(line, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return v.as_object();
}

}  // namespace

std::optional<boost::json::object> call_supervisor(const std::string& dir,
                                                   const boost::json::object& request,
                                                   std::chrono::milliseconds timeout) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  const auto sa = address(control_path(dir));
  std::optional<boost::json::object> answer;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) == 0) {
    write_line(fd, boost::json::serialize(request));
    answer = parse_object(read_line(fd, timeout));
  }
  ::close(fd);
  return answer;
}

int listen_control(const std::string& path) {
  ::unlink(path.c_str());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  const auto sa = address(path);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) != 0 || ::listen(fd, 16) != 0)
    throw std::runtime_error("cannot listen on " + path + ": " + std::strerror(errno));
  ::chmod(path.c_str(), 0600);  // root only: the socket can kill processes
  return fd;
}

std::optional<boost::json::object> read_request(int fd, std::chrono::milliseconds timeout) {
  return parse_object(read_line(fd, timeout));
}

void write_answer(int fd, const boost::json::object& answer) {
  write_line(fd, boost::json::serialize(answer));
}

std::optional<boost::json::object> live_status(const std::string& dir) {
  auto answer = call_supervisor(dir, {{"op", "status"}}, std::chrono::milliseconds(5000));
  if (!answer || !answer->contains("status")) return std::nullopt;
  return answer->at("status").as_object();
}

}  // namespace ztm::lab
