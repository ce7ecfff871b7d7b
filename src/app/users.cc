#include "app/users.h"

#include <algorithm>
#include <charconv>

#include "app/user_json.h"

namespace ztm::app {

using cache::Cache;
using cache::CachedValue;
using cache::SharedCache;
using storage::Committed;
using storage::Consistency;
using storage::Store;
using storage::StoredUser;
using storage::User;
using storage::UserPage;

namespace {

// "user:12" without allocating (nor parsing a format string: every read makes one).
struct CacheKey {
  char buf[32] = "user:";
  std::size_t len;
  explicit CacheKey(UserId id) {
    len = static_cast<std::size_t>(std::to_chars(buf + 5, buf + sizeof buf, id).ptr - buf);
  }
  std::string_view view() const { return {buf, len}; }
};

}  // namespace

bool Precondition::matches(std::int64_t version) const {
  return any || std::find(versions.begin(), versions.end(), version) != versions.end();
}

UserService::UserService(Store& store, storage::FollowStore& follows, Cache* cache,
                         IdGenerator& ids)
    : UserService(store, follows, cache, nullptr, ids) {}

UserService::UserService(Store& store, storage::FollowStore& follows, Cache* cache,
                         SharedCache* shared, IdGenerator& ids)
    : store_(store), follows_(follows), ids_(ids), cache_(cache, shared) {}

namespace {
bool past_the_cache(const Consistency& consistency) {  // users.h, "Read-your-writes"
  return !consistency.min_position.empty() || consistency.latest;
}
}  // namespace

UserDocument UserService::cached(UserId id, const Consistency& consistency) {
  return past_the_cache(consistency) ? nullptr : cache_.hit(CacheKey(id).view());
}

boost::asio::awaitable<Result<UserDocument>> UserService::get(UserId id, Consistency consistency) {
  if (auto hit = cached(id, consistency)) co_return hit;
  co_return co_await load(id, std::move(consistency));
}

boost::asio::awaitable<Result<UserDocument>> UserService::load(UserId id, Consistency consistency) {
  if (past_the_cache(consistency)) co_return co_await read_store(id, std::move(consistency));
  const CacheKey key(id);
  auto read = cache_.miss(key.view(), [this, id] { return read_store(id, Consistency{}); });
  co_return co_await std::move(read);
}

boost::asio::awaitable<Result<UserDocument>> UserService::read_store(UserId id,
                                                                     Consistency consistency) {
  auto stored = co_await store_.get_user(id, std::move(consistency));
  if (!stored) co_return std::move(stored).error();
  // Counts read after the user: a follow that changes them after this read invalidates the
  // key, so the lease refuses this fill (cache/read_through_cache.h).
  co_return co_await document(*stored);
}

boost::asio::awaitable<Result<UserDocument>> UserService::document(const StoredUser& written) {
  auto counts = co_await follows_.follow_counts(written.user.id);
  if (!counts) co_return std::move(counts).error();
  co_return std::make_shared<const CachedValue>(
      CachedValue{serialize_user_document(written.user, *counts), written.version});
}

boost::asio::awaitable<Result<UserPage>> UserService::list(UserId after, int limit,
                                                           Consistency consistency) {
  co_return co_await store_.list_users(after, limit, std::move(consistency));
}

boost::asio::awaitable<Result<StoredUser>> UserService::create(
    User user, std::optional<std::string> idempotency_key) {
  user.id = ids_.next();
  co_return co_await store_.create_user(std::move(user), std::move(idempotency_key));
}

boost::asio::awaitable<Result<std::optional<std::int64_t>>> UserService::expected_version(
    UserId id, const Precondition& pre) {
  using R = Result<std::optional<std::int64_t>>;
  if (!pre.present()) co_return R(std::nullopt);
  if (!pre.any && pre.versions.size() == 1) co_return R(pre.versions.front());
  // "*" or several candidates: the current version decides, and is then compared-and-set so a
  // write in between still fails the request.
  Consistency latest{.latest = true};  // named: see storage/store.h on temporaries in co_await
  auto current = co_await store_.get_user(id, std::move(latest));
  if (!current) co_return std::move(current).error();
  if (!pre.matches(current->version))
    co_return Error{Errc::precondition_failed, "If-Match does not match the current ETag"};
  co_return R(current->version);
}

boost::asio::awaitable<Result<StoredUser>> UserService::replace(User user, Precondition pre) {
  auto expected = co_await expected_version(user.id, pre);
  if (!expected) co_return std::move(expected).error();
  const UserId id = user.id;
  auto result = co_await store_.update_user(std::move(user), *expected);
  // Even on failure: a write of unknown outcome must not leave a stale entry.
  co_await invalidate(id);
  co_return result;
}

boost::asio::awaitable<Result<StoredUser>> UserService::patch(UserId id,
                                                              const boost::json::value& patch,
                                                              Precondition pre) {
  constexpr int kAttempts = 5;
  for (int attempt = 1;; ++attempt) {
    Consistency latest{.latest = true};  // named: see storage/store.h on temporaries in co_await
    auto current = co_await store_.get_user(id, std::move(latest));
    if (!current) co_return std::move(current).error();
    if (pre.present() && !pre.matches(current->version))
      co_return Error{Errc::precondition_failed, "If-Match does not match the current ETag"};
    boost::json::value doc = user_to_json(current->user);
    merge_patch(doc, patch);
    auto user = user_from_json(doc, id);
    if (!user) co_return std::move(user).error();
    auto result = co_await store_.update_user(std::move(*user), current->version);
    // Even on failure: a write of unknown outcome must not leave a stale entry.
    co_await invalidate(id);
    // Lost a race with another writer: with If-Match that is the client's 412; without it,
    // apply the patch again to the newer version.
    if (result || pre.present() || result.error().code != Errc::precondition_failed ||
        attempt == kAttempts)
      co_return result;
  }
}

boost::asio::awaitable<Result<Committed>> UserService::remove(UserId id, Precondition pre) {
  auto expected = co_await expected_version(id, pre);
  if (!expected) co_return std::move(expected).error();
  auto result = co_await store_.delete_user(id, *expected);
  // Even on failure: a write of unknown outcome must not leave a stale entry.
  co_await invalidate(id);
  co_return result;
}

boost::asio::awaitable<void> UserService::invalidate(UserId id) {
  const CacheKey key(id);
  auto erase = cache_.invalidate(key.view());
  co_await std::move(erase);
}

}  // namespace ztm::app
