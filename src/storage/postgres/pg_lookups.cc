#include "storage/postgres/pg_lookups.h"

#include <array>

#include "storage/bucket.h"

namespace ztm::storage {
namespace {

using boost::asio::awaitable;
using postgres::Host;
using postgres::Statement;

// A conflict updates nothing but lets RETURNING give the owner already there. $3 is the key's
// placement (the trigger sets the bucket from it: $4 is the same), $4 its bucket: the table's
// primary key is (bucket, kind, key) (migration 11).
constexpr Statement kPut{"ztm_put_lookup",
                         "INSERT INTO lookups(kind, key, placement, bucket, user_id) "
                         "VALUES($1, $2, $3, $4, $5) "
                         "ON CONFLICT (bucket, kind, key) DO UPDATE SET user_id = lookups.user_id "
                         "RETURNING user_id"};
constexpr Statement kReplace{"ztm_replace_lookup",
                             "UPDATE lookups SET user_id = $6 WHERE bucket = $4 AND kind = $1 "
                             "AND key = $2 AND user_id = $5 AND placement = $3 RETURNING user_id"};
constexpr Statement kFind{
    "ztm_find_lookup",
    "SELECT user_id FROM lookups WHERE bucket = $4 AND kind = $1 AND key = $2 "
    "AND placement = $3"};
constexpr Statement kErase{"ztm_erase_lookup",
                           "DELETE FROM lookups WHERE bucket = $4 AND kind = $1 AND key = $2 "
                           "AND placement = $3 AND user_id = $5"};

// $1 kind, $2 key, $3 its placement, $4 the placement's bucket, then the owners as text.
struct LookupParams {
  LookupParams(LookupKind kind_, const std::string& key_, UserId a = 0, UserId b = 0)
      : kind(std::to_string(static_cast<int>(kind_))),
        placement(std::to_string(lookup_placement(kind_, key_))),
        bucket(std::to_string(bucket_of(lookup_placement(kind_, key_)))),
        first(std::to_string(a)),
        second(std::to_string(b)),
        values{kind.c_str(),   key_.c_str(),  placement.c_str(),
               bucket.c_str(), first.c_str(), second.c_str()} {}
  std::string kind, placement, bucket, first, second;
  std::array<const char*, 6> values;
};

// The owner in the first row of `r`; not_found when there is none.
Result<UserId> owner_of(const postgres::QueryResult& r) {
  if (r.rows() == 0) return Error{Errc::not_found, "no such lookup"};
  const auto id = r.int64(0, 0);
  if (!id) return Error{Errc::internal, "postgres: malformed lookup row"};
  return *id;
}

}  // namespace

awaitable<Result<UserId>> pg_put_lookup(Host& host, LookupKind kind, const std::string& key,
                                        UserId owner) {
  if (auto c = check_lookup(kind, key); !c.ok()) co_return std::move(c).error();
  const LookupParams p(kind, key, owner);
  auto r = co_await host.execute(kPut, std::span(p.values).first<5>());
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
  auto r = co_await host.execute(kFind, std::span(p.values).first<4>());
  if (!r.ok()) co_return std::move(r).error();
  co_return owner_of(*r);
}

awaitable<Result<void>> pg_erase_lookup(Host& host, LookupKind kind, const std::string& key,
                                        UserId owner) {
  if (auto c = check_lookup(kind, key); !c.ok()) co_return std::move(c).error();
  const LookupParams p(kind, key, owner);
  auto r = co_await host.execute(kErase, std::span(p.values).first<5>());
  if (!r.ok()) co_return std::move(r).error();
  co_return Result<void>{};
}

}  // namespace ztm::storage
