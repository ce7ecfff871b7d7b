#pragma once
// SQLite on a bounded pool, shared by every backend on SQLite (users, sessions, the queue):
// prepared statements cached per connection, one writer connection behind a mutex (SQLite admits
// one writer at a time; queueing in-process avoids SQLITE_BUSY between our own connections), one
// reader connection per pool thread (WAL lets reads run during a write). Every call runs on the
// pool, never on the caller's event-loop thread; an exception there (bad_alloc, a bug) becomes
// Errc::internal: the data path never throws.

#include <fmt/format.h>
#include <sqlite3.h>

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/blocking_pool.h"
#include "core/result.h"
#include "sqlite/options.h"

namespace ztm::sqlite {

// Busy/locked (after busy_timeout) and I/O trouble may pass, so a retry is worth it; corruption
// and everything unexpected will not.
inline Error sqlite_error(sqlite3* db, int rc, std::string_view what) {
  Errc code = Errc::internal;
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_FULL:
    case SQLITE_PROTOCOL:
      code = Errc::unavailable;
      break;
    case SQLITE_TOOBIG:
      code = Errc::invalid_argument;
      break;
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) code = Errc::conflict;
      break;
    default:
      break;
  }
  return Error{code,
               fmt::format("sqlite {}: {} ({})", what, sqlite3_errmsg(db), sqlite3_errstr(rc))};
}

// A cached prepared statement, leased for one call: reset and unbound when the lease ends, so
// text bound without copying (SQLITE_STATIC) only needs to outlive the lease.
class Statement {
 public:
  explicit Statement(sqlite3_stmt* s) : s_(s) {}
  Statement(Statement&& o) noexcept : s_(std::exchange(o.s_, nullptr)), rc_(o.rc_) {}
  Statement& operator=(Statement&&) = delete;
  ~Statement() {
    if (!s_) return;
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }

  void bind(int i, std::int64_t v) { keep(sqlite3_bind_int64(s_, i, v)); }
  void bind(int i, const std::string& v) {
    keep(sqlite3_bind_text64(s_, i, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8));
  }
  void bind_optional(int i, std::optional<std::int64_t> v) {
    v ? bind(i, *v) : keep(sqlite3_bind_null(s_, i));
  }
  // The first failed bind's code, else sqlite3_step's: SQLITE_ROW, SQLITE_DONE or an error.
  int step() { return rc_ != SQLITE_OK ? rc_ : sqlite3_step(s_); }
  std::int64_t column_int64(int col) { return sqlite3_column_int64(s_, col); }
  bool column_is_null(int col) { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  std::string column_text(int col) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, col))) : "";
  }

 private:
  void keep(int rc) {
    if (rc_ == SQLITE_OK) rc_ = rc;
  }
  sqlite3_stmt* s_;
  int rc_ = SQLITE_OK;
};

// One sqlite3 handle and its statement cache. Used by one thread at a time (hence NOMUTEX).
class Connection {
 public:
  enum class Role { writer, reader };

  static Result<std::unique_ptr<Connection>> open(const Options& options, Role role) {
    const std::string& path = options.path;
    sqlite3* db = nullptr;
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                      (role == Role::writer ? SQLITE_OPEN_CREATE : 0);
    const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
    std::unique_ptr<Connection> c(new Connection(db));  // closes db on every path
    if (rc != SQLITE_OK) return sqlite_error(db, rc, path + ": cannot open");
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, options.busy_timeout_ms);
    // See Options::durable_commits. In WAL mode FULL costs one fsync per commit; NORMAL
    // one per checkpoint.
    std::string pragmas =
        options.durable_commits ? "PRAGMA synchronous = FULL;" : "PRAGMA synchronous = NORMAL;";
    pragmas += " PRAGMA foreign_keys = ON;";
    if (role == Role::reader) pragmas += " PRAGMA query_only = ON;";
    if (int prc = sqlite3_exec(db, pragmas.c_str(), nullptr, nullptr, nullptr); prc != SQLITE_OK)
      return sqlite_error(db, prc, path + ": cannot configure");
    if (role == Role::writer) {
      // WAL is a property of the file: set once by the writer, seen by every later connection.
      sqlite3_stmt* raw = nullptr;
      int jrc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &raw, nullptr);
      std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> wal(raw, sqlite3_finalize);
      if (jrc == SQLITE_OK) jrc = sqlite3_step(raw);
      if (jrc != SQLITE_ROW) return sqlite_error(db, jrc, path + ": cannot enable WAL");
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(raw, 0));
      if (const std::string mode = text ? text : ""; mode != "wal")
        return Error{Errc::internal,
                     fmt::format("sqlite {}: journal mode is '{}', not 'wal' (an on-disk file is "
                                 "required)",
                                 path, mode)};
    }
    return c;
  }

  ~Connection() {
    for (auto& [sql, s] : stmts_) sqlite3_finalize(s);
    sqlite3_close_v2(db_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // REQUIRES: `sql` is a string with static storage (statements are cached by its address).
  Result<Statement> prepare(const char* sql) {
    sqlite3_stmt*& s = stmts_[sql];
    if (!s) {
      const int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr);
      if (rc != SQLITE_OK) return sqlite_error(db_, rc, "prepare");
    }
    return Statement(s);
  }

  // Runs a statement that returns no rows (BEGIN, COMMIT, ROLLBACK).
  Result<void> exec(const char* sql, std::string_view what) {
    auto st = prepare(sql);
    if (!st.ok()) return std::move(st).error();
    if (int rc = st->step(); rc != SQLITE_DONE) return error(rc, what);
    return {};
  }

  Error error(int rc, std::string_view what) const { return sqlite_error(db_, rc, what); }
  bool autocommit() const { return sqlite3_get_autocommit(db_) != 0; }
  sqlite3* db() const { return db_; }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::unordered_map<const char*, sqlite3_stmt*> stmts_;
};

// Rolls back on scope exit unless committed, so no error path leaves the writer mid-transaction.
class WriteTransaction {
 public:
  explicit WriteTransaction(Connection& c) : conn_(c) {}
  ~WriteTransaction() {
    if (!conn_.autocommit()) (void)conn_.exec("ROLLBACK", "rollback");
  }
  WriteTransaction(const WriteTransaction&) = delete;
  WriteTransaction& operator=(const WriteTransaction&) = delete;

  // IMMEDIATE takes the write lock up front, so the checks inside see what the write will.
  Result<void> begin() { return conn_.exec("BEGIN IMMEDIATE", "begin"); }
  Result<void> commit() { return conn_.exec("COMMIT", "commit"); }

 private:
  Connection& conn_;
};

// Runs fn() -> Result<T> on the pool. An exception (bad_alloc, a bug) becomes Errc::internal:
// the data path never throws.
template <class T, class F>
boost::asio::awaitable<Result<T>> on_pool(BlockingPool& pool, F fn) {
  co_return co_await pool.run([&fn]() -> Result<T> {
    try {
      return fn();
    } catch (const std::exception& e) {
      return Result<T>(Errc::internal, fmt::format("sqlite: {}", e.what()));
    }
  });
}

class Database {
 public:
  // Opens the file (creating it and its directory), a writer and one reader per pool thread.
  // Throws std::runtime_error naming the path and the reason (a start-up error).
  explicit Database(Options o);
  // Joins the pool first, then closes the connections.
  // REQUIRES: no call in flight.
  ~Database() = default;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // On the pool: body(statement, connection) -> Result<T>, with `sql` prepared on a reader.
  template <class T, class Body>
  boost::asio::awaitable<Result<T>> read(const char* sql, Body body) {
    return on_pool<T>(pool, [this, sql, body = std::move(body)]() -> Result<T> {
      auto c = take_reader();
      if (!c.ok()) return std::move(c).error();
      Result<T> result = [&]() -> Result<T> {
        auto st = (*c)->prepare(sql);
        if (!st.ok()) return std::move(st).error();
        return body(*st, **c);
      }();  // the statement is reset here, before the connection goes back
      std::lock_guard lock(readers_mu);
      idle_readers.push_back(std::move(*c));
      return result;
    });
  }

  // On the pool: body(writer) -> Result<T>, holding the writer.
  template <class T, class Body>
  boost::asio::awaitable<Result<T>> write(Body body) {
    return on_pool<T>(pool, [this, body = std::move(body)]() -> Result<T> {
      std::lock_guard lock(writer_mu);
      return body(*writer);
    });
  }

  // Blocking, for start-up work (migrations): f(sqlite3*) holding the writer.
  template <class F>
  auto with_writer(F f) {
    std::lock_guard lock(writer_mu);
    return f(writer->db());
  }

  const Options& options() const { return options_; }

 private:
  // An idle reader connection. There is one per pool thread, opened up front, so the list is
  // empty only if that invariant breaks; then another is opened rather than failing.
  Result<std::unique_ptr<Connection>> take_reader() {
    {
      std::lock_guard lock(readers_mu);
      if (!idle_readers.empty()) {
        auto c = std::move(idle_readers.back());
        idle_readers.pop_back();
        return c;
      }
    }
    return Connection::open(options_, Connection::Role::reader);
  }

  const Options options_;
  std::mutex writer_mu;  // one writer: SQLite admits one at a time anyway
  std::unique_ptr<Connection> writer;
  std::mutex readers_mu;
  std::vector<std::unique_ptr<Connection>> idle_readers;
  // Declared last so it is destroyed (joined) first, while the connections still exist.
  BlockingPool pool;
};

}  // namespace ztm::sqlite
