#pragma once
// One hiredis 0.14 asynchronous connection to one Redis server, driven by the event loop (strand)
// that owns it.
//
// How it is driven: hiredis's event hooks (ac->ev: addRead/delRead/addWrite/delWrite/cleanup)
// become async_wait()s on an Asio stream_descriptor over the context's fd (hiredis owns the fd,
// so it is always release()d, never closed, by us). Commands are queued into hiredis at once,
// even while it is still connecting; hiredis writes them in order and calls their callbacks in
// order, so many coroutines pipeline on one connection and one round trip.
//
// Threading contract: every member function and every completion runs on the strand given to the
// constructor. Nothing here locks. Read interest is armed only while a command is in flight, so
// an idle connection never keeps an io_context running; an idle connection that the server
// closed is noticed (poll) before it is used again.
//
// Failure contract: every command is bounded by options.timeout (connect included). A timeout, a
// socket error or a server that closes the connection fails *every* command in flight with
// Errc::unavailable and drops the connection; the next command reconnects. Failed connects back
// off exponentially (backoff_min doubling to backoff_max); during the back-off commands fail at
// once with Errc::unavailable. Error replies (-ERR ...) are values: Reply::Type::error.
//
// Authentication: with a password in options.auth, AUTH is the first command of every connection
// (again after every reconnect), and the connection counts as ready (connects, the back-off reset)
// only once it is accepted. A refused AUTH drops the connection: the commands pipelined behind it
// fail with unavailable, the message naming the server, the user and Redis's reply (never the
// password), and the next attempt backs off as after a failed connect. A refusal, or a NOAUTH
// reply to a connection without credentials, is raised in options.faults (logged once) and cleared
// when authentication works again.

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "redis/reply.h"

struct redisAsyncContext;

namespace ztm {
class Faults;  // core/faults.h
}  // namespace ztm

namespace ztm::redis {

using Clock = std::chrono::steady_clock;  // the timers' clock: deadlines of real I/O waits
using Strand = boost::asio::strand<boost::asio::any_io_executor>;

// Who a connection authenticates as (AUTH [user] password).
struct Credentials {
  std::string user;      // "" = Redis's `default` user (AUTH <password>)
  std::string password;  // "" = no AUTH
};

struct ConnectionOptions {
  std::string address;                          // "host:port"; host should be an IP address
  std::chrono::milliseconds timeout{1000};      // each command, connect included
  std::chrono::milliseconds backoff_min{50};    // after the first failed connect
  std::chrono::milliseconds backoff_max{2000};  // the back-off doubles up to this
  int max_pending = 10000;                      // commands in flight beyond this -> overloaded
  // When the back-off ends, and a Sentinel client's next check (monotonic time). The commands'
  // deadlines (timeout) stay on the timers' clock: they bound real waits.
  const ztm::Clock* clock = &ztm::Clock::system();  // must outlive the connection
  Credentials auth;                                 // see "Authentication" above
  Faults* faults = nullptr;  // where refused credentials are raised; null = nowhere; outlives it
};

// "host:port" -> {host, port}; invalid_argument when malformed.
Result<std::pair<std::string, int>> parse_address(std::string_view address);

// Counted by every connection of a client; read by its metrics.
struct Counters {
  std::atomic<std::uint64_t> commands{0};  // sent
  std::atomic<std::uint64_t> failures{0};  // failed without a reply (unavailable, overloaded)
  std::atomic<std::uint64_t> timeouts{0};  // of those, timed out
  std::atomic<std::uint64_t> connects{0};  // successful connects (authenticated, with a password)
  std::atomic<std::uint64_t> auth_failures{0};  // AUTH refused
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // Does not connect: the first command does.
  Connection(Strand strand, ConnectionOptions options, std::shared_ptr<Counters> counters);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends one command (argv, binary-safe) and returns its reply, or the failure described above.
  // REQUIRES: on the strand; args non-empty.
  boost::asio::awaitable<Result<Reply>> command(std::vector<std::string> args);

  // Drops the connection, failing what is in flight with unavailable (`reason` in the message);
  // the next command reconnects. Idempotent. REQUIRES: on the strand, or its loop has stopped.
  void close(const std::string& reason);
  // Points the connection at another server (a new master): close(), forget the back-off.
  // REQUIRES: on the strand.
  void retarget(const std::string& address);

  const std::string& address() const { return options_.address; }
  std::size_t in_flight() const { return in_flight_; }
  const std::string& last_error() const { return last_error_; }

 private:
  struct Call;
  struct Adapter;

  Result<void> ensure_context();
  Result<void> send_auth(redisAsyncContext* ac);
  void ready();
  void connect_failed(const std::string& message);
  // The key of this server's fault in options_.faults, and the NOAUTH check of each reply.
  std::string fault_key() const;
  void check_noauth(const Reply& reply);
  bool idle_connection_is_broken() const;
  static void on_connect(const redisAsyncContext* ac, int status);
  static void on_disconnect(const redisAsyncContext* ac, int status);
  static void on_reply(redisAsyncContext* ac, void* reply, void* privdata);
  static void on_auth(redisAsyncContext* ac, void* reply, void* privdata);

  Strand strand_;
  ConnectionOptions options_;
  std::shared_ptr<Counters> counters_;
  redisAsyncContext* ac_ = nullptr;
  std::shared_ptr<Adapter> adapter_;  // of ac_; outlives it while Asio handlers hold it
  std::size_t in_flight_ = 0;
  std::string closing_reason_;  // while close() frees the context: why the calls fail
  int failed_connects_ = 0;
  Clock::time_point retry_at_{};
  std::string last_error_;
  bool noauth_raised_ = false;  // this connection raised "needs a password" (no credentials)
};

}  // namespace ztm::redis
