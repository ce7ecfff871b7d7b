#include "storage/postgres/pg_lookups.h"

#include <array>

namespace ztm::storage {
namespace {

using boost::asio::awaitable;
using pg::Host;
using pg::Statement;

// A conflict updates nothing but lets RETURNING give the owner already there.
constexpr Statement kPut{
    "ztm_put_lookup",
    "INSERT INTO lookups(kind, key, user_id, placement) VALUES($1, $2, $3, $4) "
    "ON CONFLICT (kind, key) DO UPDATE SET user_id = lookups.user_id "
    "RETURNING user_id"};
constexpr Statement kReplace{"ztm_replace_lookup",
                             "UPDATE lookups SET user_id = $4 "
                             "WHERE kind = $1 AND key = $2 AND user_id = $3 RETURNING user_id"};
constexpr Statement kFind{"ztm_find_lookup",
                          "SELECT user_id FROM lookups WHERE kind = $1 AND key = $2"};
constexpr Statement kErase{"ztm_erase_lookup",
                           "DELETE FROM lookups WHERE kind = $1 AND key = $2 AND user_id = $3"};

// $1 kind, $2 key, then the owners as text.
struct LookupParams {
  LookupParams(LookupKind kind_, const std::string& key_, UserId a = 0, UserId b = 0)
      : kind(std::to_string(static_cast<int>(kind_))),
        first(std::to_string(a)),
        second(std::to_string(b)),
        values{kind.c_str(), key_.c_str(), first.c_str(), second.c_str()} {}
  std::string kind, first, second;
  std::array<const char*, 4> values;
};

// The owner in the first row of `r`; not_found when there is none.
Result<UserId> owner_of(const pg::QueryResult& r) {
  if (r.rows() == 0) return Error{Errc::not_found, "no such lookup"};
  const auto id = r.int64(0, 0);
  if (!id) return Error{Errc::internal, "postgres: malformed lookup row"};
  return *id;
}

}  // namespace

awaitable<Result<UserId>> pg_put_lookup(Host& host, LookupKind kind, const std::string& key,
                                        UserId owner) {
  if (auto c = check_lookup(kind, key); !c.ok()) co_return std::move(c).error();
  const LookupParams p(kind, key, owner, lookup_placement(kind, key));
  auto r = co_await host.execute(kPut, p.values);
  if (!r.ok()) co_return std::move(r).error();
  co_return owner_of(*r);
}

awaitable<Result<void>> pg_replace_lookup(Host& host, LookupKind kind, const std::string& key,
                                          UserId previous, UserId owner) {
  if (auto c = check_lookup(kind, key); !c.ok()) co_return std::move(c).error();
  const LookupParams p(kind, key, previous, owner);
  auto r = co_await host.execute(kReplace, p.values);
  if (!r.ok()) co_return std::move(r).error();
  if (r->rows() == 0)
    co_return Error{Errc::precondition_failed, "lookup: not mapped to the previous owner"};
  co_return Result<void>{};
}

awaitable<Result<UserId>> pg_find_lookup(Host& host, LookupKind kind, const std::string& key) {
  if (auto c = check_lookup(kind, key); !c.ok()) co_return std::move(c).error();
  const LookupParams p(kind, key);
  auto r = co_await host.execute(kFind, std::span(p.values).first<2>());
  if (!r.ok()) co_return std::move(r).error();
  co_return owner_of(*r);
}

awaitable<Result<void>> pg_erase_lookup(Host& host, LookupKind kind, const std::string& key,
                                        UserId owner) {
  if (auto c = check_lookup(kind, key); !c.ok()) co_return std::move(c).error();
  const LookupParams p(kind, key, owner);
  auto r = co_await host.execute(kErase, std::span(p.values).first<3>());
  if (!r.ok()) co_return std::move(r).error();
  co_return Result<void>{};
}

}  // namespace ztm::storage
