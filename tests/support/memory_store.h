#pragma once
// An in-memory Store for unit tests of the tiers above storage. It runs the same conformance
// suite as the real backends (tests/storage/memory_store_test.cc), so tests that use it rely on
// the contract, not on a fake's quirks. Tests can make it fail on purpose (fail_with).

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "storage/database.h"

namespace ztm::test {

class MemoryStore : public storage::Database {
 public:
  using storage::Store::create_user;
  using storage::Store::get_user;
  using storage::Store::list_users;
  // Every later call fails with this error until cleared (nullopt).
  void fail_with(std::optional<Errc> code) {
    std::lock_guard lock(mu_);
    fail_ = code;
  }
  int reads() const { return reads_.load(); }

  boost::asio::awaitable<Result<storage::StoredUser>> get_user(UserId id,
                                                               storage::Consistency) override {
    std::lock_guard lock(mu_);
    ++reads_;
    if (fail_) co_return Error{*fail_, "injected failure"};
    auto it = users_.find(id);
    if (it == users_.end()) co_return Error{Errc::not_found, "no such user"};
    co_return it->second;
  }
  boost::asio::awaitable<Result<storage::UserPage>> list_users(UserId after, int limit,
                                                               storage::Consistency) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    storage::UserPage page;
    for (auto it = users_.upper_bound(after); it != users_.end(); ++it) {
      if (static_cast<int>(page.users.size()) == limit) {
        page.more = true;
        break;
      }
      page.users.push_back(it->second);
    }
    co_return page;
  }
  boost::asio::awaitable<Result<storage::StoredUser>> create_user(
      storage::User user, std::optional<std::string> key) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    if (key && (key->empty() || key->size() > storage::kMaxIdempotencyKeyBytes))
      co_return Error{Errc::invalid_argument, "idempotency key: 1..200 bytes"};
    if (key && keys_.contains(*key)) {
      auto it = users_.find(keys_[*key]);
      if (it == users_.end()) co_return Error{Errc::not_found, "no such user"};
      co_return it->second;
    }
    const UserId id = user.id;
    if (users_.contains(id)) co_return Error{Errc::conflict, "id exists"};
    if (key) keys_[*key] = id;
    user_changed("insert", id);
    co_return users_[id] = storage::StoredUser{std::move(user), 1};
  }
  boost::asio::awaitable<Result<storage::StoredUser>> update_user(
      storage::User user, std::optional<std::int64_t> expected) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    auto it = users_.find(user.id);
    if (it == users_.end()) co_return Error{Errc::not_found, "no such user"};
    if (expected && *expected != it->second.version)
      co_return Error{Errc::precondition_failed, "version differs"};
    it->second = storage::StoredUser{std::move(user), it->second.version + 1};
    user_changed("update", it->first);
    co_return it->second;
  }
  boost::asio::awaitable<Result<storage::Committed>> delete_user(
      UserId id, std::optional<std::int64_t> expected) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    auto it = users_.find(id);
    if (it == users_.end()) co_return Error{Errc::not_found, "no such user"};
    if (expected && *expected != it->second.version)
      co_return Error{Errc::precondition_failed, "version differs"};
    users_.erase(it);
    user_changed("delete", id);
    std::erase_if(accounts_, [id](const auto& kv) { return kv.second.user_id == id; });
    std::vector<storage::PhotoId> theirs;  // the photos go with the user, as in the databases
    for (const auto& [pid, p] : photos_)
      if (p.owner_id == id) theirs.push_back(pid);
    for (auto pid : theirs) erase_photo(photos_.find(pid));
    co_return storage::Committed{};
  }
  boost::asio::awaitable<Result<std::int64_t>> count_users() override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    co_return static_cast<std::int64_t>(users_.size());
  }
  boost::asio::awaitable<Result<storage::StoredUser>> create_account(
      storage::User user, storage::Account account) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    if (user.id <= 0 || account.user_id != user.id)
      co_return Error{Errc::invalid_argument, "account: user id must be positive and match"};
    if (users_.contains(user.id)) co_return Error{Errc::conflict, "id exists"};
    if (accounts_.contains(account.email))
      co_return Error{Errc::conflict, "email: an account with this email exists"};
    accounts_[account.email] = std::move(account);
    const UserId id = user.id;
    user_changed("insert", id);
    co_return users_[id] = storage::StoredUser{std::move(user), 1};
  }
  boost::asio::awaitable<Result<storage::Account>> find_account(std::string email) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    auto it = accounts_.find(email);
    if (it == accounts_.end()) co_return Error{Errc::not_found, "no such account"};
    co_return it->second;
  }
  boost::asio::awaitable<Result<void>> set_role(UserId user, std::string role) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    for (auto& [email, account] : accounts_)
      if (account.user_id == user) {
        account.role = std::move(role);
        co_return Result<void>{};
      }
    co_return Error{Errc::not_found, "no such account"};
  }
  // PhotoStore
  boost::asio::awaitable<Result<storage::Photo>> create_photo(storage::Photo photo) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    if (photo.id <= 0) co_return Error{Errc::invalid_argument, "photo id must be positive"};
    if (photos_.contains(photo.id)) co_return Error{Errc::conflict, "photo exists"};
    photo_inserted(photo);
    co_return photos_[photo.id] = std::move(photo);
  }
  boost::asio::awaitable<Result<storage::Photo>> get_photo(storage::PhotoId id) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    auto it = photos_.find(id);
    if (it == photos_.end()) co_return Error{Errc::not_found, "no such photo"};
    co_return it->second;
  }
  boost::asio::awaitable<Result<storage::DeletedPhoto>> delete_photo(storage::PhotoId id) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    auto it = photos_.find(id);
    if (it == photos_.end()) co_return Error{Errc::not_found, "no such photo"};
    co_return erase_photo(it);
  }
  boost::asio::awaitable<Result<bool>> blob_in_use(std::string blob_key) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    co_return std::any_of(photos_.begin(), photos_.end(),
                          [&](const auto& p) { return p.second.blob_key == blob_key; });
  }
  boost::asio::awaitable<Result<storage::PhotoPage>> list_photos(UserId owner,
                                                                 storage::PhotoId after,
                                                                 int limit) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    if (limit < 1 || limit > 1000) co_return Error{Errc::invalid_argument, "limit"};
    storage::PhotoPage page;
    for (auto it = photos_.upper_bound(after); it != photos_.end(); ++it) {
      if (it->second.owner_id != owner) continue;
      if (page.photos.size() == static_cast<std::size_t>(limit)) {
        page.more = true;
        break;
      }
      page.photos.push_back(it->second);
    }
    co_return page;
  }
  boost::asio::awaitable<Result<storage::PhotoUsage>> photo_usage(UserId owner) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    storage::PhotoUsage u;
    for (const auto& [pid, p] : photos_)
      if (p.owner_id == owner) ++u.photos, u.bytes += p.bytes;
    for (const auto& [jid, j] : jobs_)
      if (j.owner_id == owner &&
          (j.status == storage::JobStatus::queued || j.status == storage::JobStatus::running))
        ++u.jobs_in_flight;
    co_return u;
  }
  boost::asio::awaitable<Result<storage::Job>> create_job(storage::Job job,
                                                          std::string payload) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    if (job.id <= 0) co_return Error{Errc::invalid_argument, "job id must be positive"};
    if (jobs_.contains(job.id)) co_return Error{Errc::conflict, "job exists"};
    job.status = storage::JobStatus::queued;
    job.result_photo_id = 0;
    job.error.clear();
    job.attempts = 0;
    outbox_.push_back({++outbox_seq_, std::move(payload), "jobs"});
    co_return jobs_[job.id] = std::move(job);
  }
  boost::asio::awaitable<Result<storage::Job>> get_job(storage::JobId id) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    auto it = jobs_.find(id);
    if (it == jobs_.end()) co_return Error{Errc::not_found, "no such job"};
    co_return it->second;
  }
  boost::asio::awaitable<Result<storage::Job>> start_job(storage::JobId id) override {
    co_return advance(id, [](storage::Job& j) -> Result<void> {
      j.status = storage::JobStatus::running;
      ++j.attempts;
      return {};
    });
  }
  boost::asio::awaitable<Result<storage::Job>> complete_job(storage::JobId id,
                                                            storage::Photo result) override {
    co_return advance(id, [this, &result](storage::Job& j) -> Result<void> {
      if (photos_.contains(result.id)) return Error{Errc::conflict, "photo exists"};
      j.status = storage::JobStatus::done;
      j.result_photo_id = result.id;
      photo_inserted(result);
      photos_[result.id] = result;
      return {};
    });
  }
  boost::asio::awaitable<Result<storage::Job>> fail_job(storage::JobId id,
                                                        std::string error) override {
    co_return advance(id, [&error](storage::Job& j) -> Result<void> {
      j.status = storage::JobStatus::failed;
      j.error = error;
      return {};
    });
  }
  boost::asio::awaitable<Result<std::vector<storage::OutboxMessage>>> outbox_batch(
      int limit) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    if (limit < 1 || limit > 1000) co_return Error{Errc::invalid_argument, "limit not in 1..1000"};
    co_return std::vector<storage::OutboxMessage>(
        outbox_.begin(), outbox_.begin() + std::min<std::ptrdiff_t>(limit, std::ssize(outbox_)));
  }
  boost::asio::awaitable<Result<void>> outbox_delete(std::vector<std::int64_t> ids) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    std::erase_if(outbox_, [&ids](const storage::OutboxMessage& m) {
      return std::find(ids.begin(), ids.end(), m.id) != ids.end();
    });
    co_return Result<void>{};
  }

  boost::asio::awaitable<Result<void>> ping() override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    co_return Result<void>{};
  }

  // KpiStore: the rollups as loops over the maps (the SQL backends' definitions, docs/kpis.md).
  boost::asio::awaitable<Result<storage::Purchase>> create_purchase(
      storage::Purchase p, std::optional<std::string> key) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    if (p.id <= 0 || p.user_id <= 0 || p.price_cents < 0 || p.plan.empty())
      co_return Error{Errc::invalid_argument, "bad purchase"};
    if (key) {
      if (auto it = purchase_keys_.find({p.user_id, *key}); it != purchase_keys_.end())
        co_return purchases_.at(it->second);
      purchase_keys_[{p.user_id, *key}] = p.id;
    }
    if (!purchases_.emplace(p.id, p).second) co_return Error{Errc::conflict, "purchase exists"};
    co_return p;
  }
  boost::asio::awaitable<Result<std::vector<storage::Purchase>>> list_purchases(
      UserId user, int limit) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    std::vector<storage::Purchase> out;
    for (auto it = purchases_.rbegin(); it != purchases_.rend(); ++it)
      if (it->second.user_id == user && static_cast<int>(out.size()) < limit)
        out.push_back(it->second);
    co_return out;
  }
  boost::asio::awaitable<Result<void>> record_activity(UtcDay day,
                                                       std::vector<UserId> users) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    for (UserId u : users) activity_.insert({day, u});
    co_return Result<void>{};
  }
  boost::asio::awaitable<Result<storage::DailyKpis>> daily_kpis(UtcDay day) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    storage::DailyKpis k{.day = day};
    auto on_day = [day](std::int64_t id) {
      return id >= first_id_of(day) && id < first_id_of(day + 1);
    };
    std::set<UserId> week, month;
    for (const auto& [d, u] : activity_) {
      k.dau += d == day;
      if (d > day - 7 && d <= day) week.insert(u);
      if (d > day - 30 && d <= day) month.insert(u);
    }
    k.wau = static_cast<std::int64_t>(week.size());
    k.mau = static_cast<std::int64_t>(month.size());
    for (const auto& [email, a] : accounts_) k.signups += on_day(a.user_id);
    for (const auto& [id, p] : photos_) k.photos_uploaded += on_day(id) && p.source_id == 0;
    for (const auto& [id, j] : jobs_)
      k.edits_done += j.status == storage::JobStatus::done && on_day(j.result_photo_id);
    for (const auto& [id, p] : purchases_)
      if (on_day(id)) ++k.purchases, k.revenue_cents += p.price_cents;
    co_return k;
  }
  boost::asio::awaitable<Result<std::vector<storage::Cohort>>> cohorts(UtcDay first,
                                                                       UtcDay last) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    std::map<UtcDay, storage::Cohort> by_day;
    for (const auto& [email, a] : accounts_) {
      const UtcDay d = utc_day(std::chrono::system_clock::time_point(
          std::chrono::milliseconds(IdGenerator::decode(a.user_id).unix_ms)));
      if (d < first || d > last) continue;
      auto& c = by_day[d];
      c.day = d;
      ++c.size;
      for (std::size_t i = 0; i < storage::kRetentionDays.size(); ++i)
        c.active[i] += activity_.count({d + storage::kRetentionDays[i], a.user_id});
    }
    std::vector<storage::Cohort> out;
    for (auto& [d, c] : by_day) out.push_back(c);
    co_return out;
  }

  boost::asio::awaitable<Result<UserId>> put_lookup(storage::LookupKind kind, std::string key,
                                                    UserId owner) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    if (auto ok = storage::check_lookup(kind, key); !ok.ok()) co_return std::move(ok).error();
    co_return lookups_.try_emplace({kind, std::move(key)}, owner).first->second;
  }
  boost::asio::awaitable<Result<void>> replace_lookup(storage::LookupKind kind, std::string key,
                                                      UserId previous, UserId owner) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    if (auto ok = storage::check_lookup(kind, key); !ok.ok()) co_return std::move(ok).error();
    auto it = lookups_.find({kind, std::move(key)});
    if (it == lookups_.end() || it->second != previous)
      co_return Error{Errc::precondition_failed, "lookup: not mapped to the previous owner"};
    it->second = owner;
    co_return Result<void>{};
  }
  boost::asio::awaitable<Result<UserId>> find_lookup(storage::LookupKind kind,
                                                     std::string key) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    if (auto ok = storage::check_lookup(kind, key); !ok.ok()) co_return std::move(ok).error();
    auto it = lookups_.find({kind, std::move(key)});
    if (it == lookups_.end()) co_return Error{Errc::not_found, "no such lookup"};
    co_return it->second;
  }
  boost::asio::awaitable<Result<void>> erase_lookup(storage::LookupKind kind, std::string key,
                                                    UserId owner) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    if (auto ok = storage::check_lookup(kind, key); !ok.ok()) co_return std::move(ok).error();
    auto it = lookups_.find({kind, std::move(key)});
    if (it != lookups_.end() && it->second == owner) lookups_.erase(it);
    co_return Result<void>{};
  }

  // FollowStore: both halves in this one store, with the SQL backends' versions and slots.
  boost::asio::awaitable<Result<bool>> follow(UserId follower, UserId followee,
                                              std::string follower_name,
                                              std::string followee_name) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    if (auto ok = storage::check_follow(follower, followee, follower_name, followee_name); !ok.ok())
      co_return std::move(ok).error();
    auto& row = following_[{follower, followee}];
    if (row.active) co_return false;
    row = EdgeRow{std::move(followee_name), row.version + 1, true};
    outbox_.push_back({++outbox_seq_,
                       storage::follow_payload({storage::FollowChange::Op::add, follower, followee,
                                                std::move(follower_name), row.version}),
                       "follow"});
    co_return true;
  }
  boost::asio::awaitable<Result<bool>> unfollow(UserId follower, UserId followee) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    if (auto ok = storage::check_follow(follower, followee); !ok.ok())
      co_return std::move(ok).error();
    auto it = following_.find({follower, followee});
    if (it == following_.end() || !it->second.active) co_return false;
    it->second.active = false;  // a tombstone, kept for its version
    ++it->second.version;
    outbox_.push_back({++outbox_seq_,
                       storage::follow_payload({storage::FollowChange::Op::remove, follower,
                                                followee, "", it->second.version}),
                       "follow"});
    co_return true;
  }
  boost::asio::awaitable<Result<bool>> apply_follow(storage::FollowChange c) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    if (auto ok = storage::check_follow(c.follower, c.followee, c.follower_name); !ok.ok())
      co_return std::move(ok).error();
    const bool active = c.op == storage::FollowChange::Op::add;
    auto [it, inserted] = followers_.try_emplace({c.followee, c.follower});
    if (!inserted && it->second.version >= c.version) co_return false;
    follower_counts_[{c.followee, storage::follower_count_slot(c.follower)}] +=
        static_cast<int>(active) - static_cast<int>(it->second.active);
    it->second = EdgeRow{std::move(c.follower_name), c.version, active};
    co_return true;
  }
  boost::asio::awaitable<Result<storage::FollowPage>> list_following(UserId user, UserId after,
                                                                     int limit) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    if (auto ok = storage::check_follow_limit(limit); !ok.ok()) co_return std::move(ok).error();
    co_return page_of(following_, user, after, limit);
  }
  boost::asio::awaitable<Result<storage::FollowPage>> list_followers(UserId user, UserId after,
                                                                     int limit) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    if (auto ok = storage::check_follow_limit(limit); !ok.ok()) co_return std::move(ok).error();
    co_return page_of(followers_, user, after, limit);
  }
  boost::asio::awaitable<Result<storage::FollowCounts>> follow_counts(UserId user) override {
    std::lock_guard lock(mu_);
    if (fail_) co_return Error{*fail_, "injected failure"};
    storage::FollowCounts counts;
    for (int slot = 0; slot < storage::kFollowerCountSlots; ++slot)
      if (auto it = follower_counts_.find({user, slot}); it != follower_counts_.end())
        counts.followers += it->second;
    for (auto it = following_.upper_bound({user, 0});
         it != following_.end() && it->first.first == user; ++it)
      counts.following += it->second.active ? 1 : 0;
    co_return counts;
  }

 private:
  // Applies `change` to a non-final job under the lock; a final job comes back unchanged.
  template <class F>
  Result<storage::Job> advance(storage::JobId id, F change) {
    std::lock_guard lock(mu_);
    if (fail_) return Error{*fail_, "injected failure"};
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return Error{Errc::not_found, "no such job"};
    storage::Job& j = it->second;
    if (j.status == storage::JobStatus::done || j.status == storage::JobStatus::failed) return j;
    if (auto r = change(j); !r.ok()) return std::move(r).error();
    return j;
  }

  std::mutex mu_;
  std::map<UserId, storage::StoredUser> users_;
  std::map<std::string, UserId> keys_;                // idempotency keys -> the user each created
  std::map<std::string, storage::Account> accounts_;  // by email
  std::map<storage::PhotoId, storage::Photo> photos_;
  std::map<storage::JobId, storage::Job> jobs_;
  // The "change" messages the databases' triggers write (storage/photo_record.h).
  void user_changed(const char* op, UserId id) {
    outbox_.push_back({++outbox_seq_, fmt::format(R"({{"op":"{}","user":{}}})", op, id), "change"});
  }
  void photo_inserted(const storage::Photo& p) {
    outbox_.push_back({++outbox_seq_,
                       fmt::format(R"({{"op":"insert","photo":{},"owner":{}}})", p.id, p.owner_id),
                       "change"});
  }
  storage::DeletedPhoto erase_photo(std::map<storage::PhotoId, storage::Photo>::iterator it) {
    storage::DeletedPhoto out{it->second.blob_key, false};
    const storage::Photo gone = it->second;
    photos_.erase(it);
    for (const auto& [pid, p] : photos_)
      out.blob_in_use = out.blob_in_use || p.blob_key == out.blob_key;
    outbox_.push_back(
        {++outbox_seq_,
         fmt::format(R"({{"op":"delete","photo":{},"owner":{},"blob":{}}})", gone.id, gone.owner_id,
                     out.blob_in_use ? "null" : "\"" + gone.blob_key + "\""),
         "change"});
    return out;
  }

  std::vector<storage::OutboxMessage> outbox_;
  std::int64_t outbox_seq_ = 0;
  std::map<std::int64_t, storage::Purchase> purchases_;
  std::map<std::pair<UserId, std::string>, std::int64_t> purchase_keys_;
  std::set<std::pair<UtcDay, UserId>> activity_;
  std::map<std::pair<storage::LookupKind, std::string>, UserId> lookups_;
  // A following or followers row: the other user's name, the pair's version.
  struct EdgeRow {
    std::string name;
    std::int64_t version = 0;
    bool active = false;  // false: a removed edge, kept for its version
  };
  using Edges = std::map<std::pair<UserId, UserId>, EdgeRow>;  // (user, other) -> row
  // The page of `user`'s present edges in `edges` after `after`.
  static storage::FollowPage page_of(const Edges& edges, UserId user, UserId after, int limit) {
    storage::FollowPage page;
    for (auto it = edges.upper_bound({user, after}); it != edges.end() && it->first.first == user;
         ++it) {
      if (!it->second.active) continue;
      if (page.users.size() == static_cast<std::size_t>(limit)) {
        page.more = true;
        break;
      }
      page.users.push_back({it->first.second, it->second.name});
    }
    return page;
  }
  Edges following_;                                                 // (follower, followee)
  Edges followers_;                                                 // (followee, follower)
  std::map<std::pair<UserId, int>, std::int64_t> follower_counts_;  // (user, slot) -> count
  std::optional<Errc> fail_;
  std::atomic<int> reads_{0};
};

}  // namespace ztm::test
