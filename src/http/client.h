#pragma once
// The outgoing half of HTTP: what the service needs to call another HTTP server on a fresh
// connection (etcd's JSON gateway, a Varnish edge's purge listener). The caller builds the
// request and reads the answer with its own limits; this opens the connection and sends.
//
// The project's other HTTP clients are different tools on purpose: `ztm lab`'s health checks
// are blocking calls from the supervisor, which runs no event loop (lab/health.cc); `ztm bench`
// is a pipelining load generator (cli/bench.cc); the tests' client writes raw bytes, so it can
// send what no well-behaved client would (tests/support/http_client.h).

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <string>

#include "core/result.h"

namespace ztm::http {

// Why a client step failed, in words: "timed out" (the stream's deadline), "cancelled", or the
// system's message.
std::string failure(const boost::system::error_code& ec);

// Resolves `host`, connects `stream` to it on `port` and writes `request`, each step within
// `timeout` (the stream's deadline stays set for the caller's read). On failure nothing was
// sent whole, so the peer did nothing: unavailable, "resolve|connect|send: <why>".
boost::asio::awaitable<Result<void>> connect_and_send(
    boost::beast::tcp_stream& stream, const std::string& host, const std::string& port,
    const boost::beast::http::request<boost::beast::http::string_body>& request,
    std::chrono::milliseconds timeout);

}  // namespace ztm::http
