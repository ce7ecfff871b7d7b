// ReadWhenReady (ready_read.h): a read that, after one that left the socket empty, makes no recv
// until epoll says data came; and the reactor's ways to end a read (cancel, end of stream, the
// loop destroyed) work for it as for Asio's own reads.

#include "http/ready_read.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <memory>
#include <string>

namespace ztm::http {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

// A connected pair over loopback: `client` plain and blocking, `server` the Socket read here.
struct Pair {
  asio::io_context ioc;
  asio::executor_work_guard<asio::io_context::executor_type> work{ioc.get_executor()};
  tcp::socket client{ioc};
  std::unique_ptr<Socket> server;
  ReadWhenReady reader;
  std::string got;
  bool done = false;
  ReadWhenReady::Outcome outcome;
  char buf[8];

  Pair() {
    tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
    client.connect(acceptor.local_endpoint());
    server = std::make_unique<Socket>(acceptor.accept());
    server->non_blocking(true);
  }
  // Starts one read of at most `size` bytes.
  void start(std::size_t size = sizeof(buf)) {
    done = false;
    asio::co_spawn(
        ioc,
        [](Pair* p, std::size_t n) -> asio::awaitable<void> {
          co_await p->reader.read(*p->server, asio::buffer(p->buf, n));
          p->outcome = p->reader.outcome();
          p->got.assign(p->buf, p->outcome.n);
          p->done = true;
        }(this, size),
        asio::detached);
  }
  // Runs the loop until the read is done (false after 5 s).
  bool finish() {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done && std::chrono::steady_clock::now() < until)
      ioc.run_one_for(std::chrono::milliseconds(50));
    return done;
  }
  void send(const std::string& bytes) { asio::write(client, asio::buffer(bytes)); }
};

TEST(ReadWhenReady, AfterAReadThatEmptiedTheSocketNoRecvUntilDataComes) {
  Pair p;
  p.start();
  p.ioc.poll();  // nothing there: the read waits
  EXPECT_FALSE(p.done);
  p.send("abc");
  ASSERT_TRUE(p.finish());
  EXPECT_FALSE(p.outcome.ec);
  EXPECT_EQ(p.got, "abc");
  const auto attempts = p.reader.attempts();

  p.start();  // the last read was short: the socket is empty
  for (int i = 0; i < 3; ++i) p.ioc.poll();
  EXPECT_FALSE(p.done);
  EXPECT_EQ(p.reader.attempts(), attempts) << "a recv was tried on an empty socket";
  p.send("de");
  ASSERT_TRUE(p.finish());
  EXPECT_EQ(p.got, "de");
  EXPECT_EQ(p.reader.attempts(), attempts + 1);
}

TEST(ReadWhenReady, AnEndOfStreamThatCameWithTheBytesIsSeenWithoutAnotherEvent) {
  Pair p;
  p.start();
  p.ioc.poll();  // waiting: the bytes and the FIN then come as one event
  p.send("abc");
  p.client.shutdown(tcp::socket::shutdown_send);
  ASSERT_TRUE(p.finish());
  EXPECT_EQ(p.got, "abc");
  p.start();
  ASSERT_TRUE(p.finish()) << "the end of stream was not seen";
  EXPECT_EQ(p.outcome.ec, asio::error::eof);
}

// A load balancer that gave up on a frozen server resets the connection its request is on: the
// thawed server must still read the request (recvmmsg reports the reset first, recv the bytes).
TEST(ReadWhenReady, BytesThatCameBeforeAResetAreReadFirst) {
  Pair p;
  p.start();
  p.ioc.poll();  // waiting, as on a connection accepted before its request came
  p.send("POST");
  p.client.set_option(asio::socket_base::linger(true, 0));
  p.client.close();  // a reset, before the server reads
  ASSERT_TRUE(p.finish());
  EXPECT_FALSE(p.outcome.ec) << p.outcome.ec.message();
  EXPECT_EQ(p.got, "POST");
  p.start();
  ASSERT_TRUE(p.finish()) << "the end was not seen";
  EXPECT_TRUE(p.outcome.ec);
  EXPECT_EQ(p.outcome.n, 0u);

  Pair q;  // a reset with nothing before it
  q.start();
  q.ioc.poll();
  q.client.set_option(asio::socket_base::linger(true, 0));
  q.client.close();
  ASSERT_TRUE(q.finish());
  EXPECT_EQ(q.outcome.ec, asio::error::connection_reset);
}

TEST(ReadWhenReady, AReadThatFilledItsBufferLetsTheNextOneTakeTheRestAtOnce) {
  Pair p;
  p.start(4);
  p.send("0123456789");
  ASSERT_TRUE(p.finish());
  EXPECT_EQ(p.got, "0123");
  p.start(4);  // the socket may hold more: tried at once, no event needed
  ASSERT_TRUE(p.finish());
  EXPECT_EQ(p.got, "4567");
  p.start(1);  // a buffer of one byte: one read, no second one to tell more
  ASSERT_TRUE(p.finish());
  EXPECT_EQ(p.got, "8");
  p.start(4);
  ASSERT_TRUE(p.finish());
  EXPECT_EQ(p.got, "9");
}

TEST(ReadWhenReady, EndsWithEndOfStreamAndWithCancel) {
  Pair p;
  p.start();
  p.ioc.poll();
  p.server->cancel();  // as the server's sweep does at a deadline
  ASSERT_TRUE(p.finish());
  EXPECT_EQ(p.outcome.ec, asio::error::operation_aborted);

  p.start();
  p.client.shutdown(tcp::socket::shutdown_send);
  ASSERT_TRUE(p.finish());
  EXPECT_EQ(p.outcome.ec, asio::error::eof);
  EXPECT_EQ(p.outcome.n, 0u);
}

TEST(ReadWhenReady, ALoopDestroyedWithAReadWaitingDestroysTheReadingCoroutine) {
  auto* ioc = new asio::io_context;
  auto alive = std::make_shared<int>(0);
  std::weak_ptr<int> watch = alive;
  {
    tcp::acceptor acceptor(*ioc, {asio::ip::make_address("127.0.0.1"), 0});
    tcp::socket client(*ioc);
    client.connect(acceptor.local_endpoint());
    asio::co_spawn(
        *ioc,
        [](tcp::socket s, std::shared_ptr<int> hold) -> asio::awaitable<void> {
          Socket socket(std::move(s));
          socket.non_blocking(true);
          ReadWhenReady reader;
          char buf[8];
          co_await reader.read(socket, asio::buffer(buf));
          ADD_FAILURE() << "resumed with " << reader.outcome().ec.message();
          (void)hold;
        }(acceptor.accept(), std::move(alive)),
        asio::detached);
    ioc->poll();
  }
  EXPECT_FALSE(watch.expired());
  delete ioc;  // (ASan: nothing leaked, nothing used after its end)
  EXPECT_TRUE(watch.expired());
}

}  // namespace
}  // namespace ztm::http
