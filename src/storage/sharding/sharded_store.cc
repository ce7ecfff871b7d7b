#include "storage/sharding/sharded_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <stdexcept>

#include "core/log.h"

namespace ztm::storage {

namespace {

using boost::asio::awaitable;

std::string tag_position(std::size_t shard, const std::string& position) {
  return position.empty() ? position : fmt::format("{}:{}", shard, position);
}

template <class T>
Result<T> tagged(std::size_t shard, Result<T> r) {
  if (r.ok()) r->position = tag_position(shard, r->position);
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

}  // namespace

ShardedStore::ShardedStore(ShardMap map, std::vector<std::unique_ptr<Database>> shards)
    : map_(std::move(map)), shards_(std::move(shards)) {
  if (auto v = validate(map_); !v.ok()) throw std::invalid_argument(v.error().message);
  if (shards_.size() != map_.shards.size() ||
      std::any_of(shards_.begin(), shards_.end(), [](const auto& s) { return !s; }))
    throw std::invalid_argument("sharded store: one database per shard of the map");
}

std::size_t ShardedStore::owner_shard(UserId owner) const {
  return static_cast<std::size_t>(map_.shard_of(owner));
}

std::size_t ShardedStore::key_shard(LookupKind kind, const std::string& key) const {
  return owner_shard(lookup_placement(kind, key));
}

awaitable<Result<std::size_t>> ShardedStore::shard_by_lookup(LookupKind kind, std::int64_t id) {
  const std::string key = std::to_string(id);
  auto owner = co_await key_db(kind, key).find_lookup(kind, key);
  if (!owner.ok()) {
    if (owner.error().code != Errc::not_found) co_return std::move(owner).error();
    co_return Error{Errc::not_found, fmt::format("{} {} not found",
                                                 kind == LookupKind::photo ? "photo" : "job", id)};
  }
  co_return owner_shard(*owner);
}

// --- users and accounts -----------------------------------------------------------------------

awaitable<Result<StoredUser>> ShardedStore::get_user(UserId id, Consistency c) {
  const std::size_t s = owner_shard(id);
  Consistency mine = for_shard(c, s);
  co_return tagged(s, co_await shards_[s]->get_user(id, std::move(mine)));
}

// Each shard's first `limit` users after `after`, merged by id: the page is the first `limit`
// of them, and the cursor stays a user id.
awaitable<Result<UserPage>> ShardedStore::list_users(UserId after, int limit, Consistency c) {
  UserPage page;
  for (std::size_t s = 0; s < shards_.size(); ++s) {
    Consistency mine = for_shard(c, s);
    auto part = co_await shards_[s]->list_users(after, limit, std::move(mine));
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
    const std::size_t s = owner_shard(user.id);
    co_return tagged(s, co_await shards_[s]->create_user(std::move(user)));
  }
  const std::string k = *key;
  if (k.size() > kMaxIdempotencyKeyBytes || !check_lookup(LookupKind::idempotency_key, k).ok())
    co_return Error{Errc::invalid_argument, "idempotency key: 1..200 bytes"};
  Database& lookups = key_db(LookupKind::idempotency_key, k);
  const UserId asked = user.id;
  auto holder = co_await lookups.put_lookup(LookupKind::idempotency_key, k, asked);
  if (!holder.ok()) co_return std::move(holder).error();
  user.id = *holder;
  const std::size_t s = owner_shard(user.id);
  auto created = co_await shards_[s]->create_user(std::move(user), std::move(key));
  // Refused (nothing committed): the key stays unused, as store.h says. After any other error
  // the user may exist: the row stays for the retry.
  if (!created.ok() && *holder == asked &&
      (created.error().code == Errc::conflict || created.error().code == Errc::invalid_argument))
    (void)co_await lookups.erase_lookup(LookupKind::idempotency_key, k, asked);
  co_return tagged(s, std::move(created));
}

awaitable<Result<StoredUser>> ShardedStore::update_user(User user,
                                                        std::optional<std::int64_t> expected) {
  const std::size_t s = owner_shard(user.id);
  co_return tagged(s, co_await shards_[s]->update_user(std::move(user), expected));
}

awaitable<Result<Committed>> ShardedStore::delete_user(UserId id,
                                                       std::optional<std::int64_t> expected) {
  const std::size_t s = owner_shard(id);
  co_return tagged(s, co_await shards_[s]->delete_user(id, expected));
}

awaitable<Result<std::int64_t>> ShardedStore::count_users() {
  std::int64_t total = 0;
  for (auto& shard : shards_) {
    auto n = co_await shard->count_users();
    if (!n.ok()) co_return n;
    total += *n;
  }
  co_return total;
}

awaitable<Result<bool>> ShardedStore::claim_email(const std::string& email, UserId user) {
  Database& lookups = key_db(LookupKind::email, email);
  // Each round either wins, loses to a live account, or sees another sign-up take over the
  // same dead holder first (then the next round meets that one's live account).
  for (int round = 0; round < 3; ++round) {
    auto holder = co_await lookups.put_lookup(LookupKind::email, email, user);
    if (!holder.ok()) co_return std::move(holder).error();
    if (*holder == user) co_return true;
    auto account = co_await owner_db(*holder).find_account(email);
    if (account.ok() && account->user_id == *holder) co_return false;
    if (!account.ok() && account.error().code != Errc::not_found)
      co_return std::move(account).error();
    auto taken = co_await lookups.replace_lookup(LookupKind::email, email, *holder, user);
    if (taken.ok()) co_return true;
    if (taken.error().code != Errc::precondition_failed) co_return std::move(taken).error();
  }
  co_return Error{Errc::unavailable, "email: too many sign-ups with this email at once"};
}

// The user and account first, on the user's shard; then the email's lookup row. A sign-up that
// loses the email to a live account deletes what it made.
awaitable<Result<StoredUser>> ShardedStore::create_account(User user, Account account) {
  const std::size_t s = owner_shard(user.id);
  const UserId id = user.id;
  const std::string email = account.email;
  auto created = co_await shards_[s]->create_account(std::move(user), std::move(account));
  if (!created.ok()) co_return created;
  auto won = co_await claim_email(email, id);
  if (won.ok() && *won) co_return tagged(s, std::move(created));
  (void)co_await shards_[s]->delete_user(id, std::nullopt);
  if (!won.ok()) co_return std::move(won).error();
  co_return Error{Errc::conflict, "email: an account with this email exists"};
}

awaitable<Result<Account>> ShardedStore::find_account(std::string email) {
  auto holder = co_await key_db(LookupKind::email, email).find_lookup(LookupKind::email, email);
  if (!holder.ok()) {
    if (holder.error().code == Errc::invalid_argument || holder.error().code == Errc::not_found)
      co_return Error{Errc::not_found, "no such account"};
    co_return std::move(holder).error();
  }
  auto account = co_await owner_db(*holder).find_account(std::move(email));
  // Only the holder's: a sign-up that lost the email may not have deleted its account yet.
  if (account.ok() && account->user_id != *holder)
    co_return Error{Errc::not_found, "no such account"};
  co_return account;
}

// Ready while any shard answers: every web server shares the shards, so one dead shard taking
// every server out of the load balancer would fail the other shards' users too.
awaitable<Result<void>> ShardedStore::ping() {
  Result<void> last;
  for (auto& shard : shards_) {
    last = co_await shard->ping();
    if (last.ok()) co_return last;
  }
  co_return last;
}

// --- photos and jobs ----------------------------------------------------------------------------

awaitable<Result<Photo>> ShardedStore::create_photo(Photo photo) {
  const std::string key = std::to_string(photo.id);
  auto owner =
      co_await key_db(LookupKind::photo, key).put_lookup(LookupKind::photo, key, photo.owner_id);
  if (!owner.ok()) co_return std::move(owner).error();
  if (*owner != photo.owner_id)
    co_return Error{Errc::conflict, fmt::format("photo {} already exists", photo.id)};
  co_return co_await owner_db(photo.owner_id).create_photo(std::move(photo));
}

awaitable<Result<Photo>> ShardedStore::get_photo(PhotoId id) {
  auto s = co_await shard_by_lookup(LookupKind::photo, id);
  if (!s.ok()) co_return std::move(s).error();
  co_return co_await shards_[*s]->get_photo(id);
}

// The shard says whether its other photos hold the blob; the other shards are asked too before
// the caller may remove it (any answer but "no" keeps it).
awaitable<Result<DeletedPhoto>> ShardedStore::delete_photo(PhotoId id) {
  auto s = co_await shard_by_lookup(LookupKind::photo, id);
  if (!s.ok()) co_return std::move(s).error();
  auto deleted = co_await shards_[*s]->delete_photo(id);
  if (!deleted.ok()) co_return deleted;
  for (std::size_t other = 0; other < shards_.size() && !deleted->blob_in_use; ++other) {
    if (other == *s) continue;
    auto used = co_await shards_[other]->blob_in_use(deleted->blob_key);
    deleted->blob_in_use = !used.ok() || *used;
  }
  co_return deleted;
}

awaitable<Result<bool>> ShardedStore::blob_in_use(std::string blob_key) {
  for (auto& shard : shards_) {
    auto used = co_await shard->blob_in_use(blob_key);
    if (!used.ok() || *used) co_return used;
  }
  co_return false;
}

awaitable<Result<PhotoPage>> ShardedStore::list_photos(UserId owner, PhotoId after, int limit) {
  co_return co_await owner_db(owner).list_photos(owner, after, limit);
}

awaitable<Result<PhotoUsage>> ShardedStore::photo_usage(UserId owner) {
  co_return co_await owner_db(owner).photo_usage(owner);
}

awaitable<Result<Job>> ShardedStore::create_job(Job job, std::string outbox_payload) {
  const std::string key = std::to_string(job.id);
  auto owner = co_await key_db(LookupKind::job, key).put_lookup(LookupKind::job, key, job.owner_id);
  if (!owner.ok()) co_return std::move(owner).error();
  if (*owner != job.owner_id)
    co_return Error{Errc::conflict, fmt::format("job {} already exists", job.id)};
  co_return co_await owner_db(job.owner_id).create_job(std::move(job), std::move(outbox_payload));
}

awaitable<Result<Job>> ShardedStore::get_job(JobId id) {
  auto s = co_await shard_by_lookup(LookupKind::job, id);
  if (!s.ok()) co_return std::move(s).error();
  co_return co_await shards_[*s]->get_job(id);
}

awaitable<Result<Job>> ShardedStore::start_job(JobId id) {
  auto s = co_await shard_by_lookup(LookupKind::job, id);
  if (!s.ok()) co_return std::move(s).error();
  co_return co_await shards_[*s]->start_job(id);
}

// The result photo's lookup row first, as for an upload.
awaitable<Result<Job>> ShardedStore::complete_job(JobId id, Photo result) {
  auto s = co_await shard_by_lookup(LookupKind::job, id);
  if (!s.ok()) co_return std::move(s).error();
  const std::string key = std::to_string(result.id);
  auto owner =
      co_await key_db(LookupKind::photo, key).put_lookup(LookupKind::photo, key, result.owner_id);
  if (!owner.ok()) co_return std::move(owner).error();
  if (*owner != result.owner_id)
    co_return Error{Errc::conflict, fmt::format("photo {} already exists", result.id)};
  co_return co_await shards_[*s]->complete_job(id, std::move(result));
}

awaitable<Result<Job>> ShardedStore::fail_job(JobId id, std::string error) {
  auto s = co_await shard_by_lookup(LookupKind::job, id);
  if (!s.ok()) co_return std::move(s).error();
  co_return co_await shards_[*s]->fail_job(id, std::move(error));
}

// Up to `limit` messages, from the shards in turn (a different first shard each call, so one
// busy shard does not starve the others). A shard that fails is skipped (its messages wait for
// it): an error only when no shard answered.
awaitable<Result<std::vector<OutboxMessage>>> ShardedStore::outbox_batch(int limit) {
  if (limit < 1 || limit > 1000)
    co_return Error{Errc::invalid_argument, fmt::format("limit {} is not in 1..1000", limit)};
  std::vector<OutboxMessage> out;
  std::optional<Error> failure;
  bool answered = false;
  const std::size_t first = next_outbox_shard_.fetch_add(1) % shards_.size();
  for (std::size_t i = 0; i < shards_.size() && out.size() < static_cast<std::size_t>(limit); ++i) {
    const std::size_t s = (first + i) % shards_.size();
    auto part = co_await shards_[s]->outbox_batch(limit - static_cast<int>(out.size()));
    if (!part.ok()) {
      log::warn("outbox: a shard did not answer",
                {{"shard", map_.shards[s].name}, {"error", part.error().message}});
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
  std::map<std::size_t, std::vector<std::int64_t>> by_shard;
  for (const std::int64_t id : ids) {
    if (id < 0) continue;  // never made here: gone already, as the contract says
    const auto s = static_cast<std::size_t>(id % kOutboxStride);
    if (s < shards_.size()) by_shard[s].push_back(id / kOutboxStride);
  }
  for (auto& [s, shard_ids] : by_shard)
    if (auto r = co_await shards_[s]->outbox_delete(std::move(shard_ids)); !r.ok()) co_return r;
  co_return Result<void>{};
}

// --- business KPIs: a user's rows on its shard; the rollups summed (users are on one shard
// each, so distinct counts add up) ----------------------------------------------------------------

awaitable<Result<Purchase>> ShardedStore::create_purchase(Purchase purchase,
                                                          std::optional<std::string> key) {
  co_return co_await owner_db(purchase.user_id)
      .create_purchase(std::move(purchase), std::move(key));
}

awaitable<Result<std::vector<Purchase>>> ShardedStore::list_purchases(UserId user, int limit) {
  co_return co_await owner_db(user).list_purchases(user, limit);
}

awaitable<Result<void>> ShardedStore::record_activity(UtcDay day, std::vector<UserId> users) {
  std::map<std::size_t, std::vector<UserId>> by_shard;
  for (const UserId u : users) by_shard[owner_shard(u)].push_back(u);
  for (auto& [s, shard_users] : by_shard)
    if (auto r = co_await shards_[s]->record_activity(day, std::move(shard_users)); !r.ok())
      co_return r;
  co_return Result<void>{};
}

awaitable<Result<DailyKpis>> ShardedStore::daily_kpis(UtcDay day) {
  DailyKpis total{.day = day};
  for (auto& shard : shards_) {
    auto k = co_await shard->daily_kpis(day);
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
  for (auto& shard : shards_) {
    auto part = co_await shard->cohorts(first, last);
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

// --- the lookup rows
// ------------------------------------------------------------------------------

awaitable<Result<UserId>> ShardedStore::put_lookup(LookupKind kind, std::string key, UserId owner) {
  Database& db = key_db(kind, key);
  co_return co_await db.put_lookup(kind, std::move(key), owner);
}

awaitable<Result<void>> ShardedStore::replace_lookup(LookupKind kind, std::string key,
                                                     UserId previous, UserId owner) {
  Database& db = key_db(kind, key);
  co_return co_await db.replace_lookup(kind, std::move(key), previous, owner);
}

awaitable<Result<UserId>> ShardedStore::find_lookup(LookupKind kind, std::string key) {
  Database& db = key_db(kind, key);
  co_return co_await db.find_lookup(kind, std::move(key));
}

awaitable<Result<void>> ShardedStore::erase_lookup(LookupKind kind, std::string key, UserId owner) {
  Database& db = key_db(kind, key);
  co_return co_await db.erase_lookup(kind, std::move(key), owner);
}

awaitable<Result<bool>> ShardedStore::follow(UserId follower, UserId followee,
                                             std::string follower_name, std::string followee_name) {
  Database& db = owner_db(follower);
  co_return co_await db.follow(follower, followee, std::move(follower_name),
                               std::move(followee_name));
}

awaitable<Result<bool>> ShardedStore::unfollow(UserId follower, UserId followee) {
  Database& db = owner_db(follower);
  co_return co_await db.unfollow(follower, followee);
}

// The change's version is the message's id as outbox_batch gave it (shard id * kMaxShards +
// shard index): one follower's messages all come from its shard, so their order is kept.
awaitable<Result<bool>> ShardedStore::apply_follow(FollowChange change) {
  Database& db = owner_db(change.followee);
  co_return co_await db.apply_follow(std::move(change));
}

awaitable<Result<FollowPage>> ShardedStore::list_following(UserId user, UserId after, int limit) {
  Database& db = owner_db(user);
  co_return co_await db.list_following(user, after, limit);
}

awaitable<Result<FollowPage>> ShardedStore::list_followers(UserId user, UserId after, int limit) {
  Database& db = owner_db(user);
  co_return co_await db.list_followers(user, after, limit);
}

// Both halves live on the user's own shard: its following rows, and the followers rows (and
// their counters) applied there where the user is the followee.
awaitable<Result<FollowCounts>> ShardedStore::follow_counts(UserId user) {
  Database& db = owner_db(user);
  co_return co_await db.follow_counts(user);
}

}  // namespace ztm::storage
