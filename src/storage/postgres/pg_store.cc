#include "storage/postgres/pg_store.h"

#include <fmt/format.h>

#include <utility>

#include "storage/postgres/pg_follows.h"
#include "storage/postgres/pg_kpis.h"
#include "storage/postgres/pg_lookups.h"
#include "storage/postgres/pg_photos.h"
#include "storage/postgres/pg_users.h"

namespace ztm::storage {
namespace {

using boost::asio::awaitable;

postgres::HostOptions host_options(const PgStoreOptions& o) {
  postgres::HostOptions h;
  h.connection.conninfo = o.conninfo;
  h.connection.timeout = std::chrono::milliseconds(o.timeout_ms);
  h.connection.clock = o.clock;
  h.connections_per_loop = o.connections_per_loop;
  h.write_connections_per_loop = o.write_connections_per_loop;
  h.max_pending = o.max_pending;
  return h;
}

}  // namespace

PgStore::PgStore(PgStoreOptions options)
    : options_(std::move(options)), host_(host_options(options_)) {}

PgStore::~PgStore() = default;

Result<MigrationReport> PgStore::migrate() {
  return pg_migrate(options_.conninfo, std::chrono::milliseconds(options_.timeout_ms));
}

Result<int> PgStore::schema_version() {
  return pg_schema_version(options_.conninfo, std::chrono::milliseconds(options_.timeout_ms));
}

int PgStore::latest_schema_version() {
  return pg_migrations().back().version;
}

awaitable<Result<StoredUser>> PgStore::get_user(UserId id, Consistency) {
  co_return co_await pg_get_user(host_, id);
}

awaitable<Result<UserPage>> PgStore::list_users(UserId after, int limit, Consistency) {
  co_return co_await pg_list_users(host_, after, limit);
}

awaitable<Result<StoredUser>> PgStore::create_user(User user,
                                                   std::optional<std::string> idempotency_key) {
  co_return co_await pg_create_user(host_, std::move(user), std::move(idempotency_key));
}

awaitable<Result<StoredUser>> PgStore::update_user(User user,
                                                   std::optional<std::int64_t> expected) {
  co_return co_await pg_update_user(host_, std::move(user), expected);
}

awaitable<Result<Committed>> PgStore::delete_user(UserId id, std::optional<std::int64_t> expected) {
  auto r = co_await pg_delete_user(host_, id, expected);
  if (!r.ok()) co_return std::move(r).error();
  co_return Committed{};  // one server: every later read sees it
}

awaitable<Result<std::int64_t>> PgStore::count_users() {
  co_return co_await pg_count_users(host_);
}

awaitable<Result<StoredUser>> PgStore::create_account(User user, Account account) {
  co_return co_await pg_create_account(host_, std::move(user), std::move(account));
}

awaitable<Result<Account>> PgStore::find_account(std::string email) {
  co_return co_await pg_find_account(host_, email);
}

awaitable<Result<void>> PgStore::set_role(UserId user, std::string role) {
  co_return co_await pg_set_role(host_, user, role);
}

awaitable<Result<void>> PgStore::ping() {
  co_return co_await pg_ping(host_);
}

awaitable<Result<Photo>> PgStore::create_photo(Photo photo) {
  co_return co_await pg_create_photo(host_, std::move(photo));
}
awaitable<Result<Photo>> PgStore::get_photo(PhotoId id) {
  co_return co_await pg_get_photo(host_, id);
}
awaitable<Result<DeletedPhoto>> PgStore::delete_photo(PhotoId id) {
  co_return co_await pg_delete_photo(host_, id);
}
awaitable<Result<bool>> PgStore::blob_in_use(std::string blob_key) {
  co_return co_await pg_blob_in_use(host_, blob_key);
}
awaitable<Result<PhotoPage>> PgStore::list_photos(UserId owner, PhotoId after, int limit) {
  co_return co_await pg_list_photos(host_, owner, after, limit);
}

awaitable<Result<PhotoUsage>> PgStore::photo_usage(UserId owner) {
  co_return co_await pg_photo_usage(host_, owner);
}
awaitable<Result<Job>> PgStore::create_job(Job job, std::string outbox_payload) {
  co_return co_await pg_create_job(host_, std::move(job), std::move(outbox_payload));
}
awaitable<Result<Job>> PgStore::get_job(JobId id) {
  co_return co_await pg_get_job(host_, id);
}
awaitable<Result<Job>> PgStore::start_job(JobId id) {
  co_return co_await pg_start_job(host_, id);
}
awaitable<Result<Job>> PgStore::complete_job(JobId id, Photo result) {
  co_return co_await pg_complete_job(host_, id, std::move(result));
}
awaitable<Result<Job>> PgStore::fail_job(JobId id, std::string error) {
  co_return co_await pg_fail_job(host_, id, std::move(error));
}
awaitable<Result<std::vector<OutboxMessage>>> PgStore::outbox_batch(int limit) {
  co_return co_await pg_outbox_batch(host_, limit);
}
awaitable<Result<void>> PgStore::outbox_delete(std::vector<std::int64_t> ids) {
  co_return co_await pg_outbox_delete(host_, std::move(ids));
}

awaitable<Result<Purchase>> PgStore::create_purchase(Purchase purchase,
                                                     std::optional<std::string> key) {
  co_return co_await pg_create_purchase(host_, std::move(purchase), std::move(key));
}
awaitable<Result<std::vector<Purchase>>> PgStore::list_purchases(UserId user, int limit) {
  co_return co_await pg_list_purchases(host_, user, limit);
}
awaitable<Result<void>> PgStore::record_activity(UtcDay day, std::vector<UserId> users) {
  co_return co_await pg_record_activity(host_, day, std::move(users));
}
awaitable<Result<DailyKpis>> PgStore::daily_kpis(UtcDay day) {
  co_return co_await pg_daily_kpis(host_, day);
}
awaitable<Result<std::vector<Cohort>>> PgStore::cohorts(UtcDay first, UtcDay last) {
  co_return co_await pg_cohorts(host_, first, last);
}

awaitable<Result<UserId>> PgStore::put_lookup(LookupKind kind, std::string key, UserId owner) {
  co_return co_await pg_put_lookup(host_, kind, key, owner);
}
awaitable<Result<void>> PgStore::replace_lookup(LookupKind kind, std::string key, UserId previous,
                                                UserId owner) {
  co_return co_await pg_replace_lookup(host_, kind, key, previous, owner);
}
awaitable<Result<UserId>> PgStore::find_lookup(LookupKind kind, std::string key) {
  co_return co_await pg_find_lookup(host_, kind, key);
}
awaitable<Result<void>> PgStore::erase_lookup(LookupKind kind, std::string key, UserId owner) {
  co_return co_await pg_erase_lookup(host_, kind, key, owner);
}

awaitable<Result<bool>> PgStore::follow(UserId follower, UserId followee, std::string follower_name,
                                        std::string followee_name) {
  co_return co_await pg_follow(host_, follower, followee, follower_name, followee_name);
}
awaitable<Result<bool>> PgStore::unfollow(UserId follower, UserId followee) {
  co_return co_await pg_unfollow(host_, follower, followee);
}
awaitable<Result<bool>> PgStore::apply_follow(FollowChange change) {
  co_return co_await pg_apply_follow(host_, change);
}
awaitable<Result<FollowPage>> PgStore::list_following(UserId user, UserId after, int limit) {
  co_return co_await pg_list_following(host_, user, after, limit);
}
awaitable<Result<FollowPage>> PgStore::list_followers(UserId user, UserId after, int limit) {
  co_return co_await pg_list_followers(host_, user, after, limit);
}
awaitable<Result<FollowCounts>> PgStore::follow_counts(UserId user) {
  co_return co_await pg_follow_counts(host_, user);
}

}  // namespace ztm::storage
