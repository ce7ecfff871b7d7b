#include "redis/connection.h"

#include <fmt/format.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <poll.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <optional>

#include "core/faults.h"
#include "core/log.h"

namespace ztm::redis {
namespace {

using boost::asio::awaitable;
using boost::asio::posix::stream_descriptor;
constexpr auto kTuple = boost::asio::as_tuple(boost::asio::use_awaitable);

Reply copy_reply(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
    case REDIS_REPLY_STRING:
      out.type = r->type == REDIS_REPLY_STATUS  ? Reply::Type::status
                 : r->type == REDIS_REPLY_ERROR ? Reply::Type::error
                                                : Reply::Type::string;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::array;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i)
        out.elements.push_back(copy_reply(r->element[i]));
      break;
    default:
      out.type = Reply::Type::nil;
  }
  return out;
}

}  // namespace

Result<std::pair<std::string, int>> parse_address(std::string_view address) {
  const auto colon = address.rfind(':');
  int port = 0;
  if (colon == std::string_view::npos || colon == 0)
    return Error{Errc::invalid_argument,
                 fmt::format("redis: address '{}' is not host:port", address)};
  const std::string_view p = address.substr(colon + 1);
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
  if (ec != std::errc{} || end != p.data() + p.size() || port < 1 || port > 65535)
    return Error{Errc::invalid_argument, fmt::format("redis: bad port in address '{}'", address)};
  return std::pair<std::string, int>{std::string(address.substr(0, colon)), port};
}

// A command waiting for its reply. The waiter sleeps on `timer`; on_reply() wakes it.
struct Connection::Call {
  Call(const Strand& strand, Clock::time_point deadline) : timer(strand, deadline) {}
  void finish() {
    done = true;
    timer.cancel();
  }
  boost::asio::steady_timer timer;
  std::optional<Reply> reply;
  std::optional<Error> failure;
  bool done = false;
};

// The event hooks of one hiredis context. hiredis asks for persistent read/write interest
// (add...) until it withdraws it (del...); each interest is one async_wait at a time, re-armed
// after hiredis handled the event. cleanup() (the context is being freed) detaches everything.
struct Connection::Adapter : std::enable_shared_from_this<Adapter> {
  Adapter(const Strand& strand, redisAsyncContext* context, const std::size_t* calls)
      : socket(strand, context->c.fd), ac(context), in_flight(calls) {}

  // Reads are armed only while commands are in flight (see the threading contract).
  void arm_read() {
    if (!ac || reading || !want_read || *in_flight == 0) return;
    reading = true;
    socket.async_wait(stream_descriptor::wait_read,
                      [self = shared_from_this()](boost::system::error_code ec) {
                        self->reading = false;
                        if (!self->ac) return;
                        // A cancelled wait (idle()) is re-armed if a command came meanwhile.
                        if (!ec && self->want_read) redisAsyncHandleRead(self->ac);  // may free ac
                        self->arm_read();
                      });
  }
  void arm_write() {
    if (!ac || writing || !want_write) return;
    writing = true;
    socket.async_wait(stream_descriptor::wait_write,
                      [self = shared_from_this()](boost::system::error_code ec) {
                        self->writing = false;
                        if (!self->ac) return;
                        if (!ec && self->want_write) redisAsyncHandleWrite(self->ac);
                        self->arm_write();
                        self->arm_read();
                      });
  }
  // No command in flight: withdraw the read wait (hiredis re-adds read interest before it runs
  // the reply callbacks, so one may have been armed for nothing).
  void idle() {
    boost::system::error_code ignored;
    if (reading || writing) socket.cancel(ignored);
  }
  static Adapter& of(void* data) { return *static_cast<Adapter*>(data); }
  static void add_read(void* d) { of(d).want_read = true, of(d).arm_read(); }
  static void del_read(void* d) { of(d).want_read = false; }
  static void add_write(void* d) { of(d).want_write = true, of(d).arm_write(); }
  static void del_write(void* d) { of(d).want_write = false; }
  static void cleanup(void* d) {
    Adapter& a = of(d);
    a.ac = nullptr;
    a.want_read = a.want_write = false;
    boost::system::error_code ignored;
    a.socket.cancel(ignored);
    a.socket.release();  // hiredis closes the fd
  }

  stream_descriptor socket;
  redisAsyncContext* ac;
  const std::size_t* in_flight;
  bool want_read = false, want_write = false, reading = false, writing = false;
};

Connection::Connection(Strand strand, ConnectionOptions options, std::shared_ptr<Counters> counters)
    : strand_(std::move(strand)), options_(std::move(options)), counters_(std::move(counters)) {}

Connection::~Connection() {
  close("connection destroyed");
}

awaitable<Result<Reply>> Connection::command(std::vector<std::string> args) {
  auto self = shared_from_this();  // the frame may outlive its owner's reference
  counters_->commands.fetch_add(1, std::memory_order_relaxed);
  auto fail = [this](Error e) {
    counters_->failures.fetch_add(1, std::memory_order_relaxed);
    return e;
  };
  if (in_flight_ >= static_cast<std::size_t>(options_.max_pending))
    co_return fail(Error{Errc::overloaded, "redis: too many commands in flight on this loop"});
  if (in_flight_ == 0 && ac_ && idle_connection_is_broken())
    close("the server closed an idle connection");
  if (auto r = ensure_context(); !r.ok()) co_return fail(std::move(r).error());
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  auto call = std::make_shared<Call>(strand_, Clock::now() + options_.timeout);
  auto* holder = new std::shared_ptr<Call>(call);  // owned by hiredis until on_reply
  if (redisAsyncCommandArgv(ac_, &Connection::on_reply, holder, static_cast<int>(argv.size()),
                            argv.data(), lengths.data()) != REDIS_OK) {
    delete holder;
    const std::string message = fmt::format("redis {}: cannot send: {}", options_.address,
                                            ac_->errstr[0] ? ac_->errstr : "disconnecting");
    close(message);
    co_return fail(Error{Errc::unavailable, message});
  }
  if (++in_flight_ == 1 && adapter_) adapter_->arm_read();
  if (!call->done) co_await call->timer.async_wait(kTuple);
  if (!call->done) {
    counters_->timeouts.fetch_add(1, std::memory_order_relaxed);
    close(fmt::format("no answer within {} ms", options_.timeout.count()));
  }
  if (!call->done)  // not freed by close(): cannot happen, but never report success without it
    co_return fail(Error{Errc::unavailable, "redis: the command was lost"});
  if (call->failure) co_return fail(std::move(*call->failure));
  co_return std::move(*call->reply);
}

void Connection::on_reply(redisAsyncContext* ac, void* reply, void* privdata) {
  std::unique_ptr<std::shared_ptr<Call>> holder(static_cast<std::shared_ptr<Call>*>(privdata));
  auto* self = static_cast<Connection*>(ac->data);
  Call& call = **holder;
  if (self->in_flight_ > 0 && --self->in_flight_ == 0 && self->adapter_) self->adapter_->idle();
  if (reply) {
    call.reply.emplace(copy_reply(static_cast<redisReply*>(reply)));
    if (self->options_.auth.password.empty()) self->check_noauth(*call.reply);
  } else {  // the context is being freed: a connection failure or our own close()
    std::string why = self->closing_reason_;
    if (why.empty()) why = ac->errstr[0] ? ac->errstr : "connection lost";
    call.failure.emplace(
        Error{Errc::unavailable, fmt::format("redis {}: {}", self->options_.address, why)});
  }
  call.finish();
}

Result<void> Connection::ensure_context() {
  if (ac_) return {};
  if (const auto now = options_.clock->steady_now(); now < retry_at_)
    return Error{Errc::unavailable,
                 fmt::format("redis {}: not connected (next attempt in {} ms); last error: {}",
                             options_.address,
                             std::chrono::ceil<std::chrono::milliseconds>(retry_at_ - now).count(),
                             last_error_)};
  auto address = parse_address(options_.address);
  if (!address.ok()) return std::move(address).error();
  closing_reason_.clear();  // a refused AUTH's, kept until its context was freed
  redisAsyncContext* ac = redisAsyncConnect(address->first.c_str(), address->second);
  if (!ac || ac->err) {
    const std::string message = fmt::format("redis {}: cannot connect: {}", options_.address,
                                            ac ? ac->errstr : "no memory");
    if (ac) redisAsyncFree(ac);
    connect_failed(message);
    return Error{Errc::unavailable, message};
  }
  ac_ = ac;
  ac->data = this;
  adapter_ = std::make_shared<Adapter>(strand_, ac, &in_flight_);
  ac->ev.data = adapter_.get();
  ac->ev.addRead = &Adapter::add_read;
  ac->ev.delRead = &Adapter::del_read;
  ac->ev.addWrite = &Adapter::add_write;
  ac->ev.delWrite = &Adapter::del_write;
  ac->ev.cleanup = &Adapter::cleanup;
  redisAsyncSetDisconnectCallback(ac, &Connection::on_disconnect);
  redisAsyncSetConnectCallback(ac, &Connection::on_connect);  // arms the first write wait
  return send_auth(ac);
}

// Queued before any command (hiredis sends them in order, even while it is still connecting).
Result<void> Connection::send_auth(redisAsyncContext* ac) {
  const Credentials& auth = options_.auth;
  if (auth.password.empty()) return {};
  std::vector<const char*> argv{"AUTH"};
  std::vector<std::size_t> lengths{4};
  if (!auth.user.empty()) {
    argv.push_back(auth.user.data());
    lengths.push_back(auth.user.size());
  }
  argv.push_back(auth.password.data());
  lengths.push_back(auth.password.size());
  if (redisAsyncCommandArgv(ac, &Connection::on_auth, nullptr, static_cast<int>(argv.size()),
                            argv.data(), lengths.data()) == REDIS_OK)
    return {};
  const std::string message = fmt::format("redis {}: cannot send AUTH", options_.address);
  close(message);
  return Error{Errc::unavailable, message};
}

void Connection::on_auth(redisAsyncContext* ac, void* reply, void* /*privdata*/) {
  auto* self = static_cast<Connection*>(ac->data);
  if (!reply) return;  // the context is being freed: the commands behind AUTH fail with the reason
  const auto* r = static_cast<const redisReply*>(reply);
  if (r->type != REDIS_REPLY_ERROR) {
    self->ready();
    return;
  }
  const std::string& user = self->options_.auth.user;
  const std::string why =
      fmt::format("authentication{} refused: {}", user.empty() ? "" : " as '" + user + "'",
                  std::string_view(r->str, r->len));
  const std::string message = fmt::format("redis {}: {}", self->options_.address, why);
  self->counters_->auth_failures.fetch_add(1, std::memory_order_relaxed);
  if (self->options_.faults && self->options_.faults->raise(self->fault_key(), message))
    log::error("redis refused this server's credentials",
               {{"server", self->options_.address}, {"user", user}, {"reply", r->str}});
  // Drop the connection. Inside a callback hiredis frees the context once this returns, failing
  // the commands pipelined behind AUTH with closing_reason_; the next attempt backs off.
  self->ac_ = nullptr;
  self->closing_reason_ = why;
  self->connect_failed(message);
  redisAsyncFree(ac);
}

// The connection is usable: connected, and authenticated when it has credentials.
void Connection::ready() {
  failed_connects_ = 0;
  counters_->connects.fetch_add(1, std::memory_order_relaxed);
  if (options_.faults && !options_.auth.password.empty() && options_.faults->clear(fault_key()))
    log::info("redis accepts this server's credentials again",
              {{"server", options_.address}, {"user", options_.auth.user}});
}

std::string Connection::fault_key() const {
  return "redis " + options_.address;
}

// Without credentials, a NOAUTH reply means the server wants some: a configuration fault.
void Connection::check_noauth(const Reply& reply) {
  if (!options_.faults) return;
  const bool noauth = reply.is_error() && reply.str.starts_with("NOAUTH");
  if (noauth && !noauth_raised_) {
    noauth_raised_ = true;
    if (options_.faults->raise(
            fault_key(), fmt::format("redis {}: the server requires authentication (NOAUTH) and "
                                     "no password is configured for it",
                                     options_.address)))
      log::error("redis requires a password this server does not have",
                 {{"server", options_.address}});
  } else if (!noauth && noauth_raised_) {
    noauth_raised_ = false;
    options_.faults->clear(fault_key());
  }
}

void Connection::on_connect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<Connection*>(ac->data);
  if (status != REDIS_OK) {  // hiredis frees the context after this returns
    self->ac_ = nullptr;
    self->connect_failed(
        fmt::format("redis {}: cannot connect: {}", self->options_.address, ac->errstr));
    return;
  }
  if (self->options_.auth.password.empty()) self->ready();  // else once AUTH is accepted
}

void Connection::on_disconnect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<Connection*>(ac->data);
  self->ac_ = nullptr;
  if (status != REDIS_OK)
    self->last_error_ = fmt::format("redis {}: {}", self->options_.address, ac->errstr);
}

void Connection::connect_failed(const std::string& message) {
  ++failed_connects_;
  last_error_ = message;
  retry_at_ =
      options_.clock->steady_now() +
      std::min<std::chrono::milliseconds>(
          options_.backoff_min * (1LL << std::min(failed_connects_ - 1, 20)), options_.backoff_max);
}

bool Connection::idle_connection_is_broken() const {
  pollfd p{ac_->c.fd, POLLIN, 0};
  return ::poll(&p, 1, 0) != 0;  // readable while idle: EOF, an error, or a stray message
}

void Connection::close(const std::string& reason) {
  if (!ac_) return;
  redisAsyncContext* ac = ac_;
  ac_ = nullptr;
  closing_reason_ = reason;
  last_error_ = fmt::format("redis {}: {}", options_.address, reason);
  redisAsyncFree(ac);  // calls every pending callback with a null reply, then cleanup()
  closing_reason_.clear();
}

void Connection::retarget(const std::string& address) {
  if (address == options_.address) return;
  close("the master moved to " + address);
  // A fault the old server raised (credentials refused, NOAUTH) is about a server this
  // connection no longer uses: readiness must not keep failing for it. The new one raises its own.
  if (options_.faults && options_.faults->clear(fault_key()))
    log::info("redis fault cleared: the connection moved",
              {{"from", options_.address}, {"to", address}});
  noauth_raised_ = false;
  options_.address = address;
  failed_connects_ = 0;
  retry_at_ = {};
  last_error_.clear();
}

}  // namespace ztm::redis
