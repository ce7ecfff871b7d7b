#include "http/request_head.h"

#include <array>
#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>

namespace ztm::http {

namespace asio = boost::asio;
namespace beast = boost::beast;

namespace {

// `value` without the spaces and tabs (OWS) around it.
std::string_view trim_ows(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  return value;
}

// What RFC 9112 makes a 400 (or 501) and Beast lets through; nullopt when the head is sound.
std::optional<Response> framing_error(std::string_view raw_head,
                                      const bhttp::request<bhttp::string_body>& head) {
  auto bad = [](std::string_view message) { return json_error(400, "bad_request", message); };
  // obs-fold: a header line continued on the next, one that starts with a space or a tab
  // (§5.2). Beast has checked that lines end with CRLF. One pass over the head's line ends.
  for (auto lf = raw_head.find('\n'); lf != std::string_view::npos && lf + 1 < raw_head.size();
       lf = raw_head.find('\n', lf + 1))
    if (raw_head[lf + 1] == ' ' || raw_head[lf + 1] == '\t')
      return bad("folded header lines (obs-fold) are not accepted");
  // Counted in one walk over the fields (a lookup by name compares names case-insensitively).
  int hosts = 0, codings = 0;
  for (const auto& field : head) {
    hosts += field.name() == Field::host;
    codings += field.name() == Field::transfer_encoding;
  }
  if (hosts > 1) return bad("more than one Host header");
  if (hosts == 0 && head.version() >= 11) return bad("an HTTP/1.1 request needs a Host header");
  if (codings > 0) {
    if (head.version() < 11) return bad("Transfer-Encoding in an HTTP/1.0 request");
    if (codings > 1) return bad("Transfer-Encoding: send one header line, 'chunked'");
    const std::string_view te(head[Field::transfer_encoding].data(),
                              head[Field::transfer_encoding].size());
    const auto last = te.rfind(',');
    const auto final_coding = trim_ows(last == std::string_view::npos ? te : te.substr(last + 1));
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

namespace {

// RFC 9110's tchar (§5.6.2): the bytes of a method or a header name.
constexpr auto kTokenByte = [] {
  std::array<bool, 256> is{};
  for (int c = '0'; c <= '9'; ++c) is[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) is[c] = is[c - 'a' + 'A'] = true;
  for (const char c : std::string_view("!#$%&'*+-.^_`|~")) is[static_cast<unsigned char>(c)] = true;
  return is;
}();

constexpr bool visible(char c) {  // VCHAR: no control, space or obs-text byte
  return c > ' ' && c < 0x7f;
}

// A comma-separated list of tokens, empty elements allowed (RFC 9110 §5.6.1): what Beast's parser
// asks of Connection and Proxy-Connection, refusing the head otherwise.
bool token_list(std::string_view value) {
  for (;;) {
    const auto comma = value.find(',');
    for (const char c : trim_ows(value.substr(0, comma)))
      if (!kTokenByte[static_cast<unsigned char>(c)]) return false;
    if (comma == std::string_view::npos) return true;
    value.remove_prefix(comma + 1);
  }
}

}  // namespace

bool parse_simple_head(std::string_view head, bhttp::request<bhttp::string_body>& msg) {
  // The request line: "GET " or "HEAD ", a target, " HTTP/1.1" or " HTTP/1.0", CRLF.
  Verb verb;
  if (head.starts_with("GET ")) {
    verb = Verb::get;
    head.remove_prefix(4);
  } else if (head.starts_with("HEAD ")) {
    verb = Verb::head;
    head.remove_prefix(5);
  } else {
    return false;
  }
  std::size_t at = 0;
  while (at < head.size() && visible(head[at])) ++at;
  const std::string_view target = head.substr(0, at);
  head.remove_prefix(at);
  unsigned version = 0;
  if (head.starts_with(" HTTP/1.1\r\n"))
    version = 11;
  else if (head.starts_with(" HTTP/1.0\r\n"))
    version = 10;
  if (target.empty() || version == 0) return false;
  head.remove_prefix(11);
  msg.method(verb);
  msg.target({target.data(), target.size()});
  msg.version(version);
  // Header lines: a name, ':', the value between optional spaces and tabs, CRLF; then CRLF.
  int hosts = 0;
  while (!head.starts_with("\r\n")) {
    std::size_t colon = 0;
    while (colon < head.size() && kTokenByte[static_cast<unsigned char>(head[colon])]) ++colon;
    if (colon == 0 || colon == head.size() || head[colon] != ':') return false;
    const std::string_view name = head.substr(0, colon);
    std::size_t end = colon + 1;
    while (end < head.size() && (visible(head[end]) || head[end] == ' ' || head[end] == '\t'))
      ++end;
    if (head.substr(end, 2) != "\r\n") return false;
    const auto value = trim_ows(head.substr(colon + 1, end - colon - 1));
    const auto field = bhttp::string_to_field({name.data(), name.size()});
    if (field == Field::content_length || field == Field::transfer_encoding) return false;
    if ((field == Field::connection || field == Field::proxy_connection) && !token_list(value))
      return false;  // Beast's parser refuses it
    hosts += field == Field::host;
    msg.insert(field, {name.data(), name.size()}, {value.data(), value.size()});
    head.remove_prefix(end + 2);
  }
  // One Host (RFC 9112 §3.2): none in HTTP/1.0 too. Anything else is parse_head's to refuse.
  return head.size() == 2 && hosts <= 1 && (hosts == 1 || version == 10);
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
