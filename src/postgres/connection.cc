#include "postgres/connection.h"

#include <fmt/format.h>
#include <poll.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cassert>
#include <charconv>
#include <variant>

namespace ztm::postgres {
namespace {

using boost::asio::awaitable;
using boost::asio::posix::stream_descriptor;
constexpr auto kTuple = boost::asio::as_tuple(boost::asio::use_awaitable);

}  // namespace

std::string one_line(const char* message) {
  std::string s = message ? message : "";
  for (char& ch : s)
    if (ch == '\n' || ch == '\t') ch = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

std::optional<std::int64_t> QueryResult::int64(int row, int col) const {
  if (is_null(row, col)) return std::nullopt;
  const std::string_view t = text(row, col);
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc{} || end != t.data() + t.size()) return std::nullopt;
  return v;
}

Errc errc_from_sqlstate(std::string_view s) {
  if (s == "23505") return Errc::conflict;
  if (s == "25006") return Errc::unavailable;  // read-only transaction: we reached a standby
  if (s == "ZT001") return Errc::moved;        // the shard-side fence (pg_migrations.cc, 11)
  const std::string_view cls = s.substr(0, 2);
  // 08 connection exception, 40 rollback (serialization, deadlock), 53 insufficient resources,
  // 57 operator intervention (shutdown, cancel, statement_timeout), 58 system (I/O) error.
  if (cls == "08" || cls == "40" || cls == "53" || cls == "57" || cls == "58")
    return Errc::unavailable;
  if (cls == "22") return Errc::invalid_argument;  // data exception: bad encoding, out of range
  return Errc::internal;
}

// Whether a statement that failed with `sqlstate` surely committed nothing: it was refused
// (25006: a standby), rolled back (40001 serialization failure, 40P01 deadlock) or out of
// resources (class 53). Others of the `unavailable` classes (08 connection, 57 shutdown or
// cancel, 58 I/O; 40003 statement completion unknown) can come after the commit, before its
// acknowledgement.
bool surely_not_committed(std::string_view s) {
  return s == "25006" || s == "40001" || s == "40P01" || s.starts_with("53");
}

// The error of a statement that was sent.
Error error_from(const PGresult* r, std::string_view what) {
  const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  // A failure without a SQLSTATE was made up by libpq itself: the connection is gone.
  const Errc code = state ? errc_from_sqlstate(state) : Errc::unavailable;
  Error e{code, fmt::format("postgres {}: {} (SQLSTATE {})", what,
                            one_line(PQresultErrorMessage(r)), state ? state : "none")};
  e.outcome_unknown = code == Errc::unavailable && !(state && surely_not_committed(state));
  return e;
}

struct Connection::Request {
  Request(const Strand& strand, Clock::time_point deadline) : timer(strand, deadline) {}
  void finish() {
    done = true;
    timer.cancel();
  }
  boost::asio::steady_timer timer;   // the waiter sleeps on it; finish() wakes it
  std::vector<QueryResult> results;  // every non-null PGresult before the sync
  std::optional<Error> failure;      // the connection failed before the sync arrived
  const Statement* prepared_here = nullptr;
  bool done = false;
};

Connection::Connection(Strand strand, const ConnectionOptions& options,
                       std::string application_name)
    : strand_(std::move(strand)),
      options_(options),
      application_name_(std::move(application_name)) {}

Connection::~Connection() {
  close(Errc::unavailable, "postgres: connection destroyed");
}

awaitable<Result<QueryResult>> Connection::execute(const Statement& statement, Params params) {
  auto self = shared_from_this();  // this frame may outlive the pool's reference
  const Clock::time_point deadline = Clock::now() + options_.timeout;
  if (auto c = co_await ensure_connected(deadline); !c.ok()) co_return std::move(c).error();
  auto request = std::make_shared<Request>(strand_, deadline);
  if (!send(statement, params, *request)) {
    Error e{Errc::unavailable,
            fmt::format("postgres: cannot send {}: {}", statement.name, libpq_error())};
    close(e.code, e.message);
    co_return e;
  }
  in_flight_.push_back(request);
  start_driver();
  if (!request->done) co_await request->timer.async_wait(kTuple);
  if (!request->done)
    close(Errc::unavailable, fmt::format("postgres: no answer to {} within {} ms", statement.name,
                                         options_.timeout.count()));
  if (request->failure) {  // the connection failed (or timed out) after the statement was sent
    request->failure->outcome_unknown = true;
    co_return std::move(*request->failure);
  }
  for (const QueryResult& r : request->results) {
    const ExecStatusType status = PQresultStatus(r.get());
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
      co_return error_from(r.get(), statement.name);
  }
  if (request->results.empty())
    co_return Error{Errc::internal, fmt::format("postgres {}: no result", statement.name)};
  co_return std::move(request->results.back());
}

awaitable<Result<void>> Connection::ensure_connected(Clock::time_point deadline) {
  if (state_ == State::ready && in_flight_.empty() && idle_connection_is_broken())
    close(Errc::unavailable, "postgres: the server closed an idle connection");
  if (state_ == State::ready) co_return Result<void>{};
  if (state_ == State::connecting) {  // another request is connecting: wait for it
    boost::asio::steady_timer wait(strand_, deadline);
    connect_waiters_.push_back(&wait);
    co_await wait.async_wait(kTuple);
    std::erase(connect_waiters_, &wait);
    if (state_ == State::ready) co_return Result<void>{};
    co_return Error{Errc::unavailable, last_error_.empty()
                                           ? std::string("postgres: timed out waiting to connect")
                                           : last_error_};
  }
  if (const auto now = options_.clock->steady_now(); now < retry_at_)
    co_return Error{
        Errc::unavailable,
        fmt::format("postgres: not connected (next attempt in {} ms); last error: {}",
                    std::chrono::ceil<std::chrono::milliseconds>(retry_at_ - now).count(),
                    last_error_)};
  co_return co_await connect();
}

awaitable<Result<void>> Connection::connect() {
  auto self = shared_from_this();
  state_ = State::connecting;
  const std::uint64_t gen = ++generation_;
  connect_timed_out_ = false;
  // expand_dbname: the "dbname" value is the whole connection string (keywords or a URI).
  const char* const keys[] = {"dbname", "fallback_application_name", nullptr};
  const char* const values[] = {options_.conninfo.c_str(), application_name_.c_str(), nullptr};
  conn_ = PQconnectStartParams(keys, values, /*expand_dbname=*/1);
  std::string reason;
  PostgresPollingStatusType poll = PGRES_POLLING_FAILED;
  if (conn_ && PQstatus(conn_) != CONNECTION_BAD && PQsetnonblocking(conn_, 1) == 0) {
    // Server notices (and a FATAL sent to an idle connection) would go to stderr by default.
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
    poll = PGRES_POLLING_WRITING;  // what PQconnectStart's caller must assume first
  }
  // The timer's destructor cancels it, on every path out of this function.
  boost::asio::steady_timer deadline(strand_, options_.timeout);
  deadline.async_wait([self, gen](boost::system::error_code ec) {
    if (ec || self->generation_ != gen || self->state_ != State::connecting) return;
    self->connect_timed_out_ = true;
    if (self->socket_) self->socket_->cancel();
  });
  while (poll == PGRES_POLLING_READING || poll == PGRES_POLLING_WRITING) {
    // libpq may replace the socket between steps (another address, SSL retry): rebind each time.
    if (socket_) socket_->release();
    socket_.reset();
    bind_socket();
    if (!socket_) break;
    auto [ec] =
        co_await socket_->async_wait(poll == PGRES_POLLING_READING ? stream_descriptor::wait_read
                                                                   : stream_descriptor::wait_write,
                                     kTuple);
    if (generation_ != gen) co_return Error{Errc::unavailable, "postgres: closed while connecting"};
    if (connect_timed_out_ || ec) {
      reason = connect_timed_out_ ? fmt::format("timed out after {} ms", options_.timeout.count())
                                  : ec.message();
      poll = PGRES_POLLING_FAILED;
      break;
    }
    poll = PQconnectPoll(conn_);
  }
  if (poll == PGRES_POLLING_OK && PQenterPipelineMode(conn_) != 1) {
    reason = "cannot enter pipeline mode";
    poll = PGRES_POLLING_FAILED;
  }
  if (poll != PGRES_POLLING_OK) {
    connect_failed(
        fmt::format("postgres: cannot connect: {}", reason.empty() ? libpq_error() : reason));
    co_return Error{Errc::unavailable, last_error_};
  }
  bind_socket();
  state_ = State::ready;
  failed_connects_ = 0;
  last_error_.clear();
  wake_connect_waiters();
  co_return Result<void>{};
}

void Connection::connect_failed(std::string message) {
  ++failed_connects_;
  const std::chrono::milliseconds backoff = std::min<std::chrono::milliseconds>(
      options_.backoff_min * (1LL << std::min(failed_connects_ - 1, 20)), options_.backoff_max);
  close(Errc::unavailable, message);
  retry_at_ = options_.clock->steady_now() + backoff;
}

bool Connection::send(const Statement& statement, Params params, Request& request) {
  if (std::find(prepared_.begin(), prepared_.end(), &statement) == prepared_.end()) {
    if (!PQsendPrepare(conn_, statement.name, statement.sql, 0, nullptr)) return false;
    prepared_.push_back(&statement);
    request.prepared_here = &statement;
  }
  assert(params.lengths.empty() || params.lengths.size() == params.values.size());
  return PQsendQueryPrepared(conn_, statement.name, static_cast<int>(params.values.size()),
                             params.values.data(),
                             params.lengths.empty() ? nullptr : params.lengths.data(),
                             statement.param_formats, statement.result_format) == 1 &&
         PQpipelineSync(conn_) == 1;
}

void Connection::start_driver() {
  const int pending = PQflush(conn_);
  if (pending < 0) {
    close(Errc::unavailable, "postgres: cannot send: " + libpq_error());
    return;
  }
  if (driving_) {
    // The driver may be waiting for input only; make it wait for writability too.
    if (pending == 1 && socket_) socket_->cancel();
    return;
  }
  driving_ = true;
  boost::asio::co_spawn(strand_, drive(shared_from_this(), generation_), boost::asio::detached);
}

awaitable<void> Connection::drive(std::shared_ptr<Connection> self, std::uint64_t gen) {
  Connection& c = *self;
  while (c.generation_ == gen && !c.in_flight_.empty()) {
    const int pending = PQflush(c.conn_);
    if (pending < 0) {
      c.close(Errc::unavailable, "postgres: cannot send: " + c.libpq_error());
      break;
    }
    boost::system::error_code ec;
    if (pending == 1) {
      ec = co_await c.wait_readable_or_writable();
    } else {
      std::tie(ec) = co_await c.socket_->async_wait(stream_descriptor::wait_read, kTuple);
    }
    if (c.generation_ != gen) break;                            // closed while waiting
    if (ec == boost::asio::error::operation_aborted) continue;  // woken to flush
    if (ec) {
      c.close(Errc::unavailable, "postgres: socket error: " + ec.message());
      break;
    }
    if (!PQconsumeInput(c.conn_)) {
      c.close(Errc::unavailable, "postgres: connection lost: " + c.libpq_error());
      break;
    }
    c.take_results();
    if (c.generation_ == gen && PQstatus(c.conn_) == CONNECTION_BAD)
      c.close(Errc::unavailable, "postgres: connection lost: " + c.libpq_error());
  }
  if (c.generation_ == gen) c.driving_ = false;
}

awaitable<boost::system::error_code> Connection::wait_readable_or_writable() {
  // Waiting for writability alone could deadlock: the server may be blocked writing results
  // to us, and not reading, while we wait to send.
  using namespace boost::asio::experimental::awaitable_operators;
  auto either = co_await (socket_->async_wait(stream_descriptor::wait_read, kTuple) ||
                          socket_->async_wait(stream_descriptor::wait_write, kTuple));
  co_return std::visit([](auto& t) { return std::get<0>(t); }, either);
}

void Connection::take_results() {
  // In pipeline mode a query's results end with a NULL, and each request with its own
  // PGRES_PIPELINE_SYNC. Two NULLs in a row mean libpq has nothing more for now.
  bool after_null = false;
  while (!in_flight_.empty() && !PQisBusy(conn_)) {
    PGresult* r = PQgetResult(conn_);
    Request& front = *in_flight_.front();
    if (!r) {
      if (after_null) return;
      after_null = true;
      continue;
    }
    after_null = false;
    if (PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
      front.results.emplace_back(r);
      continue;
    }
    PQclear(r);
    if (front.prepared_here &&
        (front.results.empty() || PQresultStatus(front.results.front().get()) != PGRES_COMMAND_OK))
      std::erase(prepared_, front.prepared_here);  // prepare again next time
    auto done = std::move(in_flight_.front());
    in_flight_.pop_front();
    done->finish();
  }
}

bool Connection::idle_connection_is_broken() {
  // A server that shut down or terminated our backend has sent an error and closed the socket;
  // finding out now lets this request reconnect instead of failing. A few rounds: the error
  // message and the end of the stream may be read separately.
  for (int round = 0; round < 4; ++round) {
    pollfd p{PQsocket(conn_), POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) return false;
    if (!PQconsumeInput(conn_) || PQstatus(conn_) != CONNECTION_OK) return true;
  }
  return false;
}

void Connection::bind_socket() {
  const int fd = PQsocket(conn_);
  if (socket_ && socket_->native_handle() == fd) return;
  if (socket_) socket_->release();
  socket_.reset();
  if (fd >= 0) socket_.emplace(strand_, fd);
}

void Connection::close(Errc code, const std::string& message) {
  ++generation_;
  driving_ = false;
  state_ = State::disconnected;
  last_error_ = message;
  if (socket_) socket_->release();  // cancels our waits; libpq closes the fd in PQfinish
  socket_.reset();
  if (conn_) PQfinish(conn_);
  conn_ = nullptr;
  prepared_.clear();
  auto failed = std::move(in_flight_);
  in_flight_.clear();
  for (auto& r : failed) {
    r->failure = Error{code, message};
    r->finish();
  }
  wake_connect_waiters();
}

void Connection::wake_connect_waiters() {
  for (auto* t : connect_waiters_) t->cancel();
  connect_waiters_.clear();
}

std::string Connection::libpq_error() const {
  return conn_ ? one_line(PQerrorMessage(conn_)) : std::string("no connection");
}

}  // namespace ztm::postgres
