#pragma once
// The Store on SQLite: one file, WAL journal, for the single-server stages of the chapter.
//
// Every call runs on a bounded BlockingPool, never on the caller's event-loop thread. Reads use a
// connection per pool thread (WAL lets them run while a write is in progress); writes share one
// writer connection behind a mutex, because SQLite admits one writer at a time anyway and
// queueing in-process avoids SQLITE_BUSY retries between our own connections. Other processes
// writing the same file are waited for up to busy_timeout_ms, then the call fails with
// Errc::unavailable.

#include <memory>
#include <string>

#include "sqlite/options.h"
#include "storage/database.h"
#include "storage/migration.h"

namespace ztm::sqlite {
class Database;
}

namespace ztm::storage {

class SqliteStore final : public Database {
 public:
  using Store::create_user;
  using Store::get_user;
  using Store::list_users;
  // Opens the database, creating the file and its parent directory if missing.
  // Throws std::runtime_error naming the path and the reason when it cannot (a start-up error).
  explicit SqliteStore(sqlite::Options options);
  // Joins the pool, then closes the connections.
  // REQUIRES: no call is in flight (stop the event loops that await this store first): a caller
  // resumed after destruction would touch the destroyed pool.
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // Blocking: call at start-up, before serving, never on an event loop. Applies the pending
  // versioned migrations, each in its own transaction, recorded in schema_migrations.
  Result<MigrationReport> migrate();
  // Blocking. 0 for an empty database.
  Result<int> schema_version();
  static int latest_schema_version();

  boost::asio::awaitable<Result<StoredUser>> get_user(UserId id, Consistency consistency) override;
  boost::asio::awaitable<Result<UserPage>> list_users(UserId after, int limit,
                                                      Consistency consistency) override;
  boost::asio::awaitable<Result<StoredUser>> create_user(
      User user, std::optional<std::string> idempotency_key) override;
  boost::asio::awaitable<Result<StoredUser>> update_user(
      User user, std::optional<std::int64_t> expected_version) override;
  boost::asio::awaitable<Result<Committed>> delete_user(
      UserId id, std::optional<std::int64_t> expected_version) override;
  boost::asio::awaitable<Result<std::int64_t>> count_users() override;
  boost::asio::awaitable<Result<StoredUser>> create_account(User user, Account account) override;
  boost::asio::awaitable<Result<Account>> find_account(std::string email) override;
  boost::asio::awaitable<Result<void>> set_role(UserId user, std::string role) override;
  boost::asio::awaitable<Result<void>> ping() override;

  // PhotoStore (sqlite_photos.cc)
  boost::asio::awaitable<Result<Photo>> create_photo(Photo photo) override;
  boost::asio::awaitable<Result<Photo>> get_photo(PhotoId id) override;
  boost::asio::awaitable<Result<DeletedPhoto>> delete_photo(PhotoId id) override;
  boost::asio::awaitable<Result<bool>> blob_in_use(std::string blob_key) override;
  boost::asio::awaitable<Result<PhotoUsage>> photo_usage(UserId owner) override;
  boost::asio::awaitable<Result<PhotoPage>> list_photos(UserId owner, PhotoId after,
                                                        int limit) override;
  boost::asio::awaitable<Result<Job>> create_job(Job job, std::string outbox_payload) override;
  boost::asio::awaitable<Result<Job>> get_job(JobId id) override;
  boost::asio::awaitable<Result<Job>> start_job(JobId id) override;
  boost::asio::awaitable<Result<Job>> complete_job(JobId id, Photo result) override;
  boost::asio::awaitable<Result<Job>> fail_job(JobId id, std::string error) override;
  boost::asio::awaitable<Result<std::vector<OutboxMessage>>> outbox_batch(int limit) override;
  boost::asio::awaitable<Result<void>> outbox_delete(std::vector<std::int64_t> ids) override;

  // KpiStore (sqlite_kpis.cc)
  boost::asio::awaitable<Result<Purchase>> create_purchase(
      Purchase purchase, std::optional<std::string> idempotency_key) override;
  boost::asio::awaitable<Result<std::vector<Purchase>>> list_purchases(UserId user,
                                                                       int limit) override;
  boost::asio::awaitable<Result<void>> record_activity(UtcDay day,
                                                       std::vector<UserId> users) override;
  boost::asio::awaitable<Result<DailyKpis>> daily_kpis(UtcDay day) override;
  boost::asio::awaitable<Result<std::vector<Cohort>>> cohorts(UtcDay first, UtcDay last) override;

  // LookupStore (sqlite_lookups.cc)
  boost::asio::awaitable<Result<UserId>> put_lookup(LookupKind kind, std::string key,
                                                    UserId owner) override;
  boost::asio::awaitable<Result<void>> replace_lookup(LookupKind kind, std::string key,
                                                      UserId previous, UserId owner) override;
  boost::asio::awaitable<Result<UserId>> find_lookup(LookupKind kind, std::string key) override;
  boost::asio::awaitable<Result<void>> erase_lookup(LookupKind kind, std::string key,
                                                    UserId owner) override;

  // FollowStore (sqlite_follows.cc)
  boost::asio::awaitable<Result<bool>> follow(UserId follower, UserId followee,
                                              std::string follower_name,
                                              std::string followee_name) override;
  boost::asio::awaitable<Result<bool>> unfollow(UserId follower, UserId followee) override;
  boost::asio::awaitable<Result<bool>> apply_follow(FollowChange change) override;
  boost::asio::awaitable<Result<FollowPage>> list_following(UserId user, UserId after,
                                                            int limit) override;
  boost::asio::awaitable<Result<FollowPage>> list_followers(UserId user, UserId after,
                                                            int limit) override;
  boost::asio::awaitable<Result<FollowCounts>> follow_counts(UserId user) override;

 private:
  std::unique_ptr<sqlite::Database> db_;  // keeps sqlite3.h out of this header
};

}  // namespace ztm::storage
