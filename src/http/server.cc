#include "http/server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <list>
#include <optional>
#include <system_error>

#include "core/log.h"

namespace ztm::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct Server::Connection {
  beast::tcp_stream* stream;
  bool idle = true;  // waiting for the first byte of a request: may be closed by drain()
};

struct Server::Loop {
  std::list<Connection*> connections;  // declared before ioc: connections unlink on destruction
  DateCache date;
  bool draining = false;
  asio::io_context ioc{1};
  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
};

namespace {

using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

// Writes all of `out` (then clears it) within `timeout`; false if the client is gone or too slow.
asio::awaitable<bool> write_out(beast::tcp_stream& stream, std::string& out,
                                std::chrono::milliseconds timeout) {
  if (out.empty()) co_return true;
  stream.expires_after(timeout);
  auto [ec, n] = co_await asio::async_write(stream, asio::buffer(out), use_tuple);
  out.clear();
  co_return !ec;
}

// After a final response on a connection whose request we did not read to the end: stop
// sending, then read and discard for a moment so that the client gets our response rather than
// a reset caused by unread data.
asio::awaitable<void> linger_close(beast::tcp_stream& stream) {
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  char sink[4096];
  stream.expires_after(std::chrono::milliseconds(500));
  for (int i = 0; i < 64; ++i) {
    auto [rec, n] = co_await stream.async_read_some(asio::buffer(sink), use_tuple);
    if (rec) break;
  }
  stream.close();
}

bool has_complete_head(const beast::flat_buffer& buffer) {
  const std::string_view data(static_cast<const char*>(buffer.data().data()), buffer.size());
  return data.find("\r\n\r\n") != std::string_view::npos;
}

// Maps a parse error to the response that explains it; nullopt: nothing to say (peer gone).
std::optional<Response> parse_error_response(const beast::error_code& ec) {
  if (ec == bhttp::error::header_limit)
    return json_error(431, "headers_too_large", "request line and headers exceed the limit");
  if (ec == bhttp::error::body_limit)
    return json_error(413, "body_too_large", "request body exceeds the limit");
  if (ec == beast::error::timeout || ec == asio::error::operation_aborted ||
      ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
      ec == asio::error::connection_reset || ec == bhttp::error::partial_message)
    return std::nullopt;
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category())
    return json_error(400, "bad_request", "malformed HTTP request: " + ec.message());
  return std::nullopt;
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
        if (c->idle) c->stream->cancel();
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

asio::awaitable<void> Server::accept_loop(Loop& loop) {
  static constexpr std::string_view kBusy =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
      "Content-Length: 70\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
      R"({"error":{"code":"too_many_connections","message":"connection limit"}})";
  static_assert(kBusy.size() - kBusy.find("\r\n\r\n") - 4 == 70);
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
    if (connections_.fetch_add(1) >= options_.max_connections) {
      connections_.fetch_sub(1);
      refused_.fetch_add(1);
      beast::error_code wec;
      socket.non_blocking(true, wec);
      socket.write_some(asio::buffer(kBusy), wec);
      socket.close(wec);
      continue;
    }
    beast::error_code opt_ec;
    socket.set_option(tcp::no_delay(true), opt_ec);
    asio::co_spawn(loop.ioc, serve_connection(loop, std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> Server::serve_connection(Loop& loop, tcp::socket socket) {
  beast::error_code peer_ec;
  const auto peer = socket.remote_endpoint(peer_ec).address();
  beast::tcp_stream stream(std::move(socket));
  Connection conn{&stream};
  loop.connections.push_front(&conn);
  struct Unlink {
    Loop& loop;
    std::list<Connection*>::iterator it;
    std::atomic<int>& count;
    ~Unlink() {
      loop.connections.erase(it);
      count.fetch_sub(1);
    }
  } unlink{loop, loop.connections.begin(), connections_};

  beast::flat_buffer buffer;
  std::string out;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser;
  for (;;) {
    // Idle: wait for the first byte of the next request (keep-alive timeout).
    if (buffer.size() == 0) {
      if (!co_await write_out(stream, out, options_.write_timeout)) co_return;
      if (loop.draining) break;
      conn.idle = true;
      stream.expires_after(options_.idle_timeout);
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), use_tuple);
      conn.idle = false;
      if (ec) break;
      buffer.commit(n);
    }

    // Headers must arrive within header_timeout of the first byte (slowloris).
    parser.emplace();
    parser->header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
    // Beast checks Content-Length against body_limit while parsing the header; with per-request
    // limits the real one is set (and Content-Length checked) once the header is in.
    if (options_.body_limit_for)
      parser->body_limit(boost::none);
    else
      parser->body_limit(options_.max_body_bytes);
    stream.expires_after(options_.header_timeout);
    if (auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, *parser, use_tuple); ec) {
      if (auto res = parse_error_response(ec)) {
        res->close = true;
        serialize(*res, loop.date.now(), false, false, out);
        if (co_await write_out(stream, out, options_.write_timeout)) co_await linger_close(stream);
      }
      co_return;
    }

    if (!parser->is_done()) {
      std::size_t limit = options_.max_body_bytes;
      if (options_.body_limit_for) {
        const auto& head = parser->get();
        if (auto l = options_.body_limit_for(
                head.method(), std::string_view(head.target().data(), head.target().size())))
          limit = l;
        parser->body_limit(limit);
      }
      if (const auto len = parser->content_length(); len && *len > limit) {
        serialize(json_error(413, "body_too_large", "request body exceeds the limit"),
                  loop.date.now(), false, false, out);
        if (co_await write_out(stream, out, options_.write_timeout)) co_await linger_close(stream);
        co_return;
      }
      if (beast::iequals(parser->get()[Field::expect], "100-continue")) {
        out += "HTTP/1.1 100 Continue\r\n\r\n";
        if (!co_await write_out(stream, out, options_.write_timeout)) co_return;
      }
      stream.expires_after(options_.body_timeout);
      if (auto [ec, n] = co_await bhttp::async_read(stream, buffer, *parser, use_tuple); ec) {
        if (auto res = parse_error_response(ec)) {
          serialize(*res, loop.date.now(), false, false, out);
          if (co_await write_out(stream, out, options_.write_timeout))
            co_await linger_close(stream);
        }
        co_return;
      }
    }

    Request req;
    req.msg = parser->release();
    req.peer = peer;
    const std::string_view target(req.msg.target().data(), req.msg.target().size());
    const auto qmark = target.find('?');
    req.path = target.substr(0, qmark);
    if (qmark != std::string_view::npos) req.query = target.substr(qmark + 1);

    in_flight_.fetch_add(1);
    Response res;
    try {
      res = co_await handler_(req);
    } catch (const std::exception& e) {
      log::error("handler threw", {{"error", e.what()}, {"path", req.path}});
      res = json_error(500, "internal", "internal error");
    }
    const bool keep_alive = req.msg.keep_alive() && !res.close && !loop.draining;
    serialize(res, loop.date.now(), keep_alive, req.msg.method() == Verb::head, out);
    in_flight_.fetch_sub(1);

    if (!keep_alive) {
      if (co_await write_out(stream, out, options_.write_timeout)) {
        beast::error_code ec;
        stream.socket().shutdown(tcp::socket::shutdown_send, ec);
      }
      co_return;
    }
    // Pipelining: while the next request is already here, answer it before writing, so the
    // batch goes out in one write. Bounded so a long pipeline cannot grow `out` without limit.
    if (!has_complete_head(buffer) || out.size() >= 64 * 1024) {
      if (!co_await write_out(stream, out, options_.write_timeout)) co_return;
    }
  }
  co_await write_out(stream, out, options_.write_timeout);
}

}  // namespace ztm::http
