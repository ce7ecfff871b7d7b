#pragma once
// The HTTP/1.1 server of the web tier: one event loop (thread + io_context) per core, each with
// its own SO_REUSEPORT listener so the kernel spreads connections without a shared accept lock.
// Keep-alive and pipelining (responses to a pipelined batch leave in one write), a timeout for
// every phase of a request (first request, idle, headers, body, write: slow clients are cut
// off), limits on header and body size, on open connections in total and per client address,
// and a graceful drain.
//
// Memory per connection is bounded: the read buffer holds at most one request head plus one read
// (max_header_bytes + kReadChunk), so a chunk-extension or trailer line that never ends is cut
// off there; a body at most its admitted limit; responses waiting to be written about 64 KiB
// plus one response; a streamed body (Response::stream, GET /media) one piece of it.
//
// Framing is strict (RFC 9112), since a proxy in front may frame a request differently from us
// (request smuggling): a Transfer-Encoding other than exactly "chunked", chunked in HTTP/1.0, a
// folded header line (obs-fold), and a missing (HTTP/1.1) or repeated Host are 400.
//
// A request that announces a body is admitted (ServerOptions::admit) from its headers before any
// body byte is read or "100 Continue" sent: an unknown route or an anonymous upload is refused
// without the server ever holding its body.
//
// Failure behaviour: malformed HTTP -> 400, oversized headers -> 431, oversized body -> 413, all
// with a JSON error body and the connection closed. Too many connections -> 503, from one
// address -> 429, written on accept. A handler that throws -> 500 (a bug), and the server keeps
// running.

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "http/router.h"

namespace ztm::http {

// What ServerOptions::admit decides from a request's headers, before its body is read.
struct Admission {
  std::size_t body_limit = 0;       // 0 = ServerOptions::max_body_bytes
  std::optional<Response> refusal;  // answer this (and close) without reading the body
};
using Admit = std::function<boost::asio::awaitable<Admission>(Request& head)>;

// Each read takes at most this much; the read buffer holds a request head plus one read.
inline constexpr std::size_t kReadChunk = 64 * 1024;

struct ServerOptions {
  std::string address = "127.0.0.1";
  unsigned short port = 0;  // 0 = any free port; see Server::port()
  int threads = 1;
  int max_connections = 10000;
  // Open connections from one peer address; beyond it a new one gets 429 and is closed. Load
  // balancers (which carry many clients each) are exempt.
  int max_connections_per_address = 128;
  std::vector<boost::asio::ip::address> unlimited_addresses;
  std::size_t max_header_bytes = 8 * 1024;
  std::size_t max_body_bytes = 64 * 1024;
  std::chrono::milliseconds first_request_timeout{5'000};  // a new connection's first byte
  std::chrono::milliseconds idle_timeout{60'000};          // between keep-alive requests
  std::chrono::milliseconds header_timeout{10'000};
  // A body has body_timeout to arrive, plus 1 s for every body_min_rate bytes it brings (a
  // minimum rate, as Apache's mod_reqtimeout MinRate): a slow but steady upload finishes, a
  // trickle is cut. 0: the whole body within body_timeout.
  std::chrono::milliseconds body_timeout{30'000};
  std::uint64_t body_min_rate = 16 * 1024;  // bytes/s
  std::chrono::milliseconds write_timeout{30'000};
  // Optional: called for every request that announces a body, once its headers are in (a copy
  // of them in `head`; body empty). Unset: every body is admitted up to max_body_bytes.
  Admit admit;
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
  int in_flight() const;
  // After drain(): waits until every connection has closed, at most `timeout`; returns how many
  // are still open (0: every response was sent).
  int wait_closed(std::chrono::milliseconds timeout);
  std::uint64_t refused_connections() const { return refused_.load(); }

  // Stops the event loops (abandoning whatever is still open) and joins their threads.
  void stop();

 private:
  struct Loop;
  struct Connection;
  boost::asio::awaitable<void> accept_loop(Loop& loop);
  // Every kSweep (server.cc): cancels the read or write of each connection past its deadline.
  boost::asio::awaitable<void> sweep(Loop& loop);
  static boost::asio::awaitable<bool> write_out(Connection& conn, std::string& out,
                                                std::chrono::milliseconds timeout);
  static boost::asio::awaitable<bool> write_stream(Connection& conn, BodyStream& body,
                                                   std::string_view path,
                                                   std::chrono::milliseconds timeout);
  static boost::asio::awaitable<void> linger_close(Connection& conn);
  // Owns one TCP connection (counted by admit_connection) until it closes.
  boost::asio::awaitable<void> serve_connection(Loop& loop, boost::asio::ip::tcp::socket socket,
                                                boost::asio::ip::address peer);
  // Counts a new connection from `peer`; false (and nothing counted) when a limit is reached,
  // with the canned response to write.
  bool admit_connection(const boost::asio::ip::address& peer, std::string_view& refusal);
  void release_connection(const boost::asio::ip::address& peer);

  ServerOptions options_;
  Handler handler_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::vector<std::thread> threads_;
  unsigned short port_ = 0;
  std::atomic<int> connections_{0};
  std::atomic<std::uint64_t> refused_{0};
  std::atomic<bool> draining_{false};
  std::mutex closed_mutex_;  // with closed_: wait_closed() wakes when the last connection ends
  std::condition_variable closed_;
  std::mutex per_address_mutex_;  // taken once on accept and once on close, never per request
  std::unordered_map<boost::asio::ip::address, int> per_address_;
};

}  // namespace ztm::http
