#include "http/server.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <ctime>
#include <list>
#include <optional>
#include <system_error>
#include <tuple>

#include "core/log.h"
#include "http/ready_read.h"
#include "http/request_head.h"

namespace ztm::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Deadlines without a timer operation per read and write. A Beast tcp_stream arms a timer before
// every read or write and cancels it after (timer-queue work and per-operation timer state; the
// timerfd itself moves only when the earliest deadline does); here each operation only stores its
// connection's deadline, and one timer per loop, every kSweep, cancels the socket of each
// connection past its deadline (Server::sweep). A timeout so fires between its time and kSweep
// after it. Measured with bench/http_hot_path.sh (docs/performance.md, issue 12).
constexpr auto kSweep = std::chrono::milliseconds(100);

// Memory of an idle keep-alive connection: each read of a request head takes at most kFirstRead
// bytes (a typical head, a pipelined batch of small ones), and a read buffer that a
// large head or a body grew beyond kIdleBuffer is given back before the connection waits again.
// Measured with bench/idle_connections.py (docs/performance.md).
constexpr std::size_t kFirstRead = 2048;
constexpr std::size_t kIdleBuffer = 8 * 1024;
using SteadyClock = std::chrono::steady_clock;

// Deadlines are read from the coarse monotonic clock: the kernel's last tick (a few ms old), read
// from the vDSO without reading the TSC, where steady_clock reads it. A request sets three
// deadlines and the sweep only looks every kSweep, so a tick's precision is plenty (issue 12).
namespace {
SteadyClock::time_point coarse_now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return SteadyClock::time_point(std::chrono::seconds(ts.tv_sec) +
                                 std::chrono::nanoseconds(ts.tv_nsec));
}
}  // namespace

struct Server::Connection {
  explicit Connection(tcp::socket s) : socket(std::move(s)) {
    beast::error_code ec;
    socket.non_blocking(true, ec);  // write_now: a write that would wait fails instead
  }
  // The next read or write must end within `timeout`, or the sweep cancels it.
  void expires_after(std::chrono::milliseconds timeout) { deadline = coarse_now() + timeout; }

  Socket socket;
  ReadWhenReady reader;  // the read of each request's first bytes
  SteadyClock::time_point deadline = SteadyClock::time_point::max();
  bool idle = true;  // waiting for the first byte of a request: may be closed by drain()
};

struct Server::Loop {
  std::list<Connection*> connections;  // declared before ioc: connections unlink on destruction
  DateCache date;
  // Requests in a handler now. Per loop, so that counting one writes a line no other core does
  // (issue 12); written only by this loop's thread, read by in_flight(). One writer: a load and
  // a store, no locked read-modify-write.
  alignas(64) std::atomic<int> in_flight{0};
  void add_in_flight(int n) {
    in_flight.store(in_flight.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  bool draining = false;
  // One thread runs this loop and only it touches the loop's sockets, so the reactor's
  // per-descriptor locking is off (UNSAFE_IO). The scheduler keeps its lock: other threads post
  // here (BlockingPool completions, drain()).
  asio::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};

  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
};

namespace {

using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

}  // namespace

namespace {

// Writes what the socket takes now, without waiting, and drops it from `out`; false if the
// client is gone. An answer nearly always fits the socket's send buffer, so this writes all of
// it with one send: no asynchronous write, whose completion would wait for a round of the event
// loop and resume a coroutine (issue 12). Only a rest (a slow reader, a large body) waits.
bool write_now(tcp::socket& socket, std::string& out) {
  beast::error_code ec;
  const std::size_t n = socket.write_some(asio::buffer(out), ec);
  if (ec && ec != asio::error::would_block) return false;
  out.erase(0, n);
  if (out.empty()) give_buffer(out);
  return true;
}

// A handler that throws is a bug: logged, answered 500, and the server goes on.
Response handler_threw(const Request& req, const std::exception& e) {
  log::error("handler threw", {{"error", e.what()}, {"path", req.path}});
  return json_error(500, "internal", "internal error");
}

Answer answer_of(const Handler& handler, Request& req) {
  try {
    return handler(req);
  } catch (const std::exception& e) {
    return handler_threw(req, e);
  }
}

}  // namespace

// Writes all of `out` (then clears it) within `timeout`; false if the client is gone or too slow.
asio::awaitable<bool> Server::write_out(Connection& conn, std::string& out,
                                        std::chrono::milliseconds timeout) {
  if (out.empty()) co_return true;
  if (!write_now(conn.socket, out)) co_return false;
  if (out.empty()) co_return true;
  conn.expires_after(timeout);
  auto [ec, n] = co_await asio::async_write(conn.socket, asio::buffer(out), use_tuple);
  out.clear();
  give_buffer(out);
  co_return !ec;
}

// Writes the stream's pieces one at a time, each within `timeout`; false when the client is gone
// or too slow, or a piece cannot be had (logged: the response was cut short).
asio::awaitable<bool> Server::write_stream(Connection& conn, BodyStream& body,
                                           std::string_view path,
                                           std::chrono::milliseconds timeout) {
  for (std::uint64_t left = body.size(); left > 0;) {
    auto piece = co_await body.next();
    if (piece && (piece->empty() || piece->size() > left))
      piece = Error{Errc::internal,
                    fmt::format("a body piece of {} bytes with {} left", piece->size(), left)};
    if (!piece) {
      log::warn("response body cut short", {{"path", path}, {"error", piece.error().message}});
      co_return false;
    }
    left -= piece->size();
    if (!co_await write_out(conn, *piece, timeout)) co_return false;
  }
  co_return true;
}

// After a final response on a connection whose request we did not read to the end: stop
// sending, then read and discard for a moment so that the client gets our response rather than
// a reset caused by unread data.
asio::awaitable<void> Server::linger_close(Connection& conn) {
  beast::error_code ec;
  conn.socket.shutdown(tcp::socket::shutdown_send, ec);
  char sink[4096];
  conn.expires_after(std::chrono::milliseconds(500));
  for (int i = 0; i < 64; ++i) {
    auto [rec, n] = co_await conn.socket.async_read_some(asio::buffer(sink), use_tuple);
    if (rec) break;
  }
  conn.socket.close(ec);
}

namespace {

// Reads the rest of a body into `parser`, the connection's `deadline` at `timeout` from now plus
// 1 s for every `min_rate` bytes read so far (whole milliseconds; 0: no more than `timeout`).
asio::awaitable<beast::error_code> read_body(tcp::socket& socket, SteadyClock::time_point& deadline,
                                             beast::flat_buffer& buffer,
                                             bhttp::request_parser<bhttp::string_body>& parser,
                                             std::chrono::milliseconds timeout,
                                             std::uint64_t min_rate) {
  const auto start = coarse_now();
  std::uint64_t received = 0;
  while (!parser.is_done()) {
    const auto earned = std::chrono::milliseconds(min_rate ? received * 1000 / min_rate : 0);
    deadline = start + timeout + earned;
    auto [ec, n] = co_await bhttp::async_read_some(socket, buffer, parser, use_tuple);
    if (ec) co_return ec;
    received += n;
  }
  co_return beast::error_code{};
}

bool has_complete_head(const beast::flat_buffer& buffer) {
  return head_end({static_cast<const char*>(buffer.data().data()), buffer.size()}) != 0;
}

// What `buffer` holds of a request head, after dropping the blank lines that may come before a
// request (RFC 9112 §2.2): the head's length (0: not all there yet; `scanned` says how far it was
// searched), or header_limit when it cannot fit in `limit` bytes.
beast::error_code find_head(beast::flat_buffer& buffer, std::size_t limit, std::size_t& scanned,
                            std::size_t& length) {
  std::string_view data(static_cast<const char*>(buffer.data().data()), buffer.size());
  while (data.starts_with("\r\n")) {
    buffer.consume(2);
    data.remove_prefix(2);
  }
  length = 0;
  if (const auto end = head_end(data, scanned); end && end <= limit) {
    length = end;
    return {};
  }
  if (data.size() >= limit) return bhttp::error::header_limit;
  scanned = data.size();
  return {};
}

// Reads until `buffer` holds a whole request head (request line, headers, empty line) and
// returns its length; header_limit beyond `limit` bytes. The head is read here rather than by
// Beast so that the raw bytes can be checked for what Beast accepts and we refuse (obs-fold).
// serve_connection calls this only when find_head says the head is not all in yet.
asio::awaitable<std::pair<beast::error_code, std::size_t>> read_head(tcp::socket& socket,
                                                                     beast::flat_buffer& buffer,
                                                                     std::size_t limit) {
  std::size_t scanned = 0;
  for (;;) {
    std::size_t length = 0;
    if (auto ec = find_head(buffer, limit, scanned, length); ec || length)
      co_return std::pair{ec, length};
    // In steps of kFirstRead, so that the buffer grows only as far as the head needs.
    const auto step = std::min(limit - buffer.size(), kFirstRead);
    auto [ec, n] = co_await socket.async_read_some(buffer.prepare(step), use_tuple);
    if (ec) co_return std::pair{ec, 0};
    buffer.commit(n);
  }
}

// Points path and query into the message's target.
void split_target(Request& req) {
  const std::string_view target(req.msg.target().data(), req.msg.target().size());
  const auto qmark = target.find('?');
  req.path = target.substr(0, qmark);
  req.query = qmark == std::string_view::npos ? std::string_view{} : target.substr(qmark + 1);
}

}  // namespace

Server::Server(ServerOptions options, Handler handler)
    : options_(std::move(options)), handler_(std::move(handler)) {}

Server::~Server() {
  stop();
  loops_.clear();  // before the counters the connections' cleanups touch
}

void Server::start() {
  const auto address = asio::ip::make_address(options_.address);
  unsigned short port = options_.port;
  for (int i = 0; i < std::max(1, options_.threads); ++i) {
    auto loop = std::make_unique<Loop>();
    loop->work.emplace(loop->ioc.get_executor());
    auto& acc = loop->acceptor.emplace(loop->ioc);
    const tcp::endpoint endpoint(address, port);
    try {
      acc.open(endpoint.protocol());
      acc.set_option(asio::socket_base::reuse_address(true));
      acc.set_option(reuse_port(true));
      acc.bind(endpoint);
      acc.listen(asio::socket_base::max_listen_connections);
    } catch (const std::system_error& e) {
      throw std::system_error(e.code(),
                              "cannot listen on " + options_.address + ":" + std::to_string(port));
    }
    port = acc.local_endpoint().port();  // the others share the port the first one got
    loops_.push_back(std::move(loop));
  }
  port_ = port;
  for (auto& loop : loops_) {
    asio::co_spawn(loop->ioc, accept_loop(*loop), asio::detached);
    asio::co_spawn(loop->ioc, sweep(*loop), asio::detached);
    threads_.emplace_back([l = loop.get()] { l->ioc.run(); });
  }
}

void Server::drain() {
  if (draining_.exchange(true)) return;
  for (auto& loop : loops_) {
    asio::post(loop->ioc, [l = loop.get()] {
      l->draining = true;
      beast::error_code ec;
      if (l->acceptor) l->acceptor->close(ec);
      for (Connection* c : l->connections)
        if (c->idle) c->socket.cancel(ec);
    });
  }
}

void Server::stop() {
  for (auto& loop : loops_) {
    loop->work.reset();
    loop->ioc.stop();
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
}

namespace {
// Written on accept, before the connection is closed: the server is full, or this address is.
constexpr std::string_view kBusy =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Content-Length: 70\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
    R"({"error":{"code":"too_many_connections","message":"connection limit"}})";
static_assert(kBusy.size() - kBusy.find("\r\n\r\n") - 4 == 70);
constexpr std::string_view kBusyAddress =
    "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Content-Length: 87\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
    R"({"error":{"code":"too_many_connections","message":"connection limit for your address"}})";
static_assert(kBusyAddress.size() - kBusyAddress.find("\r\n\r\n") - 4 == 87);
}  // namespace

bool Server::admit_connection(const asio::ip::address& peer, std::string_view& refusal) {
  if (connections_.fetch_add(1) >= options_.max_connections) {
    connections_.fetch_sub(1);
    refusal = kBusy;
    return false;
  }
  const auto& unlimited = options_.unlimited_addresses;
  if (std::find(unlimited.begin(), unlimited.end(), peer) != unlimited.end()) return true;
  std::lock_guard lock(per_address_mutex_);
  int& count = per_address_[peer];
  if (count >= options_.max_connections_per_address) {
    connections_.fetch_sub(1);
    refusal = kBusyAddress;
    return false;
  }
  ++count;
  return true;
}

int Server::in_flight() const {
  int n = 0;
  for (const auto& loop : loops_) n += loop->in_flight.load(std::memory_order_relaxed);
  return n;
}

int Server::wait_closed(std::chrono::milliseconds timeout) {
  std::unique_lock lock(closed_mutex_);
  closed_.wait_for(lock, timeout, [this] { return connections_.load() == 0; });
  return connections_.load();
}

void Server::release_connection(const asio::ip::address& peer) {
  if (connections_.fetch_sub(1) == 1) {
    std::lock_guard lock(closed_mutex_);  // so that a waiter between its check and its wait
    closed_.notify_all();                 // cannot miss this
  }
  const auto& unlimited = options_.unlimited_addresses;
  if (std::find(unlimited.begin(), unlimited.end(), peer) != unlimited.end()) return;
  std::lock_guard lock(per_address_mutex_);
  if (auto it = per_address_.find(peer); it != per_address_.end() && --it->second <= 0)
    per_address_.erase(it);
}

asio::awaitable<void> Server::accept_loop(Loop& loop) {
  while (loop.acceptor && loop.acceptor->is_open()) {
    auto [ec, socket] = co_await loop.acceptor->async_accept(use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !loop.acceptor->is_open()) break;
      // Typically EMFILE: back off instead of spinning on a full descriptor table.
      log::warn("accept failed", {{"error", ec.message()}});
      asio::steady_timer timer(loop.ioc, std::chrono::milliseconds(50));
      co_await timer.async_wait(use_tuple);
      continue;
    }
    beast::error_code peer_ec;
    const auto peer = socket.remote_endpoint(peer_ec).address();
    if (std::string_view refusal; !admit_connection(peer, refusal)) {
      refused_.fetch_add(1);
      beast::error_code wec;
      socket.non_blocking(true, wec);
      socket.write_some(asio::buffer(refusal), wec);
      socket.close(wec);
      continue;
    }
    beast::error_code opt_ec;
    socket.set_option(tcp::no_delay(true), opt_ec);
    asio::co_spawn(loop.ioc, serve_connection(loop, std::move(socket), peer), asio::detached);
  }
}

asio::awaitable<void> Server::sweep(Loop& loop) {
  asio::steady_timer timer(loop.ioc);
  for (;;) {
    timer.expires_after(kSweep);
    if (auto [ec] = co_await timer.async_wait(use_tuple); ec) co_return;
    const auto now = coarse_now();
    for (Connection* c : loop.connections) {
      if (c->deadline > now) continue;
      // Ends the read or write in progress (operation_aborted: the connection closes). A
      // connection between operations (its handler running) has nothing to cancel: its next
      // operation sets a new deadline.
      c->deadline = SteadyClock::time_point::max();
      beast::error_code ec;
      c->socket.cancel(ec);
    }
  }
}

asio::awaitable<void> Server::serve_connection(Loop& loop, tcp::socket socket,
                                               asio::ip::address peer) {
  Connection conn(std::move(socket));
  loop.connections.push_front(&conn);
  struct Unlink {
    Server& server;
    Loop& loop;
    std::list<Connection*>::iterator it;
    asio::ip::address peer;
    ~Unlink() {
      loop.connections.erase(it);
      server.release_connection(peer);
    }
  } unlink{*this, loop, loop.connections.begin(), peer};

  // Sends a final error response and closes (the rest of the request is not read).
  auto refuse = [&](Response res) -> asio::awaitable<void> {
    res.close = true;
    std::string error_out;
    serialize(res, loop.date.now(), false, false, error_out);
    if (co_await write_out(conn, error_out, options_.write_timeout)) co_await linger_close(conn);
  };

  beast::flat_buffer buffer(options_.max_header_bytes + kReadChunk);
  std::string out;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser;
  bool first = true;
  for (;;) {
    // Idle: wait for the first byte of the next request (keep-alive timeout; shorter for the
    // first request, so that connections that never send anything do not hold their slots).
    if (buffer.size() == 0) {
      if (!out.empty()) {  // (no coroutine call when the answers went out below)
        if (!co_await write_out(conn, out, options_.write_timeout)) co_return;
      }
      if (loop.draining) break;
      conn.idle = true;
      conn.expires_after(first ? options_.first_request_timeout : options_.idle_timeout);
      if (buffer.capacity() > kIdleBuffer) buffer.shrink_to_fit();
      // A recv only when the socket has data, as nginx does (ready_read.h says why), and one
      // that has it at once lets the loop's other ready connections go first.
      co_await conn.reader.read(conn.socket, buffer.prepare(kFirstRead));
      const auto [ec, n] = conn.reader.outcome();
      conn.idle = false;
      if (ec) break;
      buffer.commit(n);
    }
    first = false;

    // Headers must arrive within header_timeout of the first byte (slowloris). A head already
    // in the buffer (nearly always: one read brings it) is taken without a coroutine call.
    std::size_t scanned = 0, head_size = 0;
    auto head_ec = find_head(buffer, options_.max_header_bytes, scanned, head_size);
    if (!head_ec && !head_size) {
      conn.expires_after(options_.header_timeout);
      std::tie(head_ec, head_size) =
          co_await read_head(conn.socket, buffer, options_.max_header_bytes);
    }
    if (head_ec) {
      if (auto res = parse_error_response(head_ec)) {
        if (!co_await write_out(conn, out, options_.write_timeout)) co_return;
        co_await refuse(std::move(*res));
      }
      co_return;
    }
    // A plain GET or HEAD (parse_simple_head) straight into the request; any other head through
    // Beast's parser, which also reads a body.
    const std::string_view raw_head(static_cast<const char*>(buffer.data().data()), head_size);
    Request req;
    std::optional<Response> early;  // the answer, decided before the body was read
    if (parse_simple_head(raw_head, req.msg)) {
      buffer.consume(head_size);
    } else {
      req.msg = {};  // (what the attempt filled)
      parser.emplace();
      parser->header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
      parser->body_limit(boost::none);  // set below, once the request is admitted
      auto bad = parse_head(raw_head, *parser);
      buffer.consume(head_size);
      if (bad) {
        if (!co_await write_out(conn, out, options_.write_timeout)) co_return;
        co_await refuse(std::move(*bad));
        co_return;
      }
      if (!parser->is_done()) {
        // A body is announced: admit it from the headers before reading a byte of it.
        Admission admission;
        if (options_.admit) {
          Request head;
          head.msg = parser->get();
          head.peer = peer;
          split_target(head);
          admission = co_await options_.admit(head);
        }
        const std::size_t limit =
            admission.body_limit ? admission.body_limit : options_.max_body_bytes;
        if (const auto len = parser->content_length(); !admission.refusal && len && *len > limit)
          admission.refusal = json_error(413, "body_too_large", "request body exceeds the limit");
        const bool expects_continue = beast::iequals(parser->get()[Field::expect], "100-continue");
        if (admission.refusal) {
          // A small body already on its way is read and dropped, so that the connection stays
          // usable (a 404 or 405 on a JSON call); anything else is never read.
          const auto len = parser->content_length();
          if (!len || *len > options_.max_body_bytes || expects_continue) {
            if (!co_await write_out(conn, out, options_.write_timeout)) co_return;
            co_await refuse(std::move(*admission.refusal));
            co_return;
          }
          early = std::move(admission.refusal);
        }
        parser->body_limit(limit);
        if (expects_continue) {
          out += "HTTP/1.1 100 Continue\r\n\r\n";
          if (!co_await write_out(conn, out, options_.write_timeout)) co_return;
        }
        if (auto ec = co_await read_body(conn.socket, conn.deadline, buffer, *parser,
                                         options_.body_timeout, options_.body_min_rate);
            ec) {
          if (auto res = parse_error_response(ec)) {
            if (!co_await write_out(conn, out, options_.write_timeout)) co_return;
            co_await refuse(std::move(*res));
          }
          co_return;
        }
      }
      req.msg = parser->release();
    }
    req.peer = peer;
    split_target(req);

    loop.add_in_flight(1);
    // The answer stays where the handler made it (no move of it a request, issue 12); one that
    // comes later, from the handler's coroutine, is put in its place.
    Answer answer = early ? Answer(std::move(*early)) : answer_of(handler_, req);
    if (auto* later = std::get_if<asio::awaitable<Response>>(&answer)) {
      Response ready;
      try {
        ready = co_await std::move(*later);
      } catch (const std::exception& e) {
        ready = handler_threw(req, e);
      }
      answer = std::move(ready);
    }
    Response& res = std::get<Response>(answer);
    const bool keep_alive = req.msg.keep_alive() && !res.close && !loop.draining;
    const bool head = req.msg.method() == Verb::head;
    serialize(res, loop.date.now(), keep_alive, head, out);
    loop.add_in_flight(-1);
    if (res.stream && has_body(res.status) && !head) {
      // The head (and whatever pipelined answers wait before it) out first, then the body piece
      // by piece: the connection holds one piece, never the body.
      if (!co_await write_out(conn, out, options_.write_timeout)) co_return;
      if (!co_await write_stream(conn, *res.stream, req.path, options_.write_timeout))
        co_return;  // the client sees fewer bytes than Content-Length said
    }

    if (!keep_alive) {
      if (co_await write_out(conn, out, options_.write_timeout)) {
        beast::error_code ec;
        conn.socket.shutdown(tcp::socket::shutdown_send, ec);
      }
      co_return;
    }
    // Pipelining: while the next request is already here, answer it before writing, so the
    // batch goes out in one write. Bounded so a long pipeline cannot grow `out` without limit.
    if (!has_complete_head(buffer) || out.size() >= 64 * 1024) {
      if (!write_now(conn.socket, out)) co_return;
      if (!out.empty()) {
        if (!co_await write_out(conn, out, options_.write_timeout)) co_return;
      }
    }
  }
  co_await write_out(conn, out, options_.write_timeout);
}

}  // namespace ztm::http
