#include "storage/sharding/sharded_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <stdexcept>

#include "core/log.h"
#include "storage/sharding/load_report.h"
#include "storage/sharding/sharded_routing.h"

namespace ztm::storage {

namespace {

// The part of `c` for `shard`: a position made by another shard says nothing about this one.
Consistency for_shard(const Consistency& c, std::size_t shard) {
  Consistency out{.min_position = "", .latest = c.latest};
  const auto colon = c.min_position.find(':');
  if (colon != std::string::npos && c.min_position.substr(0, colon) == std::to_string(shard))
    out.min_position = c.min_position.substr(colon + 1);
  return out;
}

// An opener handing out databases already open: shards[i] for map.shards[i], once each.
ShardOpener given(const ShardMap& map, std::vector<std::unique_ptr<Database>> shards) {
  if (shards.size() != map.shards.size() ||
      std::any_of(shards.begin(), shards.end(), [](const auto& s) { return !s; }))
    throw std::invalid_argument("sharded store: one database per shard of the map");
  auto handed = std::make_shared<std::vector<std::unique_ptr<Database>>>(std::move(shards));
  return [handed](const Shard& shard, std::size_t index) -> Result<std::unique_ptr<Database>> {
    if (index >= handed->size() || !(*handed)[index])
      return Error{Errc::unavailable, fmt::format("shard {}: no database given", shard.name)};
    return std::move((*handed)[index]);
  };
}

}  // namespace

ShardedStore::ShardedStore(std::shared_ptr<MapSource> source, ShardOpener open,
                           ShardedStoreOptions options)
    : source_(std::move(source)),
      open_(std::move(open)),
      options_(options),
      stats_(std::make_shared<Stats>()),
      load_(std::make_shared<LoadMeter>(options_.hot_users)) {
  if (!source_ || !open_ || !options_.clock)
    throw std::invalid_argument("sharded store: a map source, an opener and a clock");
  if (options_.hold.count() < 0 || options_.max_held < 0 || options_.load_report.count() < 0)
    throw std::invalid_argument("sharded store: hold, max_held and load_report must be >= 0");
  map_ = source_->current();
  if (auto v = validate(*map_); !v.ok()) throw std::invalid_argument(v.error().message);
  stats_->routed_version.store(map_->version);
  for (std::size_t i = 0; i < map_->shards.size(); ++i)
    if (auto db = open_shard_blocking(i, *map_); !db.ok())
      throw std::runtime_error(
          fmt::format("shard {}: cannot open it: {}", map_->shards[i].name, db.error().message));
  etcd::Client* etcd = source_->etcd_client();
  if (etcd && options_.load_report.count() > 0) {
    LoadReporter::Take take = [this] {
      std::shared_ptr<const ShardMap> routed;
      {
        std::lock_guard lock(map_mu_);
        routed = map_;
      }
      LoadReport report = load_->take(*routed);
      report.map_version = routed->version;
      return report;
    };
    reporter_ = std::make_unique<LoadReporter>(
        *etcd,
        LoadReporterOptions{.key = load_report_key(options_.host, options_.node),
                            .node = options_.node,
                            .host = options_.host,
                            .interval = options_.load_report},
        std::move(take), *options_.clock);
  }
}

ShardedStore::ShardedStore(ShardMap map, std::vector<std::unique_ptr<Database>> shards,
                           ShardedStoreOptions options)
    : ShardedStore(std::make_shared<LocalMapSource>(map), given(map, std::move(shards)), options) {}

ShardedStore::~ShardedStore() = default;

std::size_t ShardedStore::opened_shards() const {
  std::lock_guard lock(open_mu_);
  return owned_.size();
}

Database& ShardedStore::shard(std::size_t index) {
  Database* db = index < opened_.size() ? opened_[index].load() : nullptr;
  if (!db) throw std::out_of_range(fmt::format("shard {} is not open", index));
  return *db;
}

std::shared_ptr<const ShardMap> ShardedStore::snapshot() {
  auto offered = source_->current();
  std::lock_guard lock(map_mu_);
  if (offered == map_ || offered == refused_) return map_;
  auto ok = validate(*offered);
  if (ok.ok()) ok = check_successor(*map_, *offered);
  if (!ok.ok()) {
    refused_ = std::move(offered);
    stats_->refused.fetch_add(1, std::memory_order_relaxed);
    log::error("shard map refused; routing by the one before", {{"version", refused_->version},
                                                                {"routed_version", map_->version},
                                                                {"error", ok.error().message}});
    return map_;
  }
  log::info("shard map followed", {{"version", offered->version},
                                   {"previous_version", map_->version},
                                   {"shards", static_cast<int>(offered->shards.size())},
                                   {"fenced", static_cast<int>(offered->fenced_buckets.size())}});
  map_ = std::move(offered);
  stats_->routed_version.store(map_->version, std::memory_order_relaxed);
  return map_;
}

Result<Database*> ShardedStore::open_shard_blocking(std::size_t index, const ShardMap& map) {
  std::lock_guard lock(open_mu_);
  if (Database* db = opened_[index].load(std::memory_order_acquire)) return db;
  const Shard& shard = map.shards.at(index);
  Result<std::unique_ptr<Database>> db = Error{Errc::internal, "not opened"};
  try {
    db = open_(shard, index);
  } catch (const std::exception& e) {  // the opener's start-up errors
    db = Error{Errc::unavailable, e.what()};
  }
  if (db.ok() && !*db) db = Error{Errc::internal, "the opener gave no database"};
  if (!db.ok()) {
    log::error("shard: cannot open", {{"shard", shard.name}, {"error", db.error().message}});
    return std::move(db).error();
  }
  owned_.push_back(std::move(*db));
  opened_[index].store(owned_.back().get(), std::memory_order_release);
  if (registry_) register_shard_requests(index, shard.name);
  log::info("shard opened", {{"shard", shard.name}, {"index", static_cast<int>(index)}});
  return owned_.back().get();
}

awaitable<Result<Database*>> ShardedStore::open_shard(std::size_t index, const ShardMap& map) {
  if (Database* db = opened_[index].load(std::memory_order_acquire)) co_return db;
  auto opening = opener_.run([this, index, &map] { return open_shard_blocking(index, map); });
  co_return co_await std::move(opening);
}

// --- users and accounts -----------------------------------------------------------------------

awaitable<Result<StoredUser>> ShardedStore::get_user(UserId id, Consistency c) {
  return read<StoredUser>(
      id, [=](Database& db, std::size_t s) { return db.get_user(id, for_shard(c, s)); });
}

// Each shard's first `limit` users after `after`, merged by id: the page is the first `limit`
// of them, and the cursor stays a user id.
awaitable<Result<UserPage>> ShardedStore::list_users(UserId after, int limit, Consistency c) {
  UserPage page;
  const auto map = snapshot();
  for (std::size_t s = 0; s < map->shards.size(); ++s) {
    Call<UserPage> call = [&](Database& db, std::size_t) {
      return db.list_users(after, limit, for_shard(c, s));
    };
    auto run = on_shard(s, *map, std::move(call));
    auto part = co_await std::move(run);
    if (!part.ok()) co_return std::move(part).error();
    page.more = page.more || part->more;
    // Only the users the map gives this shard: during a move the bucket's rows are on two
    // shards (the copy before the switch, the old copy until finalise).
    for (auto& u : part->users)
      if (static_cast<std::size_t>(map->shard_of(u.user.id)) == s)
        page.users.push_back(std::move(u));
  }
  std::sort(page.users.begin(), page.users.end(),
            [](const StoredUser& a, const StoredUser& b) { return a.user.id < b.user.id; });
  if (page.users.size() > static_cast<std::size_t>(limit)) {
    page.users.resize(static_cast<std::size_t>(limit));
    page.more = true;
  }
  co_return page;
}

// With a key: the key's lookup row first, naming the id the first create with it chose; then the
// user under that id, on its shard, which remembers the key too. So a retry (a new id) adopts the
// first id and finds, or makes, the same user; a crash between the two leaves a row the retry
// completes. A key whose user was deleted answers not_found there, as store.h says.
awaitable<Result<StoredUser>> ShardedStore::create_user(User user, std::optional<std::string> key) {
  if (!key) {
    Call<StoredUser> call = [&](Database& db, std::size_t) { return db.create_user(user); };
    auto run = write(user.id, std::move(call));
    co_return co_await std::move(run);
  }
  const std::string k = *key;
  if (k.size() > kMaxIdempotencyKeyBytes || !check_lookup(LookupKind::idempotency_key, k).ok())
    co_return Error{Errc::invalid_argument, "idempotency key: 1..200 bytes"};
  const UserId asked = user.id;
  auto holder = co_await put_lookup(LookupKind::idempotency_key, k, asked);
  if (!holder.ok()) co_return std::move(holder).error();
  user.id = *holder;
  Call<StoredUser> call = [&](Database& db, std::size_t) { return db.create_user(user, key); };
  auto run = write(user.id, std::move(call));
  auto created = co_await std::move(run);
  // Refused (nothing committed): the key stays unused, as store.h says. After any other error
  // the user may exist: the row stays for the retry.
  if (!created.ok() && *holder == asked &&
      (created.error().code == Errc::conflict || created.error().code == Errc::invalid_argument))
    (void)co_await erase_lookup(LookupKind::idempotency_key, k, asked);
  co_return created;
}

awaitable<Result<StoredUser>> ShardedStore::update_user(User user,
                                                        std::optional<std::int64_t> expected) {
  return write<StoredUser>(
      user.id, [=](Database& db, std::size_t) { return db.update_user(user, expected); });
}

awaitable<Result<Committed>> ShardedStore::delete_user(UserId id,
                                                       std::optional<std::int64_t> expected) {
  return write<Committed>(id,
                          [=](Database& db, std::size_t) { return db.delete_user(id, expected); });
}

awaitable<Result<void>> ShardedStore::set_role(UserId user, std::string role) {
  return write<void>(user, [=](Database& db, std::size_t) { return db.set_role(user, role); });
}

awaitable<Result<std::int64_t>> ShardedStore::count_users() {
  std::int64_t total = 0;
  const auto map = snapshot();
  for (std::size_t s = 0; s < map->shards.size(); ++s) {
    Call<std::int64_t> call = [](Database& db, std::size_t) { return db.count_users(); };
    auto run = on_shard(s, *map, std::move(call));
    auto n = co_await std::move(run);
    if (!n.ok()) co_return n;
    total += *n;
  }
  co_return total;
}

awaitable<Result<bool>> ShardedStore::claim_email(const std::string& email, UserId user) {
  // Each round either wins, loses to a live account, or sees another sign-up take over the
  // same dead holder first (then the next round meets that one's live account).
  for (int round = 0; round < 3; ++round) {
    auto holder = co_await put_lookup(LookupKind::email, email, user);
    if (!holder.ok()) co_return std::move(holder).error();
    if (*holder == user) co_return true;
    Call<Account> find = [&](Database& db, std::size_t) { return db.find_account(email); };
    auto run = read(*holder, std::move(find));
    auto account = co_await std::move(run);
    if (account.ok() && account->user_id == *holder) co_return false;
    if (!account.ok() && account.error().code != Errc::not_found)
      co_return std::move(account).error();
    auto taken = co_await replace_lookup(LookupKind::email, email, *holder, user);
    if (taken.ok()) co_return true;
    if (taken.error().code != Errc::precondition_failed) co_return std::move(taken).error();
  }
  co_return Error{Errc::unavailable, "email: too many sign-ups with this email at once"};
}

// The user and account first, on the user's shard; then the email's lookup row. A sign-up that
// loses the email to a live account deletes what it made.
awaitable<Result<StoredUser>> ShardedStore::create_account(User user, Account account) {
  const UserId id = user.id;
  const std::string email = account.email;
  Call<StoredUser> call = [&](Database& db, std::size_t) {
    return db.create_account(user, account);
  };
  auto run = write(id, std::move(call));
  auto created = co_await std::move(run);
  if (!created.ok()) co_return created;
  auto won = co_await claim_email(email, id);
  if (won.ok() && *won) co_return created;
  const std::optional<std::int64_t> any_version;
  (void)co_await delete_user(id, any_version);
  if (!won.ok()) co_return std::move(won).error();
  co_return Error{Errc::conflict, "email: an account with this email exists"};
}

awaitable<Result<Account>> ShardedStore::find_account(std::string email) {
  auto holder = co_await find_lookup(LookupKind::email, email);
  if (!holder.ok()) {
    if (holder.error().code == Errc::invalid_argument || holder.error().code == Errc::not_found)
      co_return Error{Errc::not_found, "no such account"};
    co_return std::move(holder).error();
  }
  Call<Account> call = [&](Database& db, std::size_t) { return db.find_account(email); };
  auto run = read(*holder, std::move(call));
  auto account = co_await std::move(run);
  // Only the holder's: a sign-up that lost the email may not have deleted its account yet.
  if (account.ok() && account->user_id != *holder)
    co_return Error{Errc::not_found, "no such account"};
  co_return account;
}

// Ready while any shard answers: every web server shares the shards, so one dead shard taking
// every server out of the load balancer would fail the other shards' users too.
awaitable<Result<void>> ShardedStore::ping() {
  Result<void> last;
  const auto map = snapshot();
  for (std::size_t s = 0; s < map->shards.size(); ++s) {
    Call<void> call = [](Database& db, std::size_t) { return db.ping(); };
    auto run = on_shard(s, *map, std::move(call));
    last = co_await std::move(run);
    if (last.ok()) co_return last;
  }
  co_return last;
}

// --- the lookup rows, each on the shard its key's placement is (a bucket like a user's) --------

awaitable<Result<UserId>> ShardedStore::put_lookup(LookupKind kind, std::string key, UserId owner) {
  return write<UserId>(
      lookup_placement(kind, key),
      [=](Database& db, std::size_t) { return db.put_lookup(kind, key, owner); }, false);
}

awaitable<Result<void>> ShardedStore::replace_lookup(LookupKind kind, std::string key,
                                                     UserId previous, UserId owner) {
  return write<void>(
      lookup_placement(kind, key),
      [=](Database& db, std::size_t) { return db.replace_lookup(kind, key, previous, owner); },
      false);
}

awaitable<Result<UserId>> ShardedStore::find_lookup(LookupKind kind, std::string key) {
  return read<UserId>(
      lookup_placement(kind, key),
      [=](Database& db, std::size_t) { return db.find_lookup(kind, key); }, false);
}

awaitable<Result<void>> ShardedStore::erase_lookup(LookupKind kind, std::string key, UserId owner) {
  return write<void>(
      lookup_placement(kind, key),
      [=](Database& db, std::size_t) { return db.erase_lookup(kind, key, owner); }, false);
}

// --- follows ------------------------------------------------------------------------------------

awaitable<Result<bool>> ShardedStore::follow(UserId follower, UserId followee,
                                             std::string follower_name, std::string followee_name) {
  return write<bool>(follower, [=](Database& db, std::size_t) {
    return db.follow(follower, followee, follower_name, followee_name);
  });
}

awaitable<Result<bool>> ShardedStore::unfollow(UserId follower, UserId followee) {
  return write<bool>(follower,
                     [=](Database& db, std::size_t) { return db.unfollow(follower, followee); });
}

// The change's version is the pair's, from the follower's following row (follow_store.h), which
// moves with the follower's bucket: outbox ids would not do, they are per shard.
awaitable<Result<bool>> ShardedStore::apply_follow(FollowChange change) {
  return write<bool>(change.followee,
                     [=](Database& db, std::size_t) { return db.apply_follow(change); });
}

awaitable<Result<FollowPage>> ShardedStore::list_following(UserId user, UserId after, int limit) {
  return read<FollowPage>(
      user, [=](Database& db, std::size_t) { return db.list_following(user, after, limit); });
}

awaitable<Result<FollowPage>> ShardedStore::list_followers(UserId user, UserId after, int limit) {
  return read<FollowPage>(
      user, [=](Database& db, std::size_t) { return db.list_followers(user, after, limit); });
}

// Both halves live on the user's own shard: its following rows, and the followers rows (and
// their counters) applied there where the user is the followee.
awaitable<Result<FollowCounts>> ShardedStore::follow_counts(UserId user) {
  return read<FollowCounts>(user,
                            [=](Database& db, std::size_t) { return db.follow_counts(user); });
}

void ShardedStore::register_metrics(MetricsRegistry& registry) const {
  const auto stats = stats_;
  const auto counter = [stats](std::atomic<std::uint64_t> Stats::*field) {
    return [stats, field] {
      return static_cast<double>(((*stats).*field).load(std::memory_order_relaxed));
    };
  };
  registry.callback("ztm_shard_held_total",
                    "Writes held while their bucket was being moved (fenced, or refused as moved)",
                    {}, counter(&Stats::held), "counter");
  registry.callback("ztm_shard_holding", "Writes being held now", {}, counter(&Stats::holding));
  registry.callback(
      "ztm_shard_hold_seconds_total", "Time writes spent held, summed", {},
      [stats] { return static_cast<double>(stats->hold_micros.load()) / 1e6; }, "counter");
  for (const auto& [reason, field] :
       {std::pair{"full", &Stats::overflows}, std::pair{"timeout", &Stats::timeouts}})
    registry.callback("ztm_shard_hold_overflows_total",
                      "Held writes refused: the hold was full, or no map let them go in time",
                      {{"reason", reason}}, counter(field), "counter");
  registry.callback("ztm_shard_moved_retries_total",
                    "Writes a shard refused as moved (this server's map was stale), retried on a "
                    "newer map",
                    {}, counter(&Stats::moved_retries), "counter");
  registry.callback("ztm_shard_map_refused_total",
                    "Maps not followed: not newer, or shards not only appended", {},
                    counter(&Stats::refused), "counter");
  registry.callback("ztm_shard_map_routed_version", "The version of the map calls are routed by",
                    {}, [stats] { return static_cast<double>(stats->routed_version.load()); });
  if (reporter_) reporter_->register_metrics(registry);
  std::shared_ptr<const ShardMap> routed;
  {
    std::lock_guard lock(map_mu_);
    routed = map_;
  }
  std::lock_guard lock(open_mu_);
  registry_ = &registry;
  for (std::size_t i = 0; i < routed->shards.size(); ++i)
    if (opened_[i].load(std::memory_order_acquire))
      register_shard_requests(i, routed->shards[i].name);
}

void ShardedStore::register_shard_requests(std::size_t index, const std::string& name) const {
  const auto load = load_;
  registry_->callback(
      "ztm_shard_requests_total",
      "Calls this server sent to the shard (a call that visits every shard counts on each)",
      {{"shard", name}}, [load, index] { return static_cast<double>(load->shard_calls(index)); },
      "counter");
}

}  // namespace ztm::storage
