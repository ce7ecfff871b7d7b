#include "http/client.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/write.hpp>

namespace ztm::http {

namespace asio = boost::asio;
namespace beast = boost::beast;

std::string failure(const boost::system::error_code& ec) {
  if (ec == beast::error::timeout) return "timed out";
  if (ec == asio::error::operation_aborted) return "cancelled";
  return ec.message();
}

asio::awaitable<Result<void>> connect_and_send(
    beast::tcp_stream& stream, const std::string& host, const std::string& port,
    const beast::http::request<beast::http::string_body>& request,
    std::chrono::milliseconds timeout) {
  boost::system::error_code ec;
  auto token = asio::redirect_error(asio::use_awaitable, ec);
  asio::ip::tcp::resolver resolver(stream.get_executor());
  const auto endpoints = co_await resolver.async_resolve(host, port, token);
  if (ec) co_return Error{Errc::unavailable, "resolve: " + failure(ec)};
  stream.expires_after(timeout);
  co_await stream.async_connect(endpoints, token);
  if (ec) co_return Error{Errc::unavailable, "connect: " + failure(ec)};
  stream.expires_after(timeout);
  co_await beast::http::async_write(stream, request, token);
  if (ec) co_return Error{Errc::unavailable, "send: " + failure(ec)};
  co_return Result<void>{};
}

}  // namespace ztm::http
