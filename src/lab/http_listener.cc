#include "lab/http_listener.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <thread>

namespace ztm::lab {

namespace {

// Reads the request head, bounded in size (and in time by the socket's timeout).
// Bounded in size and in time as a whole (SO_RCVTIMEO bounds each read only: a client sending
// a byte a second would otherwise hold the connection for max_head seconds).
std::string read_head(int fd, std::size_t max_head, std::chrono::seconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  std::string head;
  char buf[1024];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < max_head &&
         std::chrono::steady_clock::now() < deadline) {
    const ssize_t n = ::read(fd, buf, std::min(sizeof buf, max_head - head.size()));
    if (n <= 0) break;
    head.append(buf, static_cast<std::size_t>(n));
  }
  return head;
}

void write_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n <= 0) return;  // the client went away
    done += static_cast<std::size_t>(n);
  }
}

const char* reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Payload Too Large";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Error";
  }
}

}  // namespace

std::string format_reply(const HttpReply& reply) {
  std::string out =
      fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n", reply.status,
                  reason(reply.status), reply.content_type, reply.body.size());
  for (const auto& [name, value] : reply.headers) out += name + ": " + value + "\r\n";
  return out + "Connection: close\r\n\r\n" + reply.body;
}

std::string request_line_of(const std::string& head) {
  const auto end = head.find("\r\n");
  return end == std::string::npos ? "" : head.substr(0, end);
}

int serve_http(const std::string& name, const std::string& address, int port,
               const ListenerLimits& limits,
               const std::function<HttpReply(const std::string& request_line)>& handle) {
  std::signal(SIGPIPE, SIG_IGN);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (fd < 0 || ::inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 16) != 0) {
    fmt::print(stderr, "{}: cannot listen on {}:{}: {}\n", name, address, port,
               std::strerror(errno));
    return 1;
  }
  fmt::print(stderr, "{}: listening on {}:{}\n", name, address, port);
  std::atomic<int> busy = 0;  // connections being answered; lives as long as the loop
  auto answer = [&limits, &handle](int client) {
    const timeval timeout{.tv_sec = limits.io_timeout.count(), .tv_usec = 0};
    ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    const std::string head = read_head(client, limits.max_head, limits.io_timeout);
    const std::string line = request_line_of(head);
    HttpReply reply;
    if (line.empty())
      reply = {.status = head.size() >= limits.max_head ? 413 : 400, .body = "bad request\n"};
    else
      reply = handle(line);
    write_all(client, format_reply(reply));
    ::close(client);
  };
  for (;;) {
    const int client = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    if (limits.max_connections <= 1) {
      answer(client);
      continue;
    }
    if (busy.load() >= limits.max_connections) {
      write_all(client, format_reply({.status = 503, .body = "busy\n"}));
      ::close(client);
      continue;
    }
    ++busy;
    std::thread([&answer, &busy, client] {
      answer(client);
      --busy;
    }).detach();
  }
}

}  // namespace ztm::lab
