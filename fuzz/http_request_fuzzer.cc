// The bytes a client sends on one connection, through the steps of http/server.cc's
// serve_connection with the socket replaced by the input: the idle read, read_head (head limit,
// blank lines before a request), parse_simple_head (checked against parse_head: it takes no head
// that parse_head refuses and fills the message alike), parse_head (Beast's parser plus our
// framing checks), the body
// through Beast's read loop into the same bounded read buffer (max_header_bytes + kReadChunk;
// Content-Length or chunked, with extensions and trailers), then what is left as the next
// pipelined request, up to kMaxRequests. No handler runs: the response would be the router's.
//
// Keep in step with serve_connection: a change to its reading steps belongs here too.

#include <algorithm>
#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/system/system_error.hpp>

#include "fuzz/fuzz_check.h"
#include "fuzz/split_target.h"
#include "http/request_head.h"
#include "http/server.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using namespace ztm;

// http.max_header_bytes and http.max_body_bytes at their defaults (core/config.h).
constexpr std::size_t kMaxHeaderBytes = 8 * 1024;
constexpr std::size_t kBodyLimit = 64 * 1024;
constexpr int kMaxRequests = 16;  // per input: enough for any pipeline a seed holds
// A socket returns what has arrived: the reads are cut at these sizes in turn, so that heads,
// chunk-size lines and trailers arrive split at many places (read_head's incremental scan).
constexpr std::array<std::size_t, 5> kSlices{4096, 1, 13, 512, 64 * 1024};

// The input as the client's side of a socket (Beast's SyncReadStream): then end of stream.
class ClientBytes {
 public:
  explicit ClientBytes(std::string_view bytes) : rest_(bytes) {}

  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers, beast::error_code& ec) {
    if (rest_.empty()) {
      ec = asio::error::eof;
      return 0;
    }
    ec = {};
    const auto slice = std::min(kSlices[reads_++ % kSlices.size()], rest_.size());
    const auto n = asio::buffer_copy(buffers, asio::buffer(rest_.data(), slice));
    rest_.remove_prefix(n);
    return n;
  }
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers) {
    beast::error_code ec;
    const auto n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  std::string_view rest_;
  std::size_t reads_ = 0;
};

std::string_view text_of(const beast::flat_buffer& buffer) {
  return {static_cast<const char*>(buffer.data().data()), buffer.size()};
}

// server.cc's read_head, reading from `client`.
std::pair<beast::error_code, std::size_t> read_head(ClientBytes& client, beast::flat_buffer& buffer,
                                                    std::size_t limit) {
  std::size_t scanned = 0;
  for (;;) {
    std::string_view data = text_of(buffer);
    while (data.starts_with("\r\n")) {
      buffer.consume(2);
      data.remove_prefix(2);
    }
    // The incremental scan finds what a scan of the whole buffer finds.
    FUZZ_CHECK(http::head_end(data, scanned) == http::head_end(data));
    if (const auto end = http::head_end(data, scanned); end && end <= limit) return {{}, end};
    if (data.size() >= limit) return {bhttp::error::header_limit, 0};
    scanned = data.size();
    beast::error_code ec;
    const auto n = client.read_some(buffer.prepare(limit - data.size()), ec);
    if (ec) return {ec, 0};
    buffer.commit(n);
  }
}

bool is_error_status(unsigned status) {
  return status >= 400 && status < 600;
}

// Two parses of one head gave the same request: method, target, version, and every field.
bool same_head(const bhttp::request<bhttp::string_body>& a,
               const bhttp::request<bhttp::string_body>& b) {
  return a.method() == b.method() && a.method_string() == b.method_string() &&
         a.target() == b.target() && a.version() == b.version() &&
         std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
           return x.name() == y.name() && x.name_string() == y.name_string() &&
                  x.value() == y.value();
         });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ClientBytes client(fuzz::as_text(data, size));
  beast::flat_buffer buffer(kMaxHeaderBytes + http::kReadChunk);
  for (int request = 0; request < kMaxRequests; ++request) {
    if (buffer.size() == 0) {  // idle: the first bytes of the next request
      beast::error_code ec;
      const auto n = client.read_some(buffer.prepare(4096), ec);
      if (ec) return 0;
      buffer.commit(n);
    }
    auto [head_ec, head_size] = read_head(client, buffer, kMaxHeaderBytes);
    if (head_ec) {
      if (auto res = http::parse_error_response(head_ec)) FUZZ_CHECK(is_error_status(res->status));
      return 0;
    }
    const auto raw_head = text_of(buffer).substr(0, head_size);
    bhttp::request<bhttp::string_body> simple;
    const bool plain = http::parse_simple_head(raw_head, simple);
    http::RequestParser parser;
    parser.header_limit(static_cast<std::uint32_t>(kMaxHeaderBytes));
    parser.body_limit(boost::none);
    auto bad = http::parse_head(raw_head, parser);
    if (plain) {  // the server would not have asked parse_head: it must agree
      FUZZ_CHECK(!bad);
      FUZZ_CHECK(parser.is_done());
      FUZZ_CHECK(same_head(simple, parser.get()));
    }
    buffer.consume(head_size);
    if (bad) {
      FUZZ_CHECK(is_error_status(bad->status));
      return 0;  // refused, the connection closed
    }
    if (!parser.is_done()) {
      if (const auto len = parser.content_length(); len && *len > kBodyLimit) return 0;  // 413
      parser.body_limit(kBodyLimit);
      beast::error_code ec;
      bhttp::read(client, buffer, parser, ec);
      if (ec) {
        if (auto res = http::parse_error_response(ec)) FUZZ_CHECK(is_error_status(res->status));
        return 0;
      }
    }
    FUZZ_CHECK(buffer.size() <= kMaxHeaderBytes + http::kReadChunk);
    http::Request req;
    req.msg = parser.release();
    fuzz::split_target(req);
    FUZZ_CHECK(req.msg.body().size() <= kBodyLimit);
    FUZZ_CHECK(fuzz::points_into(req.query, {req.msg.target().data(), req.msg.target().size()}));
    if (!req.msg.keep_alive()) return 0;  // the server closes after the response
  }
  return 0;
}
