// ShardedStore (sharded_store.h): photos and jobs (found by id through their lookup rows), the
// outbox of every shard, purchases, activity and the KPI rollups.
#include <fmt/format.h>

#include <map>
#include <optional>

#include "core/log.h"
#include "storage/sharding/sharded_routing.h"
#include "storage/sharding/sharded_store.h"

namespace ztm::storage {

namespace {

constexpr std::int64_t kOutboxStride = kMaxShards;  // an outbox id: shard id * stride + shard

const char* what(LookupKind kind) {
  return kind == LookupKind::photo ? "photo" : "job";
}

}  // namespace

// --- photos and jobs ----------------------------------------------------------------------------

awaitable<Result<UserId>> ShardedStore::owner_by_lookup(LookupKind kind, std::int64_t id) {
  const std::string key = std::to_string(id);
  auto owner = co_await find_lookup(kind, key);
  if (!owner.ok() && owner.error().code == Errc::not_found)
    co_return Error{Errc::not_found, fmt::format("{} {} not found", what(kind), id)};
  co_return owner;
}

template <class T>
awaitable<Result<T>> ShardedStore::on_owner_of(LookupKind kind, std::int64_t id, bool writes,
                                               Call<T> call) {
  auto owner = co_await owner_by_lookup(kind, id);
  if (!owner.ok()) co_return std::move(owner).error();
  auto run = writes ? write(*owner, std::move(call)) : read(*owner, std::move(call));
  co_return co_await std::move(run);
}

// The lookup row first (a fresh id: nobody contends), then the row on the owner's shard.
template <class T>
awaitable<Result<T>> ShardedStore::create_with_lookup(LookupKind kind, std::int64_t id,
                                                      UserId owner, Call<T> call) {
  const std::string key = std::to_string(id);
  auto holder = co_await put_lookup(kind, key, owner);
  if (!holder.ok()) co_return std::move(holder).error();
  if (*holder != owner)
    co_return Error{Errc::conflict, fmt::format("{} {} already exists", what(kind), id)};
  auto run = write(owner, std::move(call));
  co_return co_await std::move(run);
}

awaitable<Result<Photo>> ShardedStore::create_photo(Photo photo) {
  return create_with_lookup<Photo>(
      LookupKind::photo, photo.id, photo.owner_id,
      [=](Database& db, std::size_t) { return db.create_photo(photo); });
}

awaitable<Result<Photo>> ShardedStore::get_photo(PhotoId id) {
  return on_owner_of<Photo>(LookupKind::photo, id, false,
                            [=](Database& db, std::size_t) { return db.get_photo(id); });
}

// The owner's shard says whether its other photos hold the blob; every shard is asked too before
// the caller may remove it (any answer but "no" keeps it).
awaitable<Result<DeletedPhoto>> ShardedStore::delete_photo(PhotoId id) {
  auto deleting = on_owner_of<DeletedPhoto>(
      LookupKind::photo, id, true, [=](Database& db, std::size_t) { return db.delete_photo(id); });
  auto deleted = co_await std::move(deleting);
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
  return read<PhotoPage>(
      owner, [=](Database& db, std::size_t) { return db.list_photos(owner, after, limit); });
}

awaitable<Result<PhotoUsage>> ShardedStore::photo_usage(UserId owner) {
  return read<PhotoUsage>(owner, [=](Database& db, std::size_t) { return db.photo_usage(owner); });
}

awaitable<Result<Job>> ShardedStore::create_job(Job job, std::string outbox_payload) {
  return create_with_lookup<Job>(
      LookupKind::job, job.id, job.owner_id,
      [=](Database& db, std::size_t) { return db.create_job(job, outbox_payload); });
}

awaitable<Result<Job>> ShardedStore::get_job(JobId id) {
  return on_owner_of<Job>(LookupKind::job, id, false,
                          [=](Database& db, std::size_t) { return db.get_job(id); });
}

awaitable<Result<Job>> ShardedStore::start_job(JobId id) {
  return on_owner_of<Job>(LookupKind::job, id, true,
                          [=](Database& db, std::size_t) { return db.start_job(id); });
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
  auto run = write(*owner, std::move(call));  // the job's owner's shard, as the lookup says
  co_return co_await std::move(run);
}

awaitable<Result<Job>> ShardedStore::fail_job(JobId id, std::string error) {
  return on_owner_of<Job>(LookupKind::job, id, true,
                          [=](Database& db, std::size_t) { return db.fail_job(id, error); });
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
  for (auto& entry : by_shard) {  // not a structured binding: clang 14 cannot capture one
    const std::vector<std::int64_t>& shard_ids = entry.second;
    Call<void> call = [&shard_ids](Database& db, std::size_t) {
      return db.outbox_delete(shard_ids);
    };
    auto run = on_shard(entry.first, *map, std::move(call));
    if (auto r = co_await std::move(run); !r.ok()) co_return r;
  }
  co_return Result<void>{};
}

// --- business KPIs: a user's rows on its shard; the rollups summed (users are on one shard
// each, so distinct counts add up) ----------------------------------------------------------------

awaitable<Result<Purchase>> ShardedStore::create_purchase(Purchase purchase,
                                                          std::optional<std::string> key) {
  return write<Purchase>(purchase.user_id, [=](Database& db, std::size_t) {
    return db.create_purchase(purchase, key);
  });
}

awaitable<Result<std::vector<Purchase>>> ShardedStore::list_purchases(UserId user, int limit) {
  return read<std::vector<Purchase>>(
      user, [=](Database& db, std::size_t) { return db.list_purchases(user, limit); });
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
  for (auto& entry : by_shard) {  // not a structured binding: clang 14 cannot capture one
    const std::vector<UserId>& shard_users = entry.second;
    Call<void> call = [&](Database& db, std::size_t) {
      return db.record_activity(day, shard_users);
    };
    auto run = on_shard(entry.first, *map, std::move(call));
    auto r = co_await std::move(run);
    if (r.ok()) continue;
    if (r.error().code != Errc::moved) co_return r;
    for (const UserId u : shard_users) by_bucket[bucket_of(u)].push_back(u);
  }
  for (auto& entry : by_bucket) {
    const std::vector<UserId>& bucket_users = entry.second;
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

}  // namespace ztm::storage
