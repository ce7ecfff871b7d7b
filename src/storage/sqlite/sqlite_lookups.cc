// SqliteStore's LookupStore part (lookup_store.h): the lookups table, one statement a call.
#include "sqlite/database.h"
#include "storage/sqlite/sqlite_store.h"

namespace ztm::storage {
namespace {

using boost::asio::awaitable;
using sqlite::Connection;
using sqlite::Statement;

namespace sql {
// A conflict updates nothing but lets RETURNING give the owner already there.
constexpr const char* lookup_put =
    "INSERT INTO lookups(kind, key, user_id) VALUES(?1, ?2, ?3) "
    "ON CONFLICT(kind, key) DO UPDATE SET user_id = user_id RETURNING user_id";
constexpr const char* lookup_replace =
    "UPDATE lookups SET user_id = ?4 WHERE kind = ?1 AND key = ?2 AND user_id = ?3";
constexpr const char* lookup_find = "SELECT user_id FROM lookups WHERE kind = ?1 AND key = ?2";
constexpr const char* lookup_erase =
    "DELETE FROM lookups WHERE kind = ?1 AND key = ?2 AND user_id = ?3";
}  // namespace sql

void bind_key(Statement& st, LookupKind kind, const std::string& key) {
  st.bind(1, static_cast<std::int64_t>(kind));
  st.bind(2, key);
}

}  // namespace

awaitable<Result<UserId>> SqliteStore::put_lookup(LookupKind kind, std::string key, UserId owner) {
  if (auto c = check_lookup(kind, key); !c.ok()) co_return std::move(c).error();
  co_return co_await db_->write<UserId>([&](Connection& w) -> Result<UserId> {
    auto st = w.prepare(sql::lookup_put);
    if (!st.ok()) return std::move(st).error();
    bind_key(*st, kind, key);
    st->bind(3, owner);
    if (const int rc = st->step(); rc != SQLITE_ROW) return w.error(rc, "put_lookup");
    return st->column_int64(0);
  });
}

awaitable<Result<void>> SqliteStore::replace_lookup(LookupKind kind, std::string key,
                                                    UserId previous, UserId owner) {
  if (auto c = check_lookup(kind, key); !c.ok()) co_return std::move(c).error();
  co_return co_await db_->write<void>([&](Connection& w) -> Result<void> {
    auto st = w.prepare(sql::lookup_replace);
    if (!st.ok()) return std::move(st).error();
    bind_key(*st, kind, key);
    st->bind(3, previous);
    st->bind(4, owner);
    if (const int rc = st->step(); rc != SQLITE_DONE) return w.error(rc, "replace_lookup");
    if (sqlite3_changes(w.db()) == 0)
      return Error{Errc::precondition_failed, "lookup: not mapped to the previous owner"};
    return {};
  });
}

awaitable<Result<UserId>> SqliteStore::find_lookup(LookupKind kind, std::string key) {
  if (auto c = check_lookup(kind, key); !c.ok()) co_return std::move(c).error();
  co_return co_await db_->read<UserId>(sql::lookup_find,
                                       [&](Statement& st, Connection& c) -> Result<UserId> {
                                         bind_key(st, kind, key);
                                         const int rc = st.step();
                                         if (rc == SQLITE_DONE)
                                           return Error{Errc::not_found, "no such lookup"};
                                         if (rc != SQLITE_ROW) return c.error(rc, "find_lookup");
                                         return st.column_int64(0);
                                       });
}

awaitable<Result<void>> SqliteStore::erase_lookup(LookupKind kind, std::string key, UserId owner) {
  if (auto c = check_lookup(kind, key); !c.ok()) co_return std::move(c).error();
  co_return co_await db_->write<void>([&](Connection& w) -> Result<void> {
    auto st = w.prepare(sql::lookup_erase);
    if (!st.ok()) return std::move(st).error();
    bind_key(*st, kind, key);
    st->bind(3, owner);
    if (const int rc = st->step(); rc != SQLITE_DONE) return w.error(rc, "erase_lookup");
    return {};
  });
}

}  // namespace ztm::storage
