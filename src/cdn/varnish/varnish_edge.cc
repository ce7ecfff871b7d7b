#include "cdn/varnish/varnish_edge.h"

#include <fmt/format.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <stdexcept>

#include "core/url.h"
#include "http/client.h"

namespace ztm::cdn {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;

VarnishEdge::VarnishEdge(VarnishEdgeOptions options) : options_(std::move(options)) {
  const auto where = http_host_port(options_.admin_url);
  if (!where)
    throw std::invalid_argument("edge admin URL '" + options_.admin_url +
                                "' is not http://host:port");
  host_ = where->host;
  port_ = std::to_string(where->port);
}

std::vector<std::string> VarnishEdge::key_lines(const std::vector<std::string>& keys) {
  std::vector<std::string> lines(1);
  for (const auto& key : keys) {
    if (!lines.back().empty() && lines.back().size() + 1 + key.size() > kMaxKeyBytes)
      lines.emplace_back();
    if (!lines.back().empty()) lines.back() += ' ';
    lines.back() += key;
  }
  return lines;
}

asio::awaitable<Result<void>> VarnishEdge::purge(std::vector<std::string> keys,
                                                 std::optional<std::int64_t> synced_at_ms) {
  auto lines = key_lines(keys);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string synced;
    if (i + 1 == lines.size() && synced_at_ms)
      synced = fmt::format("{}.{:03}", *synced_at_ms / 1000, *synced_at_ms % 1000);
    if (lines[i].empty() && synced.empty()) continue;
    auto sent = co_await send(std::move(lines[i]), std::move(synced));
    if (!sent) co_return sent;
  }
  co_return Result<void>{};
}

asio::awaitable<Result<void>> VarnishEdge::send(std::string xkey, std::string synced_at) {
  auto fail = [this](std::string_view what) {
    return Error{Errc::unavailable, fmt::format("edge {}: {}", options_.name, what)};
  };
  bhttp::request<bhttp::string_body> req(bhttp::verb::purge, "/", 11);
  req.set(bhttp::field::host, host_);
  if (!xkey.empty()) req.set("Xkey-Purge", xkey);
  if (!synced_at.empty()) req.set("X-Ztm-Synced-At", synced_at);
  req.prepare_payload();
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  auto sent = co_await http::connect_and_send(stream, host_, port_, req, options_.timeout);
  if (!sent) co_return fail(sent.error().message);
  boost::system::error_code ec;
  auto token = asio::redirect_error(asio::use_awaitable, ec);
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64 * 1024);
  co_await bhttp::async_read(stream, buffer, parser, token);
  if (ec) co_return fail("answer: " + http::failure(ec));
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  const unsigned status = parser.get().result_int();
  if (status != 200) co_return fail(fmt::format("PURGE answered {}", status));
  co_return Result<void>{};
}

}  // namespace ztm::cdn
