#include "cache/read_through_cache.h"

#include <utility>

namespace ztm::cache {

ReadThroughCache::ReadThroughCache(Cache* l1, SharedCache* l2)
    : l1_(l1),
      l2_(l2),
      loads_(Error{Errc::unavailable, "the read this one waited for did not finish"}) {}

boost::asio::awaitable<Result<CachedPtr>> ReadThroughCache::get(std::string_view key, Loader load) {
  if (auto value = hit(key)) co_return value;
  auto rest = miss(key, std::move(load));
  co_return co_await std::move(rest);
}

CachedPtr ReadThroughCache::hit(std::string_view key) {
  if (l2_) l2_->record_access(key);
  return l1_ ? l1_->get(key) : nullptr;
}

boost::asio::awaitable<Result<CachedPtr>> ReadThroughCache::miss(std::string_view key,
                                                                 Loader load) {
  if (!l1_ && !l2_) co_return co_await load();  // caching off: every read runs the loader
  auto flight = loads_.run(key, [this, key, &load] { return load_through(key, load); });
  co_return co_await std::move(flight);
}

boost::asio::awaitable<Result<CachedPtr>> ReadThroughCache::load_through(std::string_view key,
                                                                         const Loader& load) {
  const Cache::Lease lease = l1_ ? l1_->lease(key) : 0;  // before L2 and the loader
  auto value = co_await load_through_l2(key, load);
  if (value && *value && l1_) l1_->put(key, *value, lease);
  co_return value;
}

boost::asio::awaitable<Result<CachedPtr>> ReadThroughCache::load_through_l2(std::string_view key,
                                                                            const Loader& load) {
  SharedLookup l2;  // unavailable: run the loader, fill nothing
  if (l2_) {
    auto lookup = l2_->get_or_lease(key);
    l2 = co_await std::move(lookup);
    if (l2.kind == SharedLookup::Kind::hit && l2.value) co_return l2.value;
  }
  auto loaded = co_await load();
  if (l2.kind != SharedLookup::Kind::lease) co_return loaded;
  if (!loaded || !*loaded) {
    auto give_back = l2_->release(key, std::move(l2.lease));
    co_await std::move(give_back);
    co_return loaded;
  }
  auto fill = l2_->fill(key, *loaded, std::move(l2.lease));
  co_await std::move(fill);  // refused when a write took the lease: the next reader refills
  co_return loaded;
}

boost::asio::awaitable<void> ReadThroughCache::invalidate(std::string_view key) {
  if (l2_) {
    auto erase = l2_->erase(key);
    co_await std::move(erase);
  }
  if (l1_) l1_->erase(key);
  loads_.forget(key);  // last: see read_through_cache.h
}

}  // namespace ztm::cache
