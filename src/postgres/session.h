#pragma once
// A blocking libpq session for the operator's tools: schema migrations (storage/postgres/
// pg_migrations.cc) and bucket moves (storage/sharding/mover.h). Never on an event loop: the
// serving path uses the asynchronous Connection (connection.h).
//
// Every call is bounded: connect within `timeout` (libpq's connect_timeout, whole seconds, at
// least 2), and each statement within statement_timeout and lock_timeout, set at open.

#include <libpq-fe.h>

#include <chrono>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"

namespace ztm::postgres {

class Session {
 public:
  using Rows = std::unique_ptr<PGresult, decltype(&PQclear)>;

  // unavailable when the server cannot be reached within `timeout`. Statements are bounded by
  // `statement_timeout` (the lock wait too).
  static Result<Session> open(const std::string& conninfo, std::chrono::milliseconds timeout,
                              std::chrono::milliseconds statement_timeout);

  // Runs `sql` (one statement, or several without parameters) with text parameters; the error
  // names `what` and carries the SQLSTATE's Errc (connection.h).
  Result<Rows> exec(const std::string& sql, std::string_view what,
                    std::initializer_list<const char*> params = {});
  // The first column of the first row of `sql`, "" when there is no row or it is NULL.
  Result<std::string> scalar(const std::string& sql, std::string_view what,
                             std::initializer_list<const char*> params = {});

  PGconn* get() const { return c_.get(); }

 private:
  explicit Session(PGconn* c) : c_(c, &PQfinish) {}
  std::unique_ptr<PGconn, decltype(&PQfinish)> c_;
};

}  // namespace ztm::postgres
