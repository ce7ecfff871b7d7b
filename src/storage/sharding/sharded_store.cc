#include "storage/sharding/sharded_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <optional>
#include <stdexcept>

#include "core/log.h"

namespace ztm::storage {

namespace {

using boost::asio::awaitable;

std::string tag_position(std::size_t shard, const std::string& position) {
  return position.empty() ? position : fmt::format("{}:{}", shard, position);
}

template <class T>
concept Positioned = requires(T& t) {
  t.position;
};

// A write's position names the shard that made it (StoredUser, Committed; others have none).
template <class T>
Result<T> tagged(std::size_t shard, Result<T> r) {
  if constexpr (Positioned<T>) {
    if (r.ok()) r->position = tag_position(shard, r->position);
  }
  return r;
}

// The part of `c` for `shard`: a position made by another shard says nothing about this one.
Consistency for_shard(const Consistency& c, std::size_t shard) {
  Consistency out{.min_position = "", .latest = c.latest};
  const auto colon = c.min_position.find(':');
  if (colon != std::string::npos && c.min_position.substr(0, colon) == std::to_string(shard))
    out.min_position = c.min_position.substr(colon + 1);
  return out;
}

constexpr std::int64_t kOutboxStride = kMaxShards;  // an outbox id: shard id * stride + shard

// A held write looks at the map this often, on its own executor (sharded_store.h says why).
constexpr std::chrono::milliseconds kHoldLook{5};

using Clock = std::chrono::steady_clock;

}  // namespace

struct ShardedStore::Stats {
  std::atomic<std::uint64_t> holding{0};
  std::atomic<std::uint64_t> held{0};
  std::atomic<std::uint64_t> hold_micros{0};
  std::atomic<std::uint64_t> overflows{0};
  std::atomic<std::uint64_t> timeouts{0};
  std::atomic<std::uint64_t> moved_retries{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::int64_t> routed_version{0};
};

// One write's waits for a map: counted once however often it waits, all of them within one
// deadline from its first wait.
class ShardedStore::Hold {
 public:
  explicit Hold(ShardedStore& store) : store_(store), stats_(*store.stats_) {}
  ~Hold() {
    if (!since_) return;
    stats_.holding.fetch_sub(1, std::memory_order_relaxed);
    stats_.hold_micros.fetch_add(
        static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - *since_).count()),
        std::memory_order_relaxed);
  }
  Hold(const Hold&) = delete;
  Hold& operator=(const Hold&) = delete;

  // The store's map once `ready` holds for it; unavailable, saying `why`, when the hold is full
  // or its time has run out.
  awaitable<Result<std::shared_ptr<const ShardMap>>> until(
      std::function<bool(const ShardMap&)> ready, std::string why) {
    if (auto map = store_.snapshot(); ready(*map)) co_return map;
    const ShardedStoreOptions& options = store_.options_;
    if (options.hold.count() == 0)
      co_return Error{Errc::unavailable, why + "; writes are not held"};
    if (!since_) {
      if (stats_.holding.fetch_add(1, std::memory_order_relaxed) >=
          static_cast<std::uint64_t>(options.max_held)) {
        stats_.holding.fetch_sub(1, std::memory_order_relaxed);
        stats_.overflows.fetch_add(1, std::memory_order_relaxed);
        co_return Error{Errc::unavailable, why + "; the hold is full"};
      }
      since_ = Clock::now();
      deadline_ = *since_ + options.hold;
      stats_.held.fetch_add(1, std::memory_order_relaxed);
    }
    boost::asio::steady_timer look(co_await boost::asio::this_coro::executor);
    for (;;) {
      auto map = store_.snapshot();
      if (ready(*map)) co_return map;
      const auto now = Clock::now();
      if (now >= deadline_) {
        stats_.timeouts.fetch_add(1, std::memory_order_relaxed);
        co_return Error{Errc::unavailable, fmt::format("{}; still so after holding the write {} ms",
                                                       why, options.hold.count())};
      }
      look.expires_after(std::min<Clock::duration>(kHoldLook, deadline_ - now));
      auto [ec] = co_await look.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      if (ec == boost::asio::error::operation_aborted)
        co_return Error{Errc::unavailable, why + "; the held write was cancelled"};
    }
  }

 private:
  ShardedStore& store_;
  Stats& stats_;
  std::optional<Clock::time_point> since_;
  Clock::time_point deadline_;
};

namespace {

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
      stats_(std::make_shared<Stats>()) {
  if (!source_ || !open_) throw std::invalid_argument("sharded store: a map source and an opener");
  if (options_.hold.count() < 0 || options_.max_held < 0)
    throw std::invalid_argument("sharded store: hold and max_held must be >= 0");
  map_ = source_->current();
  if (auto v = validate(*map_); !v.ok()) throw std::invalid_argument(v.error().message);
  stats_->routed_version.store(map_->version);
  for (std::size_t i = 0; i < map_->shards.size(); ++i)
    if (auto db = open_shard_blocking(i, *map_); !db.ok())
      throw std::runtime_error(
          fmt::format("shard {}: cannot open it: {}", map_->shards[i].name, db.error().message));
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
  log::info("shard opened", {{"shard", shard.name}, {"index", static_cast<int>(index)}});
  return owned_.back().get();
}

awaitable<Result<Database*>> ShardedStore::open_shard(std::size_t index, const ShardMap& map) {
  if (Database* db = opened_[index].load(std::memory_order_acquire)) co_return db;
  auto opening = opener_.run([this, index, &map] { return open_shard_blocking(index, map); });
  co_return co_await std::move(opening);
}

template <class T>
awaitable<Result<T>> ShardedStore::on_shard(std::size_t index, const ShardMap& map, Call<T> call) {
  auto db = co_await open_shard(index, map);
  if (!db.ok()) co_return std::move(db).error();
  auto result = co_await call(**db, index);
  co_return tagged(index, std::move(result));
}

template <class T>
awaitable<Result<T>> ShardedStore::read(UserId placement, Call<T> call) {
  const auto map = snapshot();
  auto run = on_shard(static_cast<std::size_t>(map->shard_of(placement)), *map, std::move(call));
  co_return co_await std::move(run);
}

// Held while the bucket is fenced; a moved (this server's map is behind the shards) waits for a
// newer map and goes once more, where that one says.
template <class T>
awaitable<Result<T>> ShardedStore::write(UserId placement, Call<T> call) {
  const int bucket = bucket_of(placement);
  Hold hold(*this);
  auto map = snapshot();
  if (map->fenced(bucket)) {
    auto waiting = hold.until([bucket](const ShardMap& m) { return !m.fenced(bucket); },
                              fmt::format("bucket {} is being moved", bucket));
    auto unfenced = co_await std::move(waiting);
    if (!unfenced.ok()) co_return std::move(unfenced).error();
    map = std::move(*unfenced);
  }
  const auto first_shard = static_cast<std::size_t>(map->shard_of(placement));
  auto run = on_shard(first_shard, *map, call);
  auto first = co_await std::move(run);
  if (first.ok() || first.error().code != Errc::moved) co_return first;

  stats_->moved_retries.fetch_add(1, std::memory_order_relaxed);
  const std::int64_t routed = map->version;
  auto waiting = hold.until(
      [bucket, routed](const ShardMap& m) { return m.version > routed && !m.fenced(bucket); },
      fmt::format("bucket {}: shard {} refused the write as moved (map version {} is stale) and "
                  "no newer map assigns it",
                  bucket, map->shards[first_shard].name, routed));
  auto newer = co_await std::move(waiting);
  if (!newer.ok()) co_return std::move(newer).error();
  map = std::move(*newer);
  const auto second_shard = static_cast<std::size_t>(map->shard_of(placement));
  auto again = on_shard(second_shard, *map, std::move(call));
  auto second = co_await std::move(again);
  if (!second.ok() && second.error().code == Errc::moved)
    co_return Error{
        Errc::unavailable,
        fmt::format("bucket {}: shard {} refused the write as moved on map version {} "
                    "too (the map is behind the shards): {}",
                    bucket, map->shards[second_shard].name, map->version, second.error().message)};
  co_return second;
}

// --- users and accounts -----------------------------------------------------------------------

awaitable<Result<StoredUser>> ShardedStore::get_user(UserId id, Consistency c) {
  Call<StoredUser> call = [&](Database& db, std::size_t s) {
    return db.get_user(id, for_shard(c, s));
  };
  auto run = read(id, std::move(call));
  co_return co_await std::move(run);
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
    for (auto& u : part->users) page.users.push_back(std::move(u));
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
  Call<StoredUser> call = [&](Database& db, std::size_t) { return db.update_user(user, expected); };
  auto run = write(user.id, std::move(call));
  co_return co_await std::move(run);
}

awaitable<Result<Committed>> ShardedStore::delete_user(UserId id,
                                                       std::optional<std::int64_t> expected) {
  Call<Committed> call = [&](Database& db, std::size_t) { return db.delete_user(id, expected); };
  auto run = write(id, std::move(call));
  co_return co_await std::move(run);
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

// --- photos and jobs ----------------------------------------------------------------------------

awaitable<Result<UserId>> ShardedStore::owner_by_lookup(LookupKind kind, std::int64_t id) {
  const std::string key = std::to_string(id);
  auto owner = co_await find_lookup(kind, key);
  if (!owner.ok() && owner.error().code == Errc::not_found)
    co_return Error{Errc::not_found, fmt::format("{} {} not found",
                                                 kind == LookupKind::photo ? "photo" : "job", id)};
  co_return owner;
}

awaitable<Result<Photo>> ShardedStore::create_photo(Photo photo) {
  const std::string key = std::to_string(photo.id);
  auto owner = co_await put_lookup(LookupKind::photo, key, photo.owner_id);
  if (!owner.ok()) co_return std::move(owner).error();
  if (*owner != photo.owner_id)
    co_return Error{Errc::conflict, fmt::format("photo {} already exists", photo.id)};
  Call<Photo> call = [&](Database& db, std::size_t) { return db.create_photo(photo); };
  auto run = write(photo.owner_id, std::move(call));
  co_return co_await std::move(run);
}

awaitable<Result<Photo>> ShardedStore::get_photo(PhotoId id) {
  auto owner = co_await owner_by_lookup(LookupKind::photo, id);
  if (!owner.ok()) co_return std::move(owner).error();
  Call<Photo> call = [&](Database& db, std::size_t) { return db.get_photo(id); };
  auto run = read(*owner, std::move(call));
  co_return co_await std::move(run);
}

// The owner's shard says whether its other photos hold the blob; every shard is asked too before
// the caller may remove it (any answer but "no" keeps it).
awaitable<Result<DeletedPhoto>> ShardedStore::delete_photo(PhotoId id) {
  auto owner = co_await owner_by_lookup(LookupKind::photo, id);
  if (!owner.ok()) co_return std::move(owner).error();
  Call<DeletedPhoto> call = [&](Database& db, std::size_t) { return db.delete_photo(id); };
  auto run = write(*owner, std::move(call));
  auto deleted = co_await std::move(run);
  if (!deleted.ok() || deleted->blob_in_use) co_return deleted;
  auto used = co_await blob_in_use(deleted->blob_key);
  deleted->blob_in_use = !used.ok() || *used;
  co_return deleted;
}

awaitable<Result<bool>> ShardedStore::blob_in_use(std::string blob_key) {
  const auto map = snapshot();
  for (std::size_t s = 0; s < map->shards.size(); ++s) {
    Call<bool> call = [&](Database& db, std::size_t) { return db.blob_in_use(blob_key); };
    auto run = on_shard(s, *map, std::move(call));
    auto used = co_await std::move(run);
    if (!used.ok() || *used) co_return used;
  }
  co_return false;
}

awaitable<Result<PhotoPage>> ShardedStore::list_photos(UserId owner, PhotoId after, int limit) {
  Call<PhotoPage> call = [&](Database& db, std::size_t) {
    return db.list_photos(owner, after, limit);
  };
  auto run = read(owner, std::move(call));
  co_return co_await std::move(run);
}

awaitable<Result<PhotoUsage>> ShardedStore::photo_usage(UserId owner) {
  Call<PhotoUsage> call = [&](Database& db, std::size_t) { return db.photo_usage(owner); };
  auto run = read(owner, std::move(call));
  co_return co_await std::move(run);
}

awaitable<Result<Job>> ShardedStore::create_job(Job job, std::string outbox_payload) {
  const std::string key = std::to_string(job.id);
  auto owner = co_await put_lookup(LookupKind::job, key, job.owner_id);
  if (!owner.ok()) co_return std::move(owner).error();
  if (*owner != job.owner_id)
    co_return Error{Errc::conflict, fmt::format("job {} already exists", job.id)};
  Call<Job> call = [&](Database& db, std::size_t) { return db.create_job(job, outbox_payload); };
  auto run = write(job.owner_id, std::move(call));
  co_return co_await std::move(run);
}

awaitable<Result<Job>> ShardedStore::get_job(JobId id) {
  auto owner = co_await owner_by_lookup(LookupKind::job, id);
  if (!owner.ok()) co_return std::move(owner).error();
  Call<Job> call = [&](Database& db, std::size_t) { return db.get_job(id); };
  auto run = read(*owner, std::move(call));
  co_return co_await std::move(run);
}

awaitable<Result<Job>> ShardedStore::start_job(JobId id) {
  auto owner = co_await owner_by_lookup(LookupKind::job, id);
  if (!owner.ok()) co_return std::move(owner).error();
  Call<Job> call = [&](Database& db, std::size_t) { return db.start_job(id); };
  auto run = write(*owner, std::move(call));
  co_return co_await std::move(run);
}

// The result photo's lookup row first, as for an upload.
awaitable<Result<Job>> ShardedStore::complete_job(JobId id, Photo result) {
  auto owner = co_await owner_by_lookup(LookupKind::job, id);
  if (!owner.ok()) co_return std::move(owner).error();
  const std::string key = std::to_string(result.id);
  auto photo_owner = co_await put_lookup(LookupKind::photo, key, result.owner_id);
  if (!photo_owner.ok()) co_return std::move(photo_owner).error();
  if (*photo_owner != result.owner_id)
    co_return Error{Errc::conflict, fmt::format("photo {} already exists", result.id)};
  Call<Job> call = [&](Database& db, std::size_t) { return db.complete_job(id, result); };
  auto run = write(*owner, std::move(call));
  co_return co_await std::move(run);
}

awaitable<Result<Job>> ShardedStore::fail_job(JobId id, std::string error) {
  auto owner = co_await owner_by_lookup(LookupKind::job, id);
  if (!owner.ok()) co_return std::move(owner).error();
  Call<Job> call = [&](Database& db, std::size_t) { return db.fail_job(id, error); };
  auto run = write(*owner, std::move(call));
  co_return co_await std::move(run);
}

// Up to `limit` messages, from the shards in turn (a different first shard each call, so one
// busy shard does not starve the others). A shard that fails is skipped (its messages wait for
// it): an error only when no shard answered. (The outbox carries no bucket: never fenced.)
awaitable<Result<std::vector<OutboxMessage>>> ShardedStore::outbox_batch(int limit) {
  if (limit < 1 || limit > 1000)
    co_return Error{Errc::invalid_argument, fmt::format("limit {} is not in 1..1000", limit)};
  std::vector<OutboxMessage> out;
  std::optional<Error> failure;
  bool answered = false;
  const auto map = snapshot();
  const std::size_t n = map->shards.size();
  const std::size_t first = next_outbox_shard_.fetch_add(1) % n;
  for (std::size_t i = 0; i < n && out.size() < static_cast<std::size_t>(limit); ++i) {
    const std::size_t s = (first + i) % n;
    const int wanted = limit - static_cast<int>(out.size());
    Call<std::vector<OutboxMessage>> call = [wanted](Database& db, std::size_t) {
      return db.outbox_batch(wanted);
    };
    auto run = on_shard(s, *map, std::move(call));
    auto part = co_await std::move(run);
    if (!part.ok()) {
      log::warn("outbox: a shard did not answer",
                {{"shard", map->shards[s].name}, {"error", part.error().message}});
      failure = std::move(part).error();
      continue;
    }
    answered = true;
    for (auto& m : *part) {
      m.id = m.id * kOutboxStride + static_cast<std::int64_t>(s);
      out.push_back(std::move(m));
    }
  }
  if (!answered && failure) co_return std::move(*failure);
  co_return out;
}

awaitable<Result<void>> ShardedStore::outbox_delete(std::vector<std::int64_t> ids) {
  const auto map = snapshot();
  std::map<std::size_t, std::vector<std::int64_t>> by_shard;
  for (const std::int64_t id : ids) {
    if (id < 0) continue;  // never made here: gone already, as the contract says
    const auto s = static_cast<std::size_t>(id % kOutboxStride);
    if (s < map->shards.size()) by_shard[s].push_back(id / kOutboxStride);
  }
  for (auto& [s, shard_ids] : by_shard) {
    Call<void> call = [&shard_ids](Database& db, std::size_t) {
      return db.outbox_delete(shard_ids);
    };
    auto run = on_shard(s, *map, std::move(call));
    if (auto r = co_await std::move(run); !r.ok()) co_return r;
  }
  co_return Result<void>{};
}

// --- business KPIs: a user's rows on its shard; the rollups summed (users are on one shard
// each, so distinct counts add up) ----------------------------------------------------------------

awaitable<Result<Purchase>> ShardedStore::create_purchase(Purchase purchase,
                                                          std::optional<std::string> key) {
  Call<Purchase> call = [&](Database& db, std::size_t) {
    return db.create_purchase(purchase, key);
  };
  auto run = write(purchase.user_id, std::move(call));
  co_return co_await std::move(run);
}

awaitable<Result<std::vector<Purchase>>> ShardedStore::list_purchases(UserId user, int limit) {
  Call<std::vector<Purchase>> call = [&](Database& db, std::size_t) {
    return db.list_purchases(user, limit);
  };
  auto run = read(user, std::move(call));
  co_return co_await std::move(run);
}

// One call per shard for the users whose buckets are not in a move; the users of a fenced
// bucket, or of a shard that refused the batch as moved (nothing of it written), go bucket by
// bucket through write(), held and retried like any write.
awaitable<Result<void>> ShardedStore::record_activity(UtcDay day, std::vector<UserId> users) {
  const auto map = snapshot();
  std::map<std::size_t, std::vector<UserId>> by_shard;
  std::map<int, std::vector<UserId>> by_bucket;  // to hold
  for (const UserId u : users) {
    if (map->fenced(bucket_of(u)))
      by_bucket[bucket_of(u)].push_back(u);
    else
      by_shard[static_cast<std::size_t>(map->shard_of(u))].push_back(u);
  }
  for (auto& [s, shard_users] : by_shard) {
    Call<void> call = [&](Database& db, std::size_t) {
      return db.record_activity(day, shard_users);
    };
    auto run = on_shard(s, *map, std::move(call));
    auto r = co_await std::move(run);
    if (r.ok()) continue;
    if (r.error().code != Errc::moved) co_return r;
    for (const UserId u : shard_users) by_bucket[bucket_of(u)].push_back(u);
  }
  for (auto& [bucket, bucket_users] : by_bucket) {
    Call<void> call = [&](Database& db, std::size_t) {
      return db.record_activity(day, bucket_users);
    };
    auto run = write(bucket_users.front(), std::move(call));
    if (auto r = co_await std::move(run); !r.ok()) co_return r;
  }
  co_return Result<void>{};
}

awaitable<Result<DailyKpis>> ShardedStore::daily_kpis(UtcDay day) {
  DailyKpis total{.day = day};
  const auto map = snapshot();
  for (std::size_t s = 0; s < map->shards.size(); ++s) {
    Call<DailyKpis> call = [&](Database& db, std::size_t) { return db.daily_kpis(day); };
    auto run = on_shard(s, *map, std::move(call));
    auto k = co_await std::move(run);
    if (!k.ok()) co_return k;
    total.dau += k->dau;
    total.wau += k->wau;
    total.mau += k->mau;
    total.signups += k->signups;
    total.photos_uploaded += k->photos_uploaded;
    total.edits_done += k->edits_done;
    total.purchases += k->purchases;
    total.revenue_cents += k->revenue_cents;
  }
  co_return total;
}

awaitable<Result<std::vector<Cohort>>> ShardedStore::cohorts(UtcDay first, UtcDay last) {
  std::map<UtcDay, Cohort> by_day;
  const auto map = snapshot();
  for (std::size_t s = 0; s < map->shards.size(); ++s) {
    Call<std::vector<Cohort>> call = [&](Database& db, std::size_t) {
      return db.cohorts(first, last);
    };
    auto run = on_shard(s, *map, std::move(call));
    auto part = co_await std::move(run);
    if (!part.ok()) co_return part;
    for (const Cohort& c : *part) {
      Cohort& sum = by_day[c.day];
      sum.day = c.day;
      sum.size += c.size;
      for (std::size_t i = 0; i < c.active.size(); ++i) sum.active[i] += c.active[i];
    }
  }
  std::vector<Cohort> out;
  for (auto& [day, c] : by_day) out.push_back(c);
  co_return out;
}

// --- the lookup rows, each on the shard its key's placement is (a bucket like a user's) --------

awaitable<Result<UserId>> ShardedStore::put_lookup(LookupKind kind, std::string key, UserId owner) {
  Call<UserId> call = [&](Database& db, std::size_t) { return db.put_lookup(kind, key, owner); };
  auto run = write(lookup_placement(kind, key), std::move(call));
  co_return co_await std::move(run);
}

awaitable<Result<void>> ShardedStore::replace_lookup(LookupKind kind, std::string key,
                                                     UserId previous, UserId owner) {
  Call<void> call = [&](Database& db, std::size_t) {
    return db.replace_lookup(kind, key, previous, owner);
  };
  auto run = write(lookup_placement(kind, key), std::move(call));
  co_return co_await std::move(run);
}

awaitable<Result<UserId>> ShardedStore::find_lookup(LookupKind kind, std::string key) {
  Call<UserId> call = [&](Database& db, std::size_t) { return db.find_lookup(kind, key); };
  auto run = read(lookup_placement(kind, key), std::move(call));
  co_return co_await std::move(run);
}

awaitable<Result<void>> ShardedStore::erase_lookup(LookupKind kind, std::string key, UserId owner) {
  Call<void> call = [&](Database& db, std::size_t) { return db.erase_lookup(kind, key, owner); };
  auto run = write(lookup_placement(kind, key), std::move(call));
  co_return co_await std::move(run);
}

// --- follows ------------------------------------------------------------------------------------

awaitable<Result<bool>> ShardedStore::follow(UserId follower, UserId followee,
                                             std::string follower_name, std::string followee_name) {
  Call<bool> call = [&](Database& db, std::size_t) {
    return db.follow(follower, followee, follower_name, followee_name);
  };
  auto run = write(follower, std::move(call));
  co_return co_await std::move(run);
}

awaitable<Result<bool>> ShardedStore::unfollow(UserId follower, UserId followee) {
  Call<bool> call = [&](Database& db, std::size_t) { return db.unfollow(follower, followee); };
  auto run = write(follower, std::move(call));
  co_return co_await std::move(run);
}

// The change's version is the message's id as outbox_batch gave it (shard id * kMaxShards +
// shard index): one follower's messages all come from its shard, so their order is kept.
awaitable<Result<bool>> ShardedStore::apply_follow(FollowChange change) {
  Call<bool> call = [&](Database& db, std::size_t) { return db.apply_follow(change); };
  auto run = write(change.followee, std::move(call));
  co_return co_await std::move(run);
}

awaitable<Result<FollowPage>> ShardedStore::list_following(UserId user, UserId after, int limit) {
  Call<FollowPage> call = [&](Database& db, std::size_t) {
    return db.list_following(user, after, limit);
  };
  auto run = read(user, std::move(call));
  co_return co_await std::move(run);
}

awaitable<Result<FollowPage>> ShardedStore::list_followers(UserId user, UserId after, int limit) {
  Call<FollowPage> call = [&](Database& db, std::size_t) {
    return db.list_followers(user, after, limit);
  };
  auto run = read(user, std::move(call));
  co_return co_await std::move(run);
}

// Both halves live on the user's own shard: its following rows, and the followers rows (and
// their counters) applied there where the user is the followee.
awaitable<Result<FollowCounts>> ShardedStore::follow_counts(UserId user) {
  Call<FollowCounts> call = [&](Database& db, std::size_t) { return db.follow_counts(user); };
  auto run = read(user, std::move(call));
  co_return co_await std::move(run);
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
}

}  // namespace ztm::storage
