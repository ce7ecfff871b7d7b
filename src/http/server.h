#pragma once
// The HTTP/1.1 server of the web tier: one event loop (thread + io_context) per core, each with
// its own SO_REUSEPORT listener so the kernel spreads connections without a shared accept lock.
// Keep-alive and pipelining (responses to a pipelined batch leave in one write), a timeout for
// every phase of a request (idle, headers, body, write: slow clients are cut off), limits on
// header and body size and on open connections, and a graceful drain.
//
// Failure behaviour: malformed HTTP -> 400, oversized headers -> 431, oversized body -> 413, all
// with a JSON error body and the connection closed. A handler that throws -> 500 (a bug), and the
// server keeps running.

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "http/router.h"

namespace ztm::http {

struct ServerOptions {
  std::string address = "127.0.0.1";
  unsigned short port = 0;  // 0 = any free port; see Server::port()
  int threads = 1;
  int max_connections = 10000;
  std::size_t max_header_bytes = 8 * 1024;
  std::size_t max_body_bytes = 64 * 1024;
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds write_timeout{30'000};
  // Optional: a larger (or smaller) body limit for some requests, decided from the method and
  // target once the headers are in (uploads); 0 = max_body_bytes.
  std::function<std::size_t(Verb method, std::string_view target)> body_limit_for;
};

class Server {
 public:
  Server(ServerOptions options, Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds every listener (throws std::system_error naming the address on failure) and starts
  // the event-loop threads.
  void start();
  unsigned short port() const { return port_; }

  // Stops accepting, closes idle keep-alive connections, and lets in-flight requests finish;
  // their responses carry "Connection: close". Thread-safe, idempotent.
  void drain();
  // Open connections (in-flight or idle). After drain(), 0 means every response has been sent.
  int connections() const { return connections_.load(); }
  int in_flight() const { return in_flight_.load(); }
  std::uint64_t refused_connections() const { return refused_.load(); }

  // Stops the event loops (abandoning whatever is still open) and joins their threads.
  void stop();

 private:
  struct Loop;
  struct Connection;
  boost::asio::awaitable<void> accept_loop(Loop& loop);
  boost::asio::awaitable<void> serve_connection(Loop& loop, boost::asio::ip::tcp::socket socket);

  ServerOptions options_;
  Handler handler_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::vector<std::thread> threads_;
  unsigned short port_ = 0;
  std::atomic<int> connections_{0};
  std::atomic<int> in_flight_{0};
  std::atomic<std::uint64_t> refused_{0};
  std::atomic<bool> draining_{false};
};

}  // namespace ztm::http
