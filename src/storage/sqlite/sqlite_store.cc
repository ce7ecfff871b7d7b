#include "storage/sqlite/sqlite_store.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

#include "sqlite/database.h"
#include "storage/phone_numbers.h"
#include "storage/sqlite/migrations.h"

namespace ztm::storage {
namespace {

using sqlite::Connection;
using sqlite::Statement;
using sqlite::WriteTransaction;

using boost::asio::awaitable;

// Every statement the store runs; each connection prepares one on first use and keeps it.
#define ZTM_USER_COLUMNS \
  "id, first_name, last_name, street_address, city, state, postal_code, phone_numbers"
namespace sql {
constexpr const char* get = "SELECT " ZTM_USER_COLUMNS ", version FROM users WHERE id = ?1";
constexpr const char* list =
    "SELECT " ZTM_USER_COLUMNS ", version FROM users WHERE id > ?1 ORDER BY id LIMIT ?2";
constexpr const char* insert =
    "INSERT INTO users(" ZTM_USER_COLUMNS
    ", version, created_at, updated_at) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), "
    "strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))";
// Compare-and-set in one statement: ?9 is the expected version, or NULL for "any".
constexpr const char* update =
    "UPDATE users SET first_name = ?2, last_name = ?3, street_address = ?4, city = ?5, "
    "state = ?6, postal_code = ?7, phone_numbers = ?8, version = version + 1, "
    "updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
    "WHERE id = ?1 AND (?9 IS NULL OR version = ?9) RETURNING version";
constexpr const char* remove = "DELETE FROM users WHERE id = ?1 AND (?2 IS NULL OR version = ?2)";
constexpr const char* version = "SELECT version FROM users WHERE id = ?1";
constexpr const char* count = "SELECT count(*) FROM users";
constexpr const char* ping = "SELECT 1";
constexpr const char* key_user = "SELECT user_id FROM idempotency_keys WHERE key = ?1";
constexpr const char* key_insert =
    "INSERT INTO idempotency_keys(key, user_id, created_at) "
    "VALUES(?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))";
constexpr const char* account_insert =
    "INSERT INTO accounts(user_id, email, password_hash, role, created_at) "
    "VALUES(?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))";
constexpr const char* account_find =
    "SELECT user_id, email, password_hash, role FROM accounts WHERE email = ?1";
constexpr const char* account_role = "UPDATE accounts SET role = ?2 WHERE user_id = ?1";
}  // namespace sql
#undef ZTM_USER_COLUMNS

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
  auto st = w.prepare(sql::insert);
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
  auto st = c.prepare(sql::version);
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
  auto st = c.prepare(sql::get);
  if (!st.ok()) return std::move(st).error();
  st->bind(1, id);
  const int rc = st->step();
  if (rc == SQLITE_DONE) return Error{Errc::not_found, fmt::format("user {} not found", id)};
  if (rc != SQLITE_ROW) return c.error(rc, "get_user");
  return read_user(*st);
}

}  // namespace

SqliteStore::SqliteStore(sqlite::Options options)
    : db_(std::make_unique<sqlite::Database>(std::move(options))) {}

SqliteStore::~SqliteStore() = default;

Result<MigrationReport> SqliteStore::migrate() {
  return db_->with_writer([](sqlite3* db) { return sqlite_migrate(db); });
}

Result<int> SqliteStore::schema_version() {
  return db_->with_writer([](sqlite3* db) { return sqlite_schema_version(db); });
}

int SqliteStore::latest_schema_version() {
  return sqlite_migrations().back().version;
}

awaitable<Result<StoredUser>> SqliteStore::get_user(UserId id, Consistency) {
  co_return co_await db_->read<StoredUser>(
      sql::get, [id](Statement& st, Connection& c) -> Result<StoredUser> {
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
  co_return co_await db_->read<UserPage>(
      sql::list, [after, limit](Statement& st, Connection& c) -> Result<UserPage> {
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
  co_return co_await db_->write<StoredUser>([&](Connection& w) -> Result<StoredUser> {
    // The key and the user commit together; a key seen before returns the user it created.
    WriteTransaction txn(w);
    if (auto b = txn.begin(); !b.ok()) return std::move(b).error();
    if (idempotency_key) {
      auto st = w.prepare(sql::key_user);
      if (!st.ok()) return std::move(st).error();
      st->bind(1, *idempotency_key);
      const int rc = st->step();
      if (rc == SQLITE_ROW) return get_in(w, st->column_int64(0));
      if (rc != SQLITE_DONE) return w.error(rc, "create_user (idempotency key)");
    }
    if (auto r = insert_user(w, user, phones); !r.ok()) return std::move(r).error();
    if (idempotency_key) {
      auto st = w.prepare(sql::key_insert);
      if (!st.ok()) return std::move(st).error();
      st->bind(1, *idempotency_key);
      st->bind(2, user.id);
      if (int rc = st->step(); rc != SQLITE_DONE)
        return w.error(rc, "create_user (idempotency key)");
    }  // statements are reset before COMMIT
    if (auto c = txn.commit(); !c.ok()) return std::move(c).error();
    return StoredUser{std::move(user), 1};
  });
}

awaitable<Result<StoredUser>> SqliteStore::update_user(User user,
                                                       std::optional<std::int64_t> expected) {
  const std::string phones = encode_phone_numbers(user.phone_numbers);
  co_return co_await db_->write<StoredUser>([&](Connection& w) -> Result<StoredUser> {
    WriteTransaction txn(w);
    if (auto b = txn.begin(); !b.ok()) return std::move(b).error();
    std::int64_t version = 0;
    {
      auto st = w.prepare(sql::update);
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
  co_return co_await db_->write<Committed>([id, expected](Connection& w) -> Result<Committed> {
    WriteTransaction txn(w);
    if (auto b = txn.begin(); !b.ok()) return std::move(b).error();
    {
      auto st = w.prepare(sql::remove);
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
  co_return co_await db_->read<std::int64_t>(
      sql::count, [](Statement& st, Connection& c) -> Result<std::int64_t> {
        if (int rc = st.step(); rc != SQLITE_ROW) return c.error(rc, "count_users");
        return st.column_int64(0);
      });
}

awaitable<Result<StoredUser>> SqliteStore::create_account(User user, Account account) {
  if (user.id <= 0 || account.user_id != user.id)
    co_return Error{Errc::invalid_argument, "account: user id must be positive and match"};
  const std::string phones = encode_phone_numbers(user.phone_numbers);
  co_return co_await db_->write<StoredUser>([&](Connection& w) -> Result<StoredUser> {
    WriteTransaction txn(w);
    if (auto b = txn.begin(); !b.ok()) return std::move(b).error();
    if (auto r = insert_user(w, user, phones); !r.ok()) return std::move(r).error();
    {
      auto st = w.prepare(sql::account_insert);
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
  co_return co_await db_->read<Account>(
      sql::account_find, [&email](Statement& st, Connection& c) -> Result<Account> {
        st.bind(1, email);
        const int rc = st.step();
        if (rc == SQLITE_DONE) return Error{Errc::not_found, "no such account"};
        if (rc != SQLITE_ROW) return c.error(rc, "find_account");
        return Account{st.column_int64(0), st.column_text(1), st.column_text(2), st.column_text(3)};
      });
}

awaitable<Result<void>> SqliteStore::set_role(UserId user, std::string role) {
  co_return co_await db_->write<void>([user, &role](Connection& w) -> Result<void> {
    auto st = w.prepare(sql::account_role);
    if (!st.ok()) return std::move(st).error();
    st->bind(1, user);
    st->bind(2, role);
    if (int rc = st->step(); rc != SQLITE_DONE) return w.error(rc, "set_role");
    if (sqlite3_changes(w.db()) == 0) return Error{Errc::not_found, "no such account"};
    return {};
  });
}

awaitable<Result<void>> SqliteStore::ping() {
  co_return co_await db_->read<void>(sql::ping, [](Statement& st, Connection& c) -> Result<void> {
    if (int rc = st.step(); rc != SQLITE_ROW) return c.error(rc, "ping");
    return {};
  });
}

}  // namespace ztm::storage
