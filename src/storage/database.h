#pragma once
// The data tier as one database: users and accounts (Store), photos, jobs and the outbox
// (PhotoStore), purchases and activity (KpiStore), lookup rows (LookupStore) and follows
// (FollowStore) in the same place, so that a job (a follow) and its outbox message commit in one
// transaction and the rollups join a user's tables. Every backend (SqliteStore, PgStore,
// ReplicaRouter, the tests' MemoryStore) is a Database; the composition root (node/) holds one and
// hands its two faces to the services that need them.
//
// DatabaseWrapper forwards every call to another Database (leveldb's EnvWrapper): a decorator
// (metering, a test's gate) derives from it and overrides only what it changes.

#include "storage/follow_store.h"
#include "storage/kpi_store.h"
#include "storage/lookup_store.h"
#include "storage/photo_store.h"
#include "storage/store.h"

namespace ztm::storage {

class Database : public Store,
                 public PhotoStore,
                 public KpiStore,
                 public LookupStore,
                 public FollowStore {
 public:
  using Store::create_user;
  using Store::get_user;
  using Store::list_users;
};

class DatabaseWrapper : public Database {
 public:
  using Store::create_user;
  using Store::get_user;
  using Store::list_users;
  // REQUIRES: target outlives this.
  explicit DatabaseWrapper(Database& target) : target_(target) {}
  Database& target() const { return target_; }

  boost::asio::awaitable<Result<StoredUser>> get_user(UserId id, Consistency c) override {
    return target_.get_user(id, std::move(c));
  }
  boost::asio::awaitable<Result<UserPage>> list_users(UserId after, int limit,
                                                      Consistency c) override {
    return target_.list_users(after, limit, std::move(c));
  }
  boost::asio::awaitable<Result<StoredUser>> create_user(User user,
                                                         std::optional<std::string> key) override {
    return target_.create_user(std::move(user), std::move(key));
  }
  boost::asio::awaitable<Result<StoredUser>> update_user(
      User user, std::optional<std::int64_t> expected_version) override {
    return target_.update_user(std::move(user), expected_version);
  }
  boost::asio::awaitable<Result<Committed>> delete_user(
      UserId id, std::optional<std::int64_t> expected_version) override {
    return target_.delete_user(id, expected_version);
  }
  boost::asio::awaitable<Result<std::int64_t>> count_users() override {
    return target_.count_users();
  }
  boost::asio::awaitable<Result<StoredUser>> create_account(User user, Account account) override {
    return target_.create_account(std::move(user), std::move(account));
  }
  boost::asio::awaitable<Result<Account>> find_account(std::string email) override {
    return target_.find_account(std::move(email));
  }
  boost::asio::awaitable<Result<void>> set_role(UserId user, std::string role) override {
    return target_.set_role(user, std::move(role));
  }
  boost::asio::awaitable<Result<void>> ping() override { return target_.ping(); }

  boost::asio::awaitable<Result<Photo>> create_photo(Photo photo) override {
    return target_.create_photo(std::move(photo));
  }
  boost::asio::awaitable<Result<Photo>> get_photo(PhotoId id) override {
    return target_.get_photo(id);
  }
  boost::asio::awaitable<Result<DeletedPhoto>> delete_photo(PhotoId id) override {
    return target_.delete_photo(id);
  }
  boost::asio::awaitable<Result<bool>> blob_in_use(std::string blob_key) override {
    return target_.blob_in_use(std::move(blob_key));
  }
  boost::asio::awaitable<Result<PhotoPage>> list_photos(UserId owner, PhotoId after,
                                                        int limit) override {
    return target_.list_photos(owner, after, limit);
  }
  boost::asio::awaitable<Result<PhotoUsage>> photo_usage(UserId owner) override {
    return target_.photo_usage(owner);
  }
  boost::asio::awaitable<Result<Job>> create_job(Job job, std::string outbox_payload) override {
    return target_.create_job(std::move(job), std::move(outbox_payload));
  }
  boost::asio::awaitable<Result<Job>> get_job(JobId id) override { return target_.get_job(id); }
  boost::asio::awaitable<Result<Job>> start_job(JobId id) override { return target_.start_job(id); }
  boost::asio::awaitable<Result<Job>> complete_job(JobId id, Photo result) override {
    return target_.complete_job(id, std::move(result));
  }
  boost::asio::awaitable<Result<Job>> fail_job(JobId id, std::string error) override {
    return target_.fail_job(id, std::move(error));
  }
  boost::asio::awaitable<Result<std::vector<OutboxMessage>>> outbox_batch(int limit) override {
    return target_.outbox_batch(limit);
  }
  boost::asio::awaitable<Result<void>> outbox_delete(std::vector<std::int64_t> ids) override {
    return target_.outbox_delete(std::move(ids));
  }

  boost::asio::awaitable<Result<Purchase>> create_purchase(
      Purchase purchase, std::optional<std::string> idempotency_key) override {
    return target_.create_purchase(std::move(purchase), std::move(idempotency_key));
  }
  boost::asio::awaitable<Result<std::vector<Purchase>>> list_purchases(UserId user,
                                                                       int limit) override {
    return target_.list_purchases(user, limit);
  }
  boost::asio::awaitable<Result<void>> record_activity(UtcDay day,
                                                       std::vector<UserId> users) override {
    return target_.record_activity(day, std::move(users));
  }
  boost::asio::awaitable<Result<DailyKpis>> daily_kpis(UtcDay day) override {
    return target_.daily_kpis(day);
  }
  boost::asio::awaitable<Result<std::vector<Cohort>>> cohorts(UtcDay first, UtcDay last) override {
    return target_.cohorts(first, last);
  }

  boost::asio::awaitable<Result<UserId>> put_lookup(LookupKind kind, std::string key,
                                                    UserId owner) override {
    return target_.put_lookup(kind, std::move(key), owner);
  }
  boost::asio::awaitable<Result<void>> replace_lookup(LookupKind kind, std::string key,
                                                      UserId previous, UserId owner) override {
    return target_.replace_lookup(kind, std::move(key), previous, owner);
  }
  boost::asio::awaitable<Result<UserId>> find_lookup(LookupKind kind, std::string key) override {
    return target_.find_lookup(kind, std::move(key));
  }
  boost::asio::awaitable<Result<void>> erase_lookup(LookupKind kind, std::string key,
                                                    UserId owner) override {
    return target_.erase_lookup(kind, std::move(key), owner);
  }

  boost::asio::awaitable<Result<bool>> follow(UserId follower, UserId followee,
                                              std::string follower_name,
                                              std::string followee_name) override {
    return target_.follow(follower, followee, std::move(follower_name), std::move(followee_name));
  }
  boost::asio::awaitable<Result<bool>> unfollow(UserId follower, UserId followee) override {
    return target_.unfollow(follower, followee);
  }
  boost::asio::awaitable<Result<bool>> apply_follow(FollowChange change) override {
    return target_.apply_follow(std::move(change));
  }
  boost::asio::awaitable<Result<FollowPage>> list_following(UserId user, UserId after,
                                                            int limit) override {
    return target_.list_following(user, after, limit);
  }
  boost::asio::awaitable<Result<FollowPage>> list_followers(UserId user, UserId after,
                                                            int limit) override {
    return target_.list_followers(user, after, limit);
  }
  boost::asio::awaitable<Result<FollowCounts>> follow_counts(UserId user) override {
    return target_.follow_counts(user);
  }

 private:
  Database& target_;
};

}  // namespace ztm::storage
