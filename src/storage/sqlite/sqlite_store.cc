#include "storage/sqlite/sqlite_store.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <array>
#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

#include "core/blocking_pool.h"
#include "storage/sqlite/migrations.h"
#include "storage/phone_numbers.h"

namespace ztm {
namespace {

using boost::asio::awaitable;

// Every statement the store runs; each connection prepares one on first use and keeps it.
enum class Sql {
  get, list, insert, update, remove, version, count, ping, key_user, key_insert,
  account_insert, account_find, begin, commit, rollback
};
constexpr std::size_t kSqlCount = static_cast<std::size_t>(Sql::rollback) + 1;
#define ZTM_USER_COLUMNS \
  "id, first_name, last_name, street_address, city, state, postal_code, phone_numbers"
constexpr std::array<const char*, kSqlCount> kSql = {
    "SELECT " ZTM_USER_COLUMNS ", version FROM users WHERE id = ?1",
    "SELECT " ZTM_USER_COLUMNS ", version FROM users WHERE id > ?1 ORDER BY id LIMIT ?2",
    "INSERT INTO users(" ZTM_USER_COLUMNS
    ", version, created_at, updated_at) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), "
    "strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
    // Compare-and-set in one statement: ?9 is the expected version, or NULL for "any".
    "UPDATE users SET first_name = ?2, last_name = ?3, street_address = ?4, city = ?5, "
    "state = ?6, postal_code = ?7, phone_numbers = ?8, version = version + 1, "
    "updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
    "WHERE id = ?1 AND (?9 IS NULL OR version = ?9) RETURNING version",
    "DELETE FROM users WHERE id = ?1 AND (?2 IS NULL OR version = ?2)",
    "SELECT version FROM users WHERE id = ?1",
    "SELECT count(*) FROM users",
    "SELECT 1",
    "SELECT user_id FROM idempotency_keys WHERE key = ?1",
    "INSERT INTO idempotency_keys(key, user_id, created_at) "
    "VALUES(?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
    "INSERT INTO accounts(user_id, email, password_hash, role, created_at) "
    "VALUES(?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
    "SELECT user_id, email, password_hash, role FROM accounts WHERE email = ?1",
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
};
#undef ZTM_USER_COLUMNS

// Busy/locked (after busy_timeout) and I/O trouble may pass, so a retry is worth it; corruption
// and everything unexpected will not.
Error sqlite_error(sqlite3* db, int rc, std::string_view what) {
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

  static Result<std::unique_ptr<Connection>> open(const SqliteOptions& options, Role role) {
    const std::string& path = options.path;
    sqlite3* db = nullptr;
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                      (role == Role::writer ? SQLITE_OPEN_CREATE : 0);
    const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
    std::unique_ptr<Connection> c(new Connection(db));  // closes db on every path
    if (rc != SQLITE_OK) return sqlite_error(db, rc, path + ": cannot open");
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, options.busy_timeout_ms);
    // See SqliteOptions::durable_commits. In WAL mode FULL costs one fsync per commit; NORMAL
    // one per checkpoint.
    std::string pragmas = options.durable_commits ? "PRAGMA synchronous = FULL;"
                                                  : "PRAGMA synchronous = NORMAL;";
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
    for (sqlite3_stmt* s : stmts_) sqlite3_finalize(s);
    sqlite3_close_v2(db_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Result<Statement> prepare(Sql sql) {
    sqlite3_stmt*& s = stmts_[static_cast<std::size_t>(sql)];
    if (!s) {
      const int rc = sqlite3_prepare_v3(db_, kSql[static_cast<std::size_t>(sql)], -1,
                                        SQLITE_PREPARE_PERSISTENT, &s, nullptr);
      if (rc != SQLITE_OK) return sqlite_error(db_, rc, "prepare");
    }
    return Statement(s);
  }

  // Runs a statement that returns no rows (BEGIN, COMMIT, ROLLBACK).
  Result<void> exec(Sql sql, std::string_view what) {
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
  std::array<sqlite3_stmt*, kSqlCount> stmts_{};
};

// Rolls back on scope exit unless committed, so no error path leaves the writer mid-transaction.
class WriteTransaction {
 public:
  explicit WriteTransaction(Connection& c) : conn_(c) {}
  ~WriteTransaction() {
    if (!conn_.autocommit()) (void)conn_.exec(Sql::rollback, "rollback");
  }
  WriteTransaction(const WriteTransaction&) = delete;
  WriteTransaction& operator=(const WriteTransaction&) = delete;

  // IMMEDIATE takes the write lock up front, so the checks inside see what the write will.
  Result<void> begin() { return conn_.exec(Sql::begin, "begin"); }
  Result<void> commit() { return conn_.exec(Sql::commit, "commit"); }

 private:
  Connection& conn_;
};

// Binds ?1..?8 to the user columns, in table order (id .. phone_numbers).
void bind_user(Statement& st, const User& u, const std::string& phones) {
  st.bind(1, u.id);
  st.bind(2, u.first_name);
  st.bind(3, u.last_name);
  st.bind(4, u.address.street_address);
  st.bind(5, u.address.city);
  st.bind(6, u.address.state);
  st.bind(7, u.address.postal_code);
  st.bind(8, phones);
}

// Reads a row of "SELECT id .. phone_numbers, version".
Result<StoredUser> read_user(Statement& st) {
  StoredUser s;
  s.user.id = st.column_int64(0);
  s.user.first_name = st.column_text(1);
  s.user.last_name = st.column_text(2);
  s.user.address.street_address = st.column_text(3);
  s.user.address.city = st.column_text(4);
  s.user.address.state = st.column_text(5);
  s.user.address.postal_code = st.column_int64(6);
  auto phones = decode_phone_numbers(st.column_text(7), s.user.id, "sqlite");
  if (!phones.ok()) return std::move(phones).error();
  s.user.phone_numbers = std::move(phones).value();
  s.version = st.column_int64(8);
  return s;
}

// Inside a write transaction: the INSERT of a new user.
Result<void> insert_user(Connection& w, const User& user, const std::string& phones) {
  auto st = w.prepare(Sql::insert);
  if (!st.ok()) return std::move(st).error();
  bind_user(*st, user, phones);
  const int rc = st->step();
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
    return Error{Errc::conflict, fmt::format("user {} already exists", user.id)};
  if (rc != SQLITE_DONE) return w.error(rc, "create_user");
  return {};
}

// After a compare-and-set matched no row, inside the same transaction: tells a missing user from
// a stale expected version.
Error missing_or_stale(Connection& c, UserId id, std::optional<std::int64_t> expected) {
  auto st = c.prepare(Sql::version);
  if (!st.ok()) return std::move(st).error();
  st->bind(1, id);
  const int rc = st->step();
  if (rc == SQLITE_DONE) return Error{Errc::not_found, fmt::format("user {} not found", id)};
  if (rc != SQLITE_ROW) return c.error(rc, "reading the version");
  if (!expected)
    return Error{Errc::internal, fmt::format("user {} exists but was not changed", id)};
  return Error{Errc::precondition_failed,
               fmt::format("user {} is at version {}, not {}", id, st->column_int64(0), *expected)};
}

// The user `id` as the writer sees it (inside its transaction).
Result<StoredUser> get_in(Connection& c, UserId id) {
  auto st = c.prepare(Sql::get);
  if (!st.ok()) return std::move(st).error();
  st->bind(1, id);
  const int rc = st->step();
  if (rc == SQLITE_DONE) return Error{Errc::not_found, fmt::format("user {} not found", id)};
  if (rc != SQLITE_ROW) return c.error(rc, "get_user");
  return read_user(*st);
}

// Runs fn() -> Result<T> on the pool. An exception (bad_alloc, a bug) becomes Errc::internal:
// the data path never throws.
template <class T, class F>
awaitable<Result<T>> on_pool(BlockingPool& pool, F fn) {
  co_return co_await pool.run([&fn]() -> Result<T> {
    try {
      return fn();
    } catch (const std::exception& e) {
      return Result<T>(Errc::internal, fmt::format("sqlite store: {}", e.what()));
    }
  });
}

SqliteOptions checked(SqliteOptions o) {
  if (o.path.empty()) throw std::runtime_error("sqlite: the database path is empty");
  if (o.threads < 1 || o.max_pending < 1 || o.busy_timeout_ms < 0)
    throw std::runtime_error(fmt::format(
        "sqlite {}: threads and max_pending must be at least 1 and busy_timeout_ms at least 0 "
        "(got {}, {}, {})",
        o.path, o.threads, o.max_pending, o.busy_timeout_ms));
  return o;
}

}  // namespace

struct SqliteStore::Impl {
  explicit Impl(SqliteOptions o);

  // On the pool: body(statement, connection) -> Result<T>, with `sql` prepared on a reader.
  template <class T, class Body>
  awaitable<Result<T>> read(Sql sql, Body body) {
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
  awaitable<Result<T>> write(Body body) {
    return on_pool<T>(pool, [this, body = std::move(body)]() -> Result<T> {
      std::lock_guard lock(writer_mu);
      return body(*writer);
    });
  }

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
    return Connection::open(options, Connection::Role::reader);
  }

  const SqliteOptions options;
  std::mutex writer_mu;  // one writer: SQLite admits one at a time anyway
  std::unique_ptr<Connection> writer;
  std::mutex readers_mu;
  std::vector<std::unique_ptr<Connection>> idle_readers;
  // Declared last so it is destroyed (joined) first, while the connections still exist.
  BlockingPool pool;
};

SqliteStore::Impl::Impl(SqliteOptions o)
    : options(checked(std::move(o))), pool(options.threads, options.max_pending) {
  const auto dir = std::filesystem::path(options.path).parent_path();
  std::error_code ec;
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  if (ec)
    throw std::runtime_error(fmt::format("sqlite {}: cannot create the directory {}: {}",
                                         options.path, dir.string(), ec.message()));
  auto w = Connection::open(options, Connection::Role::writer);
  if (!w.ok()) throw std::runtime_error(w.error().message);
  writer = std::move(w).value();
  for (int i = 0; i < options.threads; ++i) {
    auto r = Connection::open(options, Connection::Role::reader);
    if (!r.ok()) throw std::runtime_error(r.error().message);
    idle_readers.push_back(std::move(r).value());
  }
}

SqliteStore::SqliteStore(SqliteOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

SqliteStore::~SqliteStore() = default;

Result<MigrationReport> SqliteStore::migrate() {
  std::lock_guard lock(impl_->writer_mu);
  return sqlite::migrate(impl_->writer->db());
}

Result<int> SqliteStore::schema_version() {
  std::lock_guard lock(impl_->writer_mu);
  return sqlite::schema_version(impl_->writer->db());
}

int SqliteStore::latest_schema_version() {
  return sqlite::migrations().back().version;
}

awaitable<Result<StoredUser>> SqliteStore::get_user(UserId id, Consistency) {
  co_return co_await impl_->read<StoredUser>(
      Sql::get, [id](Statement& st, Connection& c) -> Result<StoredUser> {
        st.bind(1, id);
        const int rc = st.step();
        if (rc == SQLITE_DONE) return Error{Errc::not_found, fmt::format("user {} not found", id)};
        if (rc != SQLITE_ROW) return c.error(rc, "get_user");
        return read_user(st);
      });
}

awaitable<Result<UserPage>> SqliteStore::list_users(UserId after, int limit, Consistency) {
  if (limit < 1 || limit > 1000)
    co_return Error{Errc::invalid_argument, fmt::format("limit {} is not in 1..1000", limit)};
  co_return co_await impl_->read<UserPage>(
      Sql::list, [after, limit](Statement& st, Connection& c) -> Result<UserPage> {
        st.bind(1, after);
        st.bind(2, std::int64_t{limit} + 1);  // one row more tells whether there are more
        UserPage page;
        int rc;
        while ((rc = st.step()) == SQLITE_ROW) {
          if (page.users.size() == static_cast<std::size_t>(limit)) {
            page.more = true;
            return page;
          }
          auto u = read_user(st);
          if (!u.ok()) return std::move(u).error();
          page.users.push_back(std::move(u).value());
        }
        if (rc != SQLITE_DONE) return c.error(rc, "list_users");
        return page;
      });
}

awaitable<Result<StoredUser>> SqliteStore::create_user(User user,
                                                       std::optional<std::string> idempotency_key) {
  if (user.id <= 0) co_return Error{Errc::invalid_argument, "user id must be positive"};
  if (idempotency_key &&
      (idempotency_key->empty() || idempotency_key->size() > kMaxIdempotencyKeyBytes))
    co_return Error{Errc::invalid_argument, "idempotency key: 1..200 bytes"};
  const std::string phones = encode_phone_numbers(user.phone_numbers);
  co_return co_await impl_->write<StoredUser>([&](Connection& w) -> Result<StoredUser> {
    // The key and the user commit together; a key seen before returns the user it created.
    WriteTransaction txn(w);
    if (auto b = txn.begin(); !b.ok()) return std::move(b).error();
    if (idempotency_key) {
      auto st = w.prepare(Sql::key_user);
      if (!st.ok()) return std::move(st).error();
      st->bind(1, *idempotency_key);
      const int rc = st->step();
      if (rc == SQLITE_ROW) return get_in(w, st->column_int64(0));
      if (rc != SQLITE_DONE) return w.error(rc, "create_user (idempotency key)");
    }
    if (auto r = insert_user(w, user, phones); !r.ok()) return std::move(r).error();
    if (idempotency_key) {
      auto st = w.prepare(Sql::key_insert);
      if (!st.ok()) return std::move(st).error();
      st->bind(1, *idempotency_key);
      st->bind(2, user.id);
      if (int rc = st->step(); rc != SQLITE_DONE) return w.error(rc, "create_user (idempotency key)");
    }  // statements are reset before COMMIT
    if (auto c = txn.commit(); !c.ok()) return std::move(c).error();
    return StoredUser{std::move(user), 1};
  });
}

awaitable<Result<StoredUser>> SqliteStore::update_user(User user,
                                                       std::optional<std::int64_t> expected) {
  const std::string phones = encode_phone_numbers(user.phone_numbers);
  co_return co_await impl_->write<StoredUser>([&](Connection& w) -> Result<StoredUser> {
    WriteTransaction txn(w);
    if (auto b = txn.begin(); !b.ok()) return std::move(b).error();
    std::int64_t version = 0;
    {
      auto st = w.prepare(Sql::update);
      if (!st.ok()) return std::move(st).error();
      bind_user(*st, user, phones);
      st->bind_optional(9, expected);
      const int rc = st->step();
      if (rc == SQLITE_DONE) return missing_or_stale(w, user.id, expected);
      if (rc != SQLITE_ROW) return w.error(rc, "update_user");
      version = st->column_int64(0);
    }  // the statement must be reset before COMMIT
    if (auto c = txn.commit(); !c.ok()) return std::move(c).error();
    return StoredUser{std::move(user), version};
  });
}

awaitable<Result<Committed>> SqliteStore::delete_user(UserId id,
                                                      std::optional<std::int64_t> expected) {
  co_return co_await impl_->write<Committed>([id, expected](Connection& w) -> Result<Committed> {
    WriteTransaction txn(w);
    if (auto b = txn.begin(); !b.ok()) return std::move(b).error();
    {
      auto st = w.prepare(Sql::remove);
      if (!st.ok()) return std::move(st).error();
      st->bind(1, id);
      st->bind_optional(2, expected);
      if (int rc = st->step(); rc != SQLITE_DONE) return w.error(rc, "delete_user");
    }
    if (sqlite3_changes(w.db()) == 0) return missing_or_stale(w, id, expected);
    if (auto c = txn.commit(); !c.ok()) return std::move(c).error();
    return Committed{};  // one database: every later read sees it
  });
}

awaitable<Result<std::int64_t>> SqliteStore::count_users() {
  co_return co_await impl_->read<std::int64_t>(
      Sql::count, [](Statement& st, Connection& c) -> Result<std::int64_t> {
        if (int rc = st.step(); rc != SQLITE_ROW) return c.error(rc, "count_users");
        return st.column_int64(0);
      });
}

awaitable<Result<StoredUser>> SqliteStore::create_account(User user, Account account) {
  if (user.id <= 0 || account.user_id != user.id)
    co_return Error{Errc::invalid_argument, "account: user id must be positive and match"};
  const std::string phones = encode_phone_numbers(user.phone_numbers);
  co_return co_await impl_->write<StoredUser>([&](Connection& w) -> Result<StoredUser> {
    WriteTransaction txn(w);
    if (auto b = txn.begin(); !b.ok()) return std::move(b).error();
    if (auto r = insert_user(w, user, phones); !r.ok()) return std::move(r).error();
    {
      auto st = w.prepare(Sql::account_insert);
      if (!st.ok()) return std::move(st).error();
      st->bind(1, user.id);
      st->bind(2, account.email);
      st->bind(3, account.password_hash);
      st->bind(4, account.role);
      const int rc = st->step();
      if (rc == SQLITE_CONSTRAINT_UNIQUE)
        return Error{Errc::conflict, "email: an account with this email exists"};
      if (rc != SQLITE_DONE) return w.error(rc, "create_account");
    }
    if (auto c = txn.commit(); !c.ok()) return std::move(c).error();
    return StoredUser{std::move(user), 1};
  });
}

awaitable<Result<Account>> SqliteStore::find_account(std::string email) {
  co_return co_await impl_->read<Account>(
      Sql::account_find, [&email](Statement& st, Connection& c) -> Result<Account> {
        st.bind(1, email);
        const int rc = st.step();
        if (rc == SQLITE_DONE) return Error{Errc::not_found, "no such account"};
        if (rc != SQLITE_ROW) return c.error(rc, "find_account");
        return Account{st.column_int64(0), st.column_text(1), st.column_text(2), st.column_text(3)};
      });
}

awaitable<Result<void>> SqliteStore::ping() {
  co_return co_await impl_->read<void>(Sql::ping, [](Statement& st, Connection& c) -> Result<void> {
    if (int rc = st.step(); rc != SQLITE_ROW) return c.error(rc, "ping");
    return {};
  });
}

}  // namespace ztm
