#pragma once
// The data tier split over shards (docs/sharding.md): one Database per shard, and every call
// sent where the bucket map says the rows are. The services see one Database, as with a single
// server; the composition root (node/backends.cc) builds this when storage.shard_map is set.
//
// Where each call goes:
//   - a user, its account, photos, jobs, purchases, activity: the owner's shard (map.shard_of);
//   - what is found by another key (an email, an Idempotency-Key, a photo or job id): first its
//     lookup row (lookup_store.h), on the shard the key hashes to, then the owner's shard;
//   - list_users, count_users, the KPI rollups, the outbox: every shard, merged or summed.
// No transaction spans two shards. Each write that needs two is ordered so that a crash in
// between leaves only a harmless orphan:
//   - photos and jobs: the lookup row first (fresh ids: nobody contends), then the row; an
//     orphan lookup row points at nothing, which reads as not_found;
//   - idempotent creates: the key's lookup row first, naming the first create's id; every
//     create with the key then makes or finds the user under that id (a crash in between is
//     completed by the retry);
//   - accounts (an email others may race for): the user and account first, then the email's
//     lookup row; who gets the row wins, and a loser deletes the user it made. An email whose
//     account is gone (its user deleted) is taken over by the next sign-up. A crash between
//     the account and the row leaves an account nobody can log in to, which still holds the
//     email on its own shard (a sign-up landing there gets conflict) until it is removed.
//
// Commit positions (read-your-writes, store.h) are each shard's own: a write's position is
// "<shard index>:<the shard's position>", and a read applies a position only on the shard that
// made it.
//
// Outbox message ids are the shard's id times kMaxShards plus the shard index: unique over
// shards (they are the queue's dedup ids), and outbox_delete sends each back to its shard.
//
// Not yet (docs/sharding.md): the map is fixed at construction (no watcher, no moves, no fence);
// calls that visit every shard visit them one after the other.

#include <atomic>
#include <memory>
#include <vector>

#include "storage/database.h"
#include "storage/sharding/shard_map.h"

namespace ztm::storage {

class ShardedStore final : public Database {
 public:
  using Store::create_user;
  using Store::get_user;
  using Store::list_users;

  // REQUIRES: validate(map).ok(); shards.size() == map.shards.size(), none null, each migrated.
  ShardedStore(ShardMap map, std::vector<std::unique_ptr<Database>> shards);

  const ShardMap& map() const { return map_; }
  std::size_t shard_count() const { return shards_.size(); }
  Database& shard(std::size_t index) { return *shards_.at(index); }

  boost::asio::awaitable<Result<StoredUser>> get_user(UserId id, Consistency c) override;
  boost::asio::awaitable<Result<UserPage>> list_users(UserId after, int limit,
                                                      Consistency c) override;
  boost::asio::awaitable<Result<StoredUser>> create_user(User user,
                                                         std::optional<std::string> key) override;
  boost::asio::awaitable<Result<StoredUser>> update_user(
      User user, std::optional<std::int64_t> expected_version) override;
  boost::asio::awaitable<Result<Committed>> delete_user(
      UserId id, std::optional<std::int64_t> expected_version) override;
  boost::asio::awaitable<Result<std::int64_t>> count_users() override;
  boost::asio::awaitable<Result<StoredUser>> create_account(User user, Account account) override;
  boost::asio::awaitable<Result<Account>> find_account(std::string email) override;
  boost::asio::awaitable<Result<void>> ping() override;

  boost::asio::awaitable<Result<Photo>> create_photo(Photo photo) override;
  boost::asio::awaitable<Result<Photo>> get_photo(PhotoId id) override;
  boost::asio::awaitable<Result<DeletedPhoto>> delete_photo(PhotoId id) override;
  boost::asio::awaitable<Result<bool>> blob_in_use(std::string blob_key) override;
  boost::asio::awaitable<Result<PhotoPage>> list_photos(UserId owner, PhotoId after,
                                                        int limit) override;
  boost::asio::awaitable<Result<PhotoUsage>> photo_usage(UserId owner) override;
  boost::asio::awaitable<Result<Job>> create_job(Job job, std::string outbox_payload) override;
  boost::asio::awaitable<Result<Job>> get_job(JobId id) override;
  boost::asio::awaitable<Result<Job>> start_job(JobId id) override;
  boost::asio::awaitable<Result<Job>> complete_job(JobId id, Photo result) override;
  boost::asio::awaitable<Result<Job>> fail_job(JobId id, std::string error) override;
  boost::asio::awaitable<Result<std::vector<OutboxMessage>>> outbox_batch(int limit) override;
  boost::asio::awaitable<Result<void>> outbox_delete(std::vector<std::int64_t> ids) override;

  boost::asio::awaitable<Result<Purchase>> create_purchase(
      Purchase purchase, std::optional<std::string> idempotency_key) override;
  boost::asio::awaitable<Result<std::vector<Purchase>>> list_purchases(UserId user,
                                                                       int limit) override;
  boost::asio::awaitable<Result<void>> record_activity(UtcDay day,
                                                       std::vector<UserId> users) override;
  boost::asio::awaitable<Result<DailyKpis>> daily_kpis(UtcDay day) override;
  boost::asio::awaitable<Result<std::vector<Cohort>>> cohorts(UtcDay first, UtcDay last) override;

  // The lookup rows themselves, each on the shard its key hashes to.
  boost::asio::awaitable<Result<UserId>> put_lookup(LookupKind kind, std::string key,
                                                    UserId owner) override;
  boost::asio::awaitable<Result<void>> replace_lookup(LookupKind kind, std::string key,
                                                      UserId previous, UserId owner) override;
  boost::asio::awaitable<Result<UserId>> find_lookup(LookupKind kind, std::string key) override;
  boost::asio::awaitable<Result<void>> erase_lookup(LookupKind kind, std::string key,
                                                    UserId owner) override;

  // follow, unfollow: the follower's shard; apply_follow: the followee's; pages and counts:
  // the user's own shard (both halves of a user's counts live there).
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
  std::size_t owner_shard(UserId owner) const;
  std::size_t key_shard(LookupKind kind, const std::string& key) const;
  Database& owner_db(UserId owner) { return *shards_[owner_shard(owner)]; }
  Database& key_db(LookupKind kind, const std::string& key) {
    return *shards_[key_shard(kind, key)];
  }
  // The shard holding the photo (job): its lookup row's owner's. not_found when there is none.
  boost::asio::awaitable<Result<std::size_t>> shard_by_lookup(LookupKind kind, std::int64_t id);
  // Makes `user` the email's holder, taking over from a holder whose account is gone. false: a
  // live account holds it.
  boost::asio::awaitable<Result<bool>> claim_email(const std::string& email, UserId user);

  ShardMap map_;
  std::vector<std::unique_ptr<Database>> shards_;
  std::atomic<std::size_t> next_outbox_shard_{0};  // outbox_batch starts at each shard in turn
};

}  // namespace ztm::storage
