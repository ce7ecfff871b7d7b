// SqliteStore's FollowStore part (follow_store.h): following (with the pair's version) and its
// outbox message in one transaction; followers and its counter slot in another.
#include "sqlite/database.h"
#include "storage/sqlite/sqlite_store.h"

namespace ztm::storage {
namespace {

using boost::asio::awaitable;
using sqlite::Connection;
using sqlite::Statement;
using sqlite::WriteTransaction;

#define ZTM_NOW "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
namespace sql {
// Each changes the row only when it changes the edge, and then answers the pair's new version.
constexpr const char* following_add =
    "INSERT INTO following(follower, followee, followee_name, version, active, created_at) "
    "VALUES(?1, ?2, ?3, 1, 1, " ZTM_NOW
    ") ON CONFLICT(follower, followee) DO UPDATE SET "
    "followee_name = excluded.followee_name, created_at = excluded.created_at, "
    "version = version + 1, active = 1 WHERE NOT active RETURNING version";
constexpr const char* following_remove =
    "UPDATE following SET version = version + 1, active = 0 "
    "WHERE follower = ?1 AND followee = ?2 AND active RETURNING version";
constexpr const char* outbox_insert =
    "INSERT INTO outbox(topic, payload, created_at) VALUES('follow', ?1, " ZTM_NOW ")";
// Only a newer version changes the row; SET reads the row as it was, so was_active is the state
// before this change.
constexpr const char* followers_upsert =
    "INSERT INTO followers(followee, follower, follower_name, version, active, was_active) "
    "VALUES(?1, ?2, ?3, ?4, ?5, 0) ON CONFLICT(followee, follower) DO UPDATE SET "
    "follower_name = excluded.follower_name, version = excluded.version, was_active = active, "
    "active = excluded.active WHERE version < excluded.version RETURNING active, was_active";
constexpr const char* count_add =
    "INSERT INTO follower_counts(user_id, slot, n) VALUES(?1, ?2, ?3) "
    "ON CONFLICT(user_id, slot) DO UPDATE SET n = n + excluded.n";
constexpr const char* following_page =
    "SELECT followee, followee_name FROM following WHERE follower = ?1 AND followee > ?2 "
    "AND active ORDER BY followee LIMIT ?3";
constexpr const char* followers_page =
    "SELECT follower, follower_name FROM followers WHERE followee = ?1 AND follower > ?2 "
    "AND active ORDER BY follower LIMIT ?3";
constexpr const char* counts =
    "SELECT (SELECT coalesce(sum(n), 0) FROM follower_counts WHERE user_id = ?1), "
    "(SELECT count(*) FROM following WHERE follower = ?1 AND active)";
}  // namespace sql
#undef ZTM_NOW

// Runs `row_sql` on the pair; when it changed the row (answering the pair's new version), adds
// the outbox message of `change` with that version, all in one transaction. Whether it changed
// the row.
Result<bool> change_with_message(Connection& w, const char* row_sql, FollowChange change,
                                 const std::string& followee_name) {
  WriteTransaction txn(w);
  if (auto b = txn.begin(); !b.ok()) return std::move(b).error();
  {
    auto st = w.prepare(row_sql);
    if (!st.ok()) return std::move(st).error();
    st->bind(1, change.follower);
    st->bind(2, change.followee);
    if (change.op == FollowChange::Op::add) st->bind(3, followee_name);
    const int rc = st->step();
    if (rc == SQLITE_DONE) return false;  // the transaction rolls back: nothing written
    if (rc != SQLITE_ROW) return w.error(rc, "follow");
    change.version = st->column_int64(0);
  }
  {
    auto st = w.prepare(sql::outbox_insert);
    if (!st.ok()) return std::move(st).error();
    const std::string payload = follow_payload(change);  // bound SQLITE_STATIC: outlives step
    st->bind(1, payload);
    if (int rc = st->step(); rc != SQLITE_DONE) return w.error(rc, "follow (outbox)");
  }
  if (auto c = txn.commit(); !c.ok()) return std::move(c).error();
  return true;
}

awaitable<Result<FollowPage>> read_page(sqlite::Database& db, const char* sql, UserId user,
                                        UserId after, int limit) {
  if (auto l = check_follow_limit(limit); !l.ok()) co_return std::move(l).error();
  co_return co_await db.read<FollowPage>(
      sql, [user, after, limit](Statement& st, Connection& c) -> Result<FollowPage> {
        st.bind(1, user);
        st.bind(2, after);
        st.bind(3, std::int64_t{limit} + 1);
        FollowPage page;
        int rc;
        while ((rc = st.step()) == SQLITE_ROW) {
          if (page.users.size() == static_cast<std::size_t>(limit)) {
            page.more = true;
            break;
          }
          page.users.push_back({st.column_int64(0), st.column_text(1)});
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) return c.error(rc, "follow page");
        return page;
      });
}

}  // namespace

awaitable<Result<bool>> SqliteStore::follow(UserId follower, UserId followee,
                                            std::string follower_name, std::string followee_name) {
  if (auto c = check_follow(follower, followee, follower_name, followee_name); !c.ok())
    co_return std::move(c).error();
  FollowChange change{FollowChange::Op::add, follower, followee, std::move(follower_name), 0};
  co_return co_await db_->write<bool>([&](Connection& w) {
    return change_with_message(w, sql::following_add, change, followee_name);
  });
}

awaitable<Result<bool>> SqliteStore::unfollow(UserId follower, UserId followee) {
  if (auto c = check_follow(follower, followee); !c.ok()) co_return std::move(c).error();
  const FollowChange change{FollowChange::Op::remove, follower, followee, "", 0};
  co_return co_await db_->write<bool>(
      [&](Connection& w) { return change_with_message(w, sql::following_remove, change, ""); });
}

awaitable<Result<bool>> SqliteStore::apply_follow(FollowChange change) {
  if (auto c = check_follow(change.follower, change.followee, change.follower_name); !c.ok())
    co_return std::move(c).error();
  co_return co_await db_->write<bool>([&change](Connection& w) -> Result<bool> {
    WriteTransaction txn(w);
    if (auto b = txn.begin(); !b.ok()) return std::move(b).error();
    std::int64_t delta = 0;
    {
      auto st = w.prepare(sql::followers_upsert);
      if (!st.ok()) return std::move(st).error();
      st->bind(1, change.followee);
      st->bind(2, change.follower);
      st->bind(3, change.follower_name);
      st->bind(4, change.version);
      st->bind(5, std::int64_t{change.op == FollowChange::Op::add});
      const int rc = st->step();
      if (rc == SQLITE_DONE) return false;  // a change of this version or a newer one is there
      if (rc != SQLITE_ROW) return w.error(rc, "apply_follow");
      delta = st->column_int64(0) - st->column_int64(1);
    }
    if (delta != 0) {
      auto st = w.prepare(sql::count_add);
      if (!st.ok()) return std::move(st).error();
      st->bind(1, change.followee);
      st->bind(2, std::int64_t{follower_count_slot(change.follower)});
      st->bind(3, delta);
      if (int rc = st->step(); rc != SQLITE_DONE) return w.error(rc, "apply_follow (count)");
    }
    if (auto c = txn.commit(); !c.ok()) return std::move(c).error();
    return true;
  });
}

awaitable<Result<FollowPage>> SqliteStore::list_following(UserId user, UserId after, int limit) {
  co_return co_await read_page(*db_, sql::following_page, user, after, limit);
}

awaitable<Result<FollowPage>> SqliteStore::list_followers(UserId user, UserId after, int limit) {
  co_return co_await read_page(*db_, sql::followers_page, user, after, limit);
}

awaitable<Result<FollowCounts>> SqliteStore::follow_counts(UserId user) {
  co_return co_await db_->read<FollowCounts>(
      sql::counts, [user](Statement& st, Connection& c) -> Result<FollowCounts> {
        st.bind(1, user);
        if (int rc = st.step(); rc != SQLITE_ROW) return c.error(rc, "follow_counts");
        return FollowCounts{st.column_int64(0), st.column_int64(1)};
      });
}

}  // namespace ztm::storage
