#pragma once
// The Store on a PostgreSQL cluster of one primary and any number of replicas (the chapter's
// "replication" step): writes go to the primary, reads are spread round-robin over the healthy
// replicas, and the service follows a failover by itself.
//
// Discovery: one coroutine per host, on the router's own thread, asks the host about its role
// every discovery_interval (the query and the routing rules are in topology.h). A failed call
// wakes discovery at once.
//
// Failure contract (on top of store.h's):
//  - a read that fails with unavailable on one host (it died, or shut down) is tried on the next
//    eligible host, then on the primary; reads are side-effect free, so nothing is done twice.
//  - a write goes to the host discovery last saw as primary. **The hold**: while there is no
//    primary (a failover), or when the call failed unavailable *before it could take effect*
//    (not connected, not sent, refused by a standby: SQLSTATE 25006, rolled back: class 40),
//    the call waits until discovery finds a primary after the failure and goes again, at most
//    hold_ms (then unavailable: HTTP 503 + Retry-After), with at most max_held calls waiting at
//    once (beyond: unavailable at once). A write whose outcome is unknown (sent, then the
//    connection died: Error::outcome_unknown) is sent again only when running it twice is safe
//    (create_user with an idempotency key, stored in the same transaction; calls that only
//    read); otherwise the caller gets unavailable, never a duplicate nor a false success.
//  - a read that no host can serve (no primary, no replica proven fresh) is held the same way.
//  - ping succeeds when a host that would serve a read answers, and, with the hold on, while a
//    primary was seen less than hold_ms ago (the hold rides out the failover: the server stays
//    ready; all web servers leaving a load balancer at once would make it an outage). Not held.
//
// Staleness (topology.h): a replica takes reads only while it streams from the current primary
// and has replayed what the primary had written at most max_replica_lag_ms ago, as the samples
// discovery takes of the primary prove; otherwise reads go to the primary, and with no primary
// either, they fail unavailable (503) rather than be answered staler than that.
//
// Read-your-writes (store.h): a successful write reports the primary's WAL insert position read
// right after the commit (so at or past its commit record); a read given a position goes only to
// a replica whose replay position (as discovery last saw it) is at least that, else to the
// primary. If that position cannot be read, the write still succeeded (it committed) and reports
// a position no replica reaches, so the client's reads go to the primary.
//
// Per-host metrics (register_metrics): ztm_pg_host_role{host} (1 primary, 0 replica, -1 down),
// ztm_pg_replica_lag_seconds{host} (the proven staleness),
// ztm_pg_queries_total{host,kind=read|write}; the hold: ztm_pg_held_total, ztm_pg_holding,
// ztm_pg_hold_seconds_total (time spent held, summed),
// ztm_pg_hold_overflows_total{reason=full|timeout}.

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/metrics.h"
#include "postgres/host.h"
#include "storage/database.h"
#include "storage/postgres/pg_migrations.h"
#include "storage/replication/topology.h"

namespace ztm::storage {

struct ReplicaRouterOptions {
  std::string conninfo;                 // libpq multi-host form: see cluster_conninfo.h
  int connections_per_loop = 2;         // per host, for reads (postgres/host.h)
  int write_connections_per_loop = 16;  // per host; only the primary's are used
  int timeout_ms = 5000;                // connect; each statement's round trip (discovery's too)
  int max_pending = 10000;
  int max_replica_lag_ms = 1000;    // replicas not proven this fresh take no reads (topology.h)
  int discovery_interval_ms = 250;  // well under max_replica_lag_ms: a replica's freshness is
                                    // proven by samples this far apart
  int hold_ms = 15000;              // the hold (above); 0: calls are never held
  int max_held = 1000;              // calls held at once
  // The hold's deadline and time held, readiness during a failover, a replica's staleness (the
  // probes' times) and the connections' reconnect back-off: monotonic time. The waits between
  // looks (discovery's interval, the hold's look) are real timers. Must outlive the router.
  const Clock* clock = &Clock::system();
};

class ReplicaRouter final : public Database {
 public:
  using Store::create_user;
  using Store::get_user;
  using Store::list_users;
  // Starts discovery and waits (up to timeout_ms) for its first answer from every host, so the
  // first calls are routed. Throws std::invalid_argument on nonsense options.
  explicit ReplicaRouter(ReplicaRouterOptions options);
  // Stops discovery. REQUIRES: no call in flight (see postgres/host.h).
  ~ReplicaRouter() override;
  ReplicaRouter(const ReplicaRouter&) = delete;
  ReplicaRouter& operator=(const ReplicaRouter&) = delete;

  // Blocking, on the primary that libpq finds (target_session_attrs=read-write); see PgStore.
  Result<MigrationReport> migrate();
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

  // KpiStore: on the primary (purchases are read back right after they are made; the rollups
  // want every activity row flushed so far).
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

  // Follows: on the primary (a follow is read back at once; counts are small).
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

  // Observability, and what the tests assert routing with.
  std::size_t hosts() const { return hosts_.size(); }
  const std::string& host_name(std::size_t host) const { return names_.at(host); }
  HostStatus host_status(std::size_t host) const { return topology_.status(host); }
  // How stale `host` may be now, proven (topology.h); nullopt when nothing proves it.
  std::optional<std::chrono::duration<double>> staleness(std::size_t host) const;
  std::uint64_t reads(std::size_t host) const { return counts_.at(host)->reads.load(); }
  std::uint64_t writes(std::size_t host) const { return counts_.at(host)->writes.load(); }
  int holding() const { return holding_.load(); }      // calls held now
  std::uint64_t held() const { return held_.load(); }  // calls ever held
  // REQUIRES: this router outlives the registry's renders (its gauges read the router).
  // `base`: labels on every series (a sharded store's {shard}), so that routers share names.
  void register_metrics(MetricsRegistry& registry, const Labels& base = {});

 private:
  template <class T, class Call>
  boost::asio::awaitable<Result<T>> read(std::uint64_t min_position, Call call, bool hold = true);
  // When a call whose outcome is unknown may be sent again (the hold, above).
  enum class Retry { if_not_done, always };
  template <class T, class Call>
  boost::asio::awaitable<Result<T>> write(Call call, Retry retry = Retry::if_not_done);
  // Runs call(primary) without a commit position (photos, jobs, the outbox, logins); held as
  // writes are.
  template <class T, class Call>
  // `sent_to` (writes only): each attempt is counted as a write, and the host it went to is
  // left there.
  boost::asio::awaitable<Result<T>> on_primary(Call call, Retry retry = Retry::if_not_done,
                                               std::size_t* sent_to = nullptr);
  boost::asio::awaitable<std::string> commit_position(postgres::Host& primary);
  boost::asio::awaitable<void> discover(std::size_t host);
  boost::asio::awaitable<HostStatus> probe(std::size_t host);
  void rediscover();  // from any thread
  // One call's stay in the hold: a place taken at its first wait (refused when max_held are
  // taken), given back with the time held when the call ends; the deadline runs from the call's
  // start.
  class Hold {
   public:
    explicit Hold(ReplicaRouter& router);
    ~Hold();
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;
    // Until discovery finds a primary after now: another host than `failed` (the primary the
    // call just failed on, if any), or the same one asked again since. Unavailable (`why`, a
    // whole message) when the hold is off (hold_ms 0), full, or past its deadline (checked first,
    // so slow attempts end too).
    boost::asio::awaitable<Result<void>> wait(std::optional<std::size_t> failed, std::string why);

   private:
    ReplicaRouter& router_;
    const std::chrono::steady_clock::time_point deadline_;
    std::optional<std::chrono::steady_clock::time_point> since_;
  };
  void note_probe(const HostStatus& status);  // discovery, after each probe
  bool failing_over() const;                  // no primary seen for less than hold_ms

  ReplicaRouterOptions options_;
  std::string primary_conninfo_;
  std::vector<std::string> names_;
  std::vector<std::unique_ptr<postgres::Host>> hosts_;
  Topology topology_;
  struct Counts {
    std::atomic<std::uint64_t> reads{0}, writes{0};  // calls sent to the host
  };
  std::vector<std::unique_ptr<Counts>> counts_;
  std::atomic<std::chrono::steady_clock::rep> last_primary_seen_{0};  // a probe's asked_at
  std::atomic<int> holding_{0};
  std::atomic<std::uint64_t> held_{0}, hold_micros_{0}, hold_overflows_{0}, hold_timeouts_{0};
  // Declared after hosts_: destroyed first, so discovery's pools close while the hosts live.
  boost::asio::io_context discovery_;
  std::vector<std::unique_ptr<boost::asio::steady_timer>> timers_;
  std::thread discovery_thread_;
};

}  // namespace ztm::storage
