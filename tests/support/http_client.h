#pragma once
// A blocking HTTP/1.1 client for tests that talks raw bytes over a real socket, so tests can
// send exactly what a broken, slow or pipelining client would. Every read has a timeout (no test
// can hang on a silent server).

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/parse.hpp>
#include <chrono>
#include <map>
#include <string>

namespace ztm::test {

// The socket as Beast's SyncReadStream, reading with recv(2) so that SO_RCVTIMEO bounds every
// read (Asio's own blocking read waits in poll() without a limit once recv says EAGAIN).
struct TimedReader {
  int fd;
  template <class Buffers>
  std::size_t read_some(const Buffers& buffers, boost::system::error_code& ec) {
    const boost::asio::mutable_buffer b = *boost::asio::buffer_sequence_begin(buffers);
    const ssize_t n = ::recv(fd, b.data(), b.size(), 0);
    if (n > 0) return static_cast<std::size_t>(n);
    ec = n == 0 ? boost::asio::error::eof
                : boost::system::error_code(errno, boost::system::system_category());
    return 0;
  }
  template <class Buffers>
  std::size_t read_some(const Buffers& buffers) {
    boost::system::error_code ec;
    const auto n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }
};

struct Reply {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  bool keep_alive = true;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// The "code" of a JSON error body ({"error":{"code","message"}}), or what the body was instead.
inline std::string error_code(const Reply& r) {
  try {
    return std::string(boost::json::parse(r.body).at("error").at("code").as_string());
  } catch (const std::exception&) {
    return "<no error body: " + r.body.substr(0, 100) + ">";
  }
}

class HttpClient {
 public:
  explicit HttpClient(unsigned short port,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10))
      : socket_(ioc_) {
    socket_.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }

  void send(std::string_view raw) { boost::asio::write(socket_, boost::asio::buffer(raw)); }
  int native_handle() { return socket_.native_handle(); }

  // Reads one response; `head` for the answer to a HEAD request (no body follows).
  Reply read(bool head = false) {
    namespace http = boost::beast::http;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    parser.skip(head);
    TimedReader reader{socket_.native_handle()};
    http::read(reader, buffer_, parser);
    const auto& msg = parser.get();
    Reply r;
    r.status = msg.result_int();
    for (const auto& f : msg) {
      std::string name(f.name_string());
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      r.headers[name] = std::string(f.value());
    }
    r.body = msg.body();
    r.keep_alive = msg.keep_alive();
    return r;
  }

  // Sends "Authorization: Bearer <token>" with every later request() ("" stops it).
  void authorize(const std::string& token) {
    authorization_ = token.empty() ? "" : "Authorization: Bearer " + token + "\r\n";
  }

  Reply request(std::string_view method, std::string_view target, std::string_view body = {},
                std::string_view extra_headers = {},
                std::string_view content_type = "application/json") {
    std::string raw =
        std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n";
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      raw += "Content-Type: " + std::string(content_type) + "\r\n";
      raw += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    raw += authorization_;
    raw += std::string(extra_headers);
    raw += "\r\n";
    raw += body;
    send(raw);
    return read(method == "HEAD");
  }

  // Reads until the server closes the connection; true if it did (EOF or reset) before the
  // receive timeout.
  bool closed_by_peer() {
    char sink[4096];
    TimedReader reader{socket_.native_handle()};
    for (;;) {
      boost::system::error_code ec;
      reader.read_some(boost::asio::buffer(sink), ec);
      if (ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset) return true;
      if (ec) return false;  // timeout (EAGAIN) or another error
    }
  }

 private:
  std::string authorization_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
};

}  // namespace ztm::test
