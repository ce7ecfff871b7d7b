#pragma once
// A read that waits for the socket to be readable the way nginx does: it remembers that a read
// left the socket empty, and then does not try again until epoll says data came. Asio's own
// asynchronous read forgets it (a short read leaves the socket "ready"), so each read after an
// answer first tries a recv that fails, and its async_wait re-registers the socket with an
// epoll_ctl every time. Measured at full speed beside wrk (issue 12: `perf stat -e
// 'syscalls:sys_enter_*'`): ztm made 2.0 recvfrom and 1.0 epoll_ctl a keep-alive request where
// nginx makes 1 recvfrom and none.
//
// It is an operation of Asio's own reactor (boost::asio::detail, Boost 1.81's epoll reactor):
// the reactor already keeps a "may have data" flag per socket, set by every epoll event and
// cleared by an operation that reports the socket exhausted. This operation reports it so when
// the socket is empty after its read (ready_read.cc: how it knows, FIN included); the reactor
// then queues the next read without a system call, and performs it when the socket's next event
// comes. Everything else (cancellation, close, shutdown) is the reactor's, as for Asio's own
// operations.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <optional>

namespace ztm::http {

// A TCP socket whose reactor state ReadWhenReady reaches (Asio keeps it protected).
class Socket : public boost::asio::ip::tcp::socket {
 public:
  explicit Socket(boost::asio::ip::tcp::socket&& s) : boost::asio::ip::tcp::socket(std::move(s)) {}
  boost::asio::detail::reactor::per_descriptor_data& reactor_data() {
    return impl_.get_implementation().reactor_data_;
  }
};

// One read at a time on one socket; it lives beside the socket (no allocation a read). The
// socket must be non-blocking (Socket::non_blocking(true)).
class ReadWhenReady : boost::asio::detail::reactor_op {
 public:
  ReadWhenReady();
  ReadWhenReady(const ReadWhenReady&) = delete;
  ReadWhenReady& operator=(const ReadWhenReady&) = delete;

  struct Outcome {
    boost::system::error_code ec;  // eof at end of stream; operation_aborted when cancelled
    std::size_t n = 0;
  };
  // Reads what the socket has into `into` (not empty), at least a byte, once it has some;
  // outcome() then says what came. (Not a coroutine of its own: no frame a read.)
  boost::asio::awaitable<void> read(Socket& socket, boost::asio::mutable_buffer into);
  Outcome outcome() const { return {ec_, bytes_transferred_}; }

  // recv calls made so far, for tests: one a read, none that fails after a short one.
  std::size_t attempts() const { return attempts_; }

 private:
  using Resume = boost::asio::async_result<boost::asio::use_awaitable_t<>, void()>::handler_type;
  static status do_perform(reactor_op* base);
  static void do_complete(void* owner, boost::asio::detail::scheduler_operation* base,
                          const boost::system::error_code&, std::size_t);

  boost::asio::detail::reactor* reactor_ = nullptr;  // the socket's; looked up on the first read
  int fd_ = -1;
  boost::asio::mutable_buffer into_;
  std::optional<Resume> resume_;
  std::size_t attempts_ = 0;
};

}  // namespace ztm::http
