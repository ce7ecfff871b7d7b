#pragma once
// Helpers for the PostgreSQL backend's tests.

#include <libpq-fe.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "core/run_sync.h"
#include "storage/postgres/pg_store.h"
#include "tests/support/postgres_instance.h"

namespace ztm::test {

// A fresh, migrated database on `pg` and a store on it.
inline std::unique_ptr<storage::PgStore> migrated_store(PostgresInstance& pg,
                                                        storage::PgStoreOptions options,
                                                        std::string* dbname = nullptr) {
  const std::string db = pg.create_database();
  if (dbname) *dbname = db;
  options.conninfo = pg.conninfo(db);
  auto store = std::make_unique<storage::PgStore>(std::move(options));
  if (auto m = store->migrate(); !m.ok()) throw std::runtime_error(m.error().message);
  return store;
}

// Runs `aw` to completion on `io`, which (unlike run_sync's) outlives the call, so the store's
// pool for that loop and its connections persist between calls.
template <class T>
T run_on(boost::asio::io_context& io, boost::asio::awaitable<T> aw) {
  std::optional<T> out;
  std::exception_ptr error;
  boost::asio::co_spawn(io, ztm::detail::store_into(std::move(aw), out),
                        [&error](std::exception_ptr e) { error = e; });
  io.restart();
  io.run();
  if (error) std::rethrow_exception(error);
  return std::move(*out);
}

// A plain blocking session of the test's own, as another client would have.
class Session {
 public:
  explicit Session(const std::string& conninfo) : c_(PQconnectdb(conninfo.c_str()), &PQfinish) {
    if (PQstatus(c_.get()) != CONNECTION_OK)
      throw std::runtime_error(std::string("session: ") + PQerrorMessage(c_.get()));
  }
  void exec(const std::string& sql) {
    std::unique_ptr<PGresult, decltype(&PQclear)> r(PQexec(c_.get(), sql.c_str()), &PQclear);
    const auto s = PQresultStatus(r.get());
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
      throw std::runtime_error(sql + ": " + PQerrorMessage(c_.get()));
  }

 private:
  std::unique_ptr<PGconn, decltype(&PQfinish)> c_;
};

inline long long elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               since)
      .count();
}

}  // namespace ztm::test
