// etcd::Client against a server that is not etcd, or behaves as no etcd would: each test's fake
// server (a plain Asio acceptor on 127.0.0.1) answers every request its own way. The client must
// end each call within its bounds, with an error, holding no more than its caps.

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "core/run_sync.h"
#include "etcd/client.h"
#include "tests/support/etcd_watch.h"
#include "tests/support/eventually.h"

namespace ztm::etcd {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using tcp = asio::ip::tcp;

constexpr std::size_t kCap = 64 * 1024;              // the client's caps in these tests
constexpr std::size_t kMaxSent = 256 * 1024 * 1024;  // a fake server stops there, whatever

constexpr const char* kChunkedOk = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
constexpr const char* kCreated = R"({"result":{"header":{"revision":"1"},"created":true}})"
                                 "\n";

std::string chunk(std::string_view data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + std::string(data) + "\r\n";
}

// Reads one request per connection, then runs the test's answer on the socket.
class FakeServer {
 public:
  using Answer = std::function<asio::awaitable<void>(FakeServer&, tcp::socket&)>;

  explicit FakeServer(Answer answer) : answer_(std::move(answer)) {
    acceptor_.open(tcp::v4());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind({asio::ip::address_v4::loopback(), 0});
    acceptor_.listen();
    asio::co_spawn(io_, accept(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~FakeServer() {
    io_.stop();
    thread_.join();
  }

  std::string endpoint() const {
    return "127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }
  std::size_t sent() const { return sent_.load(); }

  // Writes `data`; false once the client is gone (or kMaxSent is passed).
  asio::awaitable<bool> send(tcp::socket& socket, std::string_view data) {
    boost::system::error_code ec;
    co_await asio::async_write(socket, asio::buffer(data),
                               asio::redirect_error(asio::use_awaitable, ec));
    sent_ += data.size();
    co_return !ec && sent_ < kMaxSent;
  }
  // Sends `data` again and again until the client is gone.
  // (Views, not strings, as parameters: no class-type temporary inside a caller's co_await.)
  asio::awaitable<void> send_forever(tcp::socket& socket, std::string_view data) {
    for (;;) {
      const bool more = co_await send(socket, data);
      if (!more) break;
    }
  }
  // Holds the connection open, answering nothing, until the client is gone.
  asio::awaitable<void> hang(tcp::socket& socket) {
    char byte;
    boost::system::error_code ec;
    co_await socket.async_read_some(asio::buffer(&byte, 1),
                                    asio::redirect_error(asio::use_awaitable, ec));
  }

 private:
  asio::awaitable<void> accept() {
    for (;;) {
      auto socket = co_await acceptor_.async_accept(asio::use_awaitable);
      asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
    }
  }
  asio::awaitable<void> serve(tcp::socket socket) {
    boost::beast::flat_buffer buffer;
    boost::beast::http::request<boost::beast::http::string_body> request;
    boost::system::error_code ec;
    co_await boost::beast::http::async_read(socket, buffer, request,
                                            asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) co_await answer_(*this, socket);
  }

  Answer answer_;
  asio::io_context io_;
  tcp::acceptor acceptor_{io_};
  std::atomic<std::size_t> sent_{0};
  std::thread thread_;
};

ClientOptions options_for(const FakeServer& server) {
  ClientOptions o;
  o.endpoints = {server.endpoint()};
  o.timeout = 300ms;
  o.max_response_bytes = kCap;
  o.max_watch_message_bytes = kCap;
  o.watch_idle_timeout = 300ms;
  return o;
}

// How a watch against `server` ended (it must end by itself within 5 s).
Result<void> watch_until_it_ends(const FakeServer& server) {
  Client client(options_for(server));
  test::WatchThread watch(client, "/k", 1);
  if (!test::eventually([&] { return watch.result().has_value(); }))
    return Error{Errc::internal, "the watch did not end by itself"};
  return *watch.result();
}

void expect_error(const Result<void>& r, Errc code, const std::string& part) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, code) << r.error().message;
  EXPECT_NE(r.error().message.find(part), std::string::npos) << r.error().message;
}

TEST(EtcdHostileServer, AnEndlessLineHitsTheMessageCap) {
  FakeServer server([](FakeServer& s, tcp::socket& socket) -> asio::awaitable<void> {
    const std::string start = std::string(kChunkedOk) + chunk(kCreated);
    std::string more = chunk(std::string(4096, 'x'));
    if (co_await s.send(socket, start)) co_await s.send_forever(socket, more);
  });
  expect_error(watch_until_it_ends(server), Errc::internal,
               "a message longer than " + std::to_string(kCap));
  EXPECT_GT(server.sent(), kCap);  // the cap was reached, not the end of the stream
}

TEST(EtcdHostileServer, AnOversizedFrameHitsTheMessageCap) {
  // One chunk declared at 1 TiB, its data a single JSON message that never ends.
  FakeServer server([](FakeServer& s, tcp::socket& socket) -> asio::awaitable<void> {
    const std::string start = std::string(kChunkedOk) + "10000000000\r\n" +
                              R"({"result":{"header":{"revision":"1"},"cancel_reason":")";
    std::string more(4096, 'y');
    if (co_await s.send(socket, start)) co_await s.send_forever(socket, more);
  });
  expect_error(watch_until_it_ends(server), Errc::internal, "longer than");
}

TEST(EtcdHostileServer, AStreamWithoutFramingHitsTheMessageCap) {
  // No length, no chunks: the body runs until the connection closes.
  FakeServer server([](FakeServer& s, tcp::socket& socket) -> asio::awaitable<void> {
    const std::string start = std::string("HTTP/1.1 200 OK\r\n\r\n") + kCreated;
    std::string more(4096, 'z');
    if (co_await s.send(socket, start)) co_await s.send_forever(socket, more);
  });
  expect_error(watch_until_it_ends(server), Errc::internal, "longer than");
}

TEST(EtcdHostileServer, GarbageJsonEndsTheWatch) {
  FakeServer server([](FakeServer& s, tcp::socket& socket) -> asio::awaitable<void> {
    const std::string answer = std::string(kChunkedOk) + chunk(kCreated) + chunk("{nope\n");
    if (co_await s.send(socket, answer)) co_await s.hang(socket);
  });
  expect_error(watch_until_it_ends(server), Errc::internal, "not JSON");
}

TEST(EtcdHostileServer, JsonThatIsNoWatchMessageEndsTheWatch) {
  FakeServer server([](FakeServer& s, tcp::socket& socket) -> asio::awaitable<void> {
    const std::string bad = R"({"result":{"events":[{"kv":{"value":"%%%%","mod_revision":"2"}}]}})";
    const std::string answer = std::string(kChunkedOk) + chunk(bad + "\n");
    if (co_await s.send(socket, answer)) co_await s.hang(socket);
  });
  expect_error(watch_until_it_ends(server), Errc::internal, "a malformed event");
}

TEST(EtcdHostileServer, BrokenChunkingEndsTheWatch) {
  FakeServer server([](FakeServer& s, tcp::socket& socket) -> asio::awaitable<void> {
    const std::string answer = std::string(kChunkedOk) + chunk(kCreated) + "zz\r\n";
    if (co_await s.send(socket, answer)) co_await s.hang(socket);
  });
  expect_error(watch_until_it_ends(server), Errc::internal, "a malformed HTTP stream");
}

TEST(EtcdHostileServer, ASilentWatchEndsAfterItsIdleTimeout) {
  FakeServer server([](FakeServer& s, tcp::socket& socket) -> asio::awaitable<void> {
    const std::string answer = std::string(kChunkedOk) + chunk(kCreated);
    if (co_await s.send(socket, answer)) co_await s.hang(socket);
  });
  const auto started = std::chrono::steady_clock::now();
  expect_error(watch_until_it_ends(server), Errc::unavailable, "silent for 300 ms");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

TEST(EtcdHostileServer, AnEndlessHeaderIsRefused) {
  FakeServer server([](FakeServer& s, tcp::socket& socket) -> asio::awaitable<void> {
    std::string more(4096, 'h');
    if (co_await s.send(socket, "HTTP/1.1 200 OK\r\nX-Endless: "))
      co_await s.send_forever(socket, more);
  });
  expect_error(watch_until_it_ends(server), Errc::unavailable, "header limit");
  Client client(options_for(server));
  auto got = run_sync(client.get("/k"));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, Errc::internal) << got.error().message;
}

TEST(EtcdHostileServer, AServerThatNeverAnswersTimesOut) {
  FakeServer server(
      [](FakeServer& s, tcp::socket& socket) -> asio::awaitable<void> { co_await s.hang(socket); });
  Client client(options_for(server));
  const auto started = std::chrono::steady_clock::now();
  const auto got = run_sync(client.get("/k"));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, Errc::unavailable);
  EXPECT_NE(got.error().message.find("timed out"), std::string::npos) << got.error().message;
  const auto put = run_sync(client.put_if("/k", "v", 0));
  ASSERT_FALSE(put.ok());
  EXPECT_TRUE(put.error().outcome_unknown);  // sent, never answered: maybe applied
  expect_error(watch_until_it_ends(server), Errc::unavailable, "timed out");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
}

TEST(EtcdHostileServer, AnAnswerPastTheCapIsRefused) {
  FakeServer server([](FakeServer& s, tcp::socket& socket) -> asio::awaitable<void> {
    const std::string header = "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n";
    std::string more(4096, 'b');
    if (co_await s.send(socket, header)) co_await s.send_forever(socket, more);
  });
  Client client(options_for(server));
  const auto got = run_sync(client.get("/k"));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, Errc::internal);
  EXPECT_NE(got.error().message.find("longer than " + std::to_string(kCap)), std::string::npos)
      << got.error().message;
}

TEST(EtcdHostileServer, AnAnswerThatIsNotEtcdsIsInternal) {
  FakeServer server([](FakeServer& s, tcp::socket& socket) -> asio::awaitable<void> {
    co_await s.send(socket, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
  });
  Client client(options_for(server));
  const auto got = run_sync(client.get("/k"));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, Errc::internal);
  const auto put = run_sync(client.put_if("/k", "v", 0));
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.error().code, Errc::internal);
}

}  // namespace
}  // namespace ztm::etcd
