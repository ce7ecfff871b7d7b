#pragma once
// A request head as the server reads it: where it ends, how Beast parses it, and what RFC 9112
// refuses that Beast lets through (request smuggling by ambiguous framing). Pure functions, so
// that the fuzzer (fuzz/http_request_fuzzer.cc) runs exactly what the server runs.

#include <boost/beast/http/parser.hpp>
#include <optional>
#include <string_view>

#include "http/message.h"

namespace ztm::http {

using RequestParser = bhttp::request_parser<bhttp::string_body>;

// The length of the head at the start of `data` (request line, headers, empty line), or 0 when
// it is not all there yet. `scanned`: how much of `data` an earlier call already searched.
std::size_t head_end(std::string_view data, std::size_t scanned = 0);

// The head of a request without a body, in its plainest form, parsed straight into `msg` (empty
// before): a GET or a HEAD, HTTP/1.1 or 1.0, a target and header values of visible ASCII (and
// spaces and tabs in values), no Content-Length or Transfer-Encoding, Host as the version
// asks. true when the head is such; false leaves the head to parse_head (and `msg` to be
// dropped), which takes or refuses it. It never takes a head that parse_head refuses, and fills
// `msg` as parse_head fills its parser's (fuzz/http_request_fuzzer.cc checks both). What a
// browser or a load balancer sends for a read is such a head: parsed here in one pass without
// Beast's parser, whose parse, made for any head, costs a cached read more (issue 12).
bool parse_simple_head(std::string_view raw_head, bhttp::request<bhttp::string_body>& msg);

// Parses a whole head into `parser` (its header limit set) and checks its framing: nullopt when
// the request may go on, else the response that refuses it (400 malformed, folded, Host missing
// or repeated, Transfer-Encoding other than "chunked" or in HTTP/1.0; 431; 501 a coding we do
// not implement). The connection is closed after any of these.
std::optional<Response> parse_head(std::string_view raw_head, RequestParser& parser);

// Maps a read or parse error to the response that explains it; nullopt: nothing to say (the peer
// is gone, or timed out).
std::optional<Response> parse_error_response(const boost::beast::error_code& ec);

}  // namespace ztm::http
