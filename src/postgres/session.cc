#include "postgres/session.h"

#include <fmt/format.h>

#include <algorithm>

#include "postgres/connection.h"

namespace ztm::postgres {

Result<Session> Session::open(const std::string& conninfo, std::chrono::milliseconds timeout,
                              std::chrono::milliseconds statement_timeout) {
  const std::string seconds =
      std::to_string(std::max<long long>(2, (timeout.count() + 999) / 1000));
  const char* keys[] = {"dbname", "connect_timeout", nullptr};
  const char* values[] = {conninfo.c_str(), seconds.c_str(), nullptr};
  Session s(PQconnectdbParams(keys, values, /*expand_dbname=*/1));
  if (!s.c_ || PQstatus(s.get()) != CONNECTION_OK)
    return Error{Errc::unavailable,
                 fmt::format("postgres: cannot connect: {}",
                             s.c_ ? one_line(PQerrorMessage(s.get())) : "no memory")};
  PQsetNoticeProcessor(
      s.get(), [](void*, const char*) {}, nullptr);  // IF NOT EXISTS notices
  const std::string ms = std::to_string(statement_timeout.count());
  auto set = s.exec("SET statement_timeout = " + ms + "; SET lock_timeout = " + ms, "set timeouts");
  if (!set.ok()) return std::move(set).error();
  return s;
}

Result<Session::Rows> Session::exec(const std::string& sql, std::string_view what,
                                    std::initializer_list<const char*> params) {
  PGconn* c = get();
  Rows r(params.size() == 0 ? PQexec(c, sql.c_str())
                            : PQexecParams(c, sql.c_str(), static_cast<int>(params.size()), nullptr,
                                           params.begin(), nullptr, nullptr, 0),
         &PQclear);
  const ExecStatusType status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return r;
  if (!r)
    return Error{Errc::unavailable,
                 fmt::format("postgres {}: {}", what, one_line(PQerrorMessage(c)))};
  return error_from(r.get(), what);
}

Result<std::string> Session::scalar(const std::string& sql, std::string_view what,
                                    std::initializer_list<const char*> params) {
  auto r = exec(sql, what, params);
  if (!r.ok()) return std::move(r).error();
  if (PQntuples(r->get()) == 0 || PQnfields(r->get()) == 0 || PQgetisnull(r->get(), 0, 0))
    return std::string();
  return std::string(PQgetvalue(r->get(), 0, 0));
}

}  // namespace ztm::postgres
