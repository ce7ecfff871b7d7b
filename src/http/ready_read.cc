#include "http/ready_read.h"

#include <sys/socket.h>

#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/query.hpp>
#include <cerrno>

namespace ztm::http {

namespace asio = boost::asio;

ReadWhenReady::ReadWhenReady()
    : reactor_op(boost::system::error_code(), &ReadWhenReady::do_perform,
                 &ReadWhenReady::do_complete) {}

asio::awaitable<void> ReadWhenReady::read(Socket& socket, asio::mutable_buffer into) {
  if (!reactor_)
    reactor_ = &asio::use_service<asio::detail::reactor>(
        asio::query(socket.get_executor(), asio::execution::context));
  fd_ = socket.native_handle();
  into_ = into;
  ec_ = {};
  bytes_transferred_ = 0;
  return asio::async_initiate<const asio::use_awaitable_t<>&, void()>(
      [this, &socket](Resume resume) {
        resume_.emplace(std::move(resume));
        // Speculative: a recv now when the reactor's flag says the socket may have data (an
        // event came since the last short read), else queued for the next event. A
        // continuation: a read that completes at once goes to the back of this thread's queue,
        // so the loop's other ready connections go first.
        reactor_->start_op(asio::detail::reactor::read_op, fd_, socket.reactor_data(), this,
                           /*is_continuation=*/true, /*allow_speculative=*/true);
      },
      asio::use_awaitable);
}

// The reactor calls this to try the read: not_done leaves it queued until the socket's next
// event; done_and_exhausted (the socket is empty now) clears the reactor's flag, so that the next
// read waits for an event instead of trying.
//
// One system call makes two reads (recvmmsg): what the socket has, then, into the last byte of
// `into_`, whatever is left. The second tells what a short read cannot: whether the socket is
// empty now (it fails EAGAIN), or the client's FIN came with its bytes (it reads 0: the end of
// stream, which epoll reported with the bytes and will not report again).
ReadWhenReady::status ReadWhenReady::do_perform(reactor_op* base) {
  auto* self = static_cast<ReadWhenReady*>(base);
  auto* bytes = static_cast<char*>(self->into_.data());
  const std::size_t size = self->into_.size();
  const bool probe = size > 1;  // room for the second read (a buffer of one byte: one read)
  iovec parts[2] = {{bytes, probe ? size - 1 : size}, {bytes + size - 1, 1}};
  mmsghdr reads[2] = {};
  for (int i = 0; i < 2; ++i) {
    reads[i].msg_hdr.msg_iov = &parts[i];
    reads[i].msg_hdr.msg_iovlen = 1;
  }
  // recvmmsg reports a socket's pending error (a reset) before the bytes that came ahead of it,
  // where recv returns the bytes first: a request whose client then reset the connection (a load
  // balancer that gave up on a frozen server) would be lost. Once reported, the error is cleared:
  // a second recvmmsg reads those bytes, or finds the end.
  boost::system::error_code reset;
  for (;;) {
    ++self->attempts_;
    const int got = ::recvmmsg(self->fd_, reads, probe ? 2 : 1, MSG_DONTWAIT, nullptr);
    if (got < 0) {
      const int error = errno;
      if (error == EINTR) continue;
      if (reset) break;  // nothing came before it
      if (error == EAGAIN || error == EWOULDBLOCK) return not_done;
      reset.assign(error, boost::system::system_category());
      continue;
    }
    std::size_t n = reads[0].msg_len;
    if (n == 0) {
      self->ec_ = reset ? reset : asio::error::eof;
      return done_and_exhausted;
    }
    if (got == 1) {  // the second read found nothing (or there was none: more may be there)
      self->bytes_transferred_ = n;
      return probe ? done_and_exhausted : done;
    }
    if (reads[1].msg_len == 1) {  // a byte that came meanwhile, next to the others
      bytes[n++] = bytes[size - 1];
    }
    self->bytes_transferred_ = n;  // (and if the second read found the end, the next one will)
    return done;
  }
  self->ec_ = reset;
  return done;
}

// Resumes the reading coroutine; owner is null when the loop is destroyed with the read queued:
// the coroutine is then destroyed (with this object, which lives in its frame) without resuming.
void ReadWhenReady::do_complete(void* owner, asio::detail::scheduler_operation* base,
                                const boost::system::error_code&, std::size_t) {
  auto* self = static_cast<ReadWhenReady*>(base);
  Resume resume = std::move(*self->resume_);
  self->resume_.reset();
  if (owner) std::move(resume)();
}

}  // namespace ztm::http
