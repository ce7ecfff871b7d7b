#pragma once
// The Store on PostgreSQL: asynchronous libpq on the callers' own event loops, pipelined,
// prepared statements (see postgres/connection.h for how a connection is driven and how it
// fails, and postgres/host.h for the per-loop pools and the threading contract).
//
// Semantics are those of store.h, checked by the shared conformance suite:
//  - update/delete with expected_version are one compare-and-set statement
//    (... WHERE id = $1 AND ($n IS NULL OR version = $n)); when it matches no row, a second
//    statement tells not_found from precondition_failed.
//  - create_user of an existing id is a unique violation (SQLSTATE 23505) -> conflict.
//  - a server that cannot be reached, or does not answer within timeout, -> unavailable.
//  - strings are stored as text, phone numbers as a jsonb array of strings (in order). PostgreSQL
//    text holds valid UTF-8 without NUL bytes only: other values fail with invalid_argument.
// One server: positions (read-your-writes) are "" and every read sees every committed write.
// Each statement is its own (implicit) transaction (create with an idempotency key: one
// statement that inserts the key and the user together); commits are as durable as the server's
// synchronous_commit makes them.

#include <memory>
#include <string>

#include "core/clock.h"
#include "postgres/host.h"
#include "storage/database.h"
#include "storage/postgres/pg_migrations.h"

namespace ztm::storage {

struct PgStoreOptions {
  std::string conninfo = "postgresql:///ztm";  // libpq keyword/value string or URI
  int connections_per_loop = 2;                // for reads (postgres/host.h)
  int write_connections_per_loop = 16;         // for statements that write
  int timeout_ms = 5000;    // connect; each statement's round trip; migrations' lock wait x12
  int max_pending = 10000;  // requests in flight per event loop beyond which calls are overloaded
  const Clock* clock = &Clock::system();  // the reconnect back-off; must outlive the store
};

class PgStore final : public Database {
 public:
  using Store::create_user;
  using Store::get_user;
  using Store::list_users;
  // Does not connect (the first call on each loop does). Throws std::invalid_argument on
  // nonsense options.
  explicit PgStore(PgStoreOptions options);
  // REQUIRES: no call in flight (see postgres/host.h).
  ~PgStore() override;
  PgStore(const PgStore&) = delete;
  PgStore& operator=(const PgStore&) = delete;

  // Blocking, on a connection of their own: call at start-up or from tools, never on an event
  // loop. Safe against concurrent migrators (an advisory lock serializes them).
  Result<MigrationReport> migrate();
  Result<int> schema_version();  // 0 for an empty database
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

  // PhotoStore
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

  // KpiStore
  boost::asio::awaitable<Result<Purchase>> create_purchase(
      Purchase purchase, std::optional<std::string> idempotency_key) override;
  boost::asio::awaitable<Result<std::vector<Purchase>>> list_purchases(UserId user,
                                                                       int limit) override;
  boost::asio::awaitable<Result<void>> record_activity(UtcDay day,
                                                       std::vector<UserId> users) override;
  boost::asio::awaitable<Result<DailyKpis>> daily_kpis(UtcDay day) override;
  boost::asio::awaitable<Result<std::vector<Cohort>>> cohorts(UtcDay first, UtcDay last) override;

  boost::asio::awaitable<Result<UserId>> put_lookup(LookupKind kind, std::string key,
                                                    UserId owner) override;
  boost::asio::awaitable<Result<void>> replace_lookup(LookupKind kind, std::string key,
                                                      UserId previous, UserId owner) override;
  boost::asio::awaitable<Result<UserId>> find_lookup(LookupKind kind, std::string key) override;
  boost::asio::awaitable<Result<void>> erase_lookup(LookupKind kind, std::string key,
                                                    UserId owner) override;

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
  PgStoreOptions options_;
  postgres::Host host_;
};

}  // namespace ztm::storage
