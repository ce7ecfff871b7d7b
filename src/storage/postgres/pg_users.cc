#include "storage/postgres/pg_users.h"

#include <fmt/format.h>

#include <array>
#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <stdexcept>
#include <utility>

#include "storage/phone_numbers.h"

namespace ztm::storage {
namespace {

using postgres::Host;
using postgres::QueryResult;
using postgres::Statement;

using boost::asio::awaitable;

#define ZTM_USER_COLUMNS \
  "id, first_name, last_name, street_address, city, state, postal_code, phone_numbers"
// Statements are prepared once per connection, on first use (postgres::Connection).
constexpr Statement kGet{"ztm_get_user",
                         "SELECT " ZTM_USER_COLUMNS ", version FROM users WHERE id = $1"};
constexpr Statement kList{"ztm_list_users",
                          "SELECT " ZTM_USER_COLUMNS
                          ", version FROM users WHERE id > $1 ORDER BY id LIMIT $2"};
constexpr Statement kInsert{"ztm_create_user",
                            "INSERT INTO users(" ZTM_USER_COLUMNS
                            ", version) VALUES($1, $2, $3, $4, $5, $6, $7, $8::jsonb, 1)"};
// Compare-and-set in one statement: $9 is the expected version, or NULL for "any". Under READ
// COMMITTED a concurrent writer's row is re-checked after its commit, so two updates that
// expect the same version cannot both match, and unconditional updates lose no increment.
// With an idempotency key ($9): the key and the user in one statement, so one transaction. A key
// already present (or being inserted by a concurrent transaction, which ON CONFLICT waits for)
// inserts neither and returns no row; the caller then looks the key up. ON CONFLICT names no
// index: the key's row has two unique ones (the key; the bucket and the key, migration 11), and
// a race lost on an index that is not the arbiter would be an error, not "the key was used".
constexpr Statement kInsertWithKey{
    "ztm_create_user_idempotent",
    "WITH k AS (INSERT INTO idempotency_keys(key, user_id) VALUES ($9, $1::bigint) "
    "ON CONFLICT DO NOTHING RETURNING user_id) "
    "INSERT INTO users(" ZTM_USER_COLUMNS
    ", version) SELECT $1::bigint, $2, $3, $4, $5, $6, $7::bigint, $8::jsonb, 1 "
    "WHERE EXISTS (SELECT 1 FROM k) RETURNING id"};
constexpr Statement kKeyedUser{"ztm_idempotency_key_user",
                               "SELECT user_id FROM idempotency_keys WHERE key = $1"};
constexpr Statement kUpdate{
    "ztm_update_user",
    "UPDATE users SET first_name = $2, last_name = $3, street_address = $4, city = $5, "
    "state = $6, postal_code = $7, phone_numbers = $8::jsonb, version = version + 1, "
    "updated_at = now() WHERE id = $1 AND ($9::bigint IS NULL OR version = $9) "
    "RETURNING version"};
constexpr Statement kDelete{
    "ztm_delete_user",
    "DELETE FROM users WHERE id = $1 AND ($2::bigint IS NULL OR version = $2) RETURNING version"};
constexpr Statement kVersion{"ztm_user_version", "SELECT version FROM users WHERE id = $1"};
constexpr Statement kDisowned{"ztm_user_disowned",
                              "SELECT 1 FROM disowned_buckets WHERE bucket = ztm_bucket($1)"};
constexpr Statement kCount{"ztm_count_users", "SELECT count(*) FROM users"};
constexpr Statement kPing{"ztm_ping", "SELECT 1"};
// The user and its account in one statement (one transaction).
constexpr Statement kInsertAccount{
    "ztm_create_account",
    "WITH u AS (INSERT INTO users(" ZTM_USER_COLUMNS
    ", version) VALUES($1, $2, $3, $4, $5, $6, $7, $8::jsonb, 1) RETURNING id) "
    "INSERT INTO accounts(user_id, email, password_hash, role) SELECT id, $9, $10, $11 FROM u"};
constexpr Statement kFindAccount{
    "ztm_find_account",
    "SELECT user_id, email, password_hash, role FROM accounts WHERE email = $1"};
constexpr Statement kSetRole{"ztm_set_role",
                             "UPDATE accounts SET role = $2 WHERE user_id = $1 RETURNING user_id"};
#undef ZTM_USER_COLUMNS

// A compare-and-set that missed, then found the row back at the expected version (deleted and
// re-created in between), is tried again at most this many times.
constexpr int kCasAttempts = 3;

// The text parameters $1..$8 of a user row, plus room for three more ($9..$11).
struct UserParams {
  explicit UserParams(const User& u)
      : id(std::to_string(u.id)),
        postal_code(std::to_string(u.address.postal_code)),
        phones(encode_phone_numbers(u.phone_numbers)),
        values{id.c_str(),
               u.first_name.c_str(),
               u.last_name.c_str(),
               u.address.street_address.c_str(),
               u.address.city.c_str(),
               u.address.state.c_str(),
               postal_code.c_str(),
               phones.c_str(),
               nullptr,
               nullptr,
               nullptr} {}
  std::string id, postal_code, phones;
  std::array<const char*, 11> values;
};

// Text parameters end at the first NUL; PostgreSQL text cannot hold one anyway. Refusing here
// keeps such a value from being stored cut short.
Result<void> check_no_nul(const User& u) {
  for (const std::string* s :
       {&u.first_name, &u.last_name, &u.address.street_address, &u.address.city, &u.address.state})
    if (s->find('\0') != std::string::npos)
      return Error{Errc::invalid_argument, "text fields must not contain NUL characters"};
  return {};
}

// A row of "SELECT id .. phone_numbers, version".
Result<StoredUser> read_user(const QueryResult& r, int row) {
  StoredUser s;
  const auto id = r.int64(row, 0);
  const auto postal = r.int64(row, 6);
  const auto version = r.int64(row, 8);
  if (!id || !postal || !version) return Error{Errc::internal, "postgres: malformed user row"};
  s.user.id = *id;
  s.user.first_name = r.text(row, 1);
  s.user.last_name = r.text(row, 2);
  s.user.address.street_address = r.text(row, 3);
  s.user.address.city = r.text(row, 4);
  s.user.address.state = r.text(row, 5);
  s.user.address.postal_code = *postal;
  auto phones = decode_phone_numbers(r.text(row, 7), s.user.id, "postgres");
  if (!phones.ok()) return std::move(phones).error();
  s.user.phone_numbers = std::move(phones).value();
  s.version = *version;
  return s;
}

// Why user `id` has no row here: its bucket was moved to another shard (moved: the caller's map
// is behind, docs/sharding.md), or there is no such user. Asked only when a statement found no
// row, so the hot path pays nothing.
awaitable<Error> absent(Host& host, UserId id) {
  const std::string id_text = std::to_string(id);
  const std::array<const char*, 1> params{id_text.c_str()};
  auto r = co_await host.execute(kDisowned, params);
  if (!r.ok()) co_return std::move(r).error();
  if (r->rows() > 0)
    co_return Error{Errc::moved, fmt::format("user {}: its bucket is no longer on this shard", id)};
  co_return Error{Errc::not_found, fmt::format("user {} not found", id)};
}

// The write matched no row; a fresh statement (a new snapshot) sees what a concurrent writer
// committed meanwhile. No row: not_found (or moved). Another version than expected:
// precondition_failed. Otherwise the row came back between the two statements (deleted and
// re-created, or created after an unconditional write missed it): the caller tries again.
awaitable<Result<std::int64_t>> after_missed_write(Host& host, UserId id,
                                                   std::optional<std::int64_t> expected) {
  const std::string id_text = std::to_string(id);
  const std::array<const char*, 1> params{id_text.c_str()};
  auto r = co_await host.execute(kVersion, params);
  if (!r.ok()) co_return std::move(r).error();
  if (r->rows() == 0) co_return co_await absent(host, id);
  const auto current = r->int64(0, 0);
  if (!current) co_return Error{Errc::internal, "postgres: malformed version"};
  if (expected && *current != *expected)
    co_return Error{Errc::precondition_failed,
                    fmt::format("user {} is at version {}, not {}", id, *current, *expected)};
  co_return *current;
}

}  // namespace

awaitable<Result<StoredUser>> pg_get_user(Host& host, UserId id) {
  const std::string id_text = std::to_string(id);
  const std::array<const char*, 1> params{id_text.c_str()};
  auto r = co_await host.execute(kGet, params);
  if (!r.ok()) co_return std::move(r).error();
  if (r->rows() == 0) co_return co_await absent(host, id);
  co_return read_user(*r, 0);
}

awaitable<Result<UserPage>> pg_list_users(Host& host, UserId after, int limit) {
  if (limit < 1 || limit > 1000)
    co_return Error{Errc::invalid_argument, fmt::format("limit {} is not in 1..1000", limit)};
  const std::string after_text = std::to_string(after);
  const std::string limit_text = std::to_string(limit + 1);  // one more tells if there are more
  const std::array<const char*, 2> params{after_text.c_str(), limit_text.c_str()};
  auto r = co_await host.execute(kList, params);
  if (!r.ok()) co_return std::move(r).error();
  UserPage page;
  const int rows = r->rows();
  page.more = rows > limit;
  for (int i = 0; i < rows && i < limit; ++i) {
    auto u = read_user(*r, i);
    if (!u.ok()) co_return std::move(u).error();
    page.users.push_back(std::move(u).value());
  }
  co_return page;
}

awaitable<Result<StoredUser>> pg_create_user(Host& host, User user,
                                             std::optional<std::string> idempotency_key) {
  if (user.id <= 0) co_return Error{Errc::invalid_argument, "user id must be positive"};
  if (auto c = check_no_nul(user); !c.ok()) co_return std::move(c).error();
  if (idempotency_key &&
      (idempotency_key->empty() || idempotency_key->size() > kMaxIdempotencyKeyBytes ||
       idempotency_key->find('\0') != std::string::npos))
    co_return Error{Errc::invalid_argument, "idempotency key: 1..200 bytes, no NUL"};
  UserParams p(user);
  if (idempotency_key) p.values[8] = idempotency_key->c_str();
  // Not `key ? co_await a : co_await b`: GCC 12 destroys the result of a co_await inside ?: twice.
  const bool with_key = idempotency_key.has_value();
  auto r = co_await host.execute(with_key ? kInsertWithKey : kInsert,
                                 std::span<const char* const>(p.values).first(with_key ? 9 : 8));
  if (!r.ok()) {
    Error e = std::move(r).error();
    if (e.code == Errc::conflict) e.message = fmt::format("user {} already exists", user.id);
    co_return e;
  }
  if (!idempotency_key || r->rows() == 1) co_return StoredUser{std::move(user), 1};
  // The key was used before: the user it created.
  const std::array<const char*, 1> key{idempotency_key->c_str()};
  auto keyed = co_await host.execute(kKeyedUser, key);
  if (!keyed.ok()) co_return std::move(keyed).error();
  const auto id = keyed->rows() == 1 ? keyed->int64(0, 0) : std::nullopt;
  if (!id) co_return Error{Errc::internal, "postgres: idempotency key without its user"};
  co_return co_await pg_get_user(host, *id);
}

awaitable<Result<StoredUser>> pg_update_user(Host& host, User user,
                                             std::optional<std::int64_t> expected) {
  if (auto c = check_no_nul(user); !c.ok()) co_return std::move(c).error();
  UserParams p(user);
  const std::string expected_text = expected ? std::to_string(*expected) : "";
  p.values[8] = expected ? expected_text.c_str() : nullptr;
  for (int attempt = 1;; ++attempt) {
    auto r = co_await host.execute(kUpdate, std::span<const char* const>(p.values).first(9));
    if (!r.ok()) co_return std::move(r).error();
    if (r->rows() == 1) {
      const auto version = r->int64(0, 0);
      if (!version) co_return Error{Errc::internal, "postgres: update returned no version"};
      co_return StoredUser{std::move(user), *version};
    }
    auto missed = co_await after_missed_write(host, user.id, expected);
    if (!missed.ok()) co_return std::move(missed).error();
    if (attempt == kCasAttempts)
      co_return Error{Errc::unavailable, fmt::format("user {}: too much contention", user.id)};
  }
}

awaitable<Result<void>> pg_delete_user(Host& host, UserId id,
                                       std::optional<std::int64_t> expected) {
  const std::string id_text = std::to_string(id);
  const std::string expected_text = expected ? std::to_string(*expected) : "";
  const std::array<const char*, 2> params{id_text.c_str(),
                                          expected ? expected_text.c_str() : nullptr};
  for (int attempt = 1;; ++attempt) {
    auto r = co_await host.execute(kDelete, params);
    if (!r.ok()) co_return std::move(r).error();
    if (r->rows() == 1) co_return Result<void>{};
    auto missed = co_await after_missed_write(host, id, expected);
    if (!missed.ok()) co_return std::move(missed).error();
    if (attempt == kCasAttempts)
      co_return Error{Errc::unavailable, fmt::format("user {}: too much contention", id)};
  }
}

awaitable<Result<std::int64_t>> pg_count_users(Host& host) {
  auto r = co_await host.execute(kCount, {});
  if (!r.ok()) co_return std::move(r).error();
  const auto n = r->rows() == 1 ? r->int64(0, 0) : std::nullopt;
  if (!n) co_return Error{Errc::internal, "postgres: malformed count"};
  co_return *n;
}

awaitable<Result<StoredUser>> pg_create_account(Host& host, User user, Account account) {
  if (user.id <= 0 || account.user_id != user.id)
    co_return Error{Errc::invalid_argument, "account: user id must be positive and match"};
  if (auto c = check_no_nul(user); !c.ok()) co_return std::move(c).error();
  for (const std::string* s : {&account.email, &account.password_hash, &account.role})
    if (s->find('\0') != std::string::npos)
      co_return Error{Errc::invalid_argument, "account fields must not contain NUL characters"};
  UserParams p(user);
  p.values[8] = account.email.c_str();
  p.values[9] = account.password_hash.c_str();
  p.values[10] = account.role.c_str();
  auto r = co_await host.execute(kInsertAccount, p.values);
  if (!r.ok()) {
    Error e = std::move(r).error();
    if (e.code == Errc::conflict)
      e.message = e.message.find("email") != std::string::npos
                      ? "email: an account with this email exists"
                      : fmt::format("user {} already exists", user.id);
    co_return e;
  }
  co_return StoredUser{std::move(user), 1};
}

awaitable<Result<Account>> pg_find_account(Host& host, const std::string& email) {
  if (email.find('\0') != std::string::npos) co_return Error{Errc::not_found, "no such account"};
  const std::array<const char*, 1> params{email.c_str()};
  auto r = co_await host.execute(kFindAccount, params);
  if (!r.ok()) co_return std::move(r).error();
  if (r->rows() == 0) co_return Error{Errc::not_found, "no such account"};
  const auto id = r->int64(0, 0);
  if (!id) co_return Error{Errc::internal, "postgres: malformed account row"};
  co_return Account{*id, std::string(r->text(0, 1)), std::string(r->text(0, 2)),
                    std::string(r->text(0, 3))};
}

awaitable<Result<void>> pg_set_role(Host& host, UserId user, const std::string& role) {
  const std::string id_text = std::to_string(user);
  const std::array<const char*, 2> params{id_text.c_str(), role.c_str()};
  auto r = co_await host.execute(kSetRole, params);
  if (!r.ok()) co_return std::move(r).error();
  if (r->rows() == 0) {  // no account, or (a shard behind a finalised move) moved
    auto why = co_await absent(host, user);
    if (why.code == Errc::not_found) why.message = "no such account";
    co_return why;
  }
  co_return Result<void>{};
}

awaitable<Result<void>> pg_ping(Host& host) {
  auto r = co_await host.execute(kPing, {});
  if (!r.ok()) co_return std::move(r).error();
  co_return Result<void>{};
}

}  // namespace ztm::storage
