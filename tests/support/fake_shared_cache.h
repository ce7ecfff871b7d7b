#pragma once
// FakeSharedCache: the SharedCache contract (cache/shared_cache.h) in memory, for tests of its
// callers (ReadThroughCache, UserService).

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "cache/shared_cache.h"

namespace ztm::test {

// The SharedCache contract in memory: a value and a lease token per key, as the Redis tier keeps
// them on a node. `mode` forces the outcomes a real tier returns when it is busy or down.
class FakeSharedCache : public cache::SharedCache {
 public:
  cache::SharedLookup::Kind mode =
      cache::SharedLookup::Kind::hit;  // hit: behave; busy/unavailable: forced
  std::vector<std::string> log;        // "erase user:12", "fill user:12", ...

  boost::asio::awaitable<cache::SharedLookup> get_or_lease(std::string_view key) override {
    std::lock_guard lock(mu_);
    cache::SharedLookup out;
    out.kind = mode;
    if (mode != cache::SharedLookup::Kind::hit) co_return out;
    const std::string k(key);
    if (auto it = values_.find(k); it != values_.end()) {
      out.value = it->second;
      co_return out;
    }
    if (leases_.contains(k)) {
      out.kind = cache::SharedLookup::Kind::busy;
      co_return out;
    }
    out.kind = cache::SharedLookup::Kind::lease;
    out.lease.token = leases_[k] = std::to_string(++tokens_);
    co_return out;
  }
  boost::asio::awaitable<bool> fill(std::string_view key, cache::CachedPtr value,
                                    cache::SharedLease lease) override {
    std::lock_guard lock(mu_);
    const std::string k(key);
    auto it = leases_.find(k);
    if (it == leases_.end() || it->second != lease.token) {
      log.push_back("refused " + k);
      co_return false;
    }
    leases_.erase(it);
    values_[k] = std::move(value);
    log.push_back("fill " + k);
    co_return true;
  }
  boost::asio::awaitable<void> release(std::string_view key, cache::SharedLease lease) override {
    std::lock_guard lock(mu_);
    const std::string k(key);
    if (leases_[k] == lease.token) leases_.erase(k);
    log.push_back("release " + k);
    co_return;
  }
  boost::asio::awaitable<void> erase(std::string_view key) override {
    std::lock_guard lock(mu_);
    values_.erase(std::string(key));
    leases_.erase(std::string(key));
    log.push_back("erase " + std::string(key));
    co_return;
  }
  void record_access(std::string_view) override { ++accesses; }
  cache::SharedCacheStats stats() const override { return {}; }

  std::atomic<int> accesses{0};

 private:
  std::mutex mu_;
  std::map<std::string, cache::CachedPtr> values_;
  std::map<std::string, std::string> leases_;
  int tokens_ = 0;
};

}  // namespace ztm::test
