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
// The map may change while the store runs (map_source.h: a file's map, or etcd's through the
// watcher). Every call routes by one snapshot of it. A map is followed only when
// check_successor() accepts it (newer, shards only appended); any other is logged, counted
// (ztm_shard_map_refused_total) and ignored: the store keeps the map it has. A shard is opened,
// by the `open` function the composition root gives, the first time a call needs it (all of the
// first map's at construction), so a map gaining a shard needs no restart; a shard opened later
// is opened on a thread of the store's own (a connection and a schema check block), never on the
// caller's event loop.
//
// Writes during a bucket move's cutover (docs/sharding.md, "Moving a bucket"): every call that
// writes rows of a user's bucket (users, accounts, photos, jobs, purchases, activity, lookup
// rows, follows) is *held* while its bucket is fenced in the map: it waits until a map where
// the bucket is no longer fenced arrives, then goes where that map says. A write a shard refuses
// with Errc::moved (the shard-side fence: this server routed by a map older than the shards')
// waits the same way for a map newer than the one it routed by, then is retried once there. A
// hold is bounded: at most options.hold in all per write, at most options.max_held writes waiting
// at once; beyond either, and for a moved refused again, the write fails unavailable, with
// nothing written by it. Reads are not held by a fence: they go to the bucket's current owner,
// which still has every row; a read a shard answers moved (its bucket left after this server's
// map was read) waits for a newer map as a moved write does. A held write looks at the map every 5
// ms on its own executor: cheap, bounded by the hold, and only while a write is held (a wake-up
// from the watcher's thread would tie the write's frame to that thread).
//
// Load (docs/sharding.md, "Load: hot buckets and hot users"): every call is counted by its
// bucket (reads and writes), by the shards it is sent to, and, sampled, by its user (a
// LoadMeter, load_reporter.h: three relaxed atomic adds per call, ~42 ns with the sampled
// sketch on one thread, bench/load_meter_benchmark.cc).
// With a map from etcd and options.load_report set, a LoadReporter of the store's own publishes the
// counts; it is stopped first when the store is destroyed.
//
// Metrics (register_metrics): ztm_shard_holding, ztm_shard_held_total,
// ztm_shard_hold_seconds_total, ztm_shard_hold_overflows_total{reason=full|timeout},
// ztm_shard_moved_retries_total, ztm_shard_map_refused_total, ztm_shard_map_routed_version,
// ztm_shard_requests_total{shard} (a shard opened later gets its series then), and with reports
// ztm_shard_load_reports_total and ztm_shard_load_reports_failed_total.
//
// Not yet (docs/sharding.md): calls that visit every shard visit them one after the other.

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/blocking_pool.h"
#include "core/clock.h"
#include "core/hot_keys.h"
#include "core/metrics.h"
#include "storage/database.h"
#include "storage/sharding/load_reporter.h"
#include "storage/sharding/map_source.h"
#include "storage/sharding/shard_map.h"

namespace ztm::storage {

struct ShardedStoreOptions {
  // How long a write to a fenced bucket (or one refused as moved) waits for the map that lets it
  // go, at most; 0: it fails unavailable at once.
  std::chrono::milliseconds hold{2000};
  int max_held = 1000;  // writes held at once; beyond, unavailable
  // With a map from etcd (MapSource::etcd_client()): this server's load report (load_report.h),
  // written this often to load_report_key(host, node); 0: none.
  std::chrono::milliseconds load_report{0};
  int node = 0;             // Config::node_id
  std::string host;         // this machine's name
  HotKeyOptions hot_users;  // the sketch of the hot users in the report
  // The hold's deadline and time held, the load reports' times; the hold's looks at the map are
  // real timers. Must outlive the store.
  const Clock* clock = &Clock::system();
};

// Opens shard `shard` (at `index` in the map's shards, for ever): a migrated database, or the
// error (logged; the call that needed it fails with it, the next one tries again).
using ShardOpener =
    std::function<Result<std::unique_ptr<Database>>(const Shard& shard, std::size_t index)>;

class ShardedStore final : public Database {
 public:
  using Store::create_user;
  using Store::get_user;
  using Store::list_users;

  // Opens every shard of source->current(): throws std::runtime_error naming the shard when one
  // cannot be opened (a start-up error), std::invalid_argument on nonsense options.
  // REQUIRES: source not null.
  ShardedStore(std::shared_ptr<MapSource> source, ShardOpener open,
               ShardedStoreOptions options = {});
  // A fixed map over databases already open, shards[i] for map.shards[i] (tests).
  // REQUIRES: validate(map).ok(); shards.size() == map.shards.size(), none null, each migrated.
  ShardedStore(ShardMap map, std::vector<std::unique_ptr<Database>> shards,
               ShardedStoreOptions options = {});
  ~ShardedStore() override;

  // The map calls are routed by now (a copy).
  ShardMap map() { return *snapshot(); }
  // How many shards are open (the map's may be more, until a call needs them).
  std::size_t opened_shards() const;
  // Shard `index`, opened. Throws std::out_of_range when it is not open yet.
  Database& shard(std::size_t index);

  // REQUIRES: called once per registry; the registry is not read after this is destroyed.
  void register_metrics(MetricsRegistry& registry) const;

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
  boost::asio::awaitable<Result<void>> set_role(UserId user, std::string role) override;
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
  struct Stats;
  class Hold;
  // A call on one shard: `db` is shard `shard`. Not a coroutine (a lambda returning the shard's
  // awaitable), so it may be called twice (a retry) and captures nothing that dies early.
  template <class T>
  using Call = std::function<boost::asio::awaitable<Result<T>>(Database& db, std::size_t shard)>;

  // The map to route by: the source's newest if it may follow the one routed by so far (see the
  // header comment), else that one.
  std::shared_ptr<const ShardMap> snapshot();
  // Shard `index` of `map`, opened now (on opener_) if it is not yet.
  boost::asio::awaitable<Result<Database*>> open_shard(std::size_t index, const ShardMap& map);
  Result<Database*> open_shard_blocking(std::size_t index, const ShardMap& map);
  // `call` on the shard holding `placement`'s bucket (a user id, or lookup_placement's: then
  // `user` is false, and the call counts for its bucket but for no user), by the current map; a
  // write is held while its bucket is fenced (the header comment), a read only after a shard
  // answered moved. Positions are tagged.
  template <class T>
  boost::asio::awaitable<Result<T>> read(UserId placement, Call<T> call, bool user = true);
  template <class T>
  boost::asio::awaitable<Result<T>> write(UserId placement, Call<T> call, bool user = true);
  // After shard `refused` of `map` answered moved (this server's map is behind the shards):
  // waits, held as a write, for a newer map and runs `call` once more where that one says.
  template <class T>
  boost::asio::awaitable<Result<T>> after_moved(Hold& hold, UserId placement, const ShardMap& map,
                                                std::size_t refused, Call<T> call);
  // `call` on shard `index` of the current map (calls that visit every shard, or one by index).
  template <class T>
  boost::asio::awaitable<Result<T>> on_shard(std::size_t index, const ShardMap& map, Call<T> call);
  // The owner of the photo (job): its lookup row's. not_found when there is none.
  boost::asio::awaitable<Result<UserId>> owner_by_lookup(LookupKind kind, std::int64_t id);
  // `call` on the shard of the photo's (job's) owner, found by its lookup row; held as a write
  // when `writes`.
  template <class T>
  boost::asio::awaitable<Result<T>> on_owner_of(LookupKind kind, std::int64_t id, bool writes,
                                                Call<T> call);
  // A new photo (job) `id` of `owner`: its lookup row first, then write(owner, call); conflict
  // when the id's row names another owner.
  template <class T>
  boost::asio::awaitable<Result<T>> create_with_lookup(LookupKind kind, std::int64_t id,
                                                       UserId owner, Call<T> call);
  // ztm_shard_requests_total{shard} for shard `index`. REQUIRES: open_mu_ held, registry_ set.
  void register_shard_requests(std::size_t index, const std::string& name) const;
  // Makes `user` the email's holder, taking over from a holder whose account is gone. false: a
  // live account holds it.
  boost::asio::awaitable<Result<bool>> claim_email(const std::string& email, UserId user);

  const std::shared_ptr<MapSource> source_;
  const ShardOpener open_;
  const ShardedStoreOptions options_;
  std::shared_ptr<Stats> stats_;     // shared with the metric callbacks
  std::shared_ptr<LoadMeter> load_;  // likewise

  mutable std::mutex map_mu_;                // held to look at or swap these two pointers
  std::shared_ptr<const ShardMap> map_;      // the map routed by
  std::shared_ptr<const ShardMap> refused_;  // the last map refused (logged once)

  // Shards by index: a pointer, null until opened, read without a lock; opened (and owned)
  // under open_mu_. A shard's index never changes (check_successor), so neither does its entry.
  std::array<std::atomic<Database*>, kMaxShards> opened_{};
  mutable std::mutex open_mu_;
  std::vector<std::unique_ptr<Database>> owned_;
  mutable MetricsRegistry* registry_ = nullptr;  // under open_mu_: where a new shard's series go

  std::atomic<std::size_t> next_outbox_shard_{0};  // outbox_batch starts at each shard in turn
  BlockingPool opener_{1, 64};              // joined before the shards it opens are destroyed
  std::unique_ptr<LoadReporter> reporter_;  // last: stopped before anything it reads goes
};

}  // namespace ztm::storage
