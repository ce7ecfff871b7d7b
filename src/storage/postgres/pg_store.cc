#include "storage/postgres/pg_store.h"
#include "storage/phone_numbers.h"

#include <fmt/format.h>

#include <array>
#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <stdexcept>
#include <utility>

namespace ztm {
namespace {

using boost::asio::awaitable;

#define ZTM_USER_COLUMNS \
  "id, first_name, last_name, street_address, city, state, postal_code, phone_numbers"
// Statements are prepared once per connection, on first use (pg::Connection).
constexpr pg::Statement kGet{"ztm_get_user",
                             "SELECT " ZTM_USER_COLUMNS ", version FROM users WHERE id = $1"};
constexpr pg::Statement kList{"ztm_list_users",
                              "SELECT " ZTM_USER_COLUMNS
                              ", version FROM users WHERE id > $1 ORDER BY id LIMIT $2"};
constexpr pg::Statement kInsert{"ztm_create_user",
                                "INSERT INTO users(" ZTM_USER_COLUMNS
                                ", version) VALUES($1, $2, $3, $4, $5, $6, $7, $8::jsonb, 1)"};
// Compare-and-set in one statement: $9 is the expected version, or NULL for "any". Under READ
// COMMITTED a concurrent writer's row is re-checked after its commit, so two updates that
// expect the same version cannot both match, and unconditional updates lose no increment.
constexpr pg::Statement kUpdate{
    "ztm_update_user",
    "UPDATE users SET first_name = $2, last_name = $3, street_address = $4, city = $5, "
    "state = $6, postal_code = $7, phone_numbers = $8::jsonb, version = version + 1, "
    "updated_at = now() WHERE id = $1 AND ($9::bigint IS NULL OR version = $9) "
    "RETURNING version"};
constexpr pg::Statement kDelete{
    "ztm_delete_user",
    "DELETE FROM users WHERE id = $1 AND ($2::bigint IS NULL OR version = $2) RETURNING version"};
constexpr pg::Statement kVersion{"ztm_user_version", "SELECT version FROM users WHERE id = $1"};
constexpr pg::Statement kCount{"ztm_count_users", "SELECT count(*) FROM users"};
constexpr pg::Statement kPing{"ztm_ping", "SELECT 1"};
#undef ZTM_USER_COLUMNS

// A compare-and-set that missed, then found the row back at the expected version (deleted and
// re-created in between), is tried again at most this many times.
constexpr int kCasAttempts = 3;

// The text parameters $1..$8 of a user row, plus room for one more ($9).
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
               nullptr} {}
  std::string id, postal_code, phones;
  std::array<const char*, 9> values;
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
Result<StoredUser> read_user(const pg::QueryResult& r, int row) {
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

pg::HostOptions host_options(const PgStoreOptions& o) {
  pg::HostOptions h;
  h.connection.conninfo = o.conninfo;
  h.connection.timeout = std::chrono::milliseconds(o.timeout_ms);
  h.connections_per_loop = o.connections_per_loop;
  h.max_pending = o.max_pending;
  return h;
}

}  // namespace

PgStore::PgStore(PgStoreOptions options)
    : options_(std::move(options)), host_(host_options(options_)) {}

PgStore::~PgStore() = default;

Result<PgMigrationReport> PgStore::migrate() {
  return pg::migrate(options_.conninfo, std::chrono::milliseconds(options_.timeout_ms));
}

Result<int> PgStore::schema_version() {
  return pg::schema_version(options_.conninfo, std::chrono::milliseconds(options_.timeout_ms));
}

int PgStore::latest_schema_version() {
  return pg::migrations().back().version;
}

awaitable<Result<StoredUser>> PgStore::get_user(UserId id) {
  const std::string id_text = std::to_string(id);
  const std::array<const char*, 1> params{id_text.c_str()};
  auto r = co_await host_.execute(kGet, params);
  if (!r.ok()) co_return std::move(r).error();
  if (r->rows() == 0) co_return Error{Errc::not_found, fmt::format("user {} not found", id)};
  co_return read_user(*r, 0);
}

awaitable<Result<UserPage>> PgStore::list_users(UserId after, int limit) {
  if (limit < 1 || limit > 1000)
    co_return Error{Errc::invalid_argument, fmt::format("limit {} is not in 1..1000", limit)};
  const std::string after_text = std::to_string(after);
  const std::string limit_text = std::to_string(limit + 1);  // one more tells if there are more
  const std::array<const char*, 2> params{after_text.c_str(), limit_text.c_str()};
  auto r = co_await host_.execute(kList, params);
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

awaitable<Result<StoredUser>> PgStore::create_user(User user) {
  if (user.id <= 0) co_return Error{Errc::invalid_argument, "user id must be positive"};
  if (auto c = check_no_nul(user); !c.ok()) co_return std::move(c).error();
  const UserParams p(user);
  auto r = co_await host_.execute(kInsert, std::span(p.values).first(8));
  if (!r.ok()) {
    Error e = std::move(r).error();
    if (e.code == Errc::conflict) e.message = fmt::format("user {} already exists", user.id);
    co_return e;
  }
  co_return StoredUser{std::move(user), 1};
}

awaitable<Result<StoredUser>> PgStore::update_user(User user,
                                                   std::optional<std::int64_t> expected) {
  if (auto c = check_no_nul(user); !c.ok()) co_return std::move(c).error();
  UserParams p(user);
  const std::string expected_text = expected ? std::to_string(*expected) : "";
  p.values[8] = expected ? expected_text.c_str() : nullptr;
  for (int attempt = 1;; ++attempt) {
    auto r = co_await host_.execute(kUpdate, p.values);
    if (!r.ok()) co_return std::move(r).error();
    if (r->rows() == 1) {
      const auto version = r->int64(0, 0);
      if (!version) co_return Error{Errc::internal, "postgres: update returned no version"};
      co_return StoredUser{std::move(user), *version};
    }
    auto missed = co_await after_missed_write(user.id, expected);
    if (!missed.ok()) co_return std::move(missed).error();
    if (attempt == kCasAttempts)
      co_return Error{Errc::unavailable, fmt::format("user {}: too much contention", user.id)};
  }
}

awaitable<Result<void>> PgStore::delete_user(UserId id, std::optional<std::int64_t> expected) {
  const std::string id_text = std::to_string(id);
  const std::string expected_text = expected ? std::to_string(*expected) : "";
  const std::array<const char*, 2> params{id_text.c_str(),
                                          expected ? expected_text.c_str() : nullptr};
  for (int attempt = 1;; ++attempt) {
    auto r = co_await host_.execute(kDelete, params);
    if (!r.ok()) co_return std::move(r).error();
    if (r->rows() == 1) co_return Result<void>{};
    auto missed = co_await after_missed_write(id, expected);
    if (!missed.ok()) co_return std::move(missed).error();
    if (attempt == kCasAttempts)
      co_return Error{Errc::unavailable, fmt::format("user {}: too much contention", id)};
  }
}

// The write matched no row; a fresh statement (a new snapshot) sees what a concurrent writer
// committed meanwhile. No row: not_found. Another version than expected: precondition_failed.
// Otherwise the row came back between the two statements (deleted and re-created, or created
// after an unconditional write missed it): the caller tries again.
awaitable<Result<std::int64_t>> PgStore::after_missed_write(UserId id,
                                                            std::optional<std::int64_t> expected) {
  const std::string id_text = std::to_string(id);
  const std::array<const char*, 1> params{id_text.c_str()};
  auto r = co_await host_.execute(kVersion, params);
  if (!r.ok()) co_return std::move(r).error();
  if (r->rows() == 0) co_return Error{Errc::not_found, fmt::format("user {} not found", id)};
  const auto current = r->int64(0, 0);
  if (!current) co_return Error{Errc::internal, "postgres: malformed version"};
  if (expected && *current != *expected)
    co_return Error{Errc::precondition_failed,
                    fmt::format("user {} is at version {}, not {}", id, *current, *expected)};
  co_return *current;
}

awaitable<Result<std::int64_t>> PgStore::count_users() {
  auto r = co_await host_.execute(kCount, {});
  if (!r.ok()) co_return std::move(r).error();
  const auto n = r->rows() == 1 ? r->int64(0, 0) : std::nullopt;
  if (!n) co_return Error{Errc::internal, "postgres: malformed count"};
  co_return *n;
}

awaitable<Result<void>> PgStore::ping() {
  auto r = co_await host_.execute(kPing, {});
  if (!r.ok()) co_return std::move(r).error();
  co_return Result<void>{};
}

}  // namespace ztm
