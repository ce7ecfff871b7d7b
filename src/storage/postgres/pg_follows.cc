#include "storage/postgres/pg_follows.h"

#include <array>
#include <span>

#include "storage/bucket.h"

namespace ztm::storage {
namespace {

using boost::asio::awaitable;
using postgres::Host;
using postgres::Statement;

// The row first, then the outbox row only if the row changed, with the pair's version the row
// answered put in the message (replacing the payload's placeholder): a concurrent change of the
// same pair waits for the row's lock, and then finds nothing to change or counts on from the first.
constexpr Statement kFollow{
    "ztm_follow",
    "WITH f AS (INSERT INTO following(follower, followee, followee_name) VALUES($1, $2, $3) "
    "ON CONFLICT (bucket, follower, followee) DO UPDATE SET "
    "followee_name = EXCLUDED.followee_name, created_at = now(), "
    "version = following.version + 1, active = true WHERE NOT following.active "
    "RETURNING version) "
    "INSERT INTO outbox(topic, payload) "
    "SELECT 'follow', ($4::jsonb || jsonb_build_object('version', f.version))::text FROM f "
    "RETURNING id"};
constexpr Statement kUnfollow{
    "ztm_unfollow",
    "WITH f AS (UPDATE following SET version = version + 1, active = false "
    "WHERE bucket = $4 AND follower = $1 AND followee = $2 AND active RETURNING version) "
    "INSERT INTO outbox(topic, payload) "
    "SELECT 'follow', ($3::jsonb || jsonb_build_object('version', f.version))::text FROM f "
    "RETURNING id"};
// Only a newer version changes the row; SET reads the locked row as it was, so was_active is
// the state before this change, and the counter slot moves by the difference.
constexpr Statement kApply{
    "ztm_apply_follow",
    "WITH up AS (INSERT INTO followers(followee, follower, follower_name, version, active, "
    "was_active) VALUES($1::bigint, $2, $3, $4, $5, false) ON CONFLICT (bucket, followee, "
    "follower) DO "
    "UPDATE SET follower_name = EXCLUDED.follower_name, version = EXCLUDED.version, "
    "was_active = followers.active, active = EXCLUDED.active "
    "WHERE followers.version < EXCLUDED.version RETURNING active, was_active), "
    "c AS (INSERT INTO follower_counts(user_id, slot, n) "
    "SELECT $1::bigint, $6::smallint, CASE WHEN active THEN 1 ELSE -1 END FROM up "
    "WHERE active <> was_active ON CONFLICT (bucket, user_id, slot) DO UPDATE "
    "SET n = follower_counts.n + EXCLUDED.n) "
    "SELECT count(*) FROM up"};
// One more row than asked tells whether there are more; both are ranges of a (bucket, user,
// other user) index (migrations 11, 12), the tombstones skipped.
constexpr Statement kFollowingPage{
    "ztm_list_following",
    "SELECT followee, followee_name FROM following WHERE bucket = $4 AND follower = $1 "
    "AND followee > $2 "
    "AND active ORDER BY followee LIMIT $3"};
constexpr Statement kFollowersPage{
    "ztm_list_followers",
    "SELECT follower, follower_name FROM followers WHERE bucket = $4 AND followee = $1 "
    "AND follower > $2 "
    "AND active ORDER BY follower LIMIT $3"};
constexpr Statement kCounts{
    "ztm_follow_counts",
    "SELECT (SELECT coalesce(sum(n), 0)::bigint FROM follower_counts WHERE bucket = $2 "
    "AND user_id = $1), "
    "(SELECT count(*) FROM following WHERE bucket = $2 AND follower = $1 AND active)"};

awaitable<Result<FollowPage>> page(Host& host, const Statement& statement, UserId user,
                                   UserId after, int limit) {
  if (auto l = check_follow_limit(limit); !l.ok()) co_return std::move(l).error();
  const std::string u = std::to_string(user), a = std::to_string(after),
                    n = std::to_string(limit + 1), b = std::to_string(bucket_of(user));
  const std::array<const char*, 4> params{u.c_str(), a.c_str(), n.c_str(), b.c_str()};
  auto r = co_await host.execute(statement, params);
  if (!r.ok()) co_return std::move(r).error();
  FollowPage out;
  for (int i = 0; i < r->rows(); ++i) {
    if (out.users.size() == static_cast<std::size_t>(limit)) {
      out.more = true;
      break;
    }
    const auto id = r->int64(i, 0);
    if (!id) co_return Error{Errc::internal, "postgres: malformed follow row"};
    out.users.push_back({*id, std::string(r->text(i, 1))});
  }
  co_return out;
}

}  // namespace

awaitable<Result<bool>> pg_follow(Host& host, UserId follower, UserId followee,
                                  const std::string& follower_name,
                                  const std::string& followee_name) {
  if (auto c = check_follow(follower, followee, follower_name, followee_name); !c.ok())
    co_return std::move(c).error();
  const std::string payload =
      follow_payload({FollowChange::Op::add, follower, followee, follower_name, 0});
  const std::string a = std::to_string(follower), b = std::to_string(followee);
  const std::array<const char*, 4> params{a.c_str(), b.c_str(), followee_name.c_str(),
                                          payload.c_str()};
  auto r = co_await host.execute(kFollow, params);
  if (!r.ok()) co_return std::move(r).error();
  co_return r->rows() == 1;
}

awaitable<Result<bool>> pg_unfollow(Host& host, UserId follower, UserId followee) {
  if (auto c = check_follow(follower, followee); !c.ok()) co_return std::move(c).error();
  const std::string payload = follow_payload({FollowChange::Op::remove, follower, followee, "", 0});
  const std::string a = std::to_string(follower), b = std::to_string(followee),
                    bucket = std::to_string(bucket_of(follower));
  const std::array<const char*, 4> params{a.c_str(), b.c_str(), payload.c_str(), bucket.c_str()};
  auto r = co_await host.execute(kUnfollow, params);
  if (!r.ok()) co_return std::move(r).error();
  co_return r->rows() == 1;
}

awaitable<Result<bool>> pg_apply_follow(Host& host, const FollowChange& change) {
  if (auto c = check_follow(change.follower, change.followee, change.follower_name); !c.ok())
    co_return std::move(c).error();
  const std::string followee = std::to_string(change.followee),
                    follower = std::to_string(change.follower),
                    version = std::to_string(change.version),
                    slot = std::to_string(follower_count_slot(change.follower));
  const char* active = change.op == FollowChange::Op::add ? "true" : "false";
  const std::array<const char*, 6> params{
      followee.c_str(), follower.c_str(), change.follower_name.c_str(),
      version.c_str(),  active,           slot.c_str()};
  auto r = co_await host.execute(kApply, params);
  if (!r.ok()) co_return std::move(r).error();
  const auto changed = r->rows() == 1 ? r->int64(0, 0) : std::nullopt;
  if (!changed) co_return Error{Errc::internal, "postgres: malformed apply_follow row"};
  co_return *changed == 1;
}

awaitable<Result<FollowPage>> pg_list_following(Host& host, UserId user, UserId after, int limit) {
  co_return co_await page(host, kFollowingPage, user, after, limit);
}

awaitable<Result<FollowPage>> pg_list_followers(Host& host, UserId user, UserId after, int limit) {
  co_return co_await page(host, kFollowersPage, user, after, limit);
}

awaitable<Result<FollowCounts>> pg_follow_counts(Host& host, UserId user) {
  const std::string u = std::to_string(user), b = std::to_string(bucket_of(user));
  const std::array<const char*, 2> params{u.c_str(), b.c_str()};
  auto r = co_await host.execute(kCounts, params);
  if (!r.ok()) co_return std::move(r).error();
  if (r->rows() != 1) co_return Error{Errc::internal, "postgres: no follow_counts row"};
  const auto followers = r->int64(0, 0), following = r->int64(0, 1);
  if (!followers || !following)
    co_return Error{Errc::internal, "postgres: malformed follow_counts row"};
  co_return FollowCounts{*followers, *following};
}

}  // namespace ztm::storage
