#include "http/request_head.h"

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>

namespace ztm::http {

namespace asio = boost::asio;
namespace beast = boost::beast;

namespace {

// What RFC 9112 makes a 400 (or 501) and Beast lets through; nullopt when the head is sound.
std::optional<Response> framing_error(std::string_view raw_head,
                                      const bhttp::request<bhttp::string_body>& head) {
  auto bad = [](std::string_view message) { return json_error(400, "bad_request", message); };
  // obs-fold: a header line continued on the next (§5.2). The first line cannot be folded.
  if (raw_head.find("\r\n ") < raw_head.size() - 2 || raw_head.find("\r\n\t") < raw_head.size() - 2)
    return bad("folded header lines (obs-fold) are not accepted");
  const auto hosts = head.count(Field::host);
  if (hosts > 1) return bad("more than one Host header");
  if (hosts == 0 && head.version() >= 11) return bad("an HTTP/1.1 request needs a Host header");
  if (head.count(Field::transfer_encoding) > 0) {
    if (head.version() < 11) return bad("Transfer-Encoding in an HTTP/1.0 request");
    if (head.count(Field::transfer_encoding) > 1)
      return bad("Transfer-Encoding: send one header line, 'chunked'");
    std::string_view te(head[Field::transfer_encoding].data(),
                        head[Field::transfer_encoding].size());
    while (!te.empty() && (te.back() == ' ' || te.back() == '\t')) te.remove_suffix(1);
    const auto last = te.rfind(',');
    std::string_view final_coding = last == std::string_view::npos ? te : te.substr(last + 1);
    while (!final_coding.empty() && (final_coding.front() == ' ' || final_coding.front() == '\t'))
      final_coding.remove_prefix(1);
    if (!beast::iequals(final_coding, "chunked"))
      return bad("Transfer-Encoding must end with 'chunked' (RFC 9112 §6.3)");
    if (last != std::string_view::npos)
      return json_error(501, "not_implemented", "only the 'chunked' transfer coding is supported");
  }
  return std::nullopt;
}

// Maps a parse error to the response that explains it; nullopt: nothing to say (peer gone).
}  // namespace

std::optional<Response> parse_error_response(const beast::error_code& ec) {
  if (ec == bhttp::error::header_limit)
    return json_error(431, "headers_too_large", "request line and headers exceed the limit");
  if (ec == bhttp::error::body_limit)
    return json_error(413, "body_too_large", "request body exceeds the limit");
  if (ec == bhttp::error::buffer_overflow)
    return json_error(400, "bad_request",
                      "a chunk-size, chunk-extension or trailer line is too long");
  if (ec == beast::error::timeout || ec == asio::error::operation_aborted ||
      ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
      ec == asio::error::connection_reset || ec == bhttp::error::partial_message)
    return std::nullopt;
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category())
    return json_error(400, "bad_request", "malformed HTTP request: " + ec.message());
  return std::nullopt;
}

std::size_t head_end(std::string_view data, std::size_t scanned) {
  const auto end = data.find("\r\n\r\n", scanned > 3 ? scanned - 3 : 0);
  return end == std::string_view::npos ? 0 : end + 4;
}

std::optional<Response> parse_head(std::string_view raw_head, RequestParser& parser) {
  beast::error_code ec;
  parser.put(asio::buffer(raw_head.data(), raw_head.size()), ec);
  if (!ec && !parser.is_header_done()) ec = bhttp::error::partial_message;
  if (ec) {
    if (auto res = parse_error_response(ec)) return res;
    return json_error(400, "bad_request", "malformed HTTP request: " + ec.message());
  }
  return framing_error(raw_head, parser.get());
}

}  // namespace ztm::http
