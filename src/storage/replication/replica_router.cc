#include "storage/replication/replica_router.h"

#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <condition_variable>
#include <stdexcept>

#include "storage/postgres/pg_follows.h"
#include "storage/postgres/pg_kpis.h"
#include "storage/postgres/pg_lookups.h"
#include "storage/postgres/pg_photos.h"
#include "storage/postgres/pg_users.h"
#include "storage/replication/cluster_conninfo.h"

namespace ztm::storage {
namespace {

using boost::asio::awaitable;

// One small query per host and round (see topology.h for what each column means). The CASEs
// keep each function where it works: pg_current_wal_lsn() and pg_walfile_name() fail on a
// standby; pg_last_wal_replay_lsn() is NULL on a primary. The primary's position is its WAL
// write position: every commit it acknowledged (synchronous_commit on) is flushed, so at or
// before it. pg_stat_wal_receiver shows its status only to superusers and pg_read_all_stats:
// for other roles it is NULL, and replicas then take no reads (nothing proves them fresh).
// Timelines: the primary's in hex (from its WAL file name), a replica's in decimal.
constexpr postgres::Statement kProbe{
    "ztm_probe_role",
    "SELECT pg_is_in_recovery(), "
    "CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()::text "
    "ELSE pg_current_wal_lsn()::text END, "
    "CASE WHEN pg_is_in_recovery() "
    "THEN (SELECT status = 'streaming' FROM pg_stat_wal_receiver) ELSE false END, "
    "CASE WHEN pg_is_in_recovery() THEN (SELECT received_tli::text FROM pg_stat_wal_receiver) "
    "ELSE substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) END"};

// Where the primary's WAL ends: at or past the commit record of every write it has acknowledged.
// (An LSN returned by the write statement itself would precede its own commit record.)
constexpr postgres::Statement kPosition{"ztm_commit_position",
                                        "SELECT pg_current_wal_insert_lsn()::text"};

// A position no host has replayed: reads given it go to the primary. Used when a committed
// write's position could not be read.
constexpr std::uint64_t kPrimaryOnly = ~std::uint64_t{0};

// "" -> 0 (any host); a position that is not an LSN (from another backend) -> primary only.
std::uint64_t min_lsn(const Consistency& c) {
  if (c.latest) return kPrimaryOnly;
  if (c.min_position.empty()) return 0;
  return parse_lsn(c.min_position).value_or(kPrimaryOnly);
}

ClusterConninfo split_or_throw(const std::string& conninfo) {
  auto split = split_cluster_conninfo(conninfo);
  if (!split) throw std::invalid_argument(split.error().message);
  return std::move(split).value();
}

}  // namespace

ReplicaRouter::ReplicaRouter(ReplicaRouterOptions options)
    : options_(std::move(options)),
      topology_(split_or_throw(options_.conninfo).hosts.size(),
                std::chrono::milliseconds(options_.max_replica_lag_ms)) {
  if (options_.max_replica_lag_ms < 0 || options_.discovery_interval_ms < 1 ||
      (options_.max_replica_lag_ms > 0 &&
       options_.max_replica_lag_ms < 2 * options_.discovery_interval_ms))
    throw std::invalid_argument(
        "postgres: max_replica_lag_ms must be 0 or at least twice discovery_interval_ms (a "
        "replica's freshness is proven by samples that far apart), discovery_interval_ms >= 1");
  if (options_.hold_ms < 0 || options_.max_held < 0)
    throw std::invalid_argument("postgres: hold_ms and max_held must be >= 0");
  if (!options_.clock) throw std::invalid_argument("postgres: no clock");
  auto split = split_or_throw(options_.conninfo);
  if (split.hosts.size() > 64)
    throw std::invalid_argument("postgres: at most 64 hosts per cluster");
  primary_conninfo_ = split.primary;
  names_ = split.names;
  for (const auto& conninfo : split.hosts) {
    postgres::HostOptions h;
    h.connection.conninfo = conninfo;
    h.connection.timeout = std::chrono::milliseconds(options_.timeout_ms);
    h.connection.clock = options_.clock;
    h.connections_per_loop = options_.connections_per_loop;
    h.write_connections_per_loop = options_.write_connections_per_loop;
    h.max_pending = options_.max_pending;
    hosts_.push_back(std::make_unique<postgres::Host>(std::move(h)));
    counts_.push_back(std::make_unique<Counts>());
    timers_.push_back(std::make_unique<boost::asio::steady_timer>(discovery_));
  }
  // The first round, waited for here, so the first calls find the roles known.
  std::mutex mu;
  std::condition_variable cv;
  std::size_t answered = 0;
  for (std::size_t i = 0; i < hosts_.size(); ++i)
    boost::asio::co_spawn(
        discovery_,
        [this, i, &mu, &cv, &answered]() -> awaitable<void> {
          const HostStatus status = co_await probe(i);
          topology_.update(i, status);
          note_probe(status);
          {
            std::lock_guard lock(mu);
            ++answered;
          }
          cv.notify_all();
          co_await discover(i);
        },
        boost::asio::detached);
  discovery_thread_ = std::thread([this] { discovery_.run(); });
  std::unique_lock lock(mu);
  cv.wait_for(lock, std::chrono::milliseconds(options_.timeout_ms) + std::chrono::seconds(1),
              [&] { return answered == hosts_.size(); });
  // `mu`, `cv` and `answered` die with this frame: the first-round lambdas must be past them.
  // Waiting for all of them guarantees it; on a timeout, stop and rethrow rather than race.
  if (answered != hosts_.size()) {
    lock.unlock();
    discovery_.stop();
    discovery_thread_.join();
    throw std::runtime_error("postgres: cluster discovery did not finish in time");
  }
}

ReplicaRouter::~ReplicaRouter() {
  discovery_.stop();
  if (discovery_thread_.joinable()) discovery_thread_.join();
}

Result<MigrationReport> ReplicaRouter::migrate() {
  return pg_migrate(primary_conninfo_, std::chrono::milliseconds(options_.timeout_ms));
}

Result<int> ReplicaRouter::schema_version() {
  return pg_schema_version(primary_conninfo_, std::chrono::milliseconds(options_.timeout_ms));
}

int ReplicaRouter::latest_schema_version() {
  return pg_migrations().back().version;
}

// After the first round: ask again every interval, or at once when a call failed (rediscover()
// cancels the wait).
awaitable<void> ReplicaRouter::discover(std::size_t host) {
  auto& timer = *timers_[host];
  while (true) {
    timer.expires_after(std::chrono::milliseconds(options_.discovery_interval_ms));
    co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    const HostStatus status = co_await probe(host);
    topology_.update(host, status);
    note_probe(status);
  }
}

// A held call looks at the topology this often, on its own loop. (Waking it from discovery's
// thread would tie its frame to that thread: a call abandoned at shutdown must die with its loop,
// as every other in-flight call does.) ~40 looks a second per held call, during a failover only.
constexpr std::chrono::milliseconds kHoldLook{25};

ReplicaRouter::Hold::Hold(ReplicaRouter& router)
    : router_(router),
      deadline_(router.options_.clock->steady_now() +
                std::chrono::milliseconds(router.options_.hold_ms)) {}

ReplicaRouter::Hold::~Hold() {
  if (!since_) return;
  router_.holding_.fetch_sub(1, std::memory_order_relaxed);
  router_.hold_micros_.fetch_add(std::chrono::duration_cast<std::chrono::microseconds>(
                                     router_.options_.clock->steady_now() - *since_)
                                     .count(),
                                 std::memory_order_relaxed);
}

awaitable<Result<void>> ReplicaRouter::Hold::wait(std::optional<std::size_t> failed,
                                                  std::string why) {
  const Clock& clock = *router_.options_.clock;
  const auto failed_at = clock.steady_now();
  if (router_.options_.hold_ms == 0) co_return Error{Errc::unavailable, why};
  if (!since_) {
    if (router_.holding_.fetch_add(1, std::memory_order_relaxed) >= router_.options_.max_held) {
      router_.holding_.fetch_sub(1, std::memory_order_relaxed);
      router_.hold_overflows_.fetch_add(1, std::memory_order_relaxed);
      co_return Error{Errc::unavailable, why + "; the hold is full"};
    }
    since_ = clock.steady_now();
    router_.held_.fetch_add(1, std::memory_order_relaxed);
  }
  boost::asio::steady_timer look(co_await boost::asio::this_coro::executor);
  while (true) {
    const auto now = clock.steady_now();
    if (now >= deadline_) {  // first: a call whose attempts are slow ends here too
      router_.hold_timeouts_.fetch_add(1, std::memory_order_relaxed);
      co_return Error{Errc::unavailable, fmt::format("{}; still so after holding the call {} ms",
                                                     why, router_.options_.hold_ms)};
    }
    // A primary found after the failure: another host, or the same one asked again since.
    if (const auto primary = router_.topology_.primary();
        primary && (primary != failed || router_.topology_.status(*primary).asked_at > failed_at))
      co_return Result<void>{};
    look.expires_after(std::min<std::chrono::steady_clock::duration>(kHoldLook, deadline_ - now));
    co_await look.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  }
}

// Ready while the hold rides out a failover (see the header).
bool ReplicaRouter::failing_over() const {
  const auto since_primary =
      options_.clock->steady_now().time_since_epoch() -
      std::chrono::steady_clock::duration(last_primary_seen_.load(std::memory_order_relaxed));
  return options_.hold_ms > 0 && since_primary < std::chrono::milliseconds(options_.hold_ms);
}

// After each probe: when a primary was last seen (readiness during a failover).
void ReplicaRouter::note_probe(const HostStatus& status) {
  if (status.role == HostRole::primary)
    last_primary_seen_.store(status.asked_at.time_since_epoch().count(), std::memory_order_relaxed);
}

std::optional<std::chrono::duration<double>> ReplicaRouter::staleness(std::size_t host) const {
  return topology_.staleness(host, options_.clock->steady_now());
}

awaitable<HostStatus> ReplicaRouter::probe(std::size_t host) {
  HostStatus status;
  status.asked_at = options_.clock->steady_now();
  auto r = co_await hosts_[host]->execute(kProbe, {});
  if (!r || r->rows() != 1) co_return status;  // down
  const bool recovering = r->text(0, 0) == "t";
  const auto position = parse_lsn(r->text(0, 1));
  status.role = recovering ? HostRole::replica : HostRole::primary;
  status.position = position.value_or(0);
  status.streaming = recovering && !r->is_null(0, 2) && r->text(0, 2) == "t";
  if (!r->is_null(0, 3))
    status.timeline = static_cast<std::uint32_t>(
        std::strtoul(std::string(r->text(0, 3)).c_str(), nullptr, recovering ? 10 : 16));
  co_return status;
}

void ReplicaRouter::rediscover() {
  boost::asio::post(discovery_, [this] {
    for (auto& t : timers_) t->cancel();
  });
}

// A read no host can serve now (no primary, no replica proven fresh: a failover) is held like a
// write, unless `hold` is false (ping: readiness must answer at once).
template <class T, class Call>
awaitable<Result<T>> ReplicaRouter::read(std::uint64_t min_position, Call call, bool hold) {
  Hold held(*this);
  while (true) {
    std::uint64_t tried = 0;
    std::string why = "postgres: no host of the cluster can serve reads";
    while (auto host = topology_.pick_read(min_position, tried, options_.clock->steady_now())) {
      tried |= std::uint64_t{1} << *host;
      counts_[*host]->reads.fetch_add(1, std::memory_order_relaxed);
      auto r = co_await call(*hosts_[*host]);
      if (r.ok() || r.error().code != Errc::unavailable) co_return r;
      topology_.mark_down(*host);
      rediscover();
      why = std::move(r).error().message;
    }
    rediscover();
    if (!hold) co_return Error{Errc::unavailable, why};
    // Every host tried was marked down: wait for any primary discovery finds.
    auto waited = co_await held.wait(std::nullopt, why);
    if (!waited.ok()) co_return std::move(waited).error();
  }
}

awaitable<std::string> ReplicaRouter::commit_position(postgres::Host& primary) {
  auto r = co_await primary.execute(kPosition, {});
  if (r.ok() && r->rows() == 1)
    if (auto lsn = parse_lsn(r->text(0, 0))) co_return format_lsn(*lsn);
  co_return format_lsn(kPrimaryOnly);
}

template <class T, class Call>
awaitable<Result<T>> ReplicaRouter::write(Call call, Retry retry) {
  std::size_t sent_to = 0;
  auto r = co_await on_primary<T>(std::move(call), retry, &sent_to);
  if (!r.ok()) co_return r;
  r->position = co_await commit_position(*hosts_[sent_to]);
  co_return r;
}

awaitable<Result<StoredUser>> ReplicaRouter::get_user(UserId id, Consistency consistency) {
  co_return co_await read<StoredUser>(min_lsn(consistency),
                                      [id](postgres::Host& h) { return pg_get_user(h, id); });
}

awaitable<Result<UserPage>> ReplicaRouter::list_users(UserId after, int limit,
                                                      Consistency consistency) {
  co_return co_await read<UserPage>(min_lsn(consistency), [after, limit](postgres::Host& h) {
    return pg_list_users(h, after, limit);
  });
}

// On the primary: `ztm seed` counts right after migrating, before replicas have replayed it.
awaitable<Result<std::int64_t>> ReplicaRouter::count_users() {
  co_return co_await on_primary<std::int64_t>([](postgres::Host& h) { return pg_count_users(h); },
                                              Retry::always);
}

// Not held. While the hold rides out a failover the server stays ready: every web server sees
// the same failover, and a load balancer taking them all out at once would make it an outage.
awaitable<Result<void>> ReplicaRouter::ping() {
  auto r = co_await read<void>(
      0, [](postgres::Host& h) { return pg_ping(h); }, /*hold=*/false);
  if (!r.ok() && r.error().code == Errc::unavailable && failing_over()) co_return Result<void>{};
  co_return r;
}

awaitable<Result<StoredUser>> ReplicaRouter::create_user(
    User user, std::optional<std::string> idempotency_key) {
  // With a key, running it twice is safe: the second run finds the key and returns its user.
  const Retry retry = idempotency_key ? Retry::always : Retry::if_not_done;
  co_return co_await write<StoredUser>(
      [&user, &idempotency_key](postgres::Host& h) {
        return pg_create_user(h, user, idempotency_key);
      },
      retry);
}

awaitable<Result<StoredUser>> ReplicaRouter::update_user(User user,
                                                         std::optional<std::int64_t> expected) {
  co_return co_await write<StoredUser>(
      [&user, expected](postgres::Host& h) { return pg_update_user(h, user, expected); });
}

awaitable<Result<StoredUser>> ReplicaRouter::create_account(User user, Account account) {
  co_return co_await write<StoredUser>(
      [&user, &account](postgres::Host& h) { return pg_create_account(h, user, account); });
}

// Logins read the primary: an account is usable the moment its sign-up is acknowledged.
awaitable<Result<Account>> ReplicaRouter::find_account(std::string email) {
  co_return co_await on_primary<Account>(
      [&email](postgres::Host& h) { return pg_find_account(h, email); }, Retry::always);
}

// On the primary, as logins read it. Setting a role twice sets it once: safe to send again when
// the outcome is unknown.
awaitable<Result<void>> ReplicaRouter::set_role(UserId user, std::string role) {
  co_return co_await on_primary<void>(
      [user, &role](postgres::Host& h) { return pg_set_role(h, user, role); }, Retry::always);
}

// pg_delete_user reports nothing; Committed carries the position write() fills in.
awaitable<Result<Committed>> ReplicaRouter::delete_user(UserId id,
                                                        std::optional<std::int64_t> expected) {
  co_return co_await write<Committed>(
      [id, expected](postgres::Host& h) -> awaitable<Result<Committed>> {
        auto r = co_await pg_delete_user(h, id, expected);
        if (!r.ok()) co_return std::move(r).error();
        co_return Committed{};
      });
}

// Photos, jobs and the outbox: every call on the primary. Jobs are polled right after they are
// written and workers need the latest state; the volume is small next to user reads.
//
// The hold (see the header): a call finding no primary, or failing unavailable without having
// possibly taken effect (or one that is safe to run twice), waits until discovery finds a
// primary after the failure (Hold::wait), then goes again; for at most hold_ms in all, with at
// most max_held calls waiting at once.
template <class T, class Call>
awaitable<Result<T>> ReplicaRouter::on_primary(Call call, Retry retry, std::size_t* sent_to) {
  Hold held(*this);
  std::string why = "postgres: no primary known (failover in progress?)";
  while (true) {
    std::optional<std::size_t> failed;  // the primary this attempt failed on
    if (const auto primary = topology_.primary()) {
      if (sent_to) {  // a write: counted per attempt, and where it went
        *sent_to = *primary;
        counts_[*primary]->writes.fetch_add(1, std::memory_order_relaxed);
      }
      auto r = co_await call(*hosts_[*primary]);
      // Not marked down: unavailable also covers deadlocks and contention on a healthy primary.
      if (r.ok() || r.error().code != Errc::unavailable) co_return r;
      rediscover();
      if (r.error().outcome_unknown && retry == Retry::if_not_done) co_return r;
      why = std::move(r).error().message;
      failed = primary;
    } else {
      rediscover();
    }
    auto waited = co_await held.wait(failed, why);
    if (!waited.ok()) co_return std::move(waited).error();
  }
}

awaitable<Result<Photo>> ReplicaRouter::create_photo(Photo photo) {
  co_return co_await on_primary<Photo>(
      [&photo](postgres::Host& h) { return pg_create_photo(h, photo); });
}
awaitable<Result<Photo>> ReplicaRouter::get_photo(PhotoId id) {
  co_return co_await on_primary<Photo>([id](postgres::Host& h) { return pg_get_photo(h, id); },
                                       Retry::always);
}
awaitable<Result<DeletedPhoto>> ReplicaRouter::delete_photo(PhotoId id) {
  co_return co_await on_primary<DeletedPhoto>(
      [id](postgres::Host& h) { return pg_delete_photo(h, id); });
}
// On the primary: whether a blob may be removed must not be answered by a stale replica.
awaitable<Result<bool>> ReplicaRouter::blob_in_use(std::string blob_key) {
  co_return co_await on_primary<bool>(
      [&blob_key](postgres::Host& h) { return pg_blob_in_use(h, blob_key); }, Retry::always);
}
awaitable<Result<PhotoPage>> ReplicaRouter::list_photos(UserId owner, PhotoId after, int limit) {
  co_return co_await on_primary<PhotoPage>(
      [owner, after, limit](postgres::Host& h) { return pg_list_photos(h, owner, after, limit); },
      Retry::always);
}
awaitable<Result<PhotoUsage>> ReplicaRouter::photo_usage(UserId owner) {
  co_return co_await on_primary<PhotoUsage>(
      [owner](postgres::Host& h) { return pg_photo_usage(h, owner); }, Retry::always);
}
awaitable<Result<Job>> ReplicaRouter::create_job(Job job, std::string outbox_payload) {
  co_return co_await on_primary<Job>(
      [&job, &outbox_payload](postgres::Host& h) { return pg_create_job(h, job, outbox_payload); });
}
awaitable<Result<Job>> ReplicaRouter::get_job(JobId id) {
  co_return co_await on_primary<Job>([id](postgres::Host& h) { return pg_get_job(h, id); },
                                     Retry::always);
}
awaitable<Result<Job>> ReplicaRouter::start_job(JobId id) {
  co_return co_await on_primary<Job>([id](postgres::Host& h) { return pg_start_job(h, id); });
}
awaitable<Result<Job>> ReplicaRouter::complete_job(JobId id, Photo result) {
  co_return co_await on_primary<Job>(
      [id, &result](postgres::Host& h) { return pg_complete_job(h, id, result); });
}
awaitable<Result<Job>> ReplicaRouter::fail_job(JobId id, std::string error) {
  co_return co_await on_primary<Job>(
      [id, &error](postgres::Host& h) { return pg_fail_job(h, id, error); });
}
awaitable<Result<std::vector<OutboxMessage>>> ReplicaRouter::outbox_batch(int limit) {
  co_return co_await on_primary<std::vector<OutboxMessage>>(
      [limit](postgres::Host& h) { return pg_outbox_batch(h, limit); }, Retry::always);
}
awaitable<Result<void>> ReplicaRouter::outbox_delete(std::vector<std::int64_t> ids) {
  co_return co_await on_primary<void>(
      [&ids](postgres::Host& h) { return pg_outbox_delete(h, ids); }, Retry::always);
}

// A keyed purchase is safe to send again (the key makes it once); an unkeyed one is not.
awaitable<Result<Purchase>> ReplicaRouter::create_purchase(Purchase purchase,
                                                           std::optional<std::string> key) {
  const Retry retry = key ? Retry::always : Retry::if_not_done;
  co_return co_await on_primary<Purchase>(
      [&purchase, &key](postgres::Host& h) { return pg_create_purchase(h, purchase, key); }, retry);
}
awaitable<Result<std::vector<Purchase>>> ReplicaRouter::list_purchases(UserId user, int limit) {
  co_return co_await on_primary<std::vector<Purchase>>(
      [user, limit](postgres::Host& h) { return pg_list_purchases(h, user, limit); },
      Retry::always);
}
awaitable<Result<void>> ReplicaRouter::record_activity(UtcDay day, std::vector<UserId> users) {
  co_return co_await on_primary<void>(
      [day, &users](postgres::Host& h) { return pg_record_activity(h, day, users); },
      Retry::always);
}
awaitable<Result<DailyKpis>> ReplicaRouter::daily_kpis(UtcDay day) {
  co_return co_await on_primary<DailyKpis>(
      [day](postgres::Host& h) { return pg_daily_kpis(h, day); }, Retry::always);
}
awaitable<Result<std::vector<Cohort>>> ReplicaRouter::cohorts(UtcDay first, UtcDay last) {
  co_return co_await on_primary<std::vector<Cohort>>(
      [first, last](postgres::Host& h) { return pg_cohorts(h, first, last); }, Retry::always);
}

// Lookups are read on the primary (a row written a moment ago must be found) and, but for
// replace (done once, a second time it fails), safe to send again.
awaitable<Result<UserId>> ReplicaRouter::put_lookup(LookupKind kind, std::string key,
                                                    UserId owner) {
  co_return co_await on_primary<UserId>(
      [kind, &key, owner](postgres::Host& h) { return pg_put_lookup(h, kind, key, owner); },
      Retry::always);
}
awaitable<Result<void>> ReplicaRouter::replace_lookup(LookupKind kind, std::string key,
                                                      UserId previous, UserId owner) {
  co_return co_await on_primary<void>([kind, &key, previous, owner](postgres::Host& h) {
    return pg_replace_lookup(h, kind, key, previous, owner);
  });
}
awaitable<Result<UserId>> ReplicaRouter::find_lookup(LookupKind kind, std::string key) {
  co_return co_await on_primary<UserId>(
      [kind, &key](postgres::Host& h) { return pg_find_lookup(h, kind, key); }, Retry::always);
}
awaitable<Result<void>> ReplicaRouter::erase_lookup(LookupKind kind, std::string key,
                                                    UserId owner) {
  co_return co_await on_primary<void>(
      [kind, &key, owner](postgres::Host& h) { return pg_erase_lookup(h, kind, key, owner); },
      Retry::always);
}

// Follows on the primary. Each is safe to send again: a follow or unfollow that committed before
// the failure answers "nothing changed" the second time; an apply of the same version changes
// nothing.
awaitable<Result<bool>> ReplicaRouter::follow(UserId follower, UserId followee,
                                              std::string follower_name,
                                              std::string followee_name) {
  co_return co_await on_primary<bool>(
      [follower, followee, &follower_name, &followee_name](postgres::Host& h) {
        return pg_follow(h, follower, followee, follower_name, followee_name);
      },
      Retry::always);
}
awaitable<Result<bool>> ReplicaRouter::unfollow(UserId follower, UserId followee) {
  co_return co_await on_primary<bool>(
      [follower, followee](postgres::Host& h) { return pg_unfollow(h, follower, followee); },
      Retry::always);
}
awaitable<Result<bool>> ReplicaRouter::apply_follow(FollowChange change) {
  co_return co_await on_primary<bool>(
      [&change](postgres::Host& h) { return pg_apply_follow(h, change); }, Retry::always);
}
awaitable<Result<FollowPage>> ReplicaRouter::list_following(UserId user, UserId after, int limit) {
  co_return co_await on_primary<FollowPage>(
      [user, after, limit](postgres::Host& h) { return pg_list_following(h, user, after, limit); },
      Retry::always);
}
awaitable<Result<FollowPage>> ReplicaRouter::list_followers(UserId user, UserId after, int limit) {
  co_return co_await on_primary<FollowPage>(
      [user, after, limit](postgres::Host& h) { return pg_list_followers(h, user, after, limit); },
      Retry::always);
}
awaitable<Result<FollowCounts>> ReplicaRouter::follow_counts(UserId user) {
  co_return co_await on_primary<FollowCounts>(
      [user](postgres::Host& h) { return pg_follow_counts(h, user); }, Retry::always);
}

void ReplicaRouter::register_metrics(MetricsRegistry& registry, const Labels& base) {
  const auto with = [&base](Labels more) {
    Labels out = base;
    out.insert(out.end(), more.begin(), more.end());
    return out;
  };
  for (std::size_t i = 0; i < hosts_.size(); ++i) {
    const Labels host = with({{"host", names_[i]}});
    registry.callback("ztm_pg_host_role", "PostgreSQL host role: 1 primary, 0 replica, -1 down",
                      host, [this, i] {
                        switch (topology_.status(i).role) {
                          case HostRole::primary:
                            return 1.0;
                          case HostRole::replica:
                            return 0.0;
                          case HostRole::down:
                            break;
                        }
                        return -1.0;
                      });
    registry.callback("ztm_pg_replica_lag_seconds",
                      "How stale a host may be, proven against the primary's positions (0 on "
                      "the primary, -1 when nothing proves it)",
                      host, [this, i] {
                        const auto s = staleness(i);
                        return s ? s->count() : -1.0;
                      });
    for (const char* kind : {"read", "write"}) {
      Labels labels = host;
      labels.emplace_back("kind", kind);
      const bool is_read = std::string_view(kind) == "read";
      registry.callback(
          "ztm_pg_queries_total", "Store calls sent to each PostgreSQL host", labels,
          [this, i, is_read] { return static_cast<double>(is_read ? reads(i) : writes(i)); },
          "counter");
    }
  }
  const auto counter = [](const std::atomic<std::uint64_t>& n) {
    return [&n] { return static_cast<double>(n.load(std::memory_order_relaxed)); };
  };
  registry.callback("ztm_pg_held_total",
                    "Calls held while the cluster had no primary or no host to serve them", base,
                    counter(held_), "counter");
  registry.callback("ztm_pg_holding", "Calls being held now", base, [this] {
    return static_cast<double>(holding_.load(std::memory_order_relaxed));
  });
  registry.callback(
      "ztm_pg_hold_seconds_total", "Time calls spent held, summed", base,
      [this] { return static_cast<double>(hold_micros_.load(std::memory_order_relaxed)) / 1e6; },
      "counter");
  for (const auto& [reason, n] :
       {std::pair<const char*, const std::atomic<std::uint64_t>*>{"full", &hold_overflows_},
        {"timeout", &hold_timeouts_}})
    registry.callback("ztm_pg_hold_overflows_total",
                      "Held calls refused: the hold was full, or no primary within hold_ms",
                      with({{"reason", reason}}), counter(*n), "counter");
}

}  // namespace ztm::storage
