#pragma once
// One asynchronous libpq connection in pipeline mode, driven by the event loop that owns it.
//
// How it is driven: the libpq socket (PQsocket) is wrapped in an Asio stream_descriptor; the
// connection is non-blocking (PQsetnonblocking), connects with PQconnectStart/PQconnectPoll, and
// then stays in pipeline mode (PQenterPipelineMode). Each request is sent as
// [PQsendPrepare the first time this connection sees the statement] + PQsendQueryPrepared +
// PQpipelineSync, and appended to a FIFO of requests in flight. One driver coroutine per
// connection flushes output (PQflush, waiting for write- or read-readiness while it returns 1)
// and reads input (PQconsumeInput, then PQgetResult while !PQisBusy), completing the requests in
// order: every request ends at its own PGRES_PIPELINE_SYNC, so one request's error never aborts
// another's. Many coroutines therefore share one connection and one round trip.
//
// Threading contract: every member function, and every completion, runs on the strand given to
// the constructor (one per event loop and host). Nothing here locks. The driver holds no pending
// wait while no request is in flight, so an idle connection never keeps an io_context running.
//
// Failure contract: every wait is bounded by options.timeout (a connect, and each request from
// submission to its result). A timeout, a socket error or a server that closes the connection
// fails *every* request in flight with Errc::unavailable and closes the connection; the next
// request reconnects. Failed connects back off exponentially (backoff_min doubling to
// backoff_max); during the back-off, requests fail at once with Errc::unavailable.
//
// Whether a failed statement may have committed: an unavailable error has outcome_unknown set
// when the statement was sent and then the connection failed, timed out, or the server ended it
// (shutdown, cancel: these can follow the commit). It is clear when the statement never left
// (not connected, cannot send) or the server surely rolled it back (surely_not_committed).

#include <libpq-fe.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

namespace ztm::postgres {

// A libpq message on one line: libpq's messages end with a newline and may span lines; one line
// reads better in logs and JSON error bodies. Null gives "".
std::string one_line(const char* message);

using Clock = std::chrono::steady_clock;  // the timers' clock: deadlines of real I/O waits
using Strand = boost::asio::strand<boost::asio::any_io_executor>;

struct ConnectionOptions {
  std::string conninfo = "postgresql:///ztm";   // a libpq connection string or URI
  std::chrono::milliseconds timeout{5000};      // a connect; a request's round trip
  std::chrono::milliseconds backoff_min{50};    // after the first failed connect
  std::chrono::milliseconds backoff_max{2000};  // the back-off doubles up to this
  // When the back-off ends (its monotonic time). The I/O deadlines (timeout) stay on the
  // timers' clock: they bound real waits.
  const ztm::Clock* clock = &ztm::Clock::system();  // must outlive the connection
};

// Whether `sql` may change data, and so runs on a pool's write connections (host.h): it does not
// start with SELECT, or it names INSERT, UPDATE, DELETE or MERGE anywhere (a data-modifying
// WITH, SELECT ... FOR UPDATE). Whole words, any case. Only a statement's connection depends on
// it, never what the statement may do: a write taken for a read (a SELECT calling nextval()) still
// runs, on a read connection.
constexpr bool sql_writes(std::string_view sql) {
  constexpr auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
  constexpr auto word_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  const auto word_at = [&](std::size_t i, std::string_view word) {
    if (sql.size() - i < word.size()) return false;
    for (std::size_t k = 0; k < word.size(); ++k)
      if (lower(sql[i + k]) != word[k]) return false;
    return (i == 0 || !word_char(sql[i - 1])) &&
           (i + word.size() == sql.size() || !word_char(sql[i + word.size()]));
  };
  std::size_t first = 0;
  while (first < sql.size() && !word_char(sql[first])) ++first;
  if (!word_at(first, "select")) return true;
  for (std::size_t i = first; i < sql.size(); ++i)
    for (std::string_view word : {"insert", "update", "delete", "merge"})
      if (word_at(i, word)) return true;
  return false;
}

// A statement the store runs; prepared under `name` once per connection, on first use.
// REQUIRES: the object outlives every connection that ran it (use static tables).
struct Statement {
  // `param_formats`: per parameter, 0 (text) or 1 (binary: raw bytes for bytea, no hex); nullptr:
  // all text. A statement with a binary parameter must be given its values' lengths (Params).
  // `result_format` 1: every column of the result in binary (bytea: raw bytes).
  constexpr Statement(const char* statement_name, const char* statement_sql,
                      const int* formats = nullptr, int result = 0)
      : name(statement_name),
        sql(statement_sql),
        param_formats(formats),
        result_format(result),
        writes(sql_writes(statement_sql)) {}
  const char* name;
  const char* sql;
  const int* param_formats;
  int result_format;
  bool writes;  // sql_writes(sql): a constexpr Statement decides it at compile time
};

// A statement's parameter values (nullptr = NULL), as text unless the statement says binary;
// `lengths` gives each value's size in bytes and is required for binary values (ignored for
// text ones). The values need only live until the first suspension of the call.
struct Params {
  Params() = default;  // no parameters
  template <class Values>
  requires std::convertible_to<const Values&, std::span<const char* const>> Params(const Values& v)
      : values(v) {}  // NOLINT: implicit, so a std::array of values is Params
  Params(std::span<const char* const> v, std::span<const int> l) : values(v), lengths(l) {}
  std::span<const char* const> values;
  std::span<const int> lengths;
};

// The rows of one successful statement (text format).
class QueryResult {
 public:
  explicit QueryResult(PGresult* r) : r_(r, &PQclear) {}
  int rows() const { return PQntuples(r_.get()); }
  bool is_null(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  std::string_view text(int row, int col) const {
    return {PQgetvalue(r_.get(), row, col),
            static_cast<std::size_t>(PQgetlength(r_.get(), row, col))};
  }
  // nullopt when the value is NULL or not an integer.
  std::optional<std::int64_t> int64(int row, int col) const;
  const PGresult* get() const { return r_.get(); }

 private:
  std::unique_ptr<PGresult, decltype(&PQclear)> r_;
};

// The Errc of a failed statement, from its SQLSTATE: 23505 (unique violation) -> conflict;
// connection trouble, shutdown, cancellation, serialization failures and deadlocks, lack of
// resources and a read-only server -> unavailable; data exceptions (class 22) -> invalid_argument;
// everything else -> internal.
Errc errc_from_sqlstate(std::string_view sqlstate);
bool surely_not_committed(std::string_view sqlstate);
Error error_from(const PGresult* r, std::string_view what);

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // Does not connect: the first request does. `application_name` is what pg_stat_activity shows
  // unless the connection string sets one (libpq's fallback_application_name).
  Connection(Strand strand, const ConnectionOptions& options, std::string application_name = "ztm");
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs `statement` with `params` and returns its result, or the error (see the failure
  // contract above). REQUIRES: on the strand.
  boost::asio::awaitable<Result<QueryResult>> execute(const Statement& statement, Params params);

  // For picking a connection in a pool. REQUIRES: on the strand.
  bool ready() const { return state_ == State::ready; }
  bool connecting() const { return state_ == State::connecting; }
  bool backing_off() const {
    return state_ == State::disconnected && options_.clock->steady_now() < retry_at_;
  }
  std::size_t in_flight() const { return in_flight_.size(); }

  // Fails the requests in flight with `code` and disconnects; the next request reconnects.
  // REQUIRES: on the strand, or the strand's loop is not running (shutdown).
  void close(Errc code, const std::string& message);

 private:
  enum class State { disconnected, connecting, ready };
  struct Request;

  boost::asio::awaitable<Result<void>> ensure_connected(Clock::time_point deadline);
  boost::asio::awaitable<Result<void>> connect();
  void connect_failed(std::string message);
  bool send(const Statement& statement, Params params, Request& request);
  void start_driver();
  static boost::asio::awaitable<void> drive(std::shared_ptr<Connection> self, std::uint64_t gen);
  boost::asio::awaitable<boost::system::error_code> wait_readable_or_writable();
  void take_results();
  bool idle_connection_is_broken();
  void bind_socket();
  void wake_connect_waiters();
  std::string libpq_error() const;

  Strand strand_;
  const ConnectionOptions& options_;
  std::string application_name_;
  PGconn* conn_ = nullptr;
  // Over PQsocket(conn_); libpq owns the fd, so it is always release()d, never closed, by us.
  std::optional<boost::asio::posix::stream_descriptor> socket_;
  State state_ = State::disconnected;
  std::uint64_t generation_ = 0;  // +1 per connect and per close: stale coroutines notice
  bool driving_ = false;          // a driver coroutine runs for this generation
  bool connect_timed_out_ = false;
  std::deque<std::shared_ptr<Request>> in_flight_;  // in the order their results will come
  std::vector<const Statement*> prepared_;          // on this connection (sent, maybe in flight)
  std::vector<boost::asio::steady_timer*> connect_waiters_;  // cancelled when a connect ends
  int failed_connects_ = 0;
  Clock::time_point retry_at_{};
  std::string last_error_;
};

}  // namespace ztm::postgres
