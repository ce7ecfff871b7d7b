// The server's two kinds of http::Answer: the response at once (a cache hit: no coroutine frame)
// and the coroutine that makes it later; and a handler that throws in either way: a 500 (a bug),
// after which the connection and the server go on (server.h, "Failure behaviour").

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>

#include "http/server.h"
#include "tests/support/http_client.h"

namespace ztm::http {
namespace {

namespace asio = boost::asio;

asio::awaitable<Response> later(Request& req) {
  // A real suspension: the answer is made on a later round of the loop.
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  if (req.path == "/throws-later") throw std::runtime_error("thrown in the coroutine");
  Response res;
  res.body = "later " + std::string(req.path);
  co_return res;
}

Answer handle(Request& req) {
  if (req.path == "/now") {
    Response res;
    res.body = "now";
    return res;
  }
  if (req.path == "/throws-now") throw std::runtime_error("thrown before any answer");
  return later(req);
}

TEST(ServerAnswer, AnswersAtOnceAndLaterAndThrowingHandlersShareOneConnection) {
  Server server(ServerOptions{}, handle);
  server.start();
  test::HttpClient client(server.port());
  for (int round = 0; round < 3; ++round) {
    auto r = client.request("GET", "/now");
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, "now");
    r = client.request("GET", "/later");
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, "later /later");
    r = client.request("GET", "/throws-now");
    EXPECT_EQ(r.status, 500u);
    EXPECT_EQ(test::error_code(r), "internal");
    EXPECT_TRUE(r.keep_alive);
    r = client.request("GET", "/throws-later");
    EXPECT_EQ(r.status, 500u);
    EXPECT_EQ(test::error_code(r), "internal");
  }
  // Pipelined, the two kinds interleaved: answered in order.
  client.send(
      "GET /later HTTP/1.1\r\nHost: t\r\n\r\nGET /now HTTP/1.1\r\nHost: t\r\n\r\n"
      "GET /throws-now HTTP/1.1\r\nHost: t\r\n\r\nGET /later HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(client.read().body, "later /later");
  EXPECT_EQ(client.read().body, "now");
  EXPECT_EQ(client.read().status, 500u);
  EXPECT_EQ(client.read().body, "later /later");
  EXPECT_EQ(server.in_flight(), 0);
  server.drain();
  EXPECT_EQ(server.wait_closed(std::chrono::seconds(5)), 0)
      << "drain closes a connection idle between requests";
  server.stop();
}

}  // namespace
}  // namespace ztm::http
